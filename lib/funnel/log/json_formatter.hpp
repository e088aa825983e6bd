#pragma once
// Log line formatting shared by both output formats: funnel's level names, and a JSON formatter
// that writes one object per line for log shippers:
//   {"ts":"2026-11-26T07:00:00.123Z","level":"info","logger":"funnel","msg":"..."}
//
// Thread-safety: a formatter instance is used by one sink, which calls it under its own lock
// (spdlog clones the formatter per sink), so it caches without locking.

#include <spdlog/common.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>

#include <cstdint>
#include <memory>
#include <string_view>

namespace funnel {

// funnel's names for spdlog's levels, spelled as the configuration spells them ("warn", where
// spdlog says "warning"), so that --log-level and the log lines agree.
std::string_view level_name(spdlog::level::level_enum level) noexcept;

// Appends `text` as the inside of a JSON string: quote, backslash and control characters are
// escaped (\n, \t... or \u00XX), valid UTF-8 is copied as is, and each byte of an invalid UTF-8
// sequence becomes \ufffd, so that a peer's garbage cannot make the line unparseable.
void append_json_escaped(std::string_view text, spdlog::memory_buf_t& dest);

class json_formatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
    std::unique_ptr<spdlog::formatter> clone() const override;

private:
    // "YYYY-MM-DDTHH:MM:SS" of the last second formatted: lines arrive many per second, and
    // gmtime_r plus strftime cost more than the rest of the line.
    std::int64_t cached_second_ = 0;
    bool cache_valid_ = false;
    char cached_prefix_[32] = {};
    std::size_t cached_prefix_size_ = 0;
};

} // namespace funnel
