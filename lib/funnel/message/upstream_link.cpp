#include "funnel/message/upstream_link.hpp"

#include "funnel/endpoint_text.hpp"
#include "funnel/message/tcp_acknowledged.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
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
      reconnect_timer_(strand), ack_timer_(strand), spill_retry_timer_(strand),
      spool_sync_timer_(strand) {
    gather_.reserve(max_gather);
    in_flight_arrivals_.reserve(max_gather);
}

void upstream_link::attach_spool(std::unique_ptr<spool::link_spool> s,
                                 net::any_io_executor spool_strand, const buffer_pool& memory) {
    spool_ = std::move(s);
    spool_strand_ = std::move(spool_strand);
    memory_ = &memory;
    spill_record_bytes_ =
        static_cast<std::size_t>(std::min<std::uint64_t>(spill_record_max, spool_->limit() / 4));
    // Left by an earlier run: it goes out first, so everything new queues behind it. Written
    // ahead (--spool-mode always), everything goes through the spool.
    spool_unread_ = spool_->has_unread();
    spilling_ = spool_unread_ || cfg_.spool_use == spool_mode::always;
    report_spool_bytes();
}

void upstream_link::start() {
    if (spool_ && cfg_.spool_sync_mode == spool_sync::interval)
        arm_spool_sync();
    do_connect();
}

template <class Job> void upstream_link::on_spool_strand(Job job) {
    net::post(spool_strand_,
              [guard = net::make_work_guard(strand_), job = std::move(job)]() mutable { job(); });
}

void upstream_link::stop() {
    if (spool_) {
        if (connected_) {
            settle_acknowledged();
            // What the target's kernel has not acknowledged is kept in the spool: a reset sends
            // nothing more, where a close would go on sending the socket's buffer (duplicates)
            // and end with the cut write in flight (a fragment at the end of the connection).
            if (!unacked_.empty()) {
                error_code ignored;
                socket_.set_option(net::socket_base::linger(true, 0), ignored);
            }
        }
        keep_in_spool();
    } else {
        std::uint64_t held = 0;
        for (const auto& b : pending_)
            held += b.messages;
        for (const auto& s : unacked_)
            held += s.batch.messages;
        if (held > 0)
            log_->warn("upstream {}: stopping with {} messages not acknowledged by {}: dropped",
                       index_, held, cfg_.target.to_string());
        metrics::add(stats_.messages_dropped_at_stop, held);
    }
    if (connected_)
        metrics::sub(stats_.upstream_connections_up, 1);
    stopped_ = true;
    ++generation_;
    connected_ = connecting_ = writing_ = ack_timer_armed_ = false;
    reconnect_timer_.cancel();
    ack_timer_.cancel();
    spill_retry_timer_.cancel();
    connector_.cancel();
    error_code ignored;
    socket_.close(ignored);
    pending_.clear();
    unacked_.clear();
    spill_queue_.clear();
    retry_record_ = {};
    spool_sync_timer_.cancel();
}

