#include "funnel/buffer/buffer_pool.hpp"
#include "funnel/buffer/chunk.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace funnel {
namespace {

using namespace std::chrono_literals;

// Generous: only reached when something hangs, never as a synchronisation step.
constexpr auto deadline = 30s;

// Runs every handler that is ready, including those they post, and returns how many ran.
std::size_t drain(net::io_context& ioc) {
    ioc.restart();
    return ioc.run();
}

const void* address_of(chunk& c) {
    return c.writable().data();
}

// ---------------------------------------------------------------------------------------------
// chunk

TEST(Chunk, DefaultIsEmpty) {
    chunk c;
    EXPECT_FALSE(c);
    EXPECT_EQ(c.size(), 0U);
    EXPECT_EQ(c.capacity(), 0U);
    EXPECT_EQ(c.writable().size(), 0U);
    EXPECT_EQ(c.data().size(), 0U);
    c.reset(); // harmless on an empty chunk
    EXPECT_FALSE(c);
}

TEST(Chunk, WritableCoversBlockAndDataFollowsSetSize) {
    buffer_pool pool(64, 256);
    chunk c = pool.try_acquire();
    ASSERT_TRUE(c);
    EXPECT_EQ(c.capacity(), 64U);
    EXPECT_EQ(c.size(), 0U);
    EXPECT_EQ(c.data().size(), 0U);

    auto w = c.writable();
    ASSERT_NE(w.data(), nullptr);
    EXPECT_EQ(w.size(), 64U);
    // The whole block is usable.
    std::memset(w.data(), 0xAB, w.size());

    const std::string payload = "hello, upstream";
    std::memcpy(w.data(), payload.data(), payload.size());
    c.set_size(payload.size());
    EXPECT_EQ(c.size(), payload.size());
    auto d = c.data();
    EXPECT_EQ(d.data(), w.data());
    ASSERT_EQ(d.size(), payload.size());
    EXPECT_EQ(std::string(static_cast<const char*>(d.data()), d.size()), payload);

    c.set_size(c.capacity());
    EXPECT_EQ(c.data().size(), 64U);
}

TEST(Chunk, ResetReturnsBlockAndEmpties) {
    buffer_pool pool(64, 128);
    chunk c = pool.try_acquire();
    ASSERT_TRUE(c);
    c.set_size(10);
    EXPECT_EQ(pool.bytes_held(), 64U);

    c.reset();
    EXPECT_FALSE(c);
    EXPECT_EQ(c.size(), 0U);
    EXPECT_EQ(c.data().size(), 0U);
    EXPECT_EQ(pool.bytes_held(), 0U);

    c.reset(); // a second reset releases nothing more
    EXPECT_EQ(pool.bytes_held(), 0U);
}

// A reset chunk still remembers its pool, so capacity() reports the block size and writable()
// is a buffer of block_size bytes at address null. See the report: chunk::reset() should also
// clear pool_ (or capacity() should test block_). Enable once that is fixed.
TEST(Chunk, ResetChunkHasNoCapacity) {
    buffer_pool pool(64, 128);
    chunk c = pool.try_acquire();
    ASSERT_TRUE(c);
    c.reset();
    EXPECT_EQ(c.capacity(), 0U);
    EXPECT_EQ(c.writable().size(), 0U);
}

TEST(Chunk, MoveConstructionTransfersOwnership) {
    buffer_pool pool(64, 128);
    chunk a = pool.try_acquire();
    ASSERT_TRUE(a);
    const void* block = address_of(a);
    a.set_size(7);

    chunk b(std::move(a));
    EXPECT_FALSE(a); // NOLINT(bugprone-use-after-move): the moved-from state is specified
    EXPECT_EQ(a.size(), 0U);
    EXPECT_EQ(a.capacity(), 0U);
    EXPECT_TRUE(b);
    EXPECT_EQ(b.size(), 7U);
    EXPECT_EQ(b.capacity(), 64U);
    EXPECT_EQ(address_of(b), block);
    EXPECT_EQ(pool.bytes_held(), 64U);

    a.reset(); // the moved-from chunk releases nothing
    EXPECT_EQ(pool.bytes_held(), 64U);
    b.reset();
    EXPECT_EQ(pool.bytes_held(), 0U);
}

TEST(Chunk, MoveAssignmentReleasesTargetAndTransfersSource) {
    buffer_pool pool(64, 128);
    chunk a = pool.try_acquire();
    chunk b = pool.try_acquire();
    ASSERT_TRUE(a);
    ASSERT_TRUE(b);
    const void* block_a = address_of(a);
    a.set_size(3);
    EXPECT_EQ(pool.bytes_held(), 128U);

    b = std::move(a); // b's old block goes back; a's moves in
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(a.size(), 0U);
    EXPECT_TRUE(b);
    EXPECT_EQ(b.size(), 3U);
    EXPECT_EQ(address_of(b), block_a);
    EXPECT_EQ(pool.bytes_held(), 64U);

    chunk empty;
    b = std::move(empty); // assigning an empty chunk releases b's block
    EXPECT_FALSE(b);
    EXPECT_EQ(pool.bytes_held(), 0U);
}

TEST(Chunk, SelfMoveAssignmentKeepsBlock) {
    buffer_pool pool(64, 128);
    chunk c = pool.try_acquire();
    ASSERT_TRUE(c);
    c.set_size(5);
    chunk& alias = c;
    c = std::move(alias);
    EXPECT_TRUE(c);
    EXPECT_EQ(c.size(), 5U);
    EXPECT_EQ(pool.bytes_held(), 64U);
}

TEST(Chunk, MovedChunksReleaseExactlyOnce) {
    buffer_pool pool(32, 32);
    {
        chunk a = pool.try_acquire();
        ASSERT_TRUE(a);
        chunk b(std::move(a));
        chunk c;
        c = std::move(b);
        std::vector<chunk> v;
        v.push_back(std::move(c));
        EXPECT_EQ(pool.bytes_held(), 32U);
    } // four chunk objects die; one block comes back
    EXPECT_EQ(pool.bytes_held(), 0U);
    // A double release would have pushed the block twice: two acquires would then both succeed.
    chunk x = pool.try_acquire();
    EXPECT_TRUE(x);
    EXPECT_FALSE(pool.try_acquire());
}

// ---------------------------------------------------------------------------------------------
// buffer_pool: try_acquire and the budget

TEST(BufferPool, ReportsConfiguration) {
    buffer_pool pool(100, 1000);
    EXPECT_EQ(pool.block_size(), 100U);
    EXPECT_EQ(pool.byte_limit(), 1000U);
    EXPECT_EQ(pool.bytes_held(), 0U);
    EXPECT_EQ(pool.high_water(), 0U);
    EXPECT_EQ(pool.waiting(), 0U);
}

TEST(BufferPool, TryAcquireChargesBlockSizeUpToExactLimit) {
    buffer_pool pool(100, 300);
    std::vector<chunk> held;
    for (std::size_t i = 1; i <= 3; ++i) {
        chunk c = pool.try_acquire();
        ASSERT_TRUE(c) << i;
        EXPECT_EQ(c.capacity(), 100U);
        held.push_back(std::move(c));
        EXPECT_EQ(pool.bytes_held(), i * 100U);
        EXPECT_EQ(pool.high_water(), i * 100U);
    }
    // Exactly at the limit: one more block would exceed it.
    EXPECT_FALSE(pool.try_acquire());
    EXPECT_EQ(pool.bytes_held(), 300U);
    EXPECT_EQ(pool.waiting(), 0U);
}

TEST(BufferPool, TryAcquireFailsWhenNextBlockWouldExceedLimit) {
    // 299 bytes hold two 100-byte blocks; a third would need 300.
    buffer_pool pool(100, 299);
    chunk a = pool.try_acquire();
    chunk b = pool.try_acquire();
    EXPECT_TRUE(a);
    EXPECT_TRUE(b);
    EXPECT_FALSE(pool.try_acquire());
    EXPECT_EQ(pool.bytes_held(), 200U);
    EXPECT_EQ(pool.high_water(), 200U);
}

TEST(BufferPool, SingleBlockBudget) {
    buffer_pool pool(4096, 4096);
    chunk a = pool.try_acquire();
    ASSERT_TRUE(a);
    EXPECT_FALSE(pool.try_acquire());
    a.reset();
    EXPECT_TRUE(pool.try_acquire());
}

TEST(BufferPool, ChunkDestructionReturnsBudgetAndHighWaterStays) {
    buffer_pool pool(50, 200);
    {
        std::vector<chunk> held;
        for (int i = 0; i < 4; ++i) {
            held.push_back(pool.try_acquire());
        }
        EXPECT_EQ(pool.bytes_held(), 200U);
        held.pop_back();
        EXPECT_EQ(pool.bytes_held(), 150U);
        held.erase(held.begin());
        EXPECT_EQ(pool.bytes_held(), 100U);
    }
    EXPECT_EQ(pool.bytes_held(), 0U);
    EXPECT_EQ(pool.high_water(), 200U);

    // The high-water mark only rises.
    chunk one = pool.try_acquire();
    EXPECT_EQ(pool.bytes_held(), 50U);
    EXPECT_EQ(pool.high_water(), 200U);
}

TEST(BufferPool, HighWaterTracksPeakNotCurrent) {
    buffer_pool pool(10, 100);
    {
        chunk a = pool.try_acquire();
        chunk b = pool.try_acquire();
        EXPECT_EQ(pool.high_water(), 20U);
    }
    for (int i = 0; i < 5; ++i) {
        chunk c = pool.try_acquire(); // one at a time: the peak stays 20
    }
    EXPECT_EQ(pool.high_water(), 20U);
    std::vector<chunk> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(pool.try_acquire());
    }
    EXPECT_EQ(pool.high_water(), 30U);
}

