#include "funnel/stream/stream_session.hpp"

#include "funnel/endpoint_text.hpp"
#include "funnel/metrics/counted_post.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <spdlog/fmt/fmt.h>

#include <span>

namespace funnel {

namespace {

bool is_expected_close(const error_code& ec) {
    return ec == net::error::operation_aborted || ec == net::error::bad_descriptor;
}

} // namespace

stream_session::stream_session(tcp::socket client, net::any_io_executor target_ex,
                               session_context& ctx, std::uint64_t id)
    : ctx_(ctx), id_(id), peer_(remote_text(client)),
      client_(*this, std::move(client), "client", ctx.to_targets),
      target_(*this, tcp::socket(target_ex), "target", ctx.to_clients),
      connector_(
          target_ex, ctx.cfg.target,
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(ctx.cfg.connect_timeout)),
      idle_timer_(ctx.io_ex) {
    target_.connected = false;
    client_.gather.reserve(window);
    target_.gather.reserve(window);
    metrics::add(ctx_.stats.connections_active, 1);
}

stream_session::~stream_session() {
    metrics::sub(ctx_.stats.connections_active, 1);
    ctx_.registry.session_gone(id_);
}

template <class F> void stream_session::on_executor_of(end& e, F&& f) {
    auto job = [self = shared_from_this(), f = std::forward<F>(f)]() mutable {
        f();
    };
    if (is_client(e))
        net::post(e.socket.get_executor(), std::move(job));
    else // the target side: a job for the pool, counted in funnel_worker_queue_depth
        post_counted(e.socket.get_executor(), ctx_.stats.worker_queue_depth, std::move(job));
}

void stream_session::start() {
    error_code ec;
    client_.socket.non_blocking(true, ec);
    client_.socket.set_option(tcp::no_delay(true), ec);
    opened_ = std::chrono::steady_clock::now();
    touch();
    arm_idle_timer();
    ctx_.log->debug("#{} {} accepted", id_, peer_);
    client_.reader.start();
    on_executor_of(target_, [this] { start_connect(); });
}

void stream_session::close(std::string_view reason) {
    note_reason(reason);
    // An end that still had bytes to write is reset: a FIN would pass a cut stream as complete.
    shut_end(client_, has_unsent(client_));
    on_executor_of(target_, [this] { shut_end(target_, has_unsent(target_)); });
}

bool stream_session::has_unsent(const end& e) {
    return e.writing || !e.queue.empty();
}

// ---- source side -------------------------------------------------------------------------

void stream_session::on_chunk(end& src, chunk c) {
    const std::size_t n = c.size();
    if (is_client(src)) {
        bytes_up_ += n;
        metrics::add(ctx_.stats.bytes_from_clients, n);
        touch();
    } else {
        metrics::add(ctx_.stats.bytes_from_targets, n);
    }
    on_executor_of(other(src), [this, &dst = other(src), c = std::move(c)]() mutable {
        deliver(dst, std::move(c));
    });
}

void stream_session::on_read_end(end& src, error_code ec) {
    if (ec == net::error::eof) {
        src.read_eof = true;
        on_executor_of(other(src), [this, &dst = other(src)] { on_peer_eof(dst); });
        maybe_finish(src);
        return;
    }
    if (!src.closed && !is_expected_close(ec))
        fail(src, ec, "read");
}

// ---- sink side ---------------------------------------------------------------------------

void stream_session::deliver(end& dst, chunk c) {
    if (dst.closed)
        return;
    dst.queue.push_back(std::move(c));
    do_write(dst);
}

void stream_session::on_peer_eof(end& dst) {
    dst.peer_eof = true;
    do_write(dst);
}

void stream_session::do_write(end& dst) {
    if (dst.writing || dst.closed || !dst.connected)
        return;
    if (dst.queue.empty()) {
        if (dst.peer_eof && !dst.write_shut) {
            error_code ignored; // a peer that is gone shows up on the read side
            dst.socket.shutdown(tcp::socket::shutdown_send, ignored);
            dst.write_shut = true;
            maybe_finish(dst);
        }
        return;
    }
    dst.gather.clear();
    for (const chunk& c : dst.queue)
        dst.gather.push_back(c.data());
    dst.writing = true;
    net::async_write(dst.socket, std::span<const net::const_buffer>(dst.gather),
                     [self = shared_from_this(), &dst,
                      chunks = dst.gather.size()](error_code ec, std::size_t bytes) {
                         self->on_write(dst, ec, bytes, chunks);
                     });
}

void stream_session::on_write(end& dst, error_code ec, std::size_t bytes, std::size_t chunks) {
    dst.writing = false;
    if (dst.closed)
        return;
    if (ec) {
        fail(dst, ec, "write");
        return;
    }
    if (is_client(dst)) {
        bytes_down_ += bytes;
        metrics::add(ctx_.stats.bytes_to_clients, bytes);
        touch();
    } else {
        metrics::add(ctx_.stats.bytes_to_targets, bytes);
        written_to_target_.fetch_add(bytes, std::memory_order_relaxed);
        ctx_.stats.write_batch_bytes.observe(bytes);
        // Latency per chunk: stream mode has no messages, a chunk is what one client read got.
        const auto now = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < chunks; ++i)
            ctx_.stats.forward_latency_ns.observe(nanoseconds_between(dst.queue[i].arrived(), now));
    }
    dst.queue.erase(dst.queue.begin(), dst.queue.begin() + static_cast<std::ptrdiff_t>(chunks));
    other(dst).reader.credit(chunks);
    do_write(dst);
}

