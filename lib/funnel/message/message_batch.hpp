#pragma once
// message_batch: whole messages on their way to the target, as spans of the chunks they were
// read into, with their framing bytes. A batch begins and ends at message boundaries, so
// writing its spans in order writes whole messages, and the payload is never copied. Framing
// bytes that were not contiguous with their payload in the chunk (a '\n' at the start of the
// next read, a length prefix split across reads) come from the batch's own small storage.
//
// Thread-safety: a batch is owned by one strand at a time; the bytes its spans cover are never
// written again (message_framer may fill a shared block only past every span in it).

#include "funnel/buffer/chunk.hpp"
#include "funnel/framing/framing.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace funnel {

struct message_batch {
    struct span {
        std::shared_ptr<const chunk> block; // keeps the bytes and their share of the budget
        const std::byte* data = nullptr;
        std::size_t length = 0;
    };

    // Appends bytes of `block` (null for bytes the batch owns); extends the last span when they
    // follow it in memory, so that many small messages of one read become one span.
    void add(const std::shared_ptr<const chunk>& block, const std::byte* data, std::size_t length) {
        bytes += length;
        if (!spans.empty() && spans.back().block == block &&
            spans.back().data + spans.back().length == data) {
            spans.back().length += length;
            return;
        }
        spans.push_back({block, data, length});
    }
    // Storage for framing bytes that must be written but are not in any chunk; stable addresses.
    // Bytes the batch keeps itself (a rebuilt length prefix, the copied start of a message);
    // their address stays valid as long as the batch, moved or not.
    const std::byte* own(std::string bytes_to_keep) {
        if (!owned)
            owned = std::make_unique<std::deque<std::string>>();
        owned->push_back(std::move(bytes_to_keep));
        return reinterpret_cast<const std::byte*>(owned->back().data());
    }
    bool empty() const { return spans.empty(); }

    // Drops the messages that lie wholly within the first `acknowledged` bytes:
    // after a broken connection, what the target's kernel took need not be sent again, and a
    // resend must start at a message boundary. Returns how many messages were dropped.
    std::size_t drop_acknowledged(std::size_t acknowledged, framing f);

    std::vector<span> spans;
    // Allocated only when needed: most batches own no bytes.
    std::unique_ptr<std::deque<std::string>> owned;
    std::size_t bytes = 0;
    std::size_t messages = 0;
    // When the client read that completed these messages did (they are the messages of one
    // read): where funnel_forward_latency_seconds starts.
    std::chrono::steady_clock::time_point arrived{};
    // Read back from the link's disk spool: acknowledged there once the target has it.
    bool from_spool = false;
};

} // namespace funnel
