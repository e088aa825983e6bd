#pragma once
// message_batch: whole messages on their way to the target, as spans of the chunks they were
// read into. A batch begins and ends at message boundaries and carries the messages' framing
// bytes too (the target gets the framing the client used), so writing its spans in order is
// writing the messages, and nothing is copied.
//
// Thread-safety: a batch is owned by one strand at a time; the chunks it shares are immutable.

#include "funnel/buffer/chunk.hpp"

#include <cstddef>
#include <memory>
#include <vector>

namespace funnel {

struct message_batch {
    struct span {
        std::shared_ptr<const chunk> block; // keeps the bytes, and their share of the budget
        std::size_t offset = 0;
        std::size_t length = 0;
    };

    void add(std::shared_ptr<const chunk> block, std::size_t offset, std::size_t length) {
        bytes += length;
        spans.push_back({std::move(block), offset, length});
    }
    bool empty() const { return spans.empty(); }

    std::vector<span> spans;
    std::size_t bytes = 0;
    std::size_t messages = 0;
};

} // namespace funnel