TEST(BufferPool, ReleasedBlockIsReused) {
    buffer_pool pool(64, 64);
    const void* first = nullptr;
    {
        chunk c = pool.try_acquire();
        ASSERT_TRUE(c);
        first = address_of(c);
    }
    for (int i = 0; i < 10; ++i) {
        chunk c = pool.try_acquire();
        ASSERT_TRUE(c);
        EXPECT_EQ(address_of(c), first) << i;
    }
}

TEST(BufferPool, MostRecentlyReleasedBlockComesBackFirst) {
    buffer_pool pool(64, 256);
    chunk a = pool.try_acquire();
    chunk b = pool.try_acquire();
    const void* block_a = address_of(a);
    a.reset();
    chunk c = pool.try_acquire();
    EXPECT_EQ(address_of(c), block_a);
}

TEST(BufferPool, NeverAllocatesMoreThanLimitOverBlockSize) {
    constexpr std::size_t block = 32;
    constexpr std::size_t blocks = 5;
    buffer_pool pool(block, block * blocks + block / 2); // a remainder that fits no block
    std::set<const void*> seen;
    for (std::size_t round = 0; round < 50; ++round) {
        std::vector<chunk> held;
        // Vary how many are held so different free-list orders come up.
        const std::size_t take = 1 + round % blocks;
        for (std::size_t i = 0; i < take; ++i) {
            chunk c = pool.try_acquire();
            ASSERT_TRUE(c);
            seen.insert(address_of(c));
            held.push_back(std::move(c));
        }
        if (take == blocks) {
            EXPECT_FALSE(pool.try_acquire());
        }
        // Release in an order that depends on the round.
        if (round % 2 == 0) {
            std::reverse(held.begin(), held.end());
        }
    }
    EXPECT_EQ(seen.size(), blocks);
    EXPECT_EQ(pool.bytes_held(), 0U);
    EXPECT_EQ(pool.high_water(), block * blocks);
}

