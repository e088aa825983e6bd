#pragma once
// Per-client sequence accounting of funnel-sink: which sequence numbers arrived, and how.
//
// A client numbers its messages 0, 1, 2, ... Each arrival is one of:
//   in order   the next one after the highest seen so far;
//   ahead      higher than that: the numbers skipped become holes;
//   late       fills a hole: it arrived after a higher one (counted as reordered);
//   duplicate  seen before.
// Holes left at the end are messages missing below the highest seen (lost, or not yet arrived).
// The holes are kept as disjoint ranges, so memory grows with the number of gaps, not their size,
// and the in-order case touches no container.
//
// client_table holds every client's sequence_tracker for all io threads of the sink: a client's
// messages may arrive on several connections (a relay that reconnects), so duplicates must be
// found across them. It is split into stripes, each with its own mutex; a reader takes the
// stripe's lock once for a run of messages of one client, not once per message.
//
// Thread-safety: a sequence_tracker is used under its stripe's mutex; client_table::summarize()
// only when no other thread uses the table.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

namespace funnel::loadtest {

class sequence_tracker {
public:
    enum class outcome { in_order, ahead, late, duplicate };

    outcome record(std::uint64_t seq);

    std::uint64_t unique() const { return unique_; }
    std::uint64_t duplicated() const { return duplicated_; }
    std::uint64_t reordered() const { return reordered_; }
    std::uint64_t holes() const { return holes_; }
    // One past the highest sequence number seen (0 when none).
    std::uint64_t next() const { return next_; }

private:
    std::uint64_t next_ = 0;
    std::map<std::uint64_t, std::uint64_t> missing_; // [first, end) ranges, disjoint
    std::uint64_t holes_ = 0;                        // numbers in missing_
    std::uint64_t unique_ = 0;
    std::uint64_t duplicated_ = 0;
    std::uint64_t reordered_ = 0;
};

struct sequence_totals {
    std::uint64_t clients = 0;
    std::uint64_t unique = 0;
    std::uint64_t duplicated = 0;
    std::uint64_t reordered = 0;
    std::uint64_t holes = 0;
};

class client_table {
public:
    static constexpr std::size_t stripe_count = 64;

    // The mutex that guards `client`'s tracker.
    std::mutex& mutex_for(std::uint32_t client) { return stripe_of(client).mutex; }
    // The tracker of `client`, created on first use. The caller holds mutex_for(client) while it
    // uses the tracker; the reference stays valid as long as the table.
    sequence_tracker& find_or_add(std::uint32_t client) {
        return stripe_of(client).clients[client];
    }

    sequence_totals summarize() const;

private:
    struct alignas(64) stripe {
        std::mutex mutex;
        std::unordered_map<std::uint32_t, sequence_tracker> clients;
    };
    stripe& stripe_of(std::uint32_t client) { return stripes_[client % stripe_count]; }

    std::array<stripe, stripe_count> stripes_;
};

} // namespace funnel::loadtest
