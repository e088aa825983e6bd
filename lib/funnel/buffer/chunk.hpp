#pragma once
// A chunk: one block of a buffer_pool and how many of its bytes hold data.
//
// Move-only: a chunk passes from the reader to the writer by ownership, never by copy.
// Destroying it gives the block back to its pool, from any thread.
//
// A chunk read from a socket carries the steady_clock time its read completed (arrived()), the
// start of funnel_forward_latency_seconds.

#include <boost/asio/buffer.hpp>
#include <boost/assert.hpp>

#include <chrono>
#include <cstddef>
#include <utility>

namespace funnel {

class buffer_pool;

class chunk {
public:
    chunk() = default;
    using time_point = std::chrono::steady_clock::time_point;

    chunk(chunk&& other) noexcept
        : block_(std::exchange(other.block_, nullptr)), size_(std::exchange(other.size_, 0)),
          pool_(std::exchange(other.pool_, nullptr)), arrived_(other.arrived_) {}
    chunk& operator=(chunk&& other) noexcept {
        if (this != &other) {
            reset();
            block_ = std::exchange(other.block_, nullptr);
            size_ = std::exchange(other.size_, 0);
            pool_ = std::exchange(other.pool_, nullptr);
            arrived_ = other.arrived_;
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

    void reset();

private:
    friend class buffer_pool;
    chunk(std::byte* block, buffer_pool* pool) : block_(block), pool_(pool) {}

    std::byte* block_ = nullptr;
    std::size_t size_ = 0;
    buffer_pool* pool_ = nullptr;
    time_point arrived_{};
};

} // namespace funnel