TEST(BufferPool, BlocksDoNotOverlap) {
    constexpr std::size_t block = 16;
    buffer_pool pool(block, block * 4);
    std::vector<chunk> held;
    for (int i = 0; i < 4; ++i) {
        held.push_back(pool.try_acquire());
        auto w = held.back().writable();
        std::memset(w.data(), i + 1, w.size());
    }
    for (std::size_t i = 0; i < held.size(); ++i) {
        auto w = held[i].writable();
        const auto* p = static_cast<const unsigned char*>(w.data());
        for (std::size_t j = 0; j < w.size(); ++j) {
            ASSERT_EQ(static_cast<std::size_t>(p[j]), i + 1) << "block " << i << " byte " << j;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// buffer_pool: async_acquire

TEST(BufferPool, AsyncAcquireWithFreeBudgetIsPostedNotInline) {
    buffer_pool pool(64, 128);
    net::io_context ioc;
    int calls = 0;
    chunk got;
    bool on_ioc = false;
    pool.async_acquire(ioc.get_executor(), [&](chunk c) {
        ++calls;
        on_ioc = ioc.get_executor().running_in_this_thread();
        got = std::move(c);
    });
    EXPECT_EQ(calls, 0); // not inline
    EXPECT_EQ(pool.waiting(), 0U);
    EXPECT_EQ(pool.bytes_held(), 64U); // charged before the handler runs

    EXPECT_EQ(drain(ioc), 1U);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(on_ioc);
    ASSERT_TRUE(got);
    EXPECT_EQ(got.capacity(), 64U);
    EXPECT_EQ(got.size(), 0U);
    got.reset();
    EXPECT_EQ(pool.bytes_held(), 0U);
}

TEST(BufferPool, ImmediateGrantCountsAgainstTryAcquire) {
    buffer_pool pool(64, 64);
    net::io_context ioc;
    chunk got;
    pool.async_acquire(ioc.get_executor(), [&](chunk c) { got = std::move(c); });
    // The block is already promised to the handler, even though it has not run.
    EXPECT_FALSE(pool.try_acquire());
    drain(ioc);
    EXPECT_TRUE(got);
}

TEST(BufferPool, AsyncAcquireWaitsUntilReleaseAndRunsOnGivenExecutor) {
    buffer_pool pool(64, 128);
    net::io_context holder_ioc;
    net::io_context waiter_ioc;
    chunk a = pool.try_acquire();
    chunk b = pool.try_acquire();
    ASSERT_TRUE(a);
    ASSERT_TRUE(b);
    const void* block_b = address_of(b);

    int calls = 0;
    bool on_waiter = false;
    bool on_holder = true;
    chunk got;
    pool.async_acquire(waiter_ioc.get_executor(), [&](chunk c) {
        ++calls;
        on_waiter = waiter_ioc.get_executor().running_in_this_thread();
        on_holder = holder_ioc.get_executor().running_in_this_thread();
        got = std::move(c);
    });
    EXPECT_EQ(pool.waiting(), 1U);
    EXPECT_EQ(drain(waiter_ioc), 0U); // nothing to hand out yet
    EXPECT_EQ(calls, 0);

    // Released from "the holder's thread": the handler is posted, not run inline.
    boost::asio::post(holder_ioc, [&] { b.reset(); });
    EXPECT_EQ(drain(holder_ioc), 1U);
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(pool.waiting(), 0U);
    EXPECT_EQ(pool.bytes_held(), 128U); // the block went straight to the waiter

    EXPECT_EQ(drain(waiter_ioc), 1U);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(on_waiter);
    EXPECT_FALSE(on_holder);
    ASSERT_TRUE(got);
    EXPECT_EQ(address_of(got), block_b);
    EXPECT_EQ(pool.high_water(), 128U);
}

TEST(BufferPool, WaitersAreServedInFifoOrder) {
    buffer_pool pool(64, 64);
    net::io_context ioc;
    chunk held = pool.try_acquire();
    ASSERT_TRUE(held);

    std::vector<int> order;
    std::vector<chunk> got(5);
    for (int i = 0; i < 5; ++i) {
        pool.async_acquire(ioc.get_executor(), [&order, &got, i](chunk c) {
            order.push_back(i);
            got[static_cast<std::size_t>(i)] = std::move(c);
        });
        EXPECT_EQ(pool.waiting(), static_cast<std::size_t>(i) + 1);
    }
    EXPECT_EQ(drain(ioc), 0U);

    held.reset();
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(pool.waiting(), static_cast<std::size_t>(4 - i));
        EXPECT_EQ(drain(ioc), 1U) << i; // exactly one waiter per released block
        ASSERT_EQ(order.size(), static_cast<std::size_t>(i) + 1);
        EXPECT_EQ(order.back(), i);
        ASSERT_TRUE(got[static_cast<std::size_t>(i)]);
        got[static_cast<std::size_t>(i)].reset(); // passes it to the next waiter
    }
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(pool.waiting(), 0U);
    EXPECT_EQ(pool.bytes_held(), 0U);
    EXPECT_EQ(pool.high_water(), 64U);
}

TEST(BufferPool, FifoAcrossSeveralBlocksAndExecutors) {
    buffer_pool pool(8, 24);
    net::io_context ioc_a;
    net::io_context ioc_b;
    std::vector<chunk> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(pool.try_acquire());
    }
    std::vector<int> order;
    std::vector<chunk> got;
    auto waiter = [&](int id) {
        return [&order, &got, id](chunk c) {
            order.push_back(id);
            got.push_back(std::move(c));
        };
    };
    pool.async_acquire(ioc_b.get_executor(), waiter(0));
    pool.async_acquire(ioc_a.get_executor(), waiter(1));
    pool.async_acquire(ioc_b.get_executor(), waiter(2));
    pool.async_acquire(ioc_a.get_executor(), waiter(3));
    EXPECT_EQ(pool.waiting(), 4U);

    held.pop_back(); // -> waiter 0 on b
    EXPECT_EQ(drain(ioc_a), 0U);
    EXPECT_EQ(drain(ioc_b), 1U);
    EXPECT_EQ(order, (std::vector<int>{0}));

    held.pop_back(); // -> waiter 1 on a
    held.pop_back(); // -> waiter 2 on b
    EXPECT_EQ(pool.waiting(), 1U);
    EXPECT_EQ(drain(ioc_b), 1U);
    EXPECT_EQ(drain(ioc_a), 1U);
    EXPECT_EQ(order, (std::vector<int>{0, 2, 1})); // ran per executor, granted in FIFO order

    got.erase(got.begin()); // -> waiter 3 on a
    EXPECT_EQ(pool.waiting(), 0U);
    EXPECT_EQ(drain(ioc_a), 1U);
    EXPECT_EQ(order, (std::vector<int>{0, 2, 1, 3}));
    EXPECT_EQ(pool.bytes_held(), 24U);
    got.clear();
    EXPECT_EQ(pool.bytes_held(), 0U);
}

TEST(BufferPool, TryAcquireFailsWhileOthersWait) {
    buffer_pool pool(64, 128);
    net::io_context ioc;
    chunk a = pool.try_acquire();
    chunk b = pool.try_acquire();
    std::vector<chunk> got;
    for (int i = 0; i < 2; ++i) {
        pool.async_acquire(ioc.get_executor(), [&got](chunk c) { got.push_back(std::move(c)); });
    }
    EXPECT_EQ(pool.waiting(), 2U);

    // One block comes back: it belongs to the first waiter, not to whoever asks first.
    a.reset();
    EXPECT_EQ(pool.waiting(), 1U);
    EXPECT_FALSE(pool.try_acquire());
    EXPECT_EQ(pool.bytes_held(), 128U);

    // A newcomer on the async path queues behind the remaining waiter.
    int late_calls = 0;
    pool.async_acquire(ioc.get_executor(), [&](chunk c) {
        ++late_calls;
        got.push_back(std::move(c));
    });
    EXPECT_EQ(pool.waiting(), 2U);
    EXPECT_EQ(drain(ioc), 1U);
    EXPECT_EQ(late_calls, 0);
    ASSERT_EQ(got.size(), 1U);

    b.reset(); // second waiter
    EXPECT_FALSE(pool.try_acquire());
    EXPECT_EQ(drain(ioc), 1U);
    EXPECT_EQ(late_calls, 0);
    got.clear(); // first two blocks: one goes to the late waiter, one is free
    EXPECT_EQ(pool.waiting(), 0U);
    EXPECT_EQ(drain(ioc), 1U);
    EXPECT_EQ(late_calls, 1);
    // Nobody waits any more: try_acquire works again.
    chunk c = pool.try_acquire();
    EXPECT_TRUE(c);
    EXPECT_FALSE(pool.try_acquire());
}

TEST(BufferPool, TryAcquireWorksAgainOnceWaitersAreServed) {
    buffer_pool pool(64, 128);
    net::io_context ioc;
    chunk a = pool.try_acquire();
    chunk b = pool.try_acquire();
    chunk got;
    pool.async_acquire(ioc.get_executor(), [&](chunk c) { got = std::move(c); });
    a.reset();
    drain(ioc);
    ASSERT_TRUE(got);
    b.reset(); // no waiter: the block goes back to the free list
    EXPECT_EQ(pool.bytes_held(), 64U);
    EXPECT_TRUE(pool.try_acquire());
}

TEST(BufferPool, HandlerThatDropsChunkPassesBlockToNextWaiter) {
    buffer_pool pool(64, 64);
    net::io_context ioc;
    chunk held = pool.try_acquire();
    const void* block = address_of(held);

    std::vector<int> order;
    pool.async_acquire(ioc.get_executor(), [&](chunk c) {
        EXPECT_TRUE(c);
        order.push_back(0);
        // c dies here, unused
    });
    pool.async_acquire(ioc.get_executor(), [&](chunk c) {
        EXPECT_TRUE(c);
        order.push_back(1);
        c.reset(); // explicit release
    });
    chunk last;
    pool.async_acquire(ioc.get_executor(), [&](chunk c) {
        order.push_back(2);
        last = std::move(c);
    });
    EXPECT_EQ(pool.waiting(), 3U);

    held.reset();
    EXPECT_EQ(drain(ioc), 3U); // each drop posts the next grant
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(pool.waiting(), 0U);
    ASSERT_TRUE(last);
    EXPECT_EQ(address_of(last), block);
    EXPECT_EQ(pool.bytes_held(), 64U);
    EXPECT_EQ(pool.high_water(), 64U);
}

TEST(BufferPool, HandlerWithDeadOwnerDropsChunkAndBudgetComesBack) {
    struct owner {
        chunk kept;
    };
    buffer_pool pool(64, 64);
    net::io_context ioc;
    chunk held = pool.try_acquire();

    auto alive = std::make_shared<owner>();
    int ran = 0;
    pool.async_acquire(ioc.get_executor(), [&ran, weak = std::weak_ptr<owner>(alive)](chunk c) {
        ++ran;
        if (auto self = weak.lock()) {
            self->kept = std::move(c);
        }
    });
    alive.reset(); // the owner goes away while parked

    held.reset();
    EXPECT_EQ(pool.bytes_held(), 64U); // promised to the parked handler
    EXPECT_EQ(drain(ioc), 1U);
    EXPECT_EQ(ran, 1);
    EXPECT_EQ(pool.bytes_held(), 0U);
    EXPECT_EQ(pool.waiting(), 0U);
    EXPECT_TRUE(pool.try_acquire());
}

TEST(BufferPool, HandlerWithDeadOwnerPassesBlockOn) {
    struct owner {
        chunk kept;
    };
    buffer_pool pool(64, 64);
    net::io_context ioc;
    chunk held = pool.try_acquire();

    auto dead = std::make_shared<owner>();
    auto live = std::make_shared<owner>();
    auto handler_for = [](const std::shared_ptr<owner>& o) {
        return [weak = std::weak_ptr<owner>(o)](chunk c) {
            if (auto self = weak.lock()) {
                self->kept = std::move(c);
            }
        };
    };
    pool.async_acquire(ioc.get_executor(), handler_for(dead));
    pool.async_acquire(ioc.get_executor(), handler_for(live));
    dead.reset();

    held.reset();
    EXPECT_EQ(drain(ioc), 2U);
    EXPECT_TRUE(live->kept);
    EXPECT_EQ(pool.bytes_held(), 64U);
    live->kept.reset();
    EXPECT_EQ(pool.bytes_held(), 0U);
}

TEST(BufferPool, UnrunGrantIsReturnedWhenExecutorIsDestroyed) {
    buffer_pool pool(64, 128);
    {
        net::io_context ioc;
        int ran = 0;
        pool.async_acquire(ioc.get_executor(), [&](chunk) { ++ran; });
        EXPECT_EQ(pool.bytes_held(), 64U);
        // ioc dies with the grant still queued: destroying the handler drops the chunk.
        EXPECT_EQ(ran, 0);
    }
    EXPECT_EQ(pool.bytes_held(), 0U);
}

TEST(BufferPool, ChunkOutlivesHandlerWhenMovedOut) {
    buffer_pool pool(64, 64);
    net::io_context ioc;
    chunk outside;
    pool.async_acquire(ioc.get_executor(), [&](chunk c) {
        auto w = c.writable();
        std::memset(w.data(), 'x', 4);
        c.set_size(4);
        outside = std::move(c);
    });
    drain(ioc);
    ASSERT_TRUE(outside);
    EXPECT_EQ(outside.size(), 4U);
    EXPECT_EQ(static_cast<const char*>(outside.data().data())[3], 'x');
    EXPECT_EQ(pool.bytes_held(), 64U);
}

// ---------------------------------------------------------------------------------------------
// buffer_pool: threads

// Fills the block with `tag`, then checks no one else wrote into it meanwhile.
bool stamp_and_check(chunk& c, unsigned char tag) {
    auto w = c.writable();
    std::memset(w.data(), tag, w.size());
    c.set_size(w.size());
    const auto* p = static_cast<const unsigned char*>(c.data().data());
    return std::all_of(p, p + c.size(), [tag](unsigned char b) { return b == tag; });
}

TEST(BufferPool, ConcurrentAcquireReleaseKeepsBudget) {
    constexpr std::size_t block = 64;
    constexpr std::size_t blocks = 3; // fewer blocks than threads: waiters are common
    constexpr std::size_t limit = block * blocks;
    constexpr int threads = 4;
    constexpr int cycles = 10000;

    buffer_pool pool(block, limit);
    net::thread_pool workers(2);
    std::atomic<int> corrupted{0};
    std::atomic<int> over_budget{0};
    std::atomic<int> timeouts{0};
    std::atomic<int> granted_async{0};

    auto body = [&](unsigned char tag) {
        for (int i = 0; i < cycles; ++i) {
            if (pool.bytes_held() > limit) {
                over_budget.fetch_add(1);
            }
            chunk c = (i % 4 == 0) ? chunk{} : pool.try_acquire();
            if (c) {
                if (!stamp_and_check(c, tag)) {
                    corrupted.fetch_add(1);
                }
                continue; // released here, on this thread
            }
            auto done = std::make_shared<std::promise<chunk>>();
            auto fut = done->get_future();
            const bool keep_on_worker = (i % 3 == 0);
            pool.async_acquire(workers.get_executor(), [&corrupted, &granted_async, done,
                                                        keep_on_worker, tag](chunk g) {
                granted_async.fetch_add(1);
                if (!g) {
                    corrupted.fetch_add(1);
                }
                // Odd tag values: the worker stamps with its own tag so overlaps show up.
                const auto worker_tag = static_cast<unsigned char>(0x80U | tag);
                if (keep_on_worker) {
                    if (!stamp_and_check(g, worker_tag)) {
                        corrupted.fetch_add(1);
                    }
                    g.reset(); // released on a pool thread
                    done->set_value(chunk{});
                } else {
                    done->set_value(std::move(g)); // handed back to the requesting thread
                }
            });
            if (fut.wait_for(deadline) != std::future_status::ready) {
                timeouts.fetch_add(1);
                return;
            }
            chunk back = fut.get();
            if (back && !stamp_and_check(back, tag)) {
                corrupted.fetch_add(1);
            }
        }
    };

    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back(body, static_cast<unsigned char>(t + 1));
    }
    for (auto& t : ts) {
        t.join();
    }
    workers.join();

    EXPECT_EQ(timeouts.load(), 0);
    EXPECT_EQ(corrupted.load(), 0);
    EXPECT_EQ(over_budget.load(), 0);
    EXPECT_GT(granted_async.load(), 0);
    EXPECT_EQ(pool.bytes_held(), 0U);
    EXPECT_EQ(pool.waiting(), 0U);
    EXPECT_LE(pool.high_water(), limit);
    EXPECT_GT(pool.high_water(), 0U);
    // Every block is free again, and there are exactly `blocks` of them.
    std::vector<chunk> all;
    std::set<const void*> distinct;
    for (std::size_t i = 0; i < blocks; ++i) {
        all.push_back(pool.try_acquire());
        ASSERT_TRUE(all.back());
        distinct.insert(address_of(all.back()));
    }
    EXPECT_FALSE(pool.try_acquire());
    EXPECT_EQ(distinct.size(), blocks);
}

