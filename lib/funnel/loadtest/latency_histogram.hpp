#pragma once
// A log-linear histogram of latencies in nanoseconds: fixed memory (about 30 KiB), O(1) record,
// percentiles within 0.8% (each power of two is split into 64 buckets; a percentile is reported
// as its bucket's midpoint, clamped to the exact minimum and maximum). Values below 128 ns are
// exact.
//
// Thread-safety: none; each io thread of the sink keeps its own and they are merged at the end.

#include <array>
#include <cstdint>
#include <limits>

namespace funnel::loadtest {

class latency_histogram {
public:
    static constexpr int sub_bits = 6;
    static constexpr std::size_t sub_buckets = std::size_t{1} << sub_bits; // 64
    static constexpr std::size_t bucket_count = (64 - sub_bits + 1) * sub_buckets;

    void record(std::uint64_t ns) {
        ++counts_[bucket_of(ns)];
        ++count_;
        if (ns > max_)
            max_ = ns;
        if (ns < min_)
            min_ = ns;
    }
    void merge(const latency_histogram& other);

    std::uint64_t count() const { return count_; }
    std::uint64_t max() const { return count_ == 0 ? 0 : max_; }
    std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
    // The value at quantile q (0..1): the smallest recorded value v such that at least q of all
    // values are <= v, to within the precision above. 0 when empty.
    std::uint64_t percentile(double q) const;

    // The bucket of a value, and the lowest value and width of a bucket (exposed for tests).
    static std::size_t bucket_of(std::uint64_t ns) {
        if (ns < 2 * sub_buckets)
            return static_cast<std::size_t>(ns);
        const int msb = 63 - __builtin_clzll(ns);
        const int shift = msb - sub_bits;
        return static_cast<std::size_t>(shift) * sub_buckets +
               static_cast<std::size_t>(ns >> shift);
    }
    static std::uint64_t bucket_low(std::size_t bucket);
    static std::uint64_t bucket_width(std::size_t bucket);

private:
    std::array<std::uint64_t, bucket_count> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
};

} // namespace funnel::loadtest
