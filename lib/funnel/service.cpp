#include "funnel/service.hpp"

#include "funnel/admin/exposition.hpp"
#include "funnel/admin/http_server.hpp"
#include "funnel/endpoint_text.hpp"
#include "funnel/message/message_session.hpp"
#include "funnel/message/upstream_link.hpp"
#include "funnel/server/listener.hpp"
#include "funnel/stream/stream_session.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <stdexcept>

namespace funnel {

namespace {

template <class Duration> std::chrono::steady_clock::duration to_steady(Duration d) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
}

} // namespace

service::service(config cfg, std::shared_ptr<spdlog::logger> log)
    : cfg_(std::move(cfg)), log_(std::move(log)), warnings_(std::chrono::seconds(1), 5),
      access_(cfg_.allow, cfg_.deny), to_targets_(cfg_.read_size(), cfg_.buffer_limit),
      to_clients_(cfg_.read_size(), cfg_.buffer_limit), registry_(io_.get_executor()),
      start_time_(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                      .count()),
      ctx_{cfg_, to_targets_, to_clients_, stats_, log_, warnings_, registry_, io_.get_executor()},
      signals_(io_), drain_timer_(io_), stats_timer_(io_), work_(io_.get_executor()) {
    if (cfg_.workers > 0)
        pool_.emplace(cfg_.workers);
    registry_.on_empty([this] {
        if (stopping_)
            await_links_drained();
    });
    to_targets_.watch_exhaustion(io_.get_executor(), [this] { on_budget_change(); });
}

service::~service() {
    if (io_thread_.joinable()) {
        stop();
        wait();
    }
}

void service::handle_signals(std::function<void()> on_second_signal) {
    on_second_signal_ = std::move(on_second_signal);
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](error_code ec, int signo) { on_signal(ec, signo); });
}

void service::start() {
    tcp::resolver resolver(io_);
    for (const host_port& hp : cfg_.listen) {
        error_code ec;
        // Resolved once, at start, before the io thread runs: blocking here blocks nobody.
        auto results =
            resolver.resolve(hp.host, std::to_string(hp.port),
                             tcp::resolver::passive | tcp::resolver::numeric_service, ec);
        if (ec)
            throw std::runtime_error(
                fmt::format("cannot listen on {}: {}", hp.to_string(), ec.message()));
        for (const auto& entry : results) {
            try {
                listeners_.push_back(std::make_shared<listener>(
                    io_.get_executor(), entry.endpoint(),
                    [this](tcp::socket s) { on_accept(std::move(s)); }, stats_, log_));
            } catch (const boost::system::system_error& e) {
                throw std::runtime_error(fmt::format(
                    "cannot listen on {}: {}", to_text(entry.endpoint()), e.code().message()));
            }
        }
    }
    if (cfg_.metrics_listen)
        start_admin(*cfg_.metrics_listen);
    for (auto& l : listeners_) {
        log_->info("listening on {}, forwarding to {} ({} mode)", to_text(l->local_endpoint()),
                   cfg_.target.to_string(), to_string(cfg_.mode));
        l->start();
    }
    if (cfg_.mode == relay_mode::message) {
        // Every spool is opened before any link exists: one that cannot be (spool_error) ends
        // the start with nothing running yet on the pools.
        std::vector<std::unique_ptr<spool::link_spool>> spools;
        for (std::size_t i = 0; !cfg_.spool_dir.empty() && i < cfg_.upstream_connections; ++i)
            spools.push_back(open_spool(i));
        if (!spools.empty())
            spool_pool_.emplace(std::min<std::size_t>(cfg_.upstream_connections, 2));
        for (std::size_t i = 0; i < cfg_.upstream_connections; ++i) {
            links_.push_back(std::make_shared<upstream_link>(target_executor(), cfg_, i, stats_,
                                                             log_, warnings_));
            if (!spools.empty())
                links_.back()->attach_spool(std::move(spools[i]),
                                            net::make_strand(spool_pool_->get_executor()),
                                            to_targets_);
            net::post(links_.back()->get_executor(), [l = links_.back()] { l->start(); });
            outboxes_.push_back(std::make_unique<chunk_outbox>(
                io_.get_executor(), links_.back()->get_executor(), stats_.worker_queue_depth));
        }
    }
    arm_stats_timer();
    io_thread_ = std::thread([this] { io_.run(); });
}

