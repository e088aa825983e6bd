#include "funnel/message/message_session.hpp"

#include "funnel/endpoint_text.hpp"
#include "funnel/metrics/counted_post.hpp"

#include <boost/asio/post.hpp>

#include <spdlog/fmt/fmt.h>

namespace funnel {

message_session::message_session(tcp::socket client, std::shared_ptr<upstream_link> link,
                                 chunk_outbox& outbox, session_context& ctx, std::uint64_t id)
    : ctx_(ctx), id_(id), peer_(remote_text(client)), link_(std::move(link)), outbox_(outbox),
      client_(std::move(client)),
      reader_(client_, ctx.to_targets, window, *this, ctx.stats, ctx.cfg.client_buffer_limit),
      idle_timer_(ctx.io_ex),
      framer_(ctx.cfg.message_framing, ctx.cfg.max_message_size, ctx.cfg.oversize) {
    metrics::add(ctx_.stats.connections_active, 1);
}

message_session::~message_session() {
    metrics::sub(ctx_.stats.connections_active, 1);
    ctx_.registry.session_gone(id_);
}

// ---- io thread ---------------------------------------------------------------------------

void message_session::start() {
    error_code ignored;
    client_.non_blocking(true, ignored);
    last_activity_ = std::chrono::steady_clock::now();
    arm_idle_timer();
    ctx_.log->debug("#{} {} accepted", id_, peer_);
    reader_.start();
}

void message_session::close(std::string_view reason) {
    if (!closed_) {      // the unfinished message, if any, is counted and logged as cut short
        outbox_.flush(); // behind this session's chunks
        post_counted(link_->get_executor(), ctx_.stats.worker_queue_depth,
                     [self = shared_from_this(), at = std::chrono::steady_clock::now()] {
                         if (!self->stream_closed_)
                             self->end_of_stream(false, at);
                     });
    }
    finish(reason, false);
}

void message_session::on_chunk(chunk c) {
    bytes_in_ += c.size();
    metrics::add(ctx_.stats.bytes_from_clients, c.size());
    if (ctx_.cfg.idle_timeout.count() > 0)
        last_activity_ = c.arrived();
    outbox_.push(shared_from_this(), std::move(c));
}

void message_session::on_read_end(error_code ec) {
    const bool clean = ec == net::error::eof;
    outbox_.flush(); // behind this session's chunks
    post_counted(link_->get_executor(), ctx_.stats.worker_queue_depth,
                 [self = shared_from_this(), clean, at = std::chrono::steady_clock::now()] {
                     if (!self->stream_closed_)
                         self->end_of_stream(clean, at);
                 });
    finish(clean ? "client closed" : fmt::format("client read failed: {}", ec.message()), !clean);
}

void message_session::finish(std::string_view reason, bool reset) {
    if (closed_)
        return;
    closed_ = true;
    reader_.stop();
    idle_timer_.cancel();
    error_code ignored;
    if (reset)
        client_.set_option(net::socket_base::linger(true, 0), ignored);
    client_.close(ignored);
    ctx_.log->debug("#{} {} closed ({}): {} bytes in", id_, peer_, reason, bytes_in_);
}

void message_session::arm_idle_timer() {
    const auto timeout =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(ctx_.cfg.idle_timeout);
    if (timeout.count() <= 0 || closed_)
        return;
    auto deadline = last_activity_ + timeout;
    if (const auto since = message_started(); since)
        deadline = std::min(deadline, *since + timeout);
    idle_timer_.expires_at(deadline);
    idle_timer_.async_wait([self = shared_from_this(), timeout](error_code ec) {
        if (ec || self->closed_)
            return;
        const auto now = std::chrono::steady_clock::now();
        // A client held back by backpressure is neither idle nor slow: it waits for us, and what
        // it sent is in our socket's receive buffer. That holds for its own --client-buffer-limit
        // too: the reader is paused by it only while some of the blocks the client holds are not
        // its unfinished message's (chunk_reader::pinned_blocks), i.e. the target, not the
        // client, owes the release; blocks only the client could free never pause it, so its
        // message clock runs and a trickling client is still closed.
        if (self->reader_.paused())
            self->last_activity_ = self->excused_until_ = now;
        // close(), not finish(): an unfinished message is counted and logged as cut short.
        if (now - self->last_activity_ >= timeout) {
            metrics::add(self->ctx_.stats.idle_timeouts, 1);
            self->close(fmt::format("idle for {:.3f}s", self->ctx_.cfg.idle_timeout.count()));
            return;
        }
        if (const auto since = self->message_started(); since && now - *since >= timeout) {
            metrics::add(self->ctx_.stats.idle_timeouts, 1);
            const auto why =
                fmt::format("a message took longer than --idle-timeout {:.3f}s to arrive",
                            self->ctx_.cfg.idle_timeout.count());
            if (auto d = self->ctx_.warnings.allow(); d.allowed)
                self->ctx_.log->warn("#{} {}: {}; closing the client{}", self->id_, self->peer_,
                                     why, suppressed_note(d));
            self->close(why);
            return;
        }
        self->arm_idle_timer();
    });
}

std::optional<std::chrono::steady_clock::time_point> message_session::message_started() const {
    const std::int64_t ticks = inside_message_since_.load(std::memory_order_relaxed);
    if (ticks == 0)
        return std::nullopt;
    const std::chrono::steady_clock::time_point since{std::chrono::steady_clock::duration(ticks)};
    return std::max(since, excused_until_);
}

// ---- link strand -------------------------------------------------------------------------

void message_session::frame(std::shared_ptr<const chunk> block) {
    if (!stream_closed_) {
        auto out = framer_.feed(block);
        if (out.oversize > 0)
            report_oversize(out.oversize, out.oversize_length);
        const bool completed_one = out.batch.messages > 0 || out.oversize > 0;
        enqueue(std::move(out.batch));
        note_message_boundary(completed_one, block->arrived());
        if (!out.open) {
            stream_closed_ = true;
            close_from_strand("message over --max-message-size (--oversize close)");
        }
    }
    block.reset(); // a chunk that held only whole messages is now the batches' alone
    // Before the credit, which wakes a reader this lets go (chunk_reader::pinned_blocks).
    pinned_blocks_.store(framer_.pinned_blocks(), std::memory_order_seq_cst);
    reader_.credit(1);
}

void message_session::note_message_boundary(bool completed_one,
                                            std::chrono::steady_clock::time_point arrived) {
    if (ctx_.cfg.idle_timeout.count() <= 0)
        return;
    if (!framer_.inside_message()) {
        inside_message_since_.store(0, std::memory_order_relaxed);
    } else if (completed_one || inside_message_since_.load(std::memory_order_relaxed) == 0) {
        // A new message began in this chunk: its clock starts with the chunk's read.
        inside_message_since_.store(arrived.time_since_epoch().count(), std::memory_order_relaxed);
    }
}

void message_session::end_of_stream(bool clean, std::chrono::steady_clock::time_point at) {
    stream_closed_ = true;
    auto out = framer_.finish(clean);
    pinned_blocks_.store(0, std::memory_order_seq_cst);
    out.batch.arrived = at;
    if (out.truncated) {
        metrics::add(ctx_.stats.messages_truncated, 1);
        if (auto d = ctx_.warnings.allow(); d.allowed)
            ctx_.log->warn("#{} {}: connection ended inside a message ({} bytes of it); dropped{}",
                           id_, peer_, out.truncated_bytes, suppressed_note(d));
    }
    enqueue(std::move(out.batch));
    ctx_.log->debug("#{} {}: stream ended, {} messages framed", id_, peer_, framer_.messages());
}

void message_session::enqueue(message_batch batch) {
    if (batch.empty())
        return;
    metrics::add(ctx_.stats.messages_in, batch.messages);
    link_->enqueue(std::move(batch));
}

void message_session::report_oversize(std::size_t count, std::size_t length) {
    metrics::add(ctx_.stats.oversize_dropped, count);
    const auto& decoder = framer_.decoder();
    if (auto d = ctx_.warnings.allow(); d.allowed)
        ctx_.log->warn("#{} {}: message of {} bytes is over --max-message-size {}; {}{}", id_,
                       peer_, length, decoder.max_message_size(),
                       decoder.policy() == oversize_policy::skip ? "dropped it"
                                                                 : "closing the client",
                       suppressed_note(d));
}

void message_session::close_from_strand(std::string reason) {
    net::post(ctx_.io_ex, [self = shared_from_this(), reason = std::move(reason)] {
        self->finish(reason, true);
    });
}

} // namespace funnel
