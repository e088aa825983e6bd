#pragma once
// upstream_link: one persistent connection to the target that whole-message batches from many
// clients are written to, kept through target outages.
//
//   enqueue ─► pending ─► one gathered async_write ─► unacked ─► (TCP_INFO says the target's
//                 ▲                                     │          kernel has them) ─► dropped
//                 └──── connection broke: back in front ┘
//
// A successful write only means the bytes reached our own kernel. A batch is therefore kept
// after it is written, until the target's TCP stack has acknowledged every byte of it
// (TCP_INFO's byte count: read after each write, every `ack_poll` while something is
// unacknowledged, and once more when the connection breaks, since it survives a reset). When
// the connection breaks, everything not acknowledged goes back to the front of the queue, in
// order, and is written again from its batch's first message once the link has reconnected
// (exponential backoff with jitter). So delivery is at-least-once up to the target's kernel: a
// target that restarts loses nothing funnel held, and may see the messages of a partly acknowledged
// batch twice. What the target's kernel acknowledged but its application never read is beyond any
// sender's reach.
//
// With a disk spool (--spool-dir, docs/spool.md), the queue is one FIFO whose middle may live
// on disk: when the memory budget is full, batches are copied into spool records instead of
// holding their read buffers, and every later batch follows them there until the spool is empty
// (read to its end and all of it acknowledged); records are read back (a few at a time, while
// connected) behind what memory held first, and acknowledged in the spool once the target's
// kernel has them. At stop(), what memory holds goes to the spool too (keep_in_spool).
//
//   enqueue ─┬─► pending ─► write ─► unacked
//            └─ memory full, or spilling ─► spill queue ─► spool (disk) ─► read back ─► pending
//
// Thread affinity: its strand; enqueue() is called there too. The spool itself is used on its
// own strand of the spool threads only (disk I/O never runs here or on the io thread); results
// come back by post. Lifetime: shared_ptr, kept alive by its handlers and by the service until
// stop().

#include "funnel/buffer/buffer_pool.hpp"
#include "funnel/config/config.hpp"
#include "funnel/log/rate_limiter.hpp"
#include "funnel/message/message_batch.hpp"
#include "funnel/metrics/metrics.hpp"
#include "funnel/net.hpp"
#include "funnel/spool/link_spool.hpp"
#include "funnel/upstream/backoff.hpp"
#include "funnel/upstream/connector.hpp"

