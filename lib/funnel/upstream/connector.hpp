#pragma once
// connector: resolves the target (only when it is a name) and connects one socket to it,
// within a deadline.
//
// The target is resolved again on every call, so a target that moves is followed.
// Thread affinity: the executor it was built with, which must be the socket's.
// Lifetime: every handler it starts holds `keepalive`, the owner of the connector and the
// socket, so that none of them can outlive it.

#include "funnel/config/config.hpp"
#include "funnel/net.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace funnel {

class connector {
public:
    using handler = std::function<void(error_code, const tcp::endpoint&)>;

    connector(net::any_io_executor ex, host_port target,
              std::chrono::steady_clock::duration timeout);

    // Calls `done` once: success, the last connect error, or net::error::timed_out.
    void async_connect(tcp::socket& socket, handler done, std::shared_ptr<void> keepalive);
    // Abandons a connect in progress: its handler runs with operation_aborted.
    void cancel();

    const host_port& target() const { return target_; }

private:
    void on_resolved(error_code ec, const tcp::resolver::results_type& results,
                     const std::shared_ptr<void>& keepalive);
    void try_next(error_code last_error, const std::shared_ptr<void>& keepalive);
    void finish(error_code ec, const tcp::endpoint& ep);

    net::any_io_executor ex_;
    host_port target_;
    std::optional<net::ip::address> literal_; // set when the host needs no resolution
    std::chrono::steady_clock::duration timeout_;
    tcp::resolver resolver_;
    net::steady_timer deadline_;
    tcp::socket* socket_ = nullptr;
    std::vector<tcp::endpoint> endpoints_;
    std::size_t next_ = 0;
    handler done_;
    bool timed_out_ = false;
};

} // namespace funnel
