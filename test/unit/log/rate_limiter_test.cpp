#include "funnel/log/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

namespace funnel {
namespace {

using namespace std::chrono_literals;
using clock_type = rate_limiter::clock;

// An arbitrary fixed origin: the limiter must not depend on the real clock.
const clock_type::time_point t0 = clock_type::time_point{} + 1000h;

TEST(RateLimiter, AllowsBurstThenRefuses) {
    rate_limiter limiter(1s, 3);
    for (int i = 0; i < 3; ++i) {
        const auto d = limiter.allow(t0 + std::chrono::milliseconds(i));
        EXPECT_TRUE(d.allowed) << i;
        EXPECT_EQ(d.suppressed_before, 0U) << i;
    }
    for (int i = 0; i < 5; ++i) {
        const auto d = limiter.allow(t0 + 10ms);
        EXPECT_FALSE(d.allowed) << i;
        EXPECT_EQ(d.suppressed_before, 0U) << i;
    }
    // Still inside the window that the first call opened.
    EXPECT_FALSE(limiter.allow(t0 + 999ms).allowed);
}

TEST(RateLimiter, ReportsSuppressedCountOnNextAllowed) {
    rate_limiter limiter(1s, 2);
    EXPECT_TRUE(limiter.allow(t0).allowed);
    EXPECT_TRUE(limiter.allow(t0).allowed);
    for (int i = 0; i < 7; ++i) {
        EXPECT_FALSE(limiter.allow(t0 + 500ms).allowed);
    }

    const auto next = limiter.allow(t0 + 1s);
    EXPECT_TRUE(next.allowed);
    EXPECT_EQ(next.suppressed_before, 7U);

    // Reported once: the count starts again from zero.
    const auto after = limiter.allow(t0 + 1s);
    EXPECT_TRUE(after.allowed);
    EXPECT_EQ(after.suppressed_before, 0U);
    EXPECT_FALSE(limiter.allow(t0 + 1s).allowed);
    const auto later = limiter.allow(t0 + 5s);
    EXPECT_TRUE(later.allowed);
    EXPECT_EQ(later.suppressed_before, 1U);
}

TEST(RateLimiter, WindowStartsAtFirstAllowedCall) {
    rate_limiter limiter(1s, 1);
    EXPECT_TRUE(limiter.allow(t0 + 700ms).allowed);
    // A fixed grid of whole seconds would reopen at t0 + 1s; the window runs from t0 + 700ms.
    EXPECT_FALSE(limiter.allow(t0 + 1s).allowed);
    EXPECT_FALSE(limiter.allow(t0 + 1699ms).allowed);
    const auto d = limiter.allow(t0 + 1700ms);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.suppressed_before, 2U);
}

TEST(RateLimiter, SlightlyOlderTimeCountsAsInsideWindow) {
    // A caller that read the clock just before another caller took the lock.
    rate_limiter limiter(1s, 1);
    EXPECT_TRUE(limiter.allow(t0).allowed);
    EXPECT_FALSE(limiter.allow(t0 - 1ms).allowed);
}

TEST(RateLimiter, DefaultNowUsesSteadyClock) {
    rate_limiter limiter(1h, 1);
    EXPECT_TRUE(limiter.allow().allowed);
    EXPECT_FALSE(limiter.allow().allowed);
}

TEST(RateLimiter, RejectsUselessParameters) {
    EXPECT_THROW(rate_limiter(0s, 1), std::invalid_argument);
    EXPECT_THROW(rate_limiter(-1s, 1), std::invalid_argument);
    EXPECT_THROW(rate_limiter(1s, 0), std::invalid_argument);
}

TEST(RateLimiter, ConcurrentCallersKeepCountsExact) {
    constexpr int threads = 8;
    constexpr int calls_per_thread = 20000;
    constexpr std::uint32_t burst = 5;
    rate_limiter limiter(1s, burst);

    std::vector<std::uint64_t> allowed(threads, 0);
    std::vector<std::uint64_t> reported(threads, 0);
    {
        std::vector<std::jthread> workers;
        for (int t = 0; t < threads; ++t) {
            workers.emplace_back([&, t] {
                for (int i = 0; i < calls_per_thread; ++i) {
                    const auto d = limiter.allow(t0 + std::chrono::microseconds(i));
                    const auto slot = static_cast<std::size_t>(t);
                    allowed[slot] += d.allowed ? 1U : 0U;
                    reported[slot] += d.suppressed_before;
                }
            });
        }
    }

    std::uint64_t total_allowed = 0;
    std::uint64_t total_reported = 0;
    for (std::size_t t = 0; t < allowed.size(); ++t) {
        total_allowed += allowed[t];
        total_reported += reported[t];
    }
    constexpr std::uint64_t total = std::uint64_t{threads} * calls_per_thread;
    EXPECT_EQ(total_allowed, burst);
    EXPECT_EQ(total_reported, 0U);

    const auto next = limiter.allow(t0 + 2s);
    EXPECT_TRUE(next.allowed);
    EXPECT_EQ(next.suppressed_before, total - burst);
}

} // namespace
} // namespace funnel
