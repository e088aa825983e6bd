#include "funnel/message/message_session.hpp"

#include "funnel/endpoint_text.hpp"

#include <boost/asio/post.hpp>

#include <spdlog/fmt/fmt.h>

namespace funnel {

namespace {

constexpr std::byte newline{'\n'};

const std::byte* bytes_of(const chunk& c) {
    return static_cast<const std::byte*>(c.data().data());
}

} // namespace

// Reports what one chunk holds to the session, on the link's strand.
struct message_session::handler {
    message_session& session;
    const std::shared_ptr<const chunk>& block;

    void on_payload(frame_segment s) { session.partial_.push_back({block, s}); }
    void on_message_end(std::size_t length) { session.complete_message(length); }
    void on_oversize(std::size_t length) {
        session.drop_partial();
        metrics::add(session.ctx_.stats.oversize_dropped, 1);
        if (auto d = session.ctx_.warnings.allow(); d.allowed)
            session.ctx_.log->warn(
                "#{} {}: message of {} bytes is over --max-message-size {}; {}{}", session.id_,
                session.peer_, length, session.decoder_.max_message_size(),
                session.decoder_.policy() == oversize_policy::skip ? "dropped it"
                                                                   : "closing the client",
                suppressed_note(d));
    }
};

message_session::message_session(tcp::socket client, std::shared_ptr<upstream_link> link,
                                 session_context& ctx, std::uint64_t id)
    : ctx_(ctx), id_(id), peer_(remote_text(client)), link_(std::move(link)),
      client_(std::move(client)),
      reader_(client_, ctx.to_targets, window, *this, ctx.stats.read_pauses),
      idle_timer_(ctx.io_ex),
      decoder_(ctx.cfg.message_framing, ctx.cfg.max_message_size, ctx.cfg.oversize) {
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
    if (!closed_) // the unfinished message, if any, is counted and logged as cut short
        net::post(link_->get_executor(), [self = shared_from_this()] {
            if (!self->stream_closed_)
                self->end_of_stream(false);
        });
    finish(reason, false);
}

void message_session::on_chunk(chunk c) {
    bytes_in_ += c.size();
    metrics::add(ctx_.stats.bytes_from_clients, c.size());
    if (ctx_.cfg.idle_timeout.count() > 0)
        last_activity_ = std::chrono::steady_clock::now();
    net::post(link_->get_executor(), [self = shared_from_this(), c = std::move(c)]() mutable {
        self->frame(std::make_shared<const chunk>(std::move(c)));
    });
}

void message_session::on_read_end(error_code ec) {
    const bool clean = ec == net::error::eof;
    net::post(link_->get_executor(), [self = shared_from_this(), clean] {
        if (!self->stream_closed_)
            self->end_of_stream(clean);
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
    idle_timer_.expires_at(last_activity_ + timeout);
    idle_timer_.async_wait([self = shared_from_this(), timeout](error_code ec) {
        if (ec || self->closed_)
            return;
        // A client held back by backpressure is not idle: it waits for us, and what it sent is
        // in our socket's receive buffer.
        if (self->reader_.paused())
            self->last_activity_ = std::chrono::steady_clock::now();
        if (std::chrono::steady_clock::now() - self->last_activity_ >= timeout) {
            metrics::add(self->ctx_.stats.idle_timeouts, 1);
            self->finish(fmt::format("idle for {:.3f}s", self->ctx_.cfg.idle_timeout.count()),
                         false);
            return;
        }
        self->arm_idle_timer();
    });
}

// ---- link strand -------------------------------------------------------------------------

void message_session::frame(std::shared_ptr<const chunk> block) {
    handler h{*this, block};
    const bool open = !stream_closed_ &&
                      decoder_.feed(std::span<const std::byte>(bytes_of(*block), block->size()), h);
    if (!batch_.empty()) {
        metrics::add(ctx_.stats.messages_in, batch_.messages);
        link_->enqueue(std::move(batch_));
        batch_ = {};
    }
    carry_small_partial();
    net::post(ctx_.io_ex, [self = shared_from_this()] {
        if (!self->closed_)
            self->reader_.credit(1);
    });
    if (!open && !stream_closed_) {
        stream_closed_ = true;
        drop_partial();
        close_from_strand("message over --max-message-size (--oversize close)");
    }
}

void message_session::complete_message(std::size_t length) {
    const bool length_framed = decoder_.framing_kind() == framing::length;
    if (length_framed) {
        // The prefix is still in front of the payload unless the read was split inside it.
        const piece* first = partial_.empty() || !carry_.empty() ? nullptr : &partial_.front();
        if (first && first->segment.offset >= 4) {
            batch_.add(first->block, bytes_of(*first->block) + first->segment.offset - 4, 4);
        } else {
            const auto n = static_cast<std::uint32_t>(length);
            const char prefix[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                                    static_cast<char>(n >> 8), static_cast<char>(n)};
            batch_.add(nullptr, batch_.own(std::string(prefix, 4)), 4);
        }
    }
    if (!carry_.empty()) {
        const std::size_t carried = carry_.size();
        batch_.add(nullptr, batch_.own(std::exchange(carry_, {})), carried);
    }
    for (const piece& p : partial_)
        batch_.add(p.block, bytes_of(*p.block) + p.segment.offset, p.segment.length);
    if (!length_framed) {
        // The '\n' follows the payload in the same chunk unless the read ended right before it.
        const piece* last = partial_.empty() ? nullptr : &partial_.back();
        const std::size_t end = last ? last->segment.offset + last->segment.length : 0;
        if (last && end < last->block->size())
            batch_.add(last->block, bytes_of(*last->block) + end, 1);
        else
            batch_.add(nullptr, &newline, 1);
    }
    ++batch_.messages;
    ++messages_;
    partial_.clear();
}

void message_session::end_of_stream(bool clean) {
    stream_closed_ = true;
    const auto left = decoder_.at_eof();
    if (left.kind == frame_decoder::eof_kind::partial_message && clean &&
        decoder_.framing_kind() == framing::line && (!partial_.empty() || !carry_.empty())) {
        complete_message(left.bytes);
    } else if (left.kind == frame_decoder::eof_kind::partial_message ||
               left.kind == frame_decoder::eof_kind::partial_header) {
        metrics::add(ctx_.stats.messages_truncated, 1);
        if (auto d = ctx_.warnings.allow(); d.allowed)
            ctx_.log->warn("#{} {}: connection ended inside a message ({} bytes of it); dropped{}",
                           id_, peer_, left.bytes, suppressed_note(d));
    }
    drop_partial();
    if (!batch_.empty()) {
        metrics::add(ctx_.stats.messages_in, batch_.messages);
        link_->enqueue(std::move(batch_));
        batch_ = {};
    }
    ctx_.log->debug("#{} {}: stream ended, {} messages framed", id_, peer_, messages_);
}

// A short unfinished message is copied out of its read buffer, so that a client between two
// reads does not pin a whole 64 KiB block of the budget: with many clients, pinned blocks could
// otherwise take the whole budget and leave no block for the reads that would complete them.
void message_session::carry_small_partial() {
    std::size_t bytes = carry_.size();
    for (const piece& p : partial_)
        bytes += p.segment.length;
    if (partial_.empty() || bytes > carry_limit)
        return;
    for (const piece& p : partial_)
        carry_.append(reinterpret_cast<const char*>(bytes_of(*p.block) + p.segment.offset),
                      p.segment.length);
    partial_.clear();
}

void message_session::drop_partial() {
    partial_.clear();
    carry_.clear();
}

void message_session::close_from_strand(std::string reason) {
    net::post(ctx_.io_ex, [self = shared_from_this(), reason = std::move(reason)] {
        self->finish(reason, true);
    });
}

} // namespace funnel
