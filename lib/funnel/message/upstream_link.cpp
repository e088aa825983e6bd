#include "funnel/message/upstream_link.hpp"

#include "funnel/endpoint_text.hpp"
#include "funnel/message/tcp_acknowledged.hpp"

#include <boost/asio/write.hpp>

#include <spdlog/fmt/fmt.h>

#include <span>

namespace funnel {

namespace {

template <class Duration> std::chrono::steady_clock::duration to_steady(Duration d) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
}

} // namespace

upstream_link::upstream_link(net::any_io_executor strand, const config& cfg, std::size_t index,
                             metrics& stats, std::shared_ptr<spdlog::logger> log,
                             rate_limiter& warnings)
    : strand_(strand), cfg_(cfg), index_(index), stats_(stats), log_(std::move(log)),
      warnings_(warnings), socket_(strand),
      connector_(strand, cfg.target, to_steady(cfg.connect_timeout)),
      backoff_(cfg.reconnect_backoff_min, cfg.reconnect_backoff_max,
               std::random_device{}() ^ (std::uint64_t{index} << 32)),
      reconnect_timer_(strand), ack_timer_(strand) {
    gather_.reserve(max_gather);
    in_flight_arrivals_.reserve(max_gather);
}

void upstream_link::start() {
    do_connect();
}

void upstream_link::stop() {
    std::uint64_t held = 0;
    for (const auto& b : pending_)
        held += b.messages;
    for (const auto& s : unacked_)
        held += s.batch.messages;
    if (held > 0)
        log_->warn("upstream {}: stopping with {} messages not acknowledged by {}: dropped", index_,
                   held, cfg_.target.to_string());
    metrics::add(stats_.messages_dropped_at_stop, held);
    if (connected_)
        metrics::sub(stats_.upstream_connections_up, 1);
    stopped_ = true;
    ++generation_;
    connected_ = connecting_ = writing_ = ack_timer_armed_ = false;
    reconnect_timer_.cancel();
    ack_timer_.cancel();
    connector_.cancel();
    error_code ignored;
    socket_.close(ignored);
    pending_.clear();
    unacked_.clear();
}

void upstream_link::enqueue(message_batch batch) {
    if (batch.empty())
        return;
    if (stopped_) {
        metrics::add(stats_.messages_dropped_at_stop, batch.messages);
        log_->warn("upstream {}: stopped; {} messages dropped", index_, batch.messages);
        return;
    }
    pending_.push_back(std::move(batch));
    do_write();
}

void upstream_link::do_connect() {
    if (stopped_ || connected_ || connecting_)
        return;
    connecting_ = true;
    connector_.async_connect(
        socket_,
        [self = shared_from_this()](error_code ec, const tcp::endpoint& ep) {
            self->on_connected(ec, ep);
        },
        shared_from_this());
}

void upstream_link::on_connected(error_code ec, const tcp::endpoint& ep) {
    connecting_ = false;
    if (stopped_)
        return;
    if (ec) {
        metrics::add(stats_.connect_failures, 1);
        stats_.last_connect_failed.store(1, std::memory_order_relaxed);
        if (auto d = warnings_.allow(); d.allowed)
            log_->warn("upstream {}: cannot connect to {}: {}{}", index_, cfg_.target.to_string(),
                       ec.message(), suppressed_note(d));
        schedule_reconnect();
        return;
    }
    ++generation_;
    connected_ = true;
    metrics::add(stats_.upstream_connections_up, 1);
    stats_.last_connect_failed.store(0, std::memory_order_relaxed);
    written_ = 0;
    backoff_.reset();
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    log_->info("upstream {}: connected to {}, {} batches waiting", index_, to_text(ep),
               pending_.size());
    watch_for_close();
    do_write();
}

void upstream_link::schedule_reconnect() {
    if (stopped_)
        return;
    const auto delay = backoff_.next();
    reconnect_timer_.expires_after(delay);
    reconnect_timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (!ec)
            self->do_connect();
    });
}

// The target is not expected to talk; reading is how a close or a reset is noticed while
// nothing is being written. Anything it does send is discarded.
void upstream_link::watch_for_close() {
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this(), gen = generation_](error_code ec) {
                           if (gen != self->generation_)
                               return;
                           if (ec) {
                               self->on_broken(gen, ec, "wait");
                               return;
                           }
                           char discard[4096];
                           error_code read_ec;
                           self->socket_.non_blocking(true, read_ec);
                           const auto n = self->socket_.read_some(net::buffer(discard), read_ec);
                           if (read_ec == net::error::would_block || (!read_ec && n > 0)) {
                               self->watch_for_close();
                               return;
                           }
                           if (!read_ec || read_ec == net::error::eof) {
                               self->on_target_closing(gen);
                               return;
                           }
                           self->on_broken(gen, read_ec, "read");
                       });
}

// The target closed its side (FIN), as one does when it restarts gracefully: it still reads
// until we close ours. Breaking off now would cut the write in flight in the middle of a message,
// and the target would find a fragment at the end of the connection. So the write in flight is
// finished first (bounded by --connect-timeout, in case the target stopped reading too), no new
// one starts, and then the connection is given up like a broken one.
void upstream_link::on_target_closing(std::uint64_t generation) {
    if (!writing_) {
        on_broken(generation, net::error::eof, "read");
        return;
    }
    closing_ = true;
    reconnect_timer_.expires_after(to_steady(cfg_.connect_timeout));
    reconnect_timer_.async_wait([self = shared_from_this(), generation](error_code ec) {
        if (!ec)
            self->on_broken(generation, net::error::timed_out, "finishing the last write");
    });
}

