#pragma once
// funnel-sink's engine: a target server that accepts any number of connections, counts what
// arrives, verifies it (bulk pattern or probe messages), and stops on the first of its stop
// conditions, returning one result.
//
//   main thread: io_context "control"         --threads N worker threads, io_context{1} each
//   acceptor ── accept into the next worker ──► connection: wait readable, read up to 256 KiB
//   signal_set, timeout, idle and stop checks    into the thread's buffer, verify, count, repeat
//            ▲                                                  │
//            └────────── post(stop reason) ◄── an expectation met (global atomic counters)
//
// Each connection belongs to one worker and only that worker touches it. Per-thread counters and
// latency histograms are merged once the workers are joined; the client table (sequence numbers)
// is shared, striped (sequence_tracker.hpp). The global atomics are added once per read.
//
// Faults for tests of other tools (per connection): never read, read at a bounded rate, close or
// reset after a number of bytes.
//
// Thread-safety: construct, local_endpoint() and run() from one thread; run() once.

#include "funnel/net.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace funnel::loadtest {

enum class sink_mode { count, bulk, line, length };
const char* to_string(sink_mode m);

struct sink_config {
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 0;
    sink_mode mode = sink_mode::count;
    std::size_t threads = 1;

    // Stop conditions; run() returns on the first that holds.
    std::optional<std::uint64_t> expect_messages;
    std::optional<std::uint64_t> expect_bytes;
    std::optional<std::uint64_t> expect_connections;   // ended with EOF
    std::optional<std::chrono::nanoseconds> idle_exit; // after the first byte
    std::optional<std::chrono::nanoseconds> timeout;
    bool handle_signals = true; // SIGINT and SIGTERM stop it

    // Faults, per connection.
    bool no_read = false;
    std::uint64_t read_rate = 0; // bytes per second; 0: as fast as possible
    std::optional<std::uint64_t> close_after;
    std::optional<std::uint64_t> reset_after;
    // A target that restarts: every `restart_every` it stops listening and closes each
    // connection gracefully (FIN, then it reads until the sender closes too, so nothing the
    // sender wrote is left unread), stays down for `down_for` and until every connection has
    // ended, then listens again on the same address.
    std::optional<std::chrono::nanoseconds> restart_every;
    std::chrono::nanoseconds down_for{std::chrono::seconds(1)};

    std::size_t max_message_size = 1024 * 1024; // the largest body (message modes)
    std::size_t read_size = 256 * 1024;
};

struct sink_result {
    sink_mode mode = sink_mode::count;
    std::string stop;              // what stopped it: "expect-messages", "timeout", "signal", ...
    std::uint64_t connections = 0; // accepted
    std::uint64_t connections_ended = 0; // ended with EOF
    std::uint64_t restarts = 0;          // --restart-every
    std::uint64_t bytes = 0;
    std::uint64_t messages = 0;
    std::uint64_t unique = 0;
    std::uint64_t duplicated = 0;
    std::uint64_t reordered = 0;
    std::uint64_t corrupted = 0; // messages (message modes) or streams (bulk)
    std::uint64_t holes = 0;
    std::uint64_t clients = 0; // distinct client ids (bulk: streams with a valid header)
    double seconds = 0;        // first byte to last byte
    std::uint64_t streams_complete = 0;
    std::uint64_t streams_short = 0;
    // Latency percentiles in nanoseconds (message modes).
    std::uint64_t latency_p50 = 0, latency_p90 = 0, latency_p99 = 0, latency_p999 = 0,
                  latency_max = 0, latency_count = 0;
    bool expectations_met = true;
    std::string verdict; // "ok" or "fail: <reasons>"

    bool ok() const { return verdict == "ok"; }
    std::string to_json() const; // one line, no newline
};

class sink_server {
public:
    // Binds and listens; throws std::exception with a one-line message when it cannot.
    explicit sink_server(sink_config cfg);
    ~sink_server();
    sink_server(const sink_server&) = delete;
    sink_server& operator=(const sink_server&) = delete;

    tcp::endpoint local_endpoint() const;
    // Runs until a stop condition holds; the workers are joined when it returns.
    sink_result run();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace funnel::loadtest
