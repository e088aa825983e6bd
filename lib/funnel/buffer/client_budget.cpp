#include "funnel/buffer/client_budget.hpp"

#include <boost/assert.hpp>

#include <algorithm>
#include <utility>

namespace funnel {

client_budget::client_budget(std::size_t limit, std::size_t block_size,
                             std::function<void()> on_room)
    : block_size_(block_size), most_(std::max<std::size_t>(1, limit / block_size) * block_size),
      on_room_(std::move(on_room)) {
    BOOST_ASSERT(block_size_ > 0);
}

void client_budget::charge() {
    held_.fetch_add(block_size_);
}

void client_budget::release() {
    const std::size_t before = held_.fetch_sub(block_size_);
    BOOST_ASSERT(before >= block_size_);
    // Blocks come back one at a time, so exactly one release takes held from most_ to below it
    // each time it comes down (a reader let past most_ reaches it on the way back).
    if (before == most_ && on_room_)
        on_room_();
}

} // namespace funnel
