#include "funnel/upstream/connector.hpp"

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
        endpoints_.assign(1, tcp::endpoint(*literal_, target_.port));
        next_ = 0;
        try_next({}, keepalive);
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
    endpoints_.assign(results.begin(), results.end());
    next_ = 0;
    try_next(net::error::host_not_found, keepalive);
}

// One address after the other, as getaddrinfo ordered them. Each attempt opens the socket
// itself, so a failure to open it (EMFILE) is reported as such.
void connector::try_next(error_code last_error, const std::shared_ptr<void>& keepalive) {
    if (next_ == endpoints_.size()) {
        finish(last_error, {});
        return;
    }
    const tcp::endpoint ep = endpoints_[next_++];
    error_code ignored;
    socket_->close(ignored);
    socket_->async_connect(ep, [this, keepalive, ep](error_code ec) {
        if (!ec || ec == net::error::operation_aborted)
            finish(ec, ep);
        else
            try_next(ec, keepalive);
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
