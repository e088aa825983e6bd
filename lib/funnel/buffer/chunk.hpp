#pragma once
// A chunk: one block of a buffer_pool and how many of its bytes hold data.
//
// Move-only: a chunk passes from the reader to the writer by ownership, never by copy. Its
// bytes up to size() are never written again once it is handed over; the ones after may be
// (message_framer grows an unfinished message into them).
// Destroying it gives the block back to its pool, from any thread.
//
// A chunk read from a socket carries the steady_clock time its read completed (arrived()), the
// start of funnel_forward_latency_seconds.
//
// With --client-buffer-limit, a chunk read for a client is also charged to that client's
// client_budget (charge_to()), and giving the block back gives it back there as well.

#include <boost/asio/buffer.hpp>
#include <boost/assert.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>

namespace funnel {

class buffer_pool;
class client_budget;

class chunk {
public:
    chunk() = default;
    using time_point = std::chrono::steady_clock::time_point;

    chunk(chunk&& other) noexcept
        : block_(std::exchange(other.block_, nullptr)), size_(std::exchange(other.size_, 0)),
          pool_(std::exchange(other.pool_, nullptr)), arrived_(other.arrived_),
          budget_(std::move(other.budget_)) {}
    chunk& operator=(chunk&& other) noexcept {
        if (this != &other) {
            reset();
            block_ = std::exchange(other.block_, nullptr);
            size_ = std::exchange(other.size_, 0);
            pool_ = std::exchange(other.pool_, nullptr);
            arrived_ = other.arrived_;
            budget_ = std::move(other.budget_);
        }
        return *this;
    }
    chunk(const chunk&) = delete;
    chunk& operator=(const chunk&) = delete;
    ~chunk() { reset(); }

    explicit operator bool() const { return block_ != nullptr; }
    std::size_t size() const { return size_; }
    std::size_t capacity() const;

    // The whole block, to read into; then set_size() to what the read returned.
    boost::asio::mutable_buffer writable() { return {block_, capacity()}; }
    void set_size(std::size_t n) {
        BOOST_ASSERT(n <= capacity());
        size_ = n;
    }
    boost::asio::const_buffer data() const { return {block_, size_}; }
    // When the read that filled it completed; set by chunk_reader.
    time_point arrived() const { return arrived_; }
    void set_arrived(time_point t) { arrived_ = t; }
    // Charges the block to `budget` (client_budget::charge) until the chunk gives it back; on
    // the executor of the budget's reader, once per chunk.
    void charge_to(std::shared_ptr<client_budget> budget);

    void reset();

private:
    friend class buffer_pool;
    chunk(std::byte* block, buffer_pool* pool) : block_(block), pool_(pool) {}

    std::byte* block_ = nullptr;
    std::size_t size_ = 0;
    buffer_pool* pool_ = nullptr;
    time_point arrived_{};
    std::shared_ptr<client_budget> budget_; // null unless charged to a client
};

} // namespace funnel