// ---- lifecycle ---------------------------------------------------------------------------

void stream_session::start_connect() {
    if (target_.closed)
        return;
    auto self = shared_from_this();
    connector_.async_connect(
        target_.socket,
        [self](error_code ec, const tcp::endpoint& ep) { self->on_connected(ec, ep); }, self);
}

void stream_session::on_connected(error_code ec, const tcp::endpoint& ep) {
    if (target_.closed)
        return;
    if (ec) {
        metrics::add(ctx_.stats.connect_failures, 1);
        ctx_.stats.last_connect_failed.store(1, std::memory_order_relaxed);
        auto reason =
            fmt::format("target {} unreachable: {}", ctx_.cfg.target.to_string(), ec.message());
        if (auto d = ctx_.warnings.allow(); d.allowed)
            ctx_.log->warn("#{} {}: {}; closing the client{}", id_, peer_, reason,
                           suppressed_note(d));
        shut_end(target_, false);
        // The client's bytes cannot be delivered: a reset says so, a FIN would not.
        on_executor_of(client_, [this, reason = std::move(reason)] {
            note_reason(reason);
            shut_end(client_, true);
        });
        return;
    }
    target_.connected = true;
    metrics::add(ctx_.stats.upstream_connections_up, 1);
    ctx_.stats.last_connect_failed.store(0, std::memory_order_relaxed);
    error_code ignored;
    target_.socket.non_blocking(true, ignored);
    target_.socket.set_option(tcp::no_delay(true), ignored);
    ctx_.log->debug("#{} {} connected to {}", id_, peer_, to_text(ep));
    do_write(target_);
    target_.reader.start();
}

void stream_session::maybe_finish(end& e) {
    if (!e.closed && e.read_eof && e.write_shut)
        shut_end(e, false);
}

void stream_session::fail(end& e, error_code ec, std::string_view what) {
    auto reason = fmt::format("{} {} failed: {}", e.name, what, ec.message());
    if (!failed_.exchange(true))
        metrics::add(ctx_.stats.resets, 1);
    shut_end(e, true);
    if (is_client(e)) {
        note_reason(reason);
        on_executor_of(target_, [this] { shut_end(target_, true); });
    } else {
        on_executor_of(client_, [this, reason = std::move(reason)] {
            note_reason(reason);
            shut_end(client_, true);
        });
    }
}

void stream_session::shut_end(end& e, bool reset) {
    if (e.closed)
        return;
    e.closed = true;
    error_code ignored;
    if (reset)
        e.socket.set_option(net::socket_base::linger(true, 0), ignored);
    e.socket.close(ignored);
    e.queue.clear();
    e.reader.stop();
    if (!is_client(e)) {
        if (e.connected)
            metrics::sub(ctx_.stats.upstream_connections_up, 1);
        connector_.cancel();
        // The idle timer keeps watching until this end is closed too.
        on_executor_of(client_, [this] {
            target_closed_ = true;
            if (client_.closed)
                idle_timer_.cancel();
        });
        return;
    }
    if (target_closed_)
        idle_timer_.cancel();
    const auto lasted = std::chrono::duration<double>(std::chrono::steady_clock::now() - opened_);
    ctx_.log->debug("#{} {} closed ({}): {} bytes up, {} bytes down, {:.3f}s", id_, peer_,
                    close_reason_.empty() ? "both sides finished" : close_reason_, bytes_up_,
                    bytes_down_, lasted.count());
}

void stream_session::note_reason(std::string_view reason) {
    if (close_reason_.empty())
        close_reason_ = reason;
}

void stream_session::touch() {
    if (ctx_.cfg.idle_timeout.count() > 0)
        last_activity_ = std::chrono::steady_clock::now();
}

void stream_session::arm_idle_timer() {
    if (ctx_.cfg.idle_timeout.count() <= 0 || (client_.closed && target_closed_))
        return;
    idle_timer_.expires_at(
        last_activity_ +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(ctx_.cfg.idle_timeout));
    idle_timer_.async_wait([self = shared_from_this()](error_code ec) { self->on_idle_timer(ec); });
}

void stream_session::on_idle_timer(error_code ec) {
    if (ec || (client_.closed && target_closed_))
        return;
    // Bytes written to the target since the last look count as activity too (they are counted on
    // the target's strand, so the io thread only compares totals); a target that stopped
    // reading makes none, and its pair is closed like any idle one.
    if (const auto written = written_to_target_.load(std::memory_order_relaxed);
        written != written_seen_) {
        written_seen_ = written;
        touch();
    }
    const auto idle_for = std::chrono::steady_clock::now() - last_activity_;
    if (idle_for >= ctx_.cfg.idle_timeout) {
        metrics::add(ctx_.stats.idle_timeouts, 1);
        close(fmt::format("idle for {:.3f}s", ctx_.cfg.idle_timeout.count()));
        return;
    }
    arm_idle_timer();
}

} // namespace funnel
