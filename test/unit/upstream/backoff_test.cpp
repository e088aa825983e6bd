#include "funnel/upstream/backoff.hpp"

#include <gtest/gtest.h>

#include <set>

namespace funnel {
namespace {

using ms = std::chrono::milliseconds;

TEST(Backoff, FirstWaitIsTheMinimum) {
    backoff b(ms(100), ms(10000), 1);
    EXPECT_EQ(b.next(), ms(100));
}

TEST(Backoff, CeilingDoublesUpToTheMaximumAndWaitsStayInside) {
    backoff b(ms(100), ms(1000), 7);
    const ms ceilings[] = {ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000), ms(1000)};
    for (ms ceiling : ceilings) {
        const ms wait = b.next();
        EXPECT_GE(wait, ms(100));
        EXPECT_LE(wait, ceiling);
    }
}

TEST(Backoff, JitterSpreadsConnectionsThatFailedTogether) {
    std::set<ms::rep> waits;
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        backoff b(ms(100), ms(60000), seed);
        for (int i = 0; i < 6; ++i)
            b.next();
        waits.insert(b.next().count()); // ceiling 6400 ms
    }
    EXPECT_GT(waits.size(), 40u);
    EXPECT_GE(*waits.begin(), 100);
    EXPECT_LE(*waits.rbegin(), 6400);
}

TEST(Backoff, ResetStartsOverAndHugeAttemptCountsDoNotOverflow) {
    backoff b(ms(50), ms(5000), 3);
    for (int i = 0; i < 1000; ++i)
        EXPECT_LE(b.next(), ms(5000));
    b.reset();
    EXPECT_EQ(b.attempt(), 0u);
    EXPECT_EQ(b.next(), ms(50));
}

TEST(Backoff, MaximumBelowMinimumIsTheMinimum) {
    backoff b(ms(300), ms(100), 3);
    EXPECT_EQ(b.next(), ms(300));
    EXPECT_EQ(b.next(), ms(300));
}

} // namespace
} // namespace funnel