#include <boost/asio/steady_timer.hpp>

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace funnel {

class upstream_link : public std::enable_shared_from_this<upstream_link> {
public:
    static constexpr std::chrono::milliseconds ack_poll{10};
    // Buffers gathered into one write (Asio writes at most 64 per system call).
    static constexpr std::size_t max_gather = 64;

    struct counters {
        std::uint64_t messages_acked = 0;
        std::uint64_t messages_resent = 0;
        std::uint64_t reconnects = 0;
    };
    // Bytes of batches copied into one spool record (at most a quarter of the link's spool, so
    // that a full spool takes one again after some delivery); bytes read back as one batch; spool
    // batches in memory at once (written or waiting); wait before retrying a full spool.
    static constexpr std::size_t spill_record_max = std::size_t{1} << 20;
    static constexpr std::size_t spool_read_max = std::size_t{256} << 10;
    static constexpr std::size_t spool_batches_max = 4;
    static constexpr std::chrono::milliseconds spill_retry{100};

    upstream_link(net::any_io_executor strand, const config& cfg, std::size_t index, metrics& stats,
                  std::shared_ptr<spdlog::logger> log, rate_limiter& warnings);

    // Before start(): gives the link its spool, used on `spool_strand` only, and the memory
    // budget whose exhaustion makes it spill. What the spool holds goes out before new data.
    void attach_spool(std::unique_ptr<spool::link_spool> s, net::any_io_executor spool_strand,
                      const buffer_pool& memory);
    void start();
    void enqueue(message_batch batch);
    // Closes the connection and stops reconnecting. What is held is dropped; with a spool it is
    // written there (behind the link's executor: the pool's join waits for it).
    void stop();
    // Runs once (on the strand) as soon as nothing is left to deliver: all acknowledged.
    void on_drained(std::function<void()> f) { on_drained_ = std::move(f); }

    // Nothing is left to deliver now: what memory holds is delivered or safe in the spool, and
    // so is what the spool holds, unless the target is up to take it (then it goes out first).
    bool drained() const {
        const bool memory_safe = pending_.size() + unacked_.size() == spool_batches_in_memory_ &&
                                 spill_queue_.empty() && !spill_in_flight_ && !retry_record_.bytes;
        const bool spool_delivered =
            spool_batches_in_memory_ == 0 && !spool_unread_ && !spool_reading_;
        return memory_safe && (spool_delivered || !connected_);
    }
    bool connected() const { return connected_; }
    const counters& stats() const { return counters_; }
    net::any_io_executor get_executor() const { return strand_; }

private:
    // A batch written, or being written (the last ones while writing_), on this connection.
    struct sent {
        message_batch batch;
        std::uint64_t end; // bytes written on this connection once the batch is
    };

    void do_connect();
    void on_connected(error_code ec, const tcp::endpoint& ep);
    void schedule_reconnect();
    void watch_for_close();
    void do_write();
    void on_write(std::uint64_t generation, error_code ec, std::size_t bytes);
    std::optional<std::uint64_t> release_acknowledged(); // the acknowledged byte count, if known
    void settle_acknowledged(); // and drops the acknowledged messages of a batch taken in part
    void sample_acks();
    void arm_ack_timer();
    void on_target_closing(std::uint64_t generation);
    void on_broken(std::uint64_t generation, error_code ec, const char* what);
    void notify_if_drained();
    // The spool, on the link's strand.
    struct spool_record {
        std::shared_ptr<std::string> bytes;
        std::uint32_t messages = 0;
    };
    // Whole batches from the front of `from` (one at least), copied into one record of at most
    // spill_record_bytes_: their read buffers go back to the budget at once.
    spool_record take_record(std::deque<message_batch>& from) const;
    bool memory_full() const;
    void spill(message_batch batch);
    void do_spill();
    void on_spilled(spool::append_result r, spool_record record, std::uint64_t evicted);
    void keep_in_spool(); // at stop()
    void do_read_spool();
    void on_spool_read(std::optional<spool::link_spool::batch> b, bool unread,
                       spool::read_counters seen);
    void spool_acknowledge();
    void update_spilling();
    void arm_spool_sync();
    // On the spool strand: funnel_spool_bytes follows this link's spool.
    void report_spool_bytes();
    // Runs `job` on the spool strand. The job holds work on the link's executor until it has
    // run, and with it what it posts back, so the link's pool (or the io thread) is joined only
    // after every spool job: no handler is left behind in either.
    template <class Job> void on_spool_strand(Job job);

    net::any_io_executor strand_;
    const config& cfg_;
    const std::size_t index_;
    metrics& stats_;
    std::shared_ptr<spdlog::logger> log_;
    rate_limiter& warnings_;
    tcp::socket socket_;
    connector connector_;
    backoff backoff_;
    net::steady_timer reconnect_timer_;
    net::steady_timer ack_timer_;
    std::deque<message_batch> pending_;
    std::deque<sent> unacked_;
    std::vector<net::const_buffer> gather_;
    // The write in flight's batches: when their messages arrived, and how many (the latency
    // histogram, observed when the write completes).
    std::vector<std::pair<std::chrono::steady_clock::time_point, std::size_t>> in_flight_arrivals_;
    std::uint64_t written_ = 0;    // on the current connection
    std::uint64_t generation_ = 0; // bumped per connection, so old handlers can tell
    bool connected_ = false;
    bool connecting_ = false;
    bool writing_ = false;
    bool closing_ = false; // the target closed its side: finish the write in flight, then break
    bool ack_timer_armed_ = false;
    bool stopped_ = false;
    counters counters_;
    std::function<void()> on_drained_;

    // The spool. Used on spool_strand_ only; the fields after it are the link strand's.
    std::unique_ptr<spool::link_spool> spool_;
    std::uint64_t spool_bytes_reported_ = 0; // the spool strand's too
    net::any_io_executor spool_strand_;
    const buffer_pool* memory_ = nullptr;
    // Its own, so that a storm of connect failures cannot hide drops and damage.
    rate_limiter spool_warnings_{std::chrono::seconds(1), 5};
    std::size_t spill_record_bytes_ = spill_record_max;
    net::steady_timer spill_retry_timer_;
    net::steady_timer spool_sync_timer_;    // --spool-sync interval
    std::deque<message_batch> spill_queue_; // waiting to be copied into a record
    spool_record retry_record_;             // refused by a full spool (--overflow block)
    std::size_t spool_batches_in_memory_ = 0;
    std::uint64_t spool_dropped_ = 0; // for the log line
    spool::read_counters spool_damage_reported_;
    bool spilling_ = false;        // new batches go to the spool
    bool spill_in_flight_ = false; // one append at a time keeps the records in order
    bool spill_waiting_ = false;   // a refused record waits for spill_retry before trying again
    bool spool_unread_ = false;    // the spool may hold records not read back yet
    bool spool_reading_ = false;
};

} // namespace funnel