std::vector<tcp::endpoint> service::local_endpoints() const {
    std::vector<tcp::endpoint> out;
    for (const auto& l : listeners_)
        out.push_back(l->local_endpoint());
    return out;
}

std::optional<tcp::endpoint> service::admin_endpoint() const {
    if (!admin_)
        return std::nullopt;
    return admin_->local_endpoint();
}

void service::start_admin(const host_port& where) {
    tcp::resolver resolver(io_);
    error_code ec;
    // Like the listeners: resolved once, before the io thread runs; the first address is bound.
    auto results = resolver.resolve(where.host, std::to_string(where.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty())
        throw std::runtime_error(fmt::format("cannot listen on {} (--metrics-listen): {}",
                                             where.to_string(), ec ? ec.message() : "no address"));
    const tcp::endpoint ep = results.begin()->endpoint();
    try {
        admin_ = std::make_shared<http_server>(
            io_.get_executor(), ep,
            [this](std::string_view method, std::string_view target) {
                return on_admin_request(method, target);
            },
            log_);
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error(fmt::format("cannot listen on {} (--metrics-listen): {}",
                                             to_text(ep), e.code().message()));
    }
    log_->info("serving /metrics, /healthz and /readyz on http://{}",
               to_text(admin_->local_endpoint()));
    admin_->start();
}

admin_reply service::on_admin_request(std::string_view method, std::string_view target) {
    admin_routes routes;
    routes.metrics = [this] {
        return render_exposition(
            {stats_, to_targets_.bytes_held(), to_clients_.bytes_held(), to_targets_.byte_limit(),
             cfg_.spool_dir.empty() ? 0 : cfg_.spool_limit, FUNNEL_VERSION, start_time_});
    };
    routes.not_ready = [this] {
        readiness_input in;
        in.mode = cfg_.mode;
        in.listening = !listeners_.empty();
        in.draining = stopping_;
        in.upstream_connections_up = metrics::get(stats_.upstream_connections_up);
        in.last_connect_failed = metrics::get(stats_.last_connect_failed) != 0;
        in.buffer_has_room =
            to_targets_.waiting() == 0 &&
            to_targets_.bytes_held() + to_targets_.block_size() <= to_targets_.byte_limit();
        return not_ready_reason(in);
    };
    return route(method, target, routes);
}

void service::stop() {
    net::post(io_, [this] { begin_drain(); });
}

void service::wait() {
    if (!io_thread_.joinable())
        return;
    io_thread_.join();
    if (pool_)
        pool_->join();
    if (spool_pool_)
        spool_pool_->join();
    // After the joins, so that the links' last words come before it.
    log_stats();
    log_->info("stopped");
}

// Each link has its share of --spool-limit in a directory of its own; segments of an eighth of
// it (64KiB to 16MiB) free space in steps as delivery goes on.
std::unique_ptr<spool::link_spool> service::open_spool(std::size_t index) {
    spool::link_spool::options o;
    o.dir = std::filesystem::path(cfg_.spool_dir) / fmt::format("link-{}", index);
    o.limit = cfg_.spool_limit / cfg_.upstream_connections;
    o.segment_bytes = std::clamp<std::uint64_t>(o.limit / 8, 64U << 10, 16U << 20);
    o.sync = cfg_.spool_sync_mode == spool_sync::always     ? spool::sync_policy::always
             : cfg_.spool_sync_mode == spool_sync::interval ? spool::sync_policy::interval
                                                            : spool::sync_policy::never;
    auto s = spool::link_spool::open(o);
    if (s->has_unread())
        log_->info("upstream {}: {} bytes left in the spool {} go out first", index, s->bytes(),
                   o.dir.string());
    return s;
}

net::any_io_executor service::target_executor() {
    if (pool_)
        return net::make_strand(pool_->get_executor());
    return io_.get_executor();
}

// io thread. Every check comes before the first read, so a refused client has nothing read and
// nothing sent on its behalf.
void service::on_accept(tcp::socket socket) {
    error_code ec;
    const tcp::endpoint peer = socket.remote_endpoint(ec);
    if (ec) {
        // Reset before it was taken: there is nobody to serve, and no address to judge.
        log_->debug("client gone before it was accepted: {}", ec.message());
        socket.close(ec);
        return;
    }
    const net::ip::address client = unmapped(peer.address());
    if (const auto verdict = access_.judge(client); verdict != access_policy::verdict::admitted) {
        refuse(socket, peer, refusal::access_denied, verdict);
        return;
    }
    if (registry_.size() >= cfg_.max_connections) {
        refuse(socket, peer, refusal::max_connections, access_policy::verdict::admitted);
        return;
    }
    if (cfg_.max_connections_per_ip > 0 &&
        registry_.sessions_from(client) >= cfg_.max_connections_per_ip) {
        refuse(socket, peer, refusal::per_ip_limit, access_policy::verdict::admitted);
        return;
    }
    metrics::add(stats_.connections_accepted, 1);
    const auto id = registry_.next_id();
    if (cfg_.mode == relay_mode::message) {
        // A client stays on one link, which keeps its messages in order.
        const std::size_t k = id % links_.size();
        auto session = std::make_shared<message_session>(std::move(socket), links_[k],
                                                         *outboxes_[k], ctx_, id);
        registry_.add(id, session, client);
        session->start();
        return;
    }
    auto session = std::make_shared<stream_session>(std::move(socket), target_executor(), ctx_, id);
    registry_.add(id, session, client);
    session->start();
}

// io thread: counts, logs (rate-limited: a flood of refused clients must not flood the log) and
// closes.
void service::refuse(tcp::socket& socket, const tcp::endpoint& peer, refusal why,
                     access_policy::verdict verdict) {
    metrics::add(stats_.refused(why), 1);
    if (auto d = warnings_.allow(); d.allowed) {
        std::string because;
        switch (why) {
        case refusal::access_denied:
            because = verdict == access_policy::verdict::denied ? "in a --deny block"
                                                                : "not in any --allow block";
            break;
        case refusal::max_connections:
            because = fmt::format("--max-connections {} reached", cfg_.max_connections);
            break;
        case refusal::per_ip_limit:
            because = fmt::format("--max-connections-per-ip {} reached by this address",
                                  cfg_.max_connections_per_ip);
            break;
        case refusal::count_:
            break;
        }
        log_->warn("refusing a connection from {}: {}{}", to_text(peer), because,
                   suppressed_note(d));
    }
    error_code ignored;
    socket.close(ignored);
}

// io thread: the target budget became exhausted or has room again. Announced by a post per
// change, so the level is read here, not carried: the last of several posts sees the last state.
void service::on_budget_change() {
    const bool full = to_targets_.exhausted();
    if (full == budget_full_)
        return;
    budget_full_ = full;
    const auto now = std::chrono::steady_clock::now();
    if (full) {
        full_since_ = now;
        accept_paused_ = cfg_.refuse_when_full && !stopping_;
        if (accept_paused_) {
            metrics::add(stats_.accept_pauses, 1);
            for (auto& l : listeners_)
                l->pause();
        }
        log_->warn("--buffer-limit {} reached: client reads paused until the target takes data{}",
                   cfg_.buffer_limit,
                   accept_paused_ ? "; not accepting new connections (--refuse-when-full)" : "");
        return;
    }
    const bool resumed = accept_paused_;
    if (accept_paused_) {
        accept_paused_ = false;
        for (auto& l : listeners_)
            l->resume();
    }
    log_->info("--buffer-limit has room again after {:.3f}s: client reads resume{}",
               std::chrono::duration<double>(now - full_since_).count(),
               resumed ? ", accepting new connections again" : "");
}

void service::on_signal(error_code ec, int signo) {
    if (ec)
        return;
    if (++signals_received_ > 1) {
        log_->warn("received signal {} again: exiting now", signo);
        if (on_second_signal_)
            on_second_signal_();
        return;
    }
    log_->info("received signal {}: stopping", signo);
    // Armed before the drain starts, so that a drain that ends at once cancels it too.
    signals_.async_wait([this](error_code next_ec, int next) { on_signal(next_ec, next); });
    begin_drain();
}

void service::begin_drain() {
    if (stopping_)
        return;
    stopping_ = true;
    for (auto& l : listeners_)
        l->stop();
    log_->info("draining {} connections (up to {:.1f}s)", registry_.size(),
               cfg_.drain_timeout.count());
    arm_drain_timer(to_steady(cfg_.drain_timeout));
    // An accept that completed before stop() may still be queued behind this handler, and its
    // session must not find the links stopped: look at the registry once it has run.
    net::post(io_, [this] {
        if (registry_.size() == 0)
            await_links_drained();
    });
}

// First phase: clients may go on until --drain-timeout. Second phase (message mode): what the
// links hold may take another --drain-timeout to reach the target; then it is dropped, logged.
// finish() runs only once the registry is empty, so that no session outlives the threads.
void service::arm_drain_timer(std::chrono::steady_clock::duration after) {
    drain_timer_.expires_after(after);
    drain_timer_.async_wait([this](error_code ec) {
        if (!ec && !finished_)
            on_drain_timeout();
    });
}

void service::on_drain_timeout() {
    if (!clients_closed_ && registry_.size() > 0) {
        log_->warn("drain timeout: closing {} connections still open", registry_.size());
        clients_closed_ = true;
        registry_.close_all("shutdown: drain timeout");
        if (!links_.empty())
            arm_drain_timer(to_steady(cfg_.drain_timeout));
        return;
    }
    if (registry_.size() > 0) {
        arm_drain_timer(std::chrono::milliseconds(50)); // closed sessions end within a few handlers
        return;
    }
    log_->warn("drain timeout: the target did not acknowledge everything in time");
    finish();
}

// Message mode: the clients are gone; the links may still hold messages for the target.
void service::await_links_drained() {
    if (awaiting_links_)
        return;
    awaiting_links_ = true;
    if (links_.empty()) {
        finish();
        return;
    }
    for (auto& link : links_) {
        net::post(link->get_executor(), [this, link] {
            auto report = [this] {
                net::post(io_, [this] {
                    if (++links_drained_ == links_.size())
                        finish();
                });
            };
            if (link->drained())
                report();
            else
                link->on_drained(report);
        });
    }
}

void service::finish() {
    if (finished_)
        return;
    finished_ = true;
    for (auto& link : links_)
        net::post(link->get_executor(), [link] { link->stop(); });
    drain_timer_.cancel();
    stats_timer_.cancel();
    if (admin_)
        admin_->stop();
    signals_.cancel();
    work_.reset();
}

void service::arm_stats_timer() {
    if (cfg_.stats_interval.count() <= 0)
        return;
    stats_timer_.expires_after(to_steady(cfg_.stats_interval));
    stats_timer_.async_wait([this](error_code ec) {
        if (ec || finished_)
            return;
        log_stats();
        arm_stats_timer();
    });
}

void service::log_stats() {
    std::string messages;
    if (cfg_.mode == relay_mode::message)
        messages = fmt::format(
            " | messages in={} out={} resent={} oversize={} truncated={} "
            "reconnects={}",
            metrics::get(stats_.messages_in), metrics::get(stats_.messages_out),
            metrics::get(stats_.messages_resent), metrics::get(stats_.oversize_dropped),
            metrics::get(stats_.messages_truncated), metrics::get(stats_.upstream_reconnects));
    if (!cfg_.spool_dir.empty())
        messages += fmt::format(" | spool bytes={} written={} replayed={} dropped={}",
                                metrics::get(stats_.spool_bytes),
                                metrics::get(stats_.spool_messages_written),
                                metrics::get(stats_.spool_messages_replayed),
                                metrics::get(stats_.spool_messages_dropped) +
                                    metrics::get(stats_.spool_messages_failed));
    log_->info("stats: connections active={} accepted={} refused={} | client bytes in={} "
               "forwarded={} | target bytes in={} returned={} | held={} peak={} limit={} | "
               "paused reads={} paused clients={} connect failures={} resets={} idle timeouts={}{}",
               metrics::get(stats_.connections_active), metrics::get(stats_.connections_accepted),
               stats_.refused_total(), metrics::get(stats_.bytes_from_clients),
               metrics::get(stats_.bytes_to_targets), metrics::get(stats_.bytes_from_targets),
               metrics::get(stats_.bytes_to_clients), to_targets_.bytes_held(),
               to_targets_.high_water(), to_targets_.byte_limit(), metrics::get(stats_.read_pauses),
               metrics::get(stats_.client_pauses), metrics::get(stats_.connect_failures),
               metrics::get(stats_.resets), metrics::get(stats_.idle_timeouts), messages);
}

} // namespace funnel
