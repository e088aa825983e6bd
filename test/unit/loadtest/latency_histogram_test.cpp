#include "funnel/loadtest/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace funnel::loadtest {
namespace {

// The exact value at quantile q of `values` (the smallest v with at least q of them <= v).
std::uint64_t exact(std::vector<std::uint64_t> values, double q) {
    std::sort(values.begin(), values.end());
    const auto rank = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size()))));
    return values[rank - 1];
}

void expect_within_precision(const std::vector<std::uint64_t>& values) {
    latency_histogram h;
    for (const auto v : values)
        h.record(v);
    for (const double q : {0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0}) {
        const auto want = static_cast<double>(exact(values, q));
        const auto got = static_cast<double>(h.percentile(q));
        EXPECT_LE(std::abs(got - want), want * 0.008 + 0.5) << "q=" << q;
    }
    EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
    EXPECT_EQ(h.count(), values.size());
}

TEST(ToolsLatencyHistogram, SmallValuesAreExact) {
    latency_histogram h;
    for (std::uint64_t v = 0; v < 128; ++v)
        h.record(v);
    EXPECT_EQ(h.percentile(0.5), 63U);
    EXPECT_EQ(h.percentile(1.0), 127U);
    EXPECT_EQ(h.percentile(0.0), 0U);
}

TEST(ToolsLatencyHistogram, PercentilesOfAUniformDistribution) {
    std::vector<std::uint64_t> values;
    std::mt19937_64 rng(1);
    std::uniform_int_distribution<std::uint64_t> d(1000, 10'000'000);
    for (int i = 0; i < 200000; ++i)
        values.push_back(d(rng));
    expect_within_precision(values);
}

TEST(ToolsLatencyHistogram, PercentilesOfALongTailedDistribution) {
    std::vector<std::uint64_t> values;
    std::mt19937_64 rng(2);
    std::lognormal_distribution<double> d(11.0, 1.5); // median ~60 us, tail to seconds
    for (int i = 0; i < 200000; ++i)
        values.push_back(static_cast<std::uint64_t>(d(rng)));
    expect_within_precision(values);
}

TEST(ToolsLatencyHistogram, BucketsCoverEveryValueContiguously) {
    std::mt19937_64 rng(3);
    for (int i = 0; i < 100000; ++i) {
        const std::uint64_t v = rng() >> (rng() % 64);
        const std::size_t b = latency_histogram::bucket_of(v);
        ASSERT_LT(b, latency_histogram::bucket_count);
        ASSERT_LE(latency_histogram::bucket_low(b), v);
        ASSERT_LT(v - latency_histogram::bucket_low(b), latency_histogram::bucket_width(b));
    }
    for (std::size_t b = 1; b < latency_histogram::bucket_count; ++b)
        ASSERT_EQ(latency_histogram::bucket_low(b - 1) + latency_histogram::bucket_width(b - 1),
                  latency_histogram::bucket_low(b))
            << b;
    EXPECT_EQ(latency_histogram::bucket_of(~std::uint64_t{0}), latency_histogram::bucket_count - 1);
}

TEST(ToolsLatencyHistogram, MergeEqualsRecordingEverythingInOne) {
    latency_histogram a;
    latency_histogram b;
    latency_histogram all;
    for (std::uint64_t v = 1; v < 100000; v += 7) {
        (v % 2 == 0 ? a : b).record(v * 13);
        all.record(v * 13);
    }
    a.merge(b);
    for (const double q : {0.1, 0.5, 0.99})
        EXPECT_EQ(a.percentile(q), all.percentile(q));
    EXPECT_EQ(a.max(), all.max());
    EXPECT_EQ(a.min(), all.min());
    EXPECT_EQ(a.count(), all.count());
}

TEST(ToolsLatencyHistogram, EmptyReportsZero) {
    const latency_histogram h;
    EXPECT_EQ(h.percentile(0.99), 0U);
    EXPECT_EQ(h.max(), 0U);
    EXPECT_EQ(h.count(), 0U);
}

} // namespace
} // namespace funnel::loadtest
