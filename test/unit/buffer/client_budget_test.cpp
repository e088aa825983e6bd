#include "funnel/buffer/buffer_pool.hpp"
#include "funnel/buffer/chunk.hpp"
#include "funnel/buffer/client_budget.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace funnel {
namespace {

constexpr std::size_t block = 64;

// A budget that counts its on_room calls.
struct counted_budget {
    explicit counted_budget(std::size_t limit)
        : budget(std::make_shared<client_budget>(limit, block, [this] { ++rooms; })) {}
    std::atomic<int> rooms{0};
    std::shared_ptr<client_budget> budget;
};

TEST(ClientBudget, FullWhenAnotherBlockWouldPassTheLimit) {
    counted_budget b(3 * block + block / 2); // whole blocks: 3 of them
    EXPECT_EQ(b.budget->most(), 3 * block);
    for (int i = 0; i < 3; ++i) {
        EXPECT_FALSE(b.budget->full());
        b.budget->charge();
    }
    EXPECT_TRUE(b.budget->full());
    EXPECT_EQ(b.budget->held(), 3 * block);
}

TEST(ClientBudget, OnlyTheReleaseThatEndsFullCallsOnRoom) {
    counted_budget b(2 * block);
    b.budget->charge();
    b.budget->release(); // never full: nobody waits
    EXPECT_EQ(b.rooms.load(), 0);
    b.budget->charge();
    b.budget->charge();
    ASSERT_TRUE(b.budget->full());
    b.budget->release();
    EXPECT_EQ(b.rooms.load(), 1);
    EXPECT_FALSE(b.budget->full());
    b.budget->release(); // already under: no second call
    EXPECT_EQ(b.rooms.load(), 1);
    EXPECT_EQ(b.budget->held(), 0u);
}

// A reader may let its client past the limit (blocks only more input can free); on the way back
// the release that takes it below the limit is the one that wakes the reader.
TEST(ClientBudget, ChargedPastTheLimitCallsOnRoomOnceBackBelowIt) {
    counted_budget b(2 * block);
    for (int i = 0; i < 4; ++i)
        b.budget->charge();
    EXPECT_EQ(b.budget->held(), 4 * block);
    b.budget->release();
    b.budget->release();
    EXPECT_TRUE(b.budget->full());
    EXPECT_EQ(b.rooms.load(), 0);
    b.budget->release();
    EXPECT_EQ(b.rooms.load(), 1);
    b.budget->release();
    EXPECT_EQ(b.rooms.load(), 1);
}

TEST(ClientBudget, LimitBelowOneBlockStillHoldsOne) {
    counted_budget b(block / 2);
    EXPECT_EQ(b.budget->most(), block);
    EXPECT_FALSE(b.budget->full());
    b.budget->charge();
    EXPECT_TRUE(b.budget->full());
    b.budget->release();
    EXPECT_EQ(b.rooms.load(), 1);
}

// A chunk charged to a budget gives its block back to both, once, wherever it is dropped; a
// move carries the charge along.
TEST(ClientBudget, ChunkReleasesItsChargeWithItsBlock) {
    buffer_pool pool(block, 4 * block);
    counted_budget b(2 * block);
    chunk first = pool.try_acquire();
    chunk second = pool.try_acquire();
    first.charge_to(b.budget);
    second.charge_to(b.budget);
    EXPECT_TRUE(b.budget->full());
    chunk moved = std::move(first);
    EXPECT_EQ(b.budget->held(), 2 * block);
    EXPECT_EQ(b.rooms.load(), 0);
    std::thread elsewhere([c = std::move(moved)]() mutable { c.reset(); });
    elsewhere.join();
    EXPECT_EQ(b.rooms.load(), 1);
    EXPECT_EQ(pool.bytes_held(), block);
    EXPECT_EQ(b.budget->held(), block);
    second = chunk{};
    EXPECT_EQ(pool.bytes_held(), 0u);
    EXPECT_EQ(b.budget->held(), 0u);
    EXPECT_EQ(b.rooms.load(), 1);
}

// The budget outlives its reader as long as a chunk holds it.
TEST(ClientBudget, ChunkKeepsTheBudgetAlive) {
    buffer_pool pool(block, 2 * block);
    std::weak_ptr<client_budget> weak;
    chunk c = pool.try_acquire();
    {
        auto budget = std::make_shared<client_budget>(block, block, nullptr);
        weak = budget;
        c.charge_to(std::move(budget));
    }
    EXPECT_FALSE(weak.expired());
    c.reset();
    EXPECT_TRUE(weak.expired());
    EXPECT_EQ(pool.bytes_held(), 0u);
}

// Many threads releasing at once (a TSan target): each full episode ends with one on_room.
TEST(ClientBudget, ConcurrentReleasesCallOnRoomOncePerEpisode) {
    constexpr int blocks = 8, rounds = 200;
    counted_budget b(blocks * block);
    for (int round = 0; round < rounds; ++round) {
        for (int i = 0; i < blocks; ++i)
            b.budget->charge();
        ASSERT_TRUE(b.budget->full());
        std::vector<std::thread> releasers;
        for (int i = 0; i < blocks; ++i)
            releasers.emplace_back([&b] { b.budget->release(); });
        for (auto& t : releasers)
            t.join();
        ASSERT_EQ(b.budget->held(), 0u);
    }
    EXPECT_EQ(b.rooms.load(), rounds);
}

} // namespace
} // namespace funnel
