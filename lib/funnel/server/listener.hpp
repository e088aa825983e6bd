#pragma once
// listener: one bound acceptor and its accept loop.
//
// Accept errors other than a client that gave up (EMFILE, ENFILE, ENOBUFS, ENOMEM above all)
// pause the loop for `backoff` instead of re-arming at once, which would spin the io thread at
// 100 % CPU; the episode is logged once when it starts and once when accepting works again.
//
// pause() stops calling accept (the pending one is cancelled) until resume(): new clients wait
// in the kernel's backlog, and once that is full their SYNs go unanswered, which is how a
// sender or a load balancer learns to hold back (--refuse-when-full).
//
// Thread affinity: io thread. Lifetime: shared_ptr, kept alive by its pending accept.

#include "funnel/metrics/metrics.hpp"
#include "funnel/net.hpp"

#include <boost/asio/steady_timer.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <functional>
#include <memory>

namespace funnel {

class listener : public std::enable_shared_from_this<listener> {
public:
    using accept_handler = std::function<void(tcp::socket)>;
    static constexpr std::chrono::milliseconds backoff{100};

    // Opens, binds and listens; throws boost::system::system_error when it cannot.
    listener(net::any_io_executor io_ex, const tcp::endpoint& ep, accept_handler on_accept,
             metrics& stats, std::shared_ptr<spdlog::logger> log);

    void start();
    // Stops accepting; connections already completed in the kernel's queue are still taken.
    void stop();
    void pause();
    void resume();
    tcp::endpoint local_endpoint() const { return local_; }

private:
    void do_accept();
    void on_accept(error_code ec, tcp::socket socket);

    tcp::acceptor acceptor_;
    tcp::endpoint local_;
    accept_handler on_accept_;
    metrics& stats_;
    std::shared_ptr<spdlog::logger> log_;
    net::steady_timer backoff_timer_;
    std::uint64_t failures_in_episode_ = 0;
    bool accept_pending_ = false;
    bool paused_ = false;
    bool stopped_ = false;
};

} // namespace funnel