TEST(BufferPool, ConcurrentWaitersOnSingleBlockAllServed) {
    // One block, every request parks: each release hands the block to the next waiter on a
    // pool thread, and the handler drops it there, driving the chain.
    constexpr int threads = 4;
    constexpr int requests = 10000;
    buffer_pool pool(32, 32);
    net::thread_pool workers(4);
    std::atomic<int> served{0};
    std::atomic<int> bad{0};
    std::atomic<int> holders{0};

    auto body = [&] {
        for (int i = 0; i < requests; ++i) {
            pool.async_acquire(workers.get_executor(), [&](chunk c) {
                if (!c || holders.fetch_add(1) != 0) {
                    bad.fetch_add(1);
                }
                holders.fetch_sub(1);
                served.fetch_add(1);
            });
        }
    };
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back(body);
    }
    for (auto& t : ts) {
        t.join();
    }
    // Poll with a deadline until every handler has run.
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (served.load() < threads * requests && std::chrono::steady_clock::now() < until) {
        std::this_thread::yield();
    }
    workers.join();

    EXPECT_EQ(served.load(), threads * requests);
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(pool.bytes_held(), 0U);
    EXPECT_EQ(pool.waiting(), 0U);
    EXPECT_EQ(pool.high_water(), 32U);
}

// ---------------------------------------------------------------------------------------------
// buffer_pool: exhaustion episodes

