#include "funnel/metrics/histogram.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

namespace funnel {
namespace {

std::vector<std::uint64_t> counts(const histogram::snapshot& s) {
    std::vector<std::uint64_t> out;
    for (const auto& b : s.buckets)
        out.push_back(b.count);
    return out;
}

TEST(MetricsHistogram, EmptyHasEveryBucketAtZero) {
    const histogram h{10, 100, 1000};
    const auto s = h.read();
    ASSERT_EQ(s.buckets.size(), 3u);
    EXPECT_EQ(s.buckets[0].upper_bound, 10u);
    EXPECT_EQ(s.buckets[2].upper_bound, 1000u);
    EXPECT_EQ(counts(s), (std::vector<std::uint64_t>{0, 0, 0}));
    EXPECT_EQ(s.count, 0u);
    EXPECT_EQ(s.sum, 0u);
}

TEST(MetricsHistogram, BoundsAreInclusiveAndBucketsCumulative) {
    histogram h{10, 100, 1000};
    h.observe(0);    // le 10
    h.observe(10);   // le 10: "less or equal"
    h.observe(11);   // le 100
    h.observe(1000); // le 1000
    h.observe(1001); // only +Inf
    const auto s = h.read();
    EXPECT_EQ(counts(s), (std::vector<std::uint64_t>{2, 3, 4}));
    EXPECT_EQ(s.count, 5u);
    EXPECT_EQ(s.sum, 0u + 10 + 11 + 1000 + 1001);
}

TEST(MetricsHistogram, CountObservesABatchAtOnce) {
    histogram h{10, 100};
    h.observe(50, 7); // seven messages that arrived together and left together
    h.observe(5, 0);  // an empty batch changes nothing
    const auto s = h.read();
    EXPECT_EQ(counts(s), (std::vector<std::uint64_t>{0, 7}));
    EXPECT_EQ(s.count, 7u);
    EXPECT_EQ(s.sum, 350u);
}

TEST(MetricsHistogram, ObservationsFromManyThreadsAreAllCounted) {
    histogram h{1, 2, 4, 8};
    constexpr int threads = 4;
    constexpr std::uint64_t per_thread = 20000;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&h] {
            for (std::uint64_t i = 0; i < per_thread; ++i)
                h.observe(i % 10); // 0..9: 1 and 2 share nothing with 9 (+Inf)
        });
    for (auto& w : workers)
        w.join();
    const auto s = h.read();
    const std::uint64_t total = threads * per_thread;
    EXPECT_EQ(s.count, total);
    EXPECT_EQ(s.sum, threads * (per_thread / 10) * 45);
    // Per ten values: 0,1 (le 1), 2 (le 2), 3,4 (le 4), 5..8 (le 8), 9 (+Inf).
    EXPECT_EQ(counts(s), (std::vector<std::uint64_t>{total / 10 * 2, total / 10 * 3, total / 10 * 5,
                                                     total / 10 * 9}));
}

} // namespace
} // namespace funnel
