#include "funnel/loadtest/sequence_tracker.hpp"

namespace funnel::loadtest {

sequence_tracker::outcome sequence_tracker::record(std::uint64_t seq) {
    if (seq == next_) {
        ++next_;
        ++unique_;
        return outcome::in_order;
    }
    if (seq > next_) {
        missing_.emplace(next_, seq);
        holes_ += seq - next_;
        next_ = seq + 1;
        ++unique_;
        return outcome::ahead;
    }
    // Below the highest seen: a hole filled late, or a duplicate.
    auto it = missing_.upper_bound(seq);
    if (it == missing_.begin()) {
        ++duplicated_;
        return outcome::duplicate;
    }
    --it;
    const std::uint64_t first = it->first;
    const std::uint64_t end = it->second;
    if (seq >= end) {
        ++duplicated_;
        return outcome::duplicate;
    }
    // Split [first, end) around seq.
    if (seq == first)
        missing_.erase(it);
    else
        it->second = seq;
    if (seq + 1 < end)
        missing_.emplace(seq + 1, end);
    --holes_;
    ++unique_;
    ++reordered_;
    return outcome::late;
}

sequence_totals client_table::summarize() const {
    sequence_totals t;
    for (const auto& s : stripes_) {
        for (const auto& [client, tracker] : s.clients) {
            ++t.clients;
            t.unique += tracker.unique();
            t.duplicated += tracker.duplicated();
            t.reordered += tracker.reordered();
            t.holes += tracker.holes();
        }
    }
    return t;
}

} // namespace funnel::loadtest
