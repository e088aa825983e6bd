#include "funnel/log/json_formatter.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <ctime>

namespace funnel {

namespace {

void append(spdlog::memory_buf_t& dest, std::string_view s) {
    dest.append(s.data(), s.data() + s.size());
}

constexpr bool is_continuation(unsigned char c) noexcept {
    return (c & 0xC0U) == 0x80U;
}

// Length of the well-formed UTF-8 sequence starting at p[0] (a byte >= 0x80), or 0 when it is
// not one. Follows RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
std::size_t utf8_sequence_length(const unsigned char* p, std::size_t left) noexcept {
    const unsigned char c = p[0];
    std::size_t len = 0;
    unsigned char lo = 0x80; // bounds for the second byte; later ones are plain continuations
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) {
            lo = 0xA0; // overlong below U+0800
        } else if (c == 0xED) {
            hi = 0x9F; // U+D800..U+DFFF are surrogates
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) {
            lo = 0x90; // overlong below U+10000
        } else if (c == 0xF4) {
            hi = 0x8F; // above U+10FFFF
        }
    } else {
        return 0; // a stray continuation byte, C0/C1 (overlong) or F5..FF
    }
    if (left < len || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (std::size_t i = 2; i < len; ++i) {
        if (!is_continuation(p[i])) {
            return 0;
        }
    }
    return len;
}

} // namespace

std::string_view level_name(spdlog::level::level_enum level) noexcept {
    switch (level) {
    case spdlog::level::trace:
        return "trace";
    case spdlog::level::debug:
        return "debug";
    case spdlog::level::info:
        return "info";
    case spdlog::level::warn:
        return "warn";
    case spdlog::level::err:
        return "error";
    case spdlog::level::critical:
        return "critical";
    case spdlog::level::off:
    case spdlog::level::n_levels:
        break;
    }
    return "off";
}

void append_json_escaped(std::string_view text, spdlog::memory_buf_t& dest) {
    static constexpr char hex[] = "0123456789abcdef";
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t run_start = 0; // bytes that need no escaping are copied in runs
    auto flush_run = [&](std::size_t end) {
        dest.append(text.data() + run_start, text.data() + end);
    };
    for (std::size_t i = 0; i < n;) {
        const unsigned char c = p[i];
        if (c >= 0x80) {
            const std::size_t len = utf8_sequence_length(p + i, n - i);
            if (len != 0) {
                i += len;
                continue;
            }
            flush_run(i);
            append(dest, "\\ufffd");
            run_start = ++i;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            ++i;
            continue;
        }
        flush_run(i);
        switch (c) {
        case '"':
            append(dest, "\\\"");
            break;
        case '\\':
            append(dest, "\\\\");
            break;
        case '\n':
            append(dest, "\\n");
            break;
        case '\r':
            append(dest, "\\r");
            break;
        case '\t':
            append(dest, "\\t");
            break;
        case '\b':
            append(dest, "\\b");
            break;
        case '\f':
            append(dest, "\\f");
            break;
        default: {
            const std::array<char, 6> esc{'\\', 'u', '0', '0', hex[c >> 4U], hex[c & 0x0FU]};
            dest.append(esc.data(), esc.data() + esc.size());
            break;
        }
        }
        run_start = ++i;
    }
    flush_run(n);
}

void json_formatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
    using namespace std::chrono;
    const auto since_epoch = msg.time.time_since_epoch();
    const auto secs = floor<seconds>(since_epoch);
    const auto millis = duration_cast<milliseconds>(since_epoch - secs).count();
    const auto second = static_cast<std::int64_t>(secs.count());
    if (!cache_valid_ || second != cached_second_) {
        const auto t = static_cast<std::time_t>(second);
        std::tm tm{};
        gmtime_r(&t, &tm);
        cached_prefix_size_ =
            std::strftime(cached_prefix_, sizeof cached_prefix_, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_second_ = second;
        cache_valid_ = true;
    }
    const std::array<char, 5> fraction{'.', static_cast<char>('0' + millis / 100),
                                       static_cast<char>('0' + millis / 10 % 10),
                                       static_cast<char>('0' + millis % 10), 'Z'};

    append(dest, R"({"ts":")");
    dest.append(cached_prefix_, cached_prefix_ + cached_prefix_size_);
    dest.append(fraction.data(), fraction.data() + fraction.size());
    append(dest, R"(","level":")");
    append(dest, level_name(msg.level));
    append(dest, R"(","logger":")");
    append_json_escaped(std::string_view(msg.logger_name.data(), msg.logger_name.size()), dest);
    append(dest, R"(","msg":")");
    append_json_escaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
    append(dest, "\"}\n");
}

std::unique_ptr<spdlog::formatter> json_formatter::clone() const {
    return std::make_unique<json_formatter>();
}

} // namespace funnel