// Records exhausted() each time the watcher runs, as the io thread of the service would.
// Like the service, it reads the level when it runs: changes that come before it runs are seen
// as their end result.
struct exhaustion_log {
    buffer_pool& pool;
    std::vector<bool> seen;

    exhaustion_log(buffer_pool& p, net::io_context& ioc) : pool(p) {
        pool.watch_exhaustion(ioc.get_executor(), [this] { seen.push_back(pool.exhausted()); });
    }
};

TEST(BufferPoolExhaustion, BeginsWhenAReaderParksNotWhenTheBudgetIsMerelySpent) {
    buffer_pool pool(64, 128);
    net::io_context ioc;
    exhaustion_log log(pool, ioc);
    chunk a = pool.try_acquire();
    chunk b = pool.try_acquire();
    EXPECT_FALSE(pool.try_acquire());
    EXPECT_FALSE(pool.exhausted()); // spent, but nobody waits yet
    EXPECT_EQ(drain(ioc), 0U);

    chunk got;
    pool.async_acquire(ioc.get_executor(), [&](chunk c) { got = std::move(c); });
    EXPECT_TRUE(pool.exhausted());
    EXPECT_EQ(drain(ioc), 1U);
    EXPECT_EQ(log.seen, std::vector<bool>{true});
}

