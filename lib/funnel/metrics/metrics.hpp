#pragma once
// Self-metrics: named counters and gauges, written from the io thread and the pool.
//
// Thread-safety: every field is an atomic, updated with relaxed ordering: they are statistics,
// never used to synchronise anything. Each sits on its own cache line, so that the io thread
// and the pool threads counting different things do not slow each other down.

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
    full,            // reserved: --refuse-when-full pauses accepting (accept_pauses) instead
                     // of taking clients in and closing them, so it refuses no one itself
    count_
};
constexpr std::array<std::string_view, static_cast<std::size_t>(refusal::count_)> refusal_names{
    "max_connections", "access_denied", "per_ip_limit", "full"};

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
    // Message mode.
    alignas(64) counter messages_in{0};        // whole messages framed from clients
    alignas(64) counter messages_out{0};       // messages the target's kernel acknowledged
    alignas(64) counter messages_resent{0};    // written again after a connection broke
    alignas(64) counter oversize_dropped{0};   // messages over --max-message-size
    alignas(64) counter messages_truncated{0}; // cut short by their client's end, dropped
    alignas(64) counter upstream_reconnects{0};

    static void add(counter& c, std::uint64_t n) { c.fetch_add(n, std::memory_order_relaxed); }
    static void sub(counter& c, std::uint64_t n) { c.fetch_sub(n, std::memory_order_relaxed); }
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
