#pragma once
// Keeps a storm of identical failures (a target refusing every connect, thousands of clients
// resetting) from flooding the log: at most `burst` messages per `interval`, and the first
// message let through afterwards learns how many were held back, so it can say
// "(N similar suppressed)" and nothing is silently lost.
//
// Windows are fixed: the first allowed message opens one `interval` long, the next `burst - 1`
// calls inside it are allowed too, the rest are refused and counted, and the first call at or
// after its end opens the next window.
//
// Thread-safety: allow() may be called from any thread (the io thread and pool threads share one
// limiter per kind of message). A mutex held for a few instructions keeps the counts exact;
// this path runs only when something is about to be logged, never per chunk.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace funnel {

class rate_limiter {
public:
    using clock = std::chrono::steady_clock;

    // Throws std::invalid_argument unless interval > 0 and burst > 0 (built at startup).
    rate_limiter(clock::duration interval, std::uint32_t burst);

    struct decision {
        bool allowed;
        // How many calls were refused since the last allowed one; non-zero only when allowed.
        std::uint64_t suppressed_before;
    };

    // `now` is a parameter so tests can drive the clock; a value slightly older than the
    // current window's start (a racing caller read the clock first) counts as inside it.
    [[nodiscard]] decision allow(clock::time_point now = clock::now());

private:
    const clock::duration interval_;
    const std::uint32_t burst_;

    std::mutex mutex_;
    bool window_open_ = false; // false until the first call: no sentinel time to overflow on
    clock::time_point window_start_{};
    std::uint32_t allowed_in_window_ = 0;
    std::uint64_t suppressed_ = 0;
};

// " (N similar warnings suppressed)" when the limiter held some back, for the end of a line.
inline std::string suppressed_note(const rate_limiter::decision& d) {
    if (d.suppressed_before == 0)
        return {};
    return " (" + std::to_string(d.suppressed_before) + " similar warnings suppressed)";
}

} // namespace funnel
