#pragma once
// http_server: the admin endpoint (--metrics-listen), HTTP/1.1 with Boost.Beast, on the io
// thread.
//
//   acceptor ─► connection: async_read one request (≤ max_request_bytes, within read_timeout)
//                ─► handler(method, target) ─► async_write the reply, Connection: close ─► close
//
// Everything is asynchronous on the io thread, which must never block: the handler only reads
// atomics and renders text. It is small on purpose: at most max_connections at once (one more
// is closed at once), one request per connection, a deadline on reading and on writing, a
// request larger than max_request_bytes answered 413, a malformed one 400, and then closed. An
// admin client can therefore cost the relay at most a few small buffers and never stalls it.
//
// Thread affinity: io thread, every member. Lifetime: shared_ptr; the service holds it and
// calls stop() when it finishes, which closes the acceptor and every connection so that no
// handler is left to keep the io thread running.

#include "funnel/admin/routes.hpp"
#include "funnel/net.hpp"

#include <boost/asio/steady_timer.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace funnel {

class http_server : public std::enable_shared_from_this<http_server> {
public:
    using handler = std::function<admin_reply(std::string_view method, std::string_view target)>;

    static constexpr std::size_t max_connections = 8;
    static constexpr std::chrono::seconds io_timeout{5}; // to read the request; to write the reply
    static constexpr std::size_t max_request_bytes = 8192; // request line, headers and any body
    static constexpr std::chrono::milliseconds accept_backoff{100}; // after a failed accept

    // Opens, binds and listens; throws boost::system::system_error when it cannot.
    http_server(net::any_io_executor io_ex, const tcp::endpoint& ep, handler h,
                std::shared_ptr<spdlog::logger> log);

    void start();
    void stop();
    tcp::endpoint local_endpoint() const { return local_; }

private:
    class connection;

    void do_accept();
    void on_accept(error_code ec, tcp::socket socket);

    tcp::acceptor acceptor_;
    tcp::endpoint local_;
    handler handler_;
    std::shared_ptr<spdlog::logger> log_;
    net::steady_timer backoff_timer_;
    std::vector<std::weak_ptr<connection>> connections_;
    bool stopped_ = false;
};

} // namespace funnel
