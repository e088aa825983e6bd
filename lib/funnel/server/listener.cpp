#include "funnel/server/listener.hpp"

#include <boost/asio/ip/v6_only.hpp>

namespace funnel {

listener::listener(net::any_io_executor io_ex, const tcp::endpoint& ep, accept_handler on_accept,
                   metrics& stats, std::shared_ptr<spdlog::logger> log)
    : acceptor_(io_ex), on_accept_(std::move(on_accept)), stats_(stats), log_(std::move(log)),
      backoff_timer_(io_ex) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    if (ep.address().is_v6())
        acceptor_.set_option(
            net::ip::v6_only(true)); // so that 0.0.0.0 and [::] can both be listened on
    acceptor_.bind(ep);
    acceptor_.listen(net::socket_base::max_listen_connections);
    local_ = acceptor_.local_endpoint();
}

void listener::start() {
    do_accept();
}

void listener::stop() {
    if (stopped_)
        return;
    stopped_ = true;
    // Connections the kernel has already completed hold data their clients count as sent:
    // take them in before closing, instead of resetting them with the listening socket.
    error_code ec;
    acceptor_.non_blocking(true, ec);
    while (!ec) {
        tcp::socket socket(acceptor_.get_executor());
        acceptor_.accept(socket, ec);
        if (!ec)
            on_accept_(std::move(socket));
    }
    acceptor_.close(ec);
    backoff_timer_.cancel();
}

void listener::pause() {
    if (paused_ || stopped_)
        return;
    paused_ = true;
    error_code ignored;
    acceptor_.cancel(ignored);
}

void listener::resume() {
    if (!paused_)
        return;
    paused_ = false;
    do_accept();
}

void listener::do_accept() {
    // One accept at a time: after a resume() the cancelled one may not have completed yet, and
    // a backoff may be waiting to re-arm.
    if (stopped_ || paused_ || accept_pending_)
        return;
    accept_pending_ = true;
    acceptor_.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
        self->on_accept(ec, std::move(socket));
    });
}

void listener::on_accept(error_code ec, tcp::socket socket) {
    accept_pending_ = false;
    if (!ec && stopped_) {
        // Accepted just before stop(): the client is connected and may have sent data.
        on_accept_(std::move(socket));
        return;
    }
    if (stopped_)
        return;
    if (ec == net::error::operation_aborted) {
        do_accept(); // cancelled by pause(); resume() may have come since
        return;
    }
    if (!ec) {
        if (failures_in_episode_ > 0) {
            log_->info("accepting on {} again after {} failed accepts", local_.port(),
                       failures_in_episode_);
            failures_in_episode_ = 0;
        }
        on_accept_(std::move(socket));
        do_accept();
        return;
    }
    metrics::add(stats_.accept_errors, 1);
    if (ec == net::error::connection_aborted) {
        // The client gave up before we took it: nothing to wait for.
        log_->debug("accept on port {}: {}", local_.port(), ec.message());
        do_accept();
        return;
    }
    // Anything else (EMFILE above all) would fail again at once: back off instead of spinning.
    if (failures_in_episode_++ == 0)
        log_->warn("accept on port {} failed: {}; retrying every {}ms until it works",
                   local_.port(), ec.message(), backoff.count());
    backoff_timer_.expires_after(backoff);
    backoff_timer_.async_wait([self = shared_from_this()](error_code timer_ec) {
        if (!timer_ec)
            self->do_accept();
    });
}

} // namespace funnel
