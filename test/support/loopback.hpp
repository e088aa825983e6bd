#pragma once
// Blocking loopback sockets with deadlines, for tests that play the client or the target.
// Every wait is bounded: a test that would hang fails with a timeout instead.

#include "funnel/net.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace funnel::test {

using namespace std::chrono_literals;
using duration = std::chrono::steady_clock::duration;
inline constexpr duration default_timeout = 20s;

// Polls `pred` until it holds or `timeout` passes; returns its last value.
bool poll_until(const std::function<bool()>& pred, duration timeout = default_timeout);

// Polls `value` until it has not changed for `quiet` (true) or `timeout` passes (false). For
// waiting until a flow has stalled, which no event announces.
bool poll_until_steady(const std::function<std::uint64_t()>& value, duration quiet,
                       duration timeout = default_timeout);

// `n` bytes of deterministic pseudo-random data, different for each seed.
std::string random_bytes(std::size_t n, std::uint64_t seed);

// A connected socket used synchronously.
class conn {
public:
    enum class outcome { data, eof, reset, timeout };

    explicit conn(tcp::socket s) : socket_(std::move(s)) {}
    // receive_buffer > 0 fixes SO_RCVBUF (no autotuning), so that a peer that stops reading
    // fills the kernel's buffers quickly and predictably.
    static conn connect(const tcp::endpoint& ep, int receive_buffer = 0);

    void write_all(std::string_view data);
    // Exactly n bytes; throws std::runtime_error on EOF, error or timeout.
    std::string read_exact(std::size_t n, duration timeout = default_timeout);
    // Everything until EOF; throws on error or timeout.
    std::string read_to_eof(duration timeout = default_timeout);
    // Appends what arrives within `timeout` (one read of at most `max` bytes) to `out`; timeout
    // means nothing came.
    outcome read_available(std::string& out, duration timeout, std::size_t max = 65536) {
        return read_some(out, max, timeout);
    }
    // Reads and discards until the connection ends; tells how it ended.
    outcome wait_for_end(duration timeout = default_timeout);
    void shutdown_send();
    void reset(); // SO_LINGER 0 then close: the peer sees a reset
    void close();
    tcp::socket& socket() { return socket_; }

private:
    // One read of at most `max` bytes into `out`, waiting up to `timeout`.
    outcome read_some(std::string& out, std::size_t max, duration timeout);
    tcp::socket socket_;
};

// A target server on 127.0.0.1, ephemeral port, accepting on demand.
class target_server {
public:
    // receive_buffer > 0: SO_RCVBUF of every accepted connection (see conn::connect).
    explicit target_server(int backlog = 128, int receive_buffer = 0, std::uint16_t port = 0);
    tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }
    // The next connection; throws on timeout.
    conn accept(duration timeout = default_timeout);
    // Whether a connection is waiting to be accepted within `timeout`.
    bool pending(duration timeout);
    // Stops listening (accepted connections stay open).
    void close() { acceptor_.close(); }

private:
    tcp::acceptor acceptor_;
};

// The io_context that test sockets are created on; they are only used synchronously.
net::io_context& test_io();

} // namespace funnel::test
