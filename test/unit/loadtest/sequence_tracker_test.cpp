#include "funnel/loadtest/sequence_tracker.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace funnel::loadtest {
namespace {

using outcome = sequence_tracker::outcome;

TEST(ToolsSequenceTracker, InOrderHasNoHoles) {
    sequence_tracker t;
    for (std::uint64_t s = 0; s < 1000; ++s)
        ASSERT_EQ(t.record(s), outcome::in_order);
    EXPECT_EQ(t.unique(), 1000U);
    EXPECT_EQ(t.holes(), 0U);
    EXPECT_EQ(t.duplicated(), 0U);
    EXPECT_EQ(t.reordered(), 0U);
    EXPECT_EQ(t.next(), 1000U);
}

TEST(ToolsSequenceTracker, ClassifiesLostDuplicatedAndReordered) {
    sequence_tracker t;
    EXPECT_EQ(t.record(0), outcome::in_order);
    EXPECT_EQ(t.record(1), outcome::in_order);
    EXPECT_EQ(t.record(5), outcome::ahead); // 2, 3, 4 missing
    EXPECT_EQ(t.holes(), 3U);
    EXPECT_EQ(t.record(3), outcome::late); // fills the middle of the hole
    EXPECT_EQ(t.holes(), 2U);
    EXPECT_EQ(t.record(3), outcome::duplicate);
    EXPECT_EQ(t.record(1), outcome::duplicate);
    EXPECT_EQ(t.record(5), outcome::duplicate);
    EXPECT_EQ(t.record(2), outcome::late); // the first of a range
    EXPECT_EQ(t.record(6), outcome::in_order);
    EXPECT_EQ(t.record(9), outcome::ahead); // 7, 8 missing
    EXPECT_EQ(t.record(8), outcome::late);  // the last of a range
    EXPECT_EQ(t.record(8), outcome::duplicate);

    EXPECT_EQ(t.unique(), 8U); // 0 1 2 3 5 6 8 9
    EXPECT_EQ(t.duplicated(), 4U);
    EXPECT_EQ(t.reordered(), 3U);
    EXPECT_EQ(t.holes(), 2U); // 4 and 7: lost
    EXPECT_EQ(t.next(), 10U);
}

TEST(ToolsSequenceTracker, MissingFirstMessagesAreHoles) {
    sequence_tracker t;
    EXPECT_EQ(t.record(4), outcome::ahead);
    EXPECT_EQ(t.holes(), 4U);
    for (std::uint64_t s = 0; s < 4; ++s)
        EXPECT_EQ(t.record(s), outcome::late);
    EXPECT_EQ(t.holes(), 0U);
    EXPECT_EQ(t.reordered(), 4U);
}

TEST(ToolsSequenceTracker, ReversedOrderIsAllReorderedNoneLost) {
    sequence_tracker t;
    for (std::uint64_t s = 100; s-- > 0;)
        t.record(s);
    EXPECT_EQ(t.unique(), 100U);
    EXPECT_EQ(t.reordered(), 99U);
    EXPECT_EQ(t.holes(), 0U);
    EXPECT_EQ(t.duplicated(), 0U);
}

TEST(ToolsClientTable, SummarizesClientsFedFromSeveralThreads) {
    // Every thread sends its share of each client's numbers (a client spread over connections,
    // as after a relay reconnects), and one thread sends client 0's numbers all over again.
    client_table table;
    constexpr std::uint32_t clients = 100;
    constexpr std::uint64_t per_client = 1000;
    constexpr std::uint64_t threads = 4;
    std::vector<std::thread> workers;
    for (std::uint64_t t = 0; t < threads; ++t) {
        workers.emplace_back([&table, t] {
            for (std::uint64_t s = t; s < per_client; s += threads) {
                for (std::uint32_t c = 0; c < clients; ++c) {
                    const std::lock_guard lock(table.mutex_for(c));
                    table.find_or_add(c).record(s);
                }
            }
            if (t == 0) {
                for (std::uint64_t s = 0; s < per_client; ++s) {
                    const std::lock_guard lock(table.mutex_for(0));
                    table.find_or_add(0).record(s);
                }
            }
        });
    }
    for (auto& w : workers)
        w.join();
    const sequence_totals totals = table.summarize();
    EXPECT_EQ(totals.clients, clients);
    EXPECT_EQ(totals.unique, clients * per_client);
    EXPECT_EQ(totals.duplicated, per_client);
    EXPECT_EQ(totals.holes, 0U);
}

} // namespace
} // namespace funnel::loadtest
