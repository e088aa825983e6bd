#include "funnel/admin/http_server.hpp"

#include "funnel/endpoint_text.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <array>
#include <optional>

namespace funnel {

namespace beast = boost::beast;
namespace http = beast::http;

// One admin client: one request, one reply, then closed. Kept alive by its handlers.
class http_server::connection : public std::enable_shared_from_this<connection> {
public:
    connection(tcp::socket socket, const handler& h, std::shared_ptr<spdlog::logger> log)
        : stream_(std::move(socket)), handler_(h), log_(std::move(log)),
          buffer_(max_request_bytes) {
        parser_.header_limit(static_cast<std::uint32_t>(max_request_bytes));
        parser_.body_limit(max_request_bytes);
    }

    void start() {
        stream_.expires_after(io_timeout);
        http::async_read(
            stream_, buffer_, parser_,
            [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
    }

    void close() {
        error_code ignored;
        stream_.socket().close(ignored);
    }

private:
    void on_read(error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == net::error::operation_aborted) {
            close(); // the client went away, was too slow, or funnel is stopping
            return;
        }
        if (ec == http::error::header_limit || ec == http::error::body_limit ||
            ec == http::error::buffer_overflow) {
            reply({413, "text/plain; charset=utf-8", "request too large\n"});
            return;
        }
        if (ec && ec.category() == http::make_error_code(http::error::bad_target).category()) {
            reply({400, "text/plain; charset=utf-8", "bad request\n"});
            return;
        }
        if (ec) { // a socket error: nobody to answer
            log_->debug("admin: read from {} failed: {}", remote_text(stream_.socket()),
                        ec.message());
            close();
            return;
        }
        const auto& req = parser_.get();
        reply(handler_(req.method_string(), req.target()));
    }

    void reply(admin_reply r) {
        response_.emplace(static_cast<http::status>(r.status), 11);
        response_->set(http::field::server, "funnel");
        response_->set(http::field::content_type, r.content_type);
        if (r.status == 405)
            response_->set(http::field::allow, "GET");
        response_->keep_alive(false); // Connection: close
        response_->body() = std::move(r.body);
        response_->prepare_payload();
        stream_.expires_after(io_timeout);
        http::async_write(stream_, *response_,
                          [self = shared_from_this()](error_code ec, std::size_t) {
                              if (ec) {
                                  self->close();
                                  return;
                              }
                              error_code ignored;
                              self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                              self->drain();
                          });
    }

    // A lingering close: what the client sent beyond the request (a body we refused, the rest
    // of a request that was too large) is read and dropped until its EOF, within the deadline.
    // Closing with unread bytes would send a reset, and a reset can destroy our reply in the
    // client's receive buffer before it reads it.
    void drain() {
        stream_.async_read_some(net::buffer(discard_),
                                [self = shared_from_this()](error_code ec, std::size_t) {
                                    if (ec)
                                        self->close();
                                    else
                                        self->drain();
                                });
    }

    beast::tcp_stream stream_;
    const handler& handler_; // the server's, which outlives its connections
    std::shared_ptr<spdlog::logger> log_;
    beast::flat_buffer buffer_;
    http::request_parser<http::string_body> parser_;
    std::optional<http::response<http::string_body>> response_;
    std::array<char, 1024> discard_;
};

http_server::http_server(net::any_io_executor io_ex, const tcp::endpoint& ep, handler h,
                         std::shared_ptr<spdlog::logger> log)
    : acceptor_(io_ex), handler_(std::move(h)), log_(std::move(log)), backoff_timer_(io_ex) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    if (ep.address().is_v6())
        acceptor_.set_option(net::ip::v6_only(true)); // "::" is one family, like the listeners
    acceptor_.bind(ep);
    acceptor_.listen();
    local_ = acceptor_.local_endpoint();
}

void http_server::start() {
    do_accept();
}

void http_server::stop() {
    if (stopped_)
        return;
    stopped_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    backoff_timer_.cancel();
    for (auto& weak : connections_)
        if (auto c = weak.lock())
            c->close();
    connections_.clear();
}

void http_server::do_accept() {
    acceptor_.async_accept([self = shared_from_this()](error_code ec, tcp::socket s) {
        self->on_accept(ec, std::move(s));
    });
}

void http_server::on_accept(error_code ec, tcp::socket socket) {
    if (stopped_)
        return;
    if (ec) {
        if (ec == net::error::operation_aborted)
            return;
        // Re-arming at once would spin on EMFILE; the relay's listeners log such episodes, so
        // here debug is enough.
        log_->debug("admin: accept failed: {}; retrying in {}ms", ec.message(),
                    accept_backoff.count());
        backoff_timer_.expires_after(accept_backoff);
        backoff_timer_.async_wait([self = shared_from_this()](error_code timer_ec) {
            if (!timer_ec && !self->stopped_)
                self->do_accept();
        });
        return;
    }
    {
        std::erase_if(connections_, [](const auto& w) { return w.expired(); });
        if (connections_.size() >= max_connections) {
            log_->debug("admin: {} connections already open; closing {}", max_connections,
                        remote_text(socket));
            error_code ignored;
            socket.close(ignored);
        } else {
            auto c = std::make_shared<connection>(std::move(socket), handler_, log_);
            connections_.push_back(c);
            c->start();
        }
    }
    do_accept();
}

} // namespace funnel
