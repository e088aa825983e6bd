#include "funnel/loadtest/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace funnel::loadtest {

std::uint64_t latency_histogram::bucket_low(std::size_t bucket) {
    if (bucket < 2 * sub_buckets)
        return bucket;
    const std::size_t shift = bucket / sub_buckets - 1;
    const std::uint64_t mantissa = bucket - shift * sub_buckets; // sub_buckets .. 2*sub_buckets-1
    return mantissa << shift;
}

std::uint64_t latency_histogram::bucket_width(std::size_t bucket) {
    if (bucket < 2 * sub_buckets)
        return 1;
    return std::uint64_t{1} << (bucket / sub_buckets - 1);
}

void latency_histogram::merge(const latency_histogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i)
        counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
    min_ = std::min(min_, other.min_);
}

std::uint64_t latency_histogram::percentile(double q) const {
    if (count_ == 0)
        return 0;
    q = std::clamp(q, 0.0, 1.0);
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            const std::uint64_t mid = bucket_low(i) + bucket_width(i) / 2;
            return std::clamp(mid, min(), max());
        }
    }
    return max();
}

} // namespace funnel::loadtest
