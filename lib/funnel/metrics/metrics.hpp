#pragma once
// Self-metrics: named counters and gauges, written from the io thread and the pool.
//
// Thread-safety: every field is an atomic, updated with relaxed ordering: they are statistics,
// never used to synchronise anything. Each sits on its own cache line, so that the io thread
// and the pool threads counting different things do not slow each other down. The histograms
// (histogram.hpp) are relaxed atomics too, each on lines of its own.
//
// Names, types and meanings as exported: admin/exposition.cpp, and the README's "Metrics and
// health".

#include "funnel/metrics/histogram.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace funnel {

// Why a client was closed at once, before any byte of it was read. The names are the values of
// the `reason` label of funnel_connections_refused_total.
enum class refusal : std::size_t {
    max_connections, // --max-connections reached
    access_denied,   // --deny, or not in --allow
    per_ip_limit,    // --max-connections-per-ip reached
    // (--refuse-when-full refuses no one itself: it stops accepting, see accept_pauses.)
    count_
};
constexpr std::array<std::string_view, static_cast<std::size_t>(refusal::count_)> refusal_names{
    "max_connections", "access_denied", "per_ip_limit"};

struct metrics {
    using counter = std::atomic<std::uint64_t>;
    struct alignas(64) padded_counter {
        counter value{0};
    };

    alignas(64) counter connections_accepted{0}; // clients taken into a session
    std::array<padded_counter, refusal_names.size()> connections_refused{};
    alignas(64) counter connections_active{0}; // gauge: sessions alive
    alignas(64) counter accept_errors{0};      // failed accepts (EMFILE and friends)
    alignas(64) counter accept_pauses{0};      // --refuse-when-full episodes: accepting paused
    alignas(64) counter connect_failures{0};   // target unreachable or timed out
    alignas(64) counter idle_timeouts{0};      // pairs closed by --idle-timeout
    alignas(64) counter resets{0};             // pairs closed because one side reset or failed
    alignas(64) counter bytes_from_clients{0}; // read from clients
    alignas(64) counter bytes_to_targets{0};   // written to targets
    alignas(64) counter bytes_from_targets{0}; // read from targets (stream mode replies)
    alignas(64) counter bytes_to_clients{0};   // written to clients
    alignas(64) counter read_pauses{0};        // reads parked because --buffer-limit was reached
    alignas(64) counter client_pauses{0};      // clients paused at --client-buffer-limit (episodes)
    // Gauge: the most bytes one client has held at once (--client-buffer-limit on; else 0).
    alignas(64) counter client_buffer_high_water{0};
    // Message mode.
    alignas(64) counter messages_in{0};        // whole messages framed from clients
    alignas(64) counter messages_out{0};       // messages the target's kernel acknowledged
    alignas(64) counter messages_resent{0};    // written again after a connection broke
    alignas(64) counter oversize_dropped{0};   // messages over --max-message-size
    alignas(64) counter messages_truncated{0}; // cut short by their client's end, dropped
    alignas(64) counter upstream_reconnects{0};
    alignas(64) counter messages_dropped_at_stop{0}; // held by a link when it stopped
    // The disk spool (message mode, --spool-dir), counted on the spool's threads.
    alignas(64) counter spool_bytes{0}; // gauge: bytes of spool files, all links together
    alignas(64) counter spool_records_written{0};
    alignas(64) counter spool_messages_written{0};
    alignas(64) counter spool_records_replayed{0}; // read back to be sent
    alignas(64) counter spool_messages_replayed{0};
    alignas(64) counter spool_messages_dropped{0}; // the spool or its disk full: --overflow drop-*
    alignas(64) counter spool_messages_failed{0};  // a write error, or a record that never fits
    alignas(64) counter spool_damaged_bytes{0};    // corrupt or torn, skipped while reading
    alignas(64) counter spool_write_errors{0};     // appends refused by the disk (full, I/O)
    // Gauges of the target side.
    alignas(64) counter upstream_connections_up{0}; // links (message) or target sockets (stream)
    alignas(64) counter last_connect_failed{0};     // 1 while the latest connect attempt failed
    alignas(64) counter worker_queue_depth{0};      // jobs posted to the target side, not yet run

    // Nanoseconds from the client read that completed a message (stream mode: a chunk) to the
    // completion of its write to the target; observed once per written batch or chunk.
    static constexpr std::uint64_t us = 1000, ms = 1000 * us, s = 1000 * ms;
    alignas(64) histogram forward_latency_ns{
        25 * us, 50 * us, 100 * us, 250 * us, 500 * us, 1 * ms, 2500 * us, 5 * ms, 10 * ms,
        25 * ms, 50 * ms, 100 * ms, 250 * ms, 500 * ms, 1 * s,  2500 * ms, 5 * s,  10 * s};
    // Bytes of one gathered write to a target.
    alignas(64) histogram write_batch_bytes{64,       256,       1 << 10, 4 << 10, 16 << 10,
                                            64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20};

    static void add(counter& c, std::uint64_t n) { c.fetch_add(n, std::memory_order_relaxed); }
    static void sub(counter& c, std::uint64_t n) { c.fetch_sub(n, std::memory_order_relaxed); }
    // A high-water mark: c becomes n if n is more.
    static void raise(counter& c, std::uint64_t n) {
        std::uint64_t seen = c.load(std::memory_order_relaxed);
        while (seen < n && !c.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
        }
    }
    static std::uint64_t get(const counter& c) { return c.load(std::memory_order_relaxed); }

    counter& refused(refusal why) {
        return connections_refused[static_cast<std::size_t>(why)].value;
    }
    const counter& refused(refusal why) const {
        return connections_refused[static_cast<std::size_t>(why)].value;
    }
    std::uint64_t refused_total() const {
        std::uint64_t sum = 0;
        for (const auto& c : connections_refused)
            sum += get(c.value);
        return sum;
    }
};

} // namespace funnel