void upstream_link::enqueue(message_batch batch) {
    if (batch.empty())
        return;
    if (stopped_) {
        metrics::add(stats_.messages_dropped_at_stop, batch.messages);
        log_->warn("upstream {}: stopped; {} messages dropped", index_, batch.messages);
        return;
    }
    if (spool_ && (spilling_ || memory_full())) {
        spill(std::move(batch));
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
    do_read_spool();
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
    bool spool_acked = false;
    while (!unacked_.empty() && unacked_.front().end <= *acked) {
        counters_.messages_acked += unacked_.front().batch.messages;
        metrics::add(stats_.messages_out, unacked_.front().batch.messages);
        if (unacked_.front().batch.from_spool) {
            spool_acknowledge();
            spool_acked = true;
        }
        unacked_.pop_front();
    }
    if (spool_acked) {
        do_read_spool();
        update_spilling();
    }
    return acked;
}

// What the target's kernel acknowledged is known exactly, even after a break: only the rest is
// sent again, from the first message it did not fully take.
void upstream_link::settle_acknowledged() {
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
    settle_acknowledged();
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
    notify_if_drained(); // what is left is safe in the spool
}

void upstream_link::notify_if_drained() {
    if (drained() && on_drained_)
        std::exchange(on_drained_, nullptr)();
}

// ---- the spool ---------------------------------------------------------------------------

bool upstream_link::memory_full() const {
    return memory_->waiting() > 0 ||
           memory_->bytes_held() + memory_->block_size() > memory_->byte_limit();
}

upstream_link::spool_record upstream_link::take_record(std::deque<message_batch>& from) const {
    spool_record r{std::make_shared<std::string>(), 0};
    std::size_t messages = 0;
    while (!from.empty() &&
           (r.bytes->empty() || r.bytes->size() + from.front().bytes <= spill_record_bytes_)) {
        for (const auto& span : from.front().spans)
            r.bytes->append(reinterpret_cast<const char*>(span.data), span.length);
        messages += from.front().messages;
        from.pop_front();
    }
    r.messages = static_cast<std::uint32_t>(messages);
    return r;
}

void upstream_link::spill(message_batch batch) {
    if (!spilling_) {
        spilling_ = true;
        // Batches not yet being written go first, so that their read buffers come free too:
        // they are newer than anything read back from the spool and older than this batch.
        while (!pending_.empty() && !pending_.back().from_spool) {
            spill_queue_.push_front(std::move(pending_.back()));
            pending_.pop_back();
        }
    }
    spill_queue_.push_back(std::move(batch));
    do_spill();
}

void upstream_link::do_spill() {
    if (spill_in_flight_ || spill_waiting_ || stopped_)
        return;
    auto record = std::exchange(retry_record_, {});
    if (!record.bytes) {
        if (spill_queue_.empty()) {
            update_spilling();
            return;
        }
        record = take_record(spill_queue_);
    }
    spill_in_flight_ = true;
    on_spool_strand([self = shared_from_this(), record] {
        auto& spool = *self->spool_;
        const auto framed = std::as_bytes(std::span(*record.bytes));
        auto r = spool.append(framed, record.messages);
        // --overflow drop-oldest: whole segments of the oldest unread records make room.
        std::uint64_t evicted = 0;
        while (self->cfg_.overflow == overflow_policy::drop_oldest &&
               (r.status == spool::append_status::limit ||
                r.status == spool::append_status::disk_full)) {
            const auto dropped = spool.drop_oldest();
            if (!dropped)
                break;
            evicted += *dropped;
            r = spool.append(framed, record.messages);
        }
        if (r.ok()) {
            metrics::add(self->stats_.spool_records_written, 1);
            metrics::add(self->stats_.spool_messages_written, record.messages);
        } else if (r.error) {
            metrics::add(self->stats_.spool_write_errors, 1);
        }
        metrics::add(self->stats_.spool_messages_dropped, evicted);
        self->report_spool_bytes();
        net::post(self->strand_,
                  [self, r, record, evicted] { self->on_spilled(r, record, evicted); });
    });
}

namespace {

const char* spool_failure(spool::append_status s) {
    switch (s) {
    case spool::append_status::limit:
        return "--spool-limit reached";
    case spool::append_status::too_large:
        return "record over --spool-limit";
    case spool::append_status::disk_full:
        return "disk full";
    case spool::append_status::stored:
    case spool::append_status::io_error:
        break;
    }
    return "write failed";
}

} // namespace

void upstream_link::on_spilled(spool::append_result r, spool_record record, std::uint64_t evicted) {
    spill_in_flight_ = false;
    const auto detail = r.error ? fmt::format(" ({})", r.error.message()) : std::string();
    if (evicted > 0) {
        spool_dropped_ += evicted;
        if (auto d = spool_warnings_.allow(); d.allowed)
            log_->warn("upstream {}: spool: {}{}; {} of the oldest spooled messages dropped "
                       "(--overflow drop-oldest), {} so far{}",
                       index_, r.ok() ? "full" : spool_failure(r.status), detail, evicted,
                       spool_dropped_, suppressed_note(d));
    }
    if (r.ok()) {
        if (stopped_)
            return;
        spool_unread_ = true;
        do_read_spool();
        do_spill();
        notify_if_drained();
        return;
    }
    // A record that can never fit is dropped whatever the policy: waiting would wait forever.
    if (cfg_.overflow == overflow_policy::block && r.status != spool::append_status::too_large &&
        !stopped_) {
        // Kept, and everything after it waits in memory: the clients pause once that is full.
        retry_record_ = std::move(record);
        if (auto d = spool_warnings_.allow(); d.allowed)
            log_->warn("upstream {}: spool: {}{}; clients wait until it has room (--overflow "
                       "block){}",
                       index_, spool_failure(r.status), detail, suppressed_note(d));
        spill_waiting_ = true;
        spill_retry_timer_.expires_after(spill_retry);
        spill_retry_timer_.async_wait([self = shared_from_this()](error_code ec) {
            self->spill_waiting_ = false;
            if (!ec)
                self->do_spill();
        });
        return;
    }
    spool_dropped_ += record.messages;
    const bool full =
        r.status == spool::append_status::limit || r.status == spool::append_status::disk_full;
    metrics::add(stopped_ ? stats_.messages_dropped_at_stop
                 : full   ? stats_.spool_messages_dropped
                          : stats_.spool_messages_failed,
                 record.messages);
    if (auto d = spool_warnings_.allow(); d.allowed)
        log_->warn("upstream {}: spool: {}{}; {} messages dropped ({}), {} so far{}", index_,
                   spool_failure(r.status), detail, record.messages,
                   stopped_ ? "stopping" : fmt::format("--overflow {}", to_string(cfg_.overflow)),
                   spool_dropped_, suppressed_note(d));
    if (stopped_)
        return;
    do_spill();
    notify_if_drained();
}

// At a stop, what memory holds is, in the link's order: batches older than the spool (taken
// before it was last spilled to; memory takes new batches only while the spool is empty, see
// update_spilling), batches read back from it (still in it, from the acknowledged position on:
// not written again), then the record refused by a full spool and the spill queue, newer than
// everything in the spool. The older ones go before everything the spool holds, the newer ones
// after it, so that the next start sends all of it in order. The writes run on the spool strand
// after any append already queued there.
void upstream_link::keep_in_spool() {
    std::deque<message_batch> older;
    for (auto& s : unacked_)
        if (!s.batch.from_spool)
            older.push_back(std::move(s.batch));
    for (auto& b : pending_)
        if (!b.from_spool)
            older.push_back(std::move(b));
    std::vector<spool_record> before, after;
    while (!older.empty())
        before.push_back(take_record(older));
    if (retry_record_.bytes)
        after.push_back(std::exchange(retry_record_, {}));
    while (!spill_queue_.empty())
        after.push_back(take_record(spill_queue_));
    on_spool_strand([self = shared_from_this(), before = std::move(before),
                     after = std::move(after)] {
        auto& spool = *self->spool_;
        std::uint64_t kept = 0, dropped = 0, records = 0, ahead = 0;
        std::vector<spool::link_spool::record_view> views;
        for (const auto& r : before)
            views.push_back({std::as_bytes(std::span(*r.bytes)), r.messages});
        spool::append_result failure;
        const auto stored = spool.prepend(views, failure);
        for (std::size_t i = 0; i < before.size(); ++i)
            (i < stored ? ahead : dropped) += before[i].messages;
        kept = ahead;
        records += stored;
        for (const auto& r : after) {
            const auto a = spool.append(std::as_bytes(std::span(*r.bytes)), r.messages);
            (a.ok() ? kept : dropped) += r.messages;
            records += a.ok() ? 1U : 0U;
            if (!a.ok())
                failure = a;
        }
        if (auto e = spool.sync())
            self->log_->warn("upstream {}: spool: sync failed: {}", self->index_, e.message());
        metrics::add(self->stats_.spool_records_written, records);
        metrics::add(self->stats_.spool_messages_written, kept);
        metrics::add(self->stats_.messages_dropped_at_stop, dropped);
        self->report_spool_bytes();
        if (kept > 0)
            self->log_->info("upstream {}: stopping: {} messages not acknowledged by {} are kept "
                             "in the spool, {} of them ahead of what it held",
                             self->index_, kept, self->cfg_.target.to_string(), ahead);
        if (dropped > 0)
            self->log_->warn("upstream {}: stopping: {} messages not acknowledged by {} dropped: "
                             "the spool cannot take them ({})",
                             self->index_, dropped, self->cfg_.target.to_string(),
                             spool_failure(failure.status));
    });
}

void upstream_link::do_read_spool() {
    if (!spool_ || stopped_ || !connected_ || spool_reading_ || !spool_unread_ ||
        spool_batches_in_memory_ >= spool_batches_max)
        return;
    spool_reading_ = true;
    on_spool_strand([self = shared_from_this()] {
        auto b = self->spool_->read_next(spool_read_max);
        if (b) {
            metrics::add(self->stats_.spool_records_replayed, b->records);
            metrics::add(self->stats_.spool_messages_replayed, b->messages);
        }
        const bool unread = self->spool_->has_unread();
        const spool::read_counters seen = self->spool_->stats();
        self->report_spool_bytes();
        net::post(self->strand_, [self, b = std::move(b), unread, seen]() mutable {
            self->on_spool_read(std::move(b), unread, seen);
        });
    });
}

void upstream_link::on_spool_read(std::optional<spool::link_spool::batch> b, bool unread,
                                  spool::read_counters seen) {
    spool_reading_ = false;
    spool_unread_ = unread;
    const auto& before = spool_damage_reported_;
    if (seen.corrupt_regions > before.corrupt_regions || seen.torn_tails > before.torn_tails) {
        metrics::add(stats_.spool_damaged_bytes, seen.corrupt_bytes + seen.torn_bytes -
                                                     before.corrupt_bytes - before.torn_bytes);
        if (auto d = spool_warnings_.allow(); d.allowed)
            log_->warn("upstream {}: spool: skipped {} corrupt regions ({} bytes) and {} torn "
                       "records ({} bytes) so far; their messages are lost{}",
                       index_, seen.corrupt_regions, seen.corrupt_bytes, seen.torn_tails,
                       seen.torn_bytes, suppressed_note(d));
        spool_damage_reported_ = seen;
    }
    if (stopped_)
        return;
    if (b) {
        message_batch batch;
        const auto size = b->bytes.size();
        batch.add(nullptr, batch.own(std::move(b->bytes)), size);
        batch.messages = b->messages;
        batch.from_spool = true;
        ++spool_batches_in_memory_;
        pending_.push_back(std::move(batch));
        do_write();
    }
    update_spilling();
    if (b) // nothing readable now: the next append, acknowledgement or connection asks again
        do_read_spool();
    else
        notify_if_drained();
}

void upstream_link::spool_acknowledge() {
    --spool_batches_in_memory_;
    on_spool_strand([self = shared_from_this()] {
        self->spool_->acknowledge();
        self->report_spool_bytes();
    });
}

// Spilling ends once everything read back from the spool has been acknowledged, and nothing
// waits to be appended: the spool is empty then. New batches may go to memory again. (Ending it
// as soon as the spool has been read to its end would let memory batches be written between
// read-back ones that a new spill would be appended behind: memory would no longer be all older
// or all newer than the spool, which a stop relies on.) Written ahead (--spool-mode always), it
// never ends.
void upstream_link::update_spilling() {
    if (spilling_ && cfg_.spool_use == spool_mode::overflow && !spool_unread_ && !spool_reading_ &&
        spool_batches_in_memory_ == 0 && !spill_in_flight_ && !retry_record_.bytes &&
        spill_queue_.empty())
        spilling_ = false;
}

void upstream_link::report_spool_bytes() {
    const auto now = spool_->bytes();
    if (now >= spool_bytes_reported_)
        metrics::add(stats_.spool_bytes, now - spool_bytes_reported_);
    else
        metrics::sub(stats_.spool_bytes, spool_bytes_reported_ - now);
    spool_bytes_reported_ = now;
}

void upstream_link::arm_spool_sync() {
    spool_sync_timer_.expires_after(to_steady(cfg_.spool_sync_interval));
    spool_sync_timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (ec || self->stopped_)
            return;
        self->on_spool_strand([self] {
            if (auto e = self->spool_->sync())
                self->log_->warn("upstream {}: spool: sync failed: {}", self->index_, e.message());
        });
        self->arm_spool_sync();
    });
}

} // namespace funnel