void upstream_link::do_write() {
    if (!connected_ || writing_ || pending_.empty())
        return;
    // Whole batches only, so that what is unacknowledged always starts at a message boundary;
    // the first batch goes even when it alone has more spans than one system call takes.
    // They join unacked_ now, not when the write completes: if the connection breaks meanwhile,
    // part of the write may have reached the target, and the acknowledged count must be able to
    // account for it (and a resend must count it).
    gather_.clear();
    in_flight_arrivals_.clear();
    std::size_t bytes = 0;
    while (!pending_.empty()) {
        message_batch& b = pending_.front();
        if (bytes > 0 && gather_.size() + b.spans.size() > max_gather)
            break;
        for (const auto& s : b.spans)
            gather_.push_back(net::buffer(s.data, s.length));
        in_flight_arrivals_.emplace_back(b.arrived, b.messages);
        bytes += b.bytes;
        written_ += b.bytes;
        unacked_.push_back({std::move(b), written_});
        pending_.pop_front();
    }
    writing_ = true;
    net::async_write(socket_, std::span<const net::const_buffer>(gather_),
                     [self = shared_from_this(), gen = generation_,
                      bytes](error_code ec, std::size_t) { self->on_write(gen, ec, bytes); });
}

void upstream_link::on_write(std::uint64_t generation, error_code ec, std::size_t bytes) {
    if (generation != generation_)
        return; // the connection this write was on is gone; on_broken requeued its batches
    writing_ = false;
    if (ec) {
        on_broken(generation, ec, "write");
        return;
    }
    // One clock read per write; each batch's messages arrived together, so one observation
    // with their count stands for all of them (a batch written again is observed again).
    const auto now = std::chrono::steady_clock::now();
    for (const auto& [arrived, messages] : in_flight_arrivals_)
        stats_.forward_latency_ns.observe(nanoseconds_between(arrived, now), messages);
    metrics::add(stats_.bytes_to_targets, bytes);
    stats_.write_batch_bytes.observe(bytes);
    if (closing_) {
        on_broken(generation, net::error::eof, "read");
        return;
    }
    sample_acks();
    do_write();
}

std::optional<std::uint64_t> upstream_link::release_acknowledged() {
    const auto acked = tcp_bytes_acknowledged(socket_.native_handle());
    if (!acked)
        return acked; // unknown for now: keep everything
    while (!unacked_.empty() && unacked_.front().end <= *acked) {
        counters_.messages_acked += unacked_.front().batch.messages;
        metrics::add(stats_.messages_out, unacked_.front().batch.messages);
        unacked_.pop_front();
    }
    return acked;
}

void upstream_link::sample_acks() {
    release_acknowledged();
    if (!unacked_.empty())
        arm_ack_timer();
    else
        notify_if_drained();
}

void upstream_link::arm_ack_timer() {
    if (ack_timer_armed_)
        return;
    ack_timer_armed_ = true;
    ack_timer_.expires_after(ack_poll);
    ack_timer_.async_wait([self = shared_from_this(), gen = generation_](error_code ec) {
        if (gen != self->generation_)
            return; // a newer connection owns the flag now
        self->ack_timer_armed_ = false;
        if (ec || !self->connected_)
            return;
        self->sample_acks();
    });
}

void upstream_link::on_broken(std::uint64_t generation, error_code ec, const char* what) {
    if (generation != generation_ || !connected_)
        return;
    // What the target's kernel acknowledged up to the break is known exactly, even now: only
    // the rest is sent again, from the first message it did not fully take.
    if (const auto acked = release_acknowledged(); acked && !unacked_.empty()) {
        sent& first = unacked_.front();
        const std::uint64_t start = first.end - first.batch.bytes;
        if (*acked > start) {
            const auto done = first.batch.drop_acknowledged(
                static_cast<std::size_t>(*acked - start), cfg_.message_framing);
            counters_.messages_acked += done;
            metrics::add(stats_.messages_out, done);
        }
    }
    ++generation_;
    connected_ = false;
    metrics::sub(stats_.upstream_connections_up, 1);
    writing_ = false;
    closing_ = false;
    reconnect_timer_.cancel();
    ack_timer_armed_ = false;
    ack_timer_.cancel();
    error_code ignored;
    socket_.close(ignored);
    std::uint64_t resent = 0;
    for (const auto& s : unacked_)
        resent += s.batch.messages;
    // Oldest first: what was written but not acknowledged goes before what was never written.
    while (!unacked_.empty()) {
        pending_.push_front(std::move(unacked_.back().batch));
        unacked_.pop_back();
    }
    counters_.messages_resent += resent;
    ++counters_.reconnects;
    metrics::add(stats_.messages_resent, resent);
    metrics::add(stats_.upstream_reconnects, 1);
    if (auto d = warnings_.allow(); d.allowed)
        log_->warn("upstream {}: connection to {} lost ({} failed: {}); {} unacknowledged messages "
                   "will be sent again after reconnecting{}",
                   index_, cfg_.target.to_string(), what, ec.message(), resent, suppressed_note(d));
    schedule_reconnect();
}

void upstream_link::notify_if_drained() {
    if (drained() && on_drained_)
        std::exchange(on_drained_, nullptr)();
}

} // namespace funnel
