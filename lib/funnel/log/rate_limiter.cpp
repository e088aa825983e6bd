#include "funnel/log/rate_limiter.hpp"

#include <stdexcept>

namespace funnel {

rate_limiter::rate_limiter(clock::duration interval, std::uint32_t burst)
    : interval_(interval), burst_(burst) {
    if (interval <= clock::duration::zero()) {
        throw std::invalid_argument("rate_limiter: interval must be positive");
    }
    if (burst == 0) {
        throw std::invalid_argument("rate_limiter: burst must be at least 1");
    }
}

rate_limiter::decision rate_limiter::allow(clock::time_point now) {
    const std::lock_guard lock(mutex_);
    if (!window_open_ || now - window_start_ >= interval_) {
        window_open_ = true;
        window_start_ = now;
        allowed_in_window_ = 1;
        const std::uint64_t suppressed = suppressed_;
        suppressed_ = 0;
        return {true, suppressed};
    }
    if (allowed_in_window_ < burst_) {
        ++allowed_in_window_;
        // Refusals only start once the burst is spent, so none can be pending here.
        return {true, 0};
    }
    ++suppressed_;
    return {false, 0};
}

} // namespace funnel
