#include "funnel/buffer/buffer_pool.hpp"

#include "funnel/buffer/client_budget.hpp"

#include <boost/assert.hpp>

#include <algorithm>

namespace funnel {

std::size_t chunk::capacity() const {
    return pool_ ? pool_->block_size() : 0;
}

void chunk::reset() {
    if (block_)
        std::exchange(pool_, nullptr)->release(std::exchange(block_, nullptr));
    // After the pool: a reader this wakes finds the block free. The release may drop the last
    // reference to the session (its wake-up's lock), destroying it here, on a link strand.
    if (budget_)
        std::exchange(budget_, nullptr)->release();
    size_ = 0;
}

void chunk::charge_to(std::shared_ptr<client_budget> budget) {
    BOOST_ASSERT(block_ && !budget_ && budget);
    budget->charge();
    budget_ = std::move(budget);
}

buffer_pool::buffer_pool(std::size_t block_size, std::size_t byte_limit)
    : block_size_(block_size), byte_limit_(byte_limit),
      low_water_(byte_limit_ - std::min(byte_limit_, std::max(block_size_, byte_limit_ / 4))) {
    BOOST_ASSERT(block_size_ > 0 && byte_limit_ >= block_size_);
}

buffer_pool::~buffer_pool() {
    BOOST_ASSERT(used_ == 0);
}

chunk buffer_pool::grant_locked() {
    std::byte* block = take_block_locked(); // first: it may allocate, and so throw
    charge_locked();
    return chunk(block, this);
}

void buffer_pool::charge_locked() {
    used_ += block_size_;
    bytes_held_.store(used_, std::memory_order_relaxed);
    if (used_ > high_water_.load(std::memory_order_relaxed))
        high_water_.store(used_, std::memory_order_relaxed);
}

std::byte* buffer_pool::take_block_locked() {
    if (!free_.empty()) {
        std::byte* block = free_.back();
        free_.pop_back();
        return block;
    }
    // Allocation under the lock happens only while the pool grows towards its limit;
    // afterwards every block is recycled.
    blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(block_size_));
    free_.reserve(blocks_.size());
    return blocks_.back().get();
}

bool buffer_pool::update_exhausted_locked() {
    const bool now =
        !waiters_.empty() || (exhausted_.load(std::memory_order_relaxed) && used_ > low_water_);
    return exhausted_.exchange(now, std::memory_order_relaxed) != now;
}

void buffer_pool::watch_exhaustion(net::any_io_executor ex, std::function<void()> on_change) {
    watcher_ex_ = std::move(ex);
    on_exhaustion_change_ = std::move(on_change);
}

void buffer_pool::notify_exhaustion_change() {
    if (on_exhaustion_change_)
        net::post(watcher_ex_, [this] { on_exhaustion_change_(); });
}

chunk buffer_pool::try_acquire() {
    std::lock_guard lock(mutex_);
    if (!waiters_.empty() || used_ + block_size_ > byte_limit_)
        return {};
    return grant_locked();
}

void buffer_pool::async_acquire(net::any_io_executor ex, std::function<void(chunk)> handler,
                                const void* owner) {
    std::unique_lock lock(mutex_);
    if (waiters_.empty() && used_ + block_size_ <= byte_limit_) {
        chunk granted = grant_locked();
        lock.unlock();
        net::post(ex,
                  [h = std::move(handler), c = std::move(granted)]() mutable { h(std::move(c)); });
        return;
    }
    waiters_.push_back({std::move(ex), std::move(handler), owner});
    waiting_.store(waiters_.size(), std::memory_order_relaxed);
    const bool changed = update_exhausted_locked();
    lock.unlock();
    if (changed)
        notify_exhaustion_change();
}

void buffer_pool::cancel(const void* owner) {
    std::deque<waiter> cancelled;
    bool changed = false;
    {
        std::lock_guard lock(mutex_);
        for (auto it = waiters_.begin(); it != waiters_.end();) {
            if (it->owner == owner) {
                cancelled.push_back(std::move(*it));
                it = waiters_.erase(it);
            } else {
                ++it;
            }
        }
        waiting_.store(waiters_.size(), std::memory_order_relaxed);
        changed = update_exhausted_locked();
    }
    if (changed)
        notify_exhaustion_change();
    // Destroyed here, unlocked: a handler may hold the last reference to its owner, whose
    // destructor gives chunks back to this pool.
}

void buffer_pool::release(std::byte* block) {
    std::unique_lock lock(mutex_);
    BOOST_ASSERT(used_ >= block_size_);
    free_.push_back(block);
    used_ -= block_size_;
    bytes_held_.store(used_, std::memory_order_relaxed);
    if (waiters_.empty()) {
        const bool changed = update_exhausted_locked();
        lock.unlock();
        if (changed)
            notify_exhaustion_change();
        return;
    }
    // One block came back, so at most one waiter can be served.
    chunk granted = grant_locked();
    waiter next = std::move(waiters_.front());
    waiters_.pop_front();
    waiting_.store(waiters_.size(), std::memory_order_relaxed);
    const bool changed = update_exhausted_locked();
    lock.unlock();
    if (changed)
        notify_exhaustion_change();
    net::post(next.ex,
              [h = std::move(next.handler), c = std::move(granted)]() mutable { h(std::move(c)); });
}

} // namespace funnel
