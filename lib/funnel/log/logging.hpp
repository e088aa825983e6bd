#pragma once
// funnel's logger: one spdlog::async_logger named "funnel" with its own worker thread, built
// once at startup and handed to every component (nothing here touches spdlog's global registry,
// so tests can build as many as they like).
//
// Why async: the io thread must never wait on a terminal or a disk. Logging only formats the
// message and copies it into a bounded queue (queue_capacity entries); one worker thread writes
// it to the sink. When the queue is full the OLDEST queued line is overwritten
// (async_overflow_policy::overrun_oldest), so a logging storm costs lines, never latency;
// dropped() counts them.
//
// Thread-safety: logger() may be used from any thread (the sink is wrapped so it is only ever
// written by the worker). flush() may be called from any thread but blocks, so the io thread
// calls it only on the way out.
// Object lifetime: log_service must outlive every use of its logger. The logger object itself
// survives (components hold shared_ptrs) but once the service is gone its queue is gone too,
// and a late log call is reported through spdlog's error handler on stderr instead of logged.

#include "funnel/config/config.hpp"

#include <spdlog/common.h>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

namespace spdlog::details {
class thread_pool;
} // namespace spdlog::details

namespace funnel {

namespace detail {
class flush_barrier_sink;
} // namespace detail

// Where the lines go: standard error, or cfg.log_file rotated by size (spdlog's rotating sink,
// which rotates on the log worker thread, never on the caller's). Throws spdlog::spdlog_ex,
// naming the file, when it cannot be opened.
spdlog::sink_ptr make_log_sink(const config& cfg);

// funnel's level names mapped onto spdlog's (warn -> warn, error -> err).
spdlog::level::level_enum to_spdlog_level(log_level level) noexcept;

// The formatter log_service installs for `format`. text: "2026-11-26T07:00:00.123Z info  message"
// (UTC, milliseconds, level padded to 5); json: see json_formatter.hpp.
std::unique_ptr<spdlog::formatter> make_formatter(log_format format);

// Owns spdlog's async thread pool and the logger; destroying it flushes everything queued.
class log_service {
public:
    // Lines the queue holds before the oldest is overwritten: enough to ride out a burst while
    // stderr is slow. Entries are preallocated (about 400 bytes each with spdlog 1.10, so about
    // 3 MiB); longer lines allocate their own storage while queued.
    static constexpr std::size_t queue_capacity = 8192;

    // sink: where lines go; the default is stderr (stderr_sink_mt). Tests pass an
    // ostream_sink_mt to capture. The sink is written only by the worker thread.
    log_service(log_level level, log_format format, spdlog::sink_ptr sink = nullptr);
    ~log_service(); // flushes and stops the async worker so that every line reaches the sink

    log_service(const log_service&) = delete;
    log_service& operator=(const log_service&) = delete;

    const std::shared_ptr<spdlog::logger>& logger() const { return logger_; }

    // Synchronous flush: returns once every message logged (by any thread) before the call has
    // been written to the sink, or was overwritten in the queue, and the sink was flushed.
    // Needed before _exit() and by tests. Blocks, so not for the io thread while serving; while
    // other threads keep the queue overflowing it waits until the storm lets its marker through.
    void flush();

    // Queue entries overwritten because the queue was full, since construction (a self-metric;
    // it also counts the rare flush marker lost that way).
    std::size_t dropped() const;
    // Entries waiting in the queue now (a self-metric).
    std::size_t queued() const;

private:
    // Declared first so they are destroyed last: the pool's destructor joins the worker, which
    // may still be using the sink.
    std::shared_ptr<detail::flush_barrier_sink> barrier_;
    std::shared_ptr<spdlog::details::thread_pool> pool_;
    std::shared_ptr<spdlog::logger> logger_;

    // Orders flush tickets with their posting, so that markers reach the queue in ticket order.
    std::mutex post_mutex_;
    std::uint64_t next_ticket_ = 0;
};

} // namespace funnel
