#include "support/loopback.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include <poll.h>
#include <random>
#include <stdexcept>
#include <thread>

namespace funnel::test {

namespace {

// Waits until `fd` is readable (or in error) for at most `timeout`.
bool wait_readable(int fd, duration timeout, short events = POLLIN) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() < 0)
            return false;
        pollfd p{fd, events, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
        if (r > 0)
            return true;
        if (r < 0 && errno != EINTR)
            throw std::runtime_error("poll failed");
    }
}

} // namespace

net::io_context& test_io() {
    static net::io_context io;
    return io;
}

bool poll_until(const std::function<bool()>& pred, duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return pred();
        // Polling a predicate that another thread makes true: the yield only spaces the checks.
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

bool poll_until_steady(const std::function<std::uint64_t()>& value, duration quiet,
                       duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto last = value();
    auto since = std::chrono::steady_clock::now();
    return poll_until(
        [&] {
            const auto now_value = value();
            const auto now = std::chrono::steady_clock::now();
            if (now_value != last) {
                last = now_value;
                since = now;
            }
            return now - since >= quiet;
        },
        deadline - std::chrono::steady_clock::now());
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::string out(n, '\0');
    for (std::size_t i = 0; i < n; i += 8) {
        const auto v = gen();
        for (std::size_t j = 0; j < 8 && i + j < n; ++j)
            out[i + j] = static_cast<char>((v >> (8 * j)) & 0xff);
    }
    return out;
}

conn conn::connect(const tcp::endpoint& ep, int receive_buffer) {
    tcp::socket s(test_io());
    s.open(ep.protocol());
    if (receive_buffer > 0)
        s.set_option(net::socket_base::receive_buffer_size(receive_buffer));
    s.connect(ep);
    return conn(std::move(s));
}

void conn::write_all(std::string_view data) {
    net::write(socket_, net::buffer(data));
}

conn::outcome conn::read_some(std::string& out, std::size_t max, duration timeout) {
    if (!wait_readable(socket_.native_handle(), timeout))
        return outcome::timeout;
    char buf[65536];
    error_code ec;
    const std::size_t n = socket_.read_some(net::buffer(buf, std::min(max, sizeof buf)), ec);
    if (ec == net::error::eof)
        return outcome::eof;
    if (ec == net::error::connection_reset)
        return outcome::reset;
    if (ec)
        throw std::runtime_error("read failed: " + ec.message());
    out.append(buf, n);
    return outcome::data;
}

std::string conn::read_exact(std::size_t n, duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    out.reserve(n);
    while (out.size() < n) {
        switch (read_some(out, n - out.size(), deadline - std::chrono::steady_clock::now())) {
        case outcome::data:
            break;
        case outcome::eof:
            throw std::runtime_error("EOF after " + std::to_string(out.size()) + " of " +
                                     std::to_string(n) + " bytes");
        case outcome::reset:
            throw std::runtime_error("reset after " + std::to_string(out.size()) + " bytes");
        case outcome::timeout:
            throw std::runtime_error("timed out after " + std::to_string(out.size()) + " of " +
                                     std::to_string(n) + " bytes");
        }
    }
    return out;
}

std::string conn::read_to_eof(duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    for (;;) {
        switch (read_some(out, 65536, deadline - std::chrono::steady_clock::now())) {
        case outcome::data:
            break;
        case outcome::eof:
            return out;
        case outcome::reset:
            throw std::runtime_error("reset after " + std::to_string(out.size()) + " bytes");
        case outcome::timeout:
            throw std::runtime_error("no EOF after " + std::to_string(out.size()) + " bytes");
        }
    }
}

conn::outcome conn::wait_for_end(duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string sink;
    for (;;) {
        sink.clear();
        auto r = read_some(sink, 65536, deadline - std::chrono::steady_clock::now());
        if (r != outcome::data)
            return r;
    }
}

void conn::shutdown_send() {
    socket_.shutdown(tcp::socket::shutdown_send);
}

void conn::reset() {
    socket_.set_option(net::socket_base::linger(true, 0));
    socket_.close();
}

void conn::close() {
    error_code ignored;
    socket_.close(ignored);
}

target_server::target_server(int backlog, int receive_buffer, std::uint16_t port)
    : acceptor_(test_io()) {
    const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
    acceptor_.open(ep.protocol());
    if (receive_buffer > 0)
        acceptor_.set_option(net::socket_base::receive_buffer_size(receive_buffer));
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(backlog);
}

bool target_server::pending(duration timeout) {
    return wait_readable(acceptor_.native_handle(), timeout);
}

conn target_server::accept(duration timeout) {
    if (!pending(timeout))
        throw std::runtime_error("no connection to accept");
    tcp::socket s(test_io());
    acceptor_.accept(s);
    return conn(std::move(s));
}

} // namespace funnel::test
