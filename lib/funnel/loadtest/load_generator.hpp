#pragma once
// funnel-load's engine: N connections spread over T threads (an io_context{1} each), each one
// client sending probe messages (line or length framing) or one bulk stream, as fast as
// possible or open-loop paced at a total rate, until its count or the duration is reached.
//
//   calling thread: io_context "control"            T worker threads
//   signal_set, progress timer ◄── done ────────── connect all ─► start together at t0
//                                                  per connection: fill a batch (64-256 KiB of
//                                                  messages, or a slice of the bulk pattern),
//                                                  one async_write in flight, repeat
//                                                  paced: a 1 ms tick per thread writes what the
//                                                  schedule says is due, stamped with its
//                                                  scheduled time (no coordinated omission)
//                                                  end: shutdown(send), wait for the peer's EOF
//                                                  (bounded by `linger`), close
//
// Every connection belongs to one worker; the workers share only atomics.
//
// Thread-safety: construct and run() from one thread; run() once.

#include "funnel/loadtest/probe_message.hpp"
#include "funnel/net.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace funnel::loadtest {

enum class load_mode { bulk, line, length };
const char* to_string(load_mode m);

struct load_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    load_mode mode = load_mode::line;
    std::size_t connections = 16;
    std::size_t threads = 0; // 0: min(connections, hardware threads)
    // Per connection: the whole bulk stream (header included; none: open-ended), or messages.
    std::optional<std::uint64_t> bytes;
    std::optional<std::uint64_t> messages;
    std::size_t message_size = 100; // framing included
    // line: graphite-shaped probe lines (`metric value timestamp`, probe_message.hpp).
    probe_shape shape = probe_shape::plain;
    double rate = 0; // total messages/s (bulk: bytes/s); 0: as fast as possible
    std::optional<std::chrono::nanoseconds> duration;
    std::uint32_t client_id_base = 0;
    std::chrono::nanoseconds connect_timeout = std::chrono::seconds(5);
    std::chrono::nanoseconds linger = std::chrono::seconds(2); // wait for the peer's EOF
    // Paced: how often each thread writes what has become due. A message waits up to this long
    // in the generator, which the sink counts as latency; shorter means more, smaller writes.
    std::chrono::nanoseconds tick = std::chrono::microseconds(200);
    bool handle_signals = true; // SIGINT/SIGTERM: stop sending and finish as at the duration
};

struct load_progress {
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    double elapsed = 0; // seconds since sending began (0 before)
};

struct load_result {
    load_mode mode = load_mode::line;
    std::size_t connections = 0;
    std::size_t threads = 0;
    std::uint64_t messages = 0; // written (handed to the kernel)
    std::uint64_t bytes = 0;
    double seconds = 0; // from the start of sending to the last write's completion
    std::uint64_t errors =
        0; // connections that failed: connect, write, or a write stuck at the end

    std::string to_json() const; // one line, no newline
};

class load_generator {
public:
    // Resolves the target; throws std::exception with a one-line message when it cannot.
    explicit load_generator(load_config cfg);
    ~load_generator();
    load_generator(const load_generator&) = delete;
    load_generator& operator=(const load_generator&) = delete;

    // Runs to the end. `progress`, when set, is called on the calling thread about 4 times a
    // second.
    load_result run(const std::function<void(const load_progress&)>& progress = {});

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace funnel::loadtest
