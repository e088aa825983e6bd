#pragma once
// service: owns the threads and wires the modules together.
//
//   io thread: io_context{1}                        thread_pool(--workers)
//     listeners ─► accept ─► session ─► client reads ─post─► per-session strand: target I/O
//     signal_set, stats timer, drain timer          (or the io thread itself with --workers 0)
//     admin http_server (--metrics-listen)
//
// The accept path (io thread): --allow/--deny, then --max-connections, then
// --max-connections-per-ip; a refused client is closed before any byte of it is read. With
// --refuse-when-full the listeners pause while the target budget is exhausted (client reads
// parked) and resume when it has room, which the pool announces by a post (on_budget_change).
//
// Shutdown order: stop() (or the first SIGINT/SIGTERM) closes the listeners and lets every
// session finish by itself; after --drain-timeout the rest are closed. When the last session is
// gone the work guard is released, the io thread returns and the pool is joined; only then are
// the pools and the io_context destroyed. The admin endpoint answers until the end (/readyz
// says 503 while draining) and is closed when the last session is gone.
// With --spool-dir, the spools' disk I/O runs on a pool of its own (a strand per link); every
// spool job holds work on its link's executor, so once the io thread and the pool are joined no
// spool job is left either.
//
// Thread-safety: start() and wait() from the owning thread; stop() from any thread.

#include "funnel/admin/routes.hpp"
#include "funnel/buffer/buffer_pool.hpp"
#include "funnel/config/config.hpp"
#include "funnel/log/rate_limiter.hpp"
#include "funnel/message/chunk_outbox.hpp"
#include "funnel/metrics/metrics.hpp"
#include "funnel/net.hpp"
#include "funnel/server/access_policy.hpp"
#include "funnel/server/session_context.hpp"
#include "funnel/server/session_registry.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace funnel {
namespace spool {
class link_spool;
}

class http_server;
class listener;
class upstream_link;

class service {
public:
    service(config cfg, std::shared_ptr<spdlog::logger> log);
    ~service();
    service(const service&) = delete;
    service& operator=(const service&) = delete;

    // SIGINT/SIGTERM: the first drains, a second calls `on_second_signal` (which should exit).
    // Call before start().
    void handle_signals(std::function<void()> on_second_signal);
    // Binds every listener (throws std::runtime_error naming the address when one cannot be
    // bound), then starts the io thread and the pool.
    void start();
    std::vector<tcp::endpoint> local_endpoints() const;
    // Where --metrics-listen is served (its port resolved), if it is on; valid after start().
    std::optional<tcp::endpoint> admin_endpoint() const;
    void stop();
    void wait();

    const metrics& stats() const { return stats_; }
    const buffer_pool& target_buffers() const { return to_targets_; }
    const buffer_pool& client_buffers() const { return to_clients_; }

private:
    void on_accept(tcp::socket socket);
    void refuse(tcp::socket& socket, const tcp::endpoint& peer, refusal why,
                access_policy::verdict verdict);
    void on_budget_change();
    void on_signal(error_code ec, int signo);
    void begin_drain();
    void arm_drain_timer(std::chrono::steady_clock::duration after);
    void on_drain_timeout();
    void await_links_drained();
    void finish();
    void arm_stats_timer();
    void log_stats();
    void start_admin(const host_port& where);
    admin_reply on_admin_request(std::string_view method, std::string_view target); // io thread
    net::any_io_executor target_executor();
    // Link `index`'s spool, at start(); throws spool_error.
    std::unique_ptr<spool::link_spool> open_spool(std::size_t index);

    const config cfg_;
    std::shared_ptr<spdlog::logger> log_;
    metrics stats_;
    rate_limiter warnings_;
    access_policy access_;
    buffer_pool to_targets_;
    buffer_pool to_clients_;
    net::io_context io_{1};
    std::optional<net::thread_pool> pool_;
    std::optional<net::thread_pool> spool_pool_; // --spool-dir: disk I/O, never the io thread
    session_registry registry_;
    const double start_time_; // Unix seconds, for the exposition
    session_context ctx_;
    std::vector<std::shared_ptr<listener>> listeners_;
    std::shared_ptr<http_server> admin_;                  // --metrics-listen; io thread
    std::vector<std::shared_ptr<upstream_link>> links_;   // message mode
    std::vector<std::unique_ptr<chunk_outbox>> outboxes_; // message mode, one per link
    std::size_t links_drained_ = 0;                       // io thread
    bool awaiting_links_ = false;                         // io thread
    bool clients_closed_ = false;                         // io thread: by the drain timeout
    bool budget_full_ = false;                            // io thread: as last announced
    bool accept_paused_ = false;                          // io thread: by --refuse-when-full
    std::chrono::steady_clock::time_point full_since_;    // io thread
    net::signal_set signals_;
    std::function<void()> on_second_signal_;
    net::steady_timer drain_timer_;
    net::steady_timer stats_timer_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::thread io_thread_;
    int signals_received_ = 0; // io thread
    bool stopping_ = false;    // io thread
    bool finished_ = false;    // io thread
};

} // namespace funnel