TEST(BufferPoolExhaustion, EndsOnlyWhenABlockComesBackWithNobodyWaiting) {
    buffer_pool pool(64, 128);
    net::io_context ioc;
    exhaustion_log log(pool, ioc);
    chunk a = pool.try_acquire();
    chunk b = pool.try_acquire();
    chunk got;
    pool.async_acquire(ioc.get_executor(), [&](chunk c) { got = std::move(c); });

    // The block goes to the waiter: the budget is still spent, the episode goes on.
    a.reset();
    EXPECT_EQ(pool.waiting(), 0U);
    EXPECT_TRUE(pool.exhausted());
    drain(ioc);
    ASSERT_TRUE(got);
    EXPECT_EQ(log.seen, std::vector<bool>{true});

    // Now a block is free and nobody waits: room again, announced once.
    b.reset();
    EXPECT_FALSE(pool.exhausted());
    got.reset();
    EXPECT_EQ(drain(ioc), 1U);
    EXPECT_EQ(log.seen, (std::vector<bool>{true, false}));

    // A second episode is announced like the first.
    chunk c1 = pool.try_acquire();
    chunk c2 = pool.try_acquire();
    pool.async_acquire(ioc.get_executor(), [&](chunk c) { got = std::move(c); });
    c1.reset();
    drain(ioc);
    c2.reset();
    drain(ioc);
    EXPECT_EQ(log.seen, (std::vector<bool>{true, false, true, false}));
}

