#include "funnel/log/logging.hpp"

#include "funnel/log/json_formatter.hpp"

#include <spdlog/async_logger.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <pthread.h>
#include <string>
#include <utility>

namespace funnel {

namespace detail {

namespace {

// Identifies flush markers: their source file pointer is this array's address, which no real
// log call can produce.
constexpr char flush_marker_tag[] = "funnel flush marker";

} // namespace

// Sits between the async logger and the real sink, on the worker thread. It passes every line
// through, and recognises the markers that log_service::flush() posts: when a marker arrives,
// every line queued before it has been written (one worker, FIFO queue), so it flushes the real
// sink and wakes the flush() callers waiting for that marker's ticket.
//
// spdlog's own logger->flush() cannot serve: it is posted and returns at once, and nothing tells
// the caller when the worker has done it.
class flush_barrier_sink final : public spdlog::sinks::sink {
public:
    explicit flush_barrier_sink(spdlog::sink_ptr inner) : inner_(std::move(inner)) {}

    // Marker messages carry their ticket in the payload (copied into the queue entry).
    static spdlog::details::log_msg make_marker(const std::uint64_t& ticket,
                                                std::string_view logger_name) {
        return spdlog::details::log_msg(
            spdlog::source_loc{flush_marker_tag, 0, nullptr},
            spdlog::string_view_t(logger_name.data(), logger_name.size()),
            // off: always passes the sink's level check and never triggers flush_on.
            spdlog::level::off,
            spdlog::string_view_t(reinterpret_cast<const char*>(&ticket), sizeof ticket));
    }

    void log(const spdlog::details::log_msg& msg) override {
        if (msg.source.filename != flush_marker_tag) {
            inner_->log(msg);
            return;
        }
        std::uint64_t ticket = 0;
        std::memcpy(&ticket, msg.payload.data(), sizeof ticket);
        try {
            inner_->flush();
        } catch (...) {
            // The waiters must wake whatever the sink does; the async logger reports the error.
            mark_done(ticket);
            throw;
        }
        mark_done(ticket);
    }

    void flush() override { inner_->flush(); }
    void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
    void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
        inner_->set_formatter(std::move(formatter));
    }

    // True once a marker with a ticket >= `ticket` has been handled, false after `timeout`.
    bool wait_done(std::uint64_t ticket, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return done_cv_.wait_for(lock, timeout, [&] { return done_ticket_ >= ticket; });
    }

private:
    void mark_done(std::uint64_t ticket) {
        {
            const std::lock_guard lock(mutex_);
            // Markers are handled in ticket order, but a re-posted one may follow a later one.
            if (ticket > done_ticket_) {
                done_ticket_ = ticket;
            }
        }
        done_cv_.notify_all();
    }

    spdlog::sink_ptr inner_;
    std::mutex mutex_;
    std::condition_variable done_cv_;
    std::uint64_t done_ticket_ = 0;
};

} // namespace detail

namespace {

// If a flush marker has not come back by then, check whether it was overwritten in the queue.
constexpr std::chrono::milliseconds marker_recheck{20};

// Prints funnel's level names ("warn", not spdlog's "warning") and honours pattern padding.
class level_flag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        const std::string_view name = level_name(msg.level);
        const std::size_t width = padinfo_.enabled() ? padinfo_.width_ : 0;
        const std::size_t pad = width > name.size() ? width - name.size() : 0;
        using side = spdlog::details::padding_info::pad_side;
        const std::size_t left = padinfo_.side_ == side::left     ? pad
                                 : padinfo_.side_ == side::center ? pad / 2
                                                                  : 0;
        for (std::size_t i = 0; i < left; ++i) {
            dest.push_back(' ');
        }
        dest.append(name.data(), name.data() + name.size());
        for (std::size_t i = left; i < pad; ++i) {
            dest.push_back(' ');
        }
    }

    std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
        return std::make_unique<level_flag>();
    }
};

} // namespace

