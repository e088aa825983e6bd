#pragma once
// histogram: a Prometheus-style histogram with fixed buckets, cheap enough for the hot path.
//
// Values are whole numbers in the unit the owner chooses (nanoseconds, bytes): an integer sum
// needs no compare-and-swap loop, and the exposition scales it (funnel_forward_latency_seconds
// is kept in nanoseconds and rendered in seconds). observe() is two relaxed fetch_adds, one on
// the bucket the value falls in and one on the sum, after a short scan of at most
// `max_buckets` bounds: no lock, no allocation. The total count is the sum of the buckets,
// added up on scrape, so it needs no third atomic.
//
// Thread-safety: observe() and snapshot() from any thread. The counts are statistics: a
// snapshot taken while others observe may have a sum and buckets from slightly different
// moments, as any Prometheus client's may.

#include <boost/assert.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace funnel {

class histogram {
public:
    static constexpr std::size_t max_buckets = 24; // finite upper bounds; +Inf comes on top

    struct bucket {
        std::uint64_t upper_bound; // inclusive ("le"), in the histogram's unit
        std::uint64_t count;       // cumulative: observations <= upper_bound
    };
    struct snapshot {
        std::vector<bucket> buckets; // ascending, cumulative, without +Inf
        std::uint64_t count = 0;     // every observation: the +Inf bucket
        std::uint64_t sum = 0;
    };

    // Strictly ascending upper bounds, at most max_buckets of them.
    histogram(std::initializer_list<std::uint64_t> upper_bounds) : size_(upper_bounds.size()) {
        BOOST_ASSERT(size_ <= max_buckets);
        BOOST_ASSERT(std::is_sorted(upper_bounds.begin(), upper_bounds.end()));
        std::copy(upper_bounds.begin(), upper_bounds.end(), bounds_.begin());
    }
    histogram(const histogram&) = delete;
    histogram& operator=(const histogram&) = delete;

    // `count` observations of `value` each: one call for a batch of messages that arrived and
    // left together.
    void observe(std::uint64_t value, std::uint64_t count = 1) {
        std::size_t i = 0;
        while (i < size_ && value > bounds_[i])
            ++i;
        counts_[i].fetch_add(count, std::memory_order_relaxed);
        sum_.fetch_add(value * count, std::memory_order_relaxed);
    }

    snapshot read() const {
        snapshot s;
        s.buckets.reserve(size_);
        for (std::size_t i = 0; i < size_; ++i) {
            s.count += counts_[i].load(std::memory_order_relaxed);
            s.buckets.push_back({bounds_[i], s.count});
        }
        s.count += counts_[size_].load(std::memory_order_relaxed);
        s.sum = sum_.load(std::memory_order_relaxed);
        return s;
    }

private:
    std::array<std::uint64_t, max_buckets> bounds_{};
    std::size_t size_;
    std::array<std::atomic<std::uint64_t>, max_buckets + 1> counts_{}; // [size_]: above all
    std::atomic<std::uint64_t> sum_{0};
};

// The time from `then` to `now` in whole nanoseconds, for a latency histogram; 0 if the clock
// reads put `now` first.
inline std::uint64_t nanoseconds_between(std::chrono::steady_clock::time_point then,
                                         std::chrono::steady_clock::time_point now) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - then).count();
    return ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
}

} // namespace funnel