TEST(BufferPoolExhaustion, EndsOnceAQuarterOfALargerBudgetIsFree) {
    buffer_pool pool(64, 512); // 8 blocks: the episode ends with 2 free
    net::io_context ioc;
    exhaustion_log log(pool, ioc);
    std::vector<chunk> held;
    for (int i = 0; i < 8; ++i)
        held.push_back(pool.try_acquire());
    pool.async_acquire(ioc.get_executor(), [&](chunk c) { held.push_back(std::move(c)); });
    drain(ioc);
    held.erase(held.begin()); // to the waiter
    drain(ioc);
    ASSERT_EQ(held.size(), 8U);
    held.erase(held.begin()); // one free block: not yet
    EXPECT_TRUE(pool.exhausted());
    held.erase(held.begin()); // a quarter free
    EXPECT_FALSE(pool.exhausted());
    drain(ioc);
    EXPECT_EQ(log.seen, (std::vector<bool>{true, false}));
}

TEST(BufferPoolExhaustion, CancelledWaiterEndsTheEpisodeOnlyOnceThereIsRoom) {
    buffer_pool pool(64, 64);
    net::io_context ioc;
    exhaustion_log log(pool, ioc);
    chunk held = pool.try_acquire();
    const int owner = 0;
    pool.async_acquire(
        ioc.get_executor(), [](chunk) {}, &owner);
    pool.cancel(&owner);
    EXPECT_TRUE(pool.exhausted()); // nobody waits, but the budget has no free block
    drain(ioc);
    held.reset();
    EXPECT_FALSE(pool.exhausted());
    drain(ioc);
    EXPECT_EQ(log.seen, (std::vector<bool>{true, false}));
}

TEST(BufferPoolExhaustion, WithoutAWatcherNothingIsPosted) {
    buffer_pool pool(64, 64);
    net::io_context ioc;
    chunk held = pool.try_acquire();
    chunk got;
    pool.async_acquire(ioc.get_executor(), [&](chunk c) { got = std::move(c); });
    EXPECT_TRUE(pool.exhausted());
    held.reset();
    EXPECT_EQ(drain(ioc), 1U); // only the grant
    got.reset();
    EXPECT_FALSE(pool.exhausted());
}

} // namespace
} // namespace funnel