std::unique_ptr<spdlog::formatter> make_formatter(log_format format) {
    if (format == log_format::json) {
        return std::make_unique<json_formatter>();
    }
    // "2026-11-26T07:00:00.123Z info  message": UTC, so lines from hosts in different zones and
    // the JSON output sort and compare as they are.
    spdlog::pattern_formatter::custom_flags flags;
    flags['*'] = std::make_unique<level_flag>();
    return std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %-5* %v", spdlog::pattern_time_type::utc,
        std::string(spdlog::details::os::default_eol), std::move(flags));
}

spdlog::sink_ptr make_log_sink(const config& cfg) {
    if (cfg.log_file.empty()) {
        return std::make_shared<spdlog::sinks::stderr_sink_mt>();
    }
    return std::make_shared<spdlog::sinks::rotating_file_sink_mt>(cfg.log_file, cfg.log_file_size,
                                                                  cfg.log_file_count);
}

spdlog::level::level_enum to_spdlog_level(log_level level) noexcept {
    switch (level) {
    case log_level::trace:
        return spdlog::level::trace;
    case log_level::debug:
        return spdlog::level::debug;
    case log_level::info:
        return spdlog::level::info;
    case log_level::warn:
        return spdlog::level::warn;
    case log_level::error:
        return spdlog::level::err;
    }
    return spdlog::level::info;
}

log_service::log_service(log_level level, log_format format, spdlog::sink_ptr sink) {
    if (!sink) {
        sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    }
    barrier_ = std::make_shared<detail::flush_barrier_sink>(std::move(sink));
    // One worker: the FIFO order that flush() relies on holds only with a single consumer.
    pool_ = std::make_shared<spdlog::details::thread_pool>(queue_capacity, 1, [] {
        // Named so that top -H and debuggers show whose thread it is.
        pthread_setname_np(pthread_self(), "funnel-log");
    });
    logger_ = std::make_shared<spdlog::async_logger>("funnel", barrier_, pool_,
                                                     spdlog::async_overflow_policy::overrun_oldest);
    logger_->set_level(to_spdlog_level(level));
    logger_->set_formatter(make_formatter(format));
    // Every line is written out as soon as the worker dequeues it (the worker flushes, never the
    // caller): a log file's stdio buffer would otherwise hold the last lines back from `tail -f`
    // and lose them if the process dies. Lines are few (warnings are rate limited).
    logger_->flush_on(spdlog::level::trace);
}

log_service::~log_service() {
    try {
        flush();
    } catch (...) { // NOLINT(bugprone-empty-catch): a destructor cannot report it anywhere
    }
    // Joins the worker; the queue is empty of everything logged before this point.
    pool_.reset();
}

void log_service::flush() {
    const auto async = std::static_pointer_cast<spdlog::async_logger>(logger_);
    std::size_t overruns_at_post = 0;
    auto post_marker = [&] {
        const std::lock_guard lock(post_mutex_);
        const std::uint64_t ticket = ++next_ticket_;
        // Read before posting: an overrun after this read may have hit the marker.
        overruns_at_post = pool_->overrun_counter();
        // block: the marker must get into the queue, even if that waits for room; the caller
        // asked to wait anyway.
        pool_->post_log(std::shared_ptr<spdlog::async_logger>(async),
                        detail::flush_barrier_sink::make_marker(ticket, logger_->name()),
                        spdlog::async_overflow_policy::block);
        return ticket;
    };
    const std::uint64_t mine = post_marker();
    // A marker is only ever lost by being overwritten at the head of a full queue, i.e. after
    // everything before it left the queue; a marker posted later and handled proves the same for
    // ours. So when the overrun count moved, post another one instead of waiting forever.
    while (!barrier_->wait_done(mine, marker_recheck)) {
        if (pool_->overrun_counter() != overruns_at_post) {
            post_marker();
        }
    }
}

std::size_t log_service::dropped() const {
    return pool_->overrun_counter();
}

std::size_t log_service::queued() const {
    return pool_->queue_size();
}

} // namespace funnel
