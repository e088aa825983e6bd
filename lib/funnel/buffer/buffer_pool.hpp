#pragma once
// buffer_pool: fixed-size blocks, recycled, under a byte budget.
//
// Every byte funnel holds for a peer sits in a block of a pool, so the budget is the bound on
// that memory. When it is spent, try_acquire() fails and a reader parks with async_acquire();
// the block is handed to the longest-waiting reader when one comes back (FIFO, so a busy client
// cannot starve a quiet one), and its handler is posted to the reader's own executor.
//
// Exhaustion is an episode: it begins when a reader parks and ends once nobody waits and a
// quarter of the budget (at least one block) is free again, not merely the next waiter served:
// a budget hovering at its limit would otherwise end and begin an episode per block. A
// watcher learns of each change by a post and reads exhausted(); reading the level rather than
// being handed it keeps two changes posted from different threads from arriving out of order.
//
// Thread-safety: every member may be called from any thread. The one mutex is held for a few
// pointer moves, never across a handler or an allocation.
// Lifetime: the pool must outlive every chunk and every pending async_acquire.

#include "funnel/buffer/chunk.hpp"
#include "funnel/net.hpp"

#include <boost/asio/post.hpp>

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace funnel {

class buffer_pool {
public:
    buffer_pool(std::size_t block_size, std::size_t byte_limit);
    ~buffer_pool();
    buffer_pool(const buffer_pool&) = delete;
    buffer_pool& operator=(const buffer_pool&) = delete;

    // An empty chunk when the budget is spent or others are already waiting.
    chunk try_acquire();

    // Calls `handler(chunk)` on `ex` as soon as a block is free. A handler dropping the chunk
    // returns it. `owner` names the waiter for cancel().
    void async_acquire(net::any_io_executor ex, std::function<void(chunk)> handler,
                       const void* owner = nullptr);
    // Forgets the waiters of `owner`: their handlers are destroyed without being called.
    void cancel(const void* owner);

    // Posts `on_change` to `ex` each time exhausted() changes. Call once, before the pool is
    // shared with other threads; `on_change` must stay callable as long as the pool lives.
    void watch_exhaustion(net::any_io_executor ex, std::function<void()> on_change);
    bool exhausted() const { return exhausted_.load(std::memory_order_relaxed); }

    std::size_t block_size() const { return block_size_; }
    std::size_t byte_limit() const { return byte_limit_; }
    std::size_t bytes_held() const { return bytes_held_.load(std::memory_order_relaxed); }
    std::size_t high_water() const { return high_water_.load(std::memory_order_relaxed); }
    std::size_t waiting() const { return waiting_.load(std::memory_order_relaxed); }

private:
    friend class chunk;
    struct waiter {
        net::any_io_executor ex;
        std::function<void(chunk)> handler;
        const void* owner;
    };

    void release(std::byte* block);
    chunk grant_locked(); // a block, charged to the budget
    std::byte* take_block_locked();
    void charge_locked();
    // Updates exhausted_ after waiters_ or used_ changed; true when it changed.
    bool update_exhausted_locked();
    void notify_exhaustion_change();

    const std::size_t block_size_;
    const std::size_t byte_limit_;
    const std::size_t low_water_; // an exhaustion episode ends at or below this many bytes held
    std::mutex mutex_;
    std::size_t used_ = 0;
    std::vector<std::unique_ptr<std::byte[]>> blocks_; // owns every block ever allocated
    std::vector<std::byte*> free_;
    std::deque<waiter> waiters_;
    std::atomic<std::size_t> bytes_held_{0};
    std::atomic<std::size_t> high_water_{0};
    std::atomic<std::size_t> waiting_{0};
    std::atomic<bool> exhausted_{false}; // written under mutex_
    net::any_io_executor watcher_ex_;
    std::function<void()> on_exhaustion_change_;
};

} // namespace funnel
