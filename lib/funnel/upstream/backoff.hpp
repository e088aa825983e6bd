#pragma once
// backoff: how long to wait before the next reconnect attempt.
//
// Exponential with "full jitter": attempt n waits a uniformly random time in
// [min, min(max, min * 2^n)], so that many connections that broke together (a target restart)
// do not all come back in the same millisecond, and a target that stays down is retried at most
// every `max`. reset() after a connection succeeds.
//
// Thread-safety: none; each upstream connection owns one, on its strand.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace funnel {

class backoff {
public:
    using duration = std::chrono::milliseconds;

    backoff(duration min, duration max, std::uint64_t seed)
        : min_(min), max_(std::max(min, max)), rng_(seed) {}

    duration next() {
        const auto ceiling = ceiling_for(attempt_);
        if (attempt_ < 63)
            ++attempt_;
        std::uniform_int_distribution<duration::rep> pick(min_.count(), ceiling.count());
        return duration(pick(rng_));
    }
    void reset() { attempt_ = 0; }
    unsigned attempt() const { return attempt_; }

private:
    duration ceiling_for(unsigned attempt) const {
        auto ceiling = min_;
        for (unsigned i = 0; i < attempt && ceiling < max_; ++i)
            ceiling = std::min(max_, ceiling * 2);
        return std::max(ceiling, min_);
    }

    duration min_;
    duration max_;
    std::mt19937_64 rng_;
    unsigned attempt_ = 0;
};

} // namespace funnel
