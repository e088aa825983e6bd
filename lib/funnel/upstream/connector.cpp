#include "funnel/upstream/connector.hpp"

#include <boost/asio/connect.hpp>

#include <array>

namespace funnel {

connector::connector(net::any_io_executor ex, host_port target,
                     std::chrono::steady_clock::duration timeout)
    : ex_(ex), target_(std::move(target)), timeout_(timeout), resolver_(ex), deadline_(ex) {
    error_code ec;
    auto address = net::ip::make_address(target_.host, ec);
    if (!ec)
        literal_ = address;
}

void connector::async_connect(tcp::socket& socket, handler done, std::shared_ptr<void> keepalive) {
    socket_ = &socket;
    done_ = std::move(done);
    timed_out_ = false;
    deadline_.expires_after(timeout_);
    deadline_.async_wait([this, keepalive](error_code ec) {
        if (ec || !done_)
            return;
        timed_out_ = true;
        resolver_.cancel();
        error_code ignored;
        socket_->close(ignored);
    });
    if (literal_) {
        std::array<tcp::endpoint, 1> endpoints{tcp::endpoint(*literal_, target_.port)};
        net::async_connect(
            socket, endpoints,
            [this, keepalive](error_code ec, const tcp::endpoint& ep) { finish(ec, ep); });
        return;
    }
    resolver_.async_resolve(target_.host, std::to_string(target_.port),
                            [this, keepalive](error_code ec, tcp::resolver::results_type results) {
                                on_resolved(ec, results, keepalive);
                            });
}

void connector::on_resolved(error_code ec, const tcp::resolver::results_type& results,
                            const std::shared_ptr<void>& keepalive) {
    if (ec) {
        finish(ec, {});
        return;
    }
    net::async_connect(*socket_, results,
                       [this, keepalive](error_code connect_ec, const tcp::endpoint& ep) {
                           finish(connect_ec, ep);
                       });
}

void connector::finish(error_code ec, const tcp::endpoint& ep) {
    deadline_.cancel();
    if (timed_out_)
        ec = net::error::timed_out;
    if (auto done = std::exchange(done_, nullptr))
        done(ec, ep);
}

void connector::cancel() {
    resolver_.cancel();
    deadline_.cancel();
    if (socket_) {
        error_code ignored;
        socket_->close(ignored);
    }
}

} // namespace funnel
