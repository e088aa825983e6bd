#pragma once
// The Prometheus text exposition (format 0.0.4) of funnel's metrics: a pure function of a
// snapshot, so that every name, label and bucket is unit-tested without a socket.
//
// The names are a contract with dashboards: changing one breaks them. The README's "Metrics and
// health" lists each with its type and meaning.
//
// Thread-safety: render_exposition() reads `stats` with relaxed loads; call it from any thread.

#include "funnel/metrics/metrics.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace funnel {

inline constexpr std::string_view exposition_content_type = "text/plain; version=0.0.4";

// What the exposition shows besides `stats`: values that live elsewhere (the buffer pools, the
// build, the process), read by the caller.
struct exposition_input {
    const metrics& stats;
    std::uint64_t buffered_bytes = 0;       // held for targets (--buffer-limit budget)
    std::uint64_t buffered_reply_bytes = 0; // held for clients (stream-mode replies)
    std::uint64_t buffer_limit_bytes = 0;
    std::uint64_t spool_limit_bytes = 0; // 0 without a spool
    std::string_view version;
    double start_time_seconds = 0; // Unix time the process started
};

std::string render_exposition(const exposition_input& in);

} // namespace funnel
