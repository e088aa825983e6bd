#include "funnel/message/message_framer.hpp"

#include <cstring>
#include <utility>

namespace funnel {

namespace {

constexpr std::byte newline{'\n'};

const std::byte* bytes_of(const chunk& c) {
    return static_cast<const std::byte*>(c.data().data());
}

} // namespace

struct message_framer::handler {
    message_framer& framer;
    const std::shared_ptr<const chunk>& block;
    fed& out;

    void on_payload(frame_segment s) { framer.partial_.push_back({block, s}); }
    void on_message_end(std::size_t length) { framer.complete_message(out.batch, length); }
    void on_oversize(std::size_t length) {
        framer.drop_partial();
        ++out.oversize;
        out.oversize_length = length;
    }
};

message_framer::fed message_framer::feed(const std::shared_ptr<const chunk>& block) {
    fed out;
    out.batch.arrived = block->arrived();
    handler h{*this, block, out};
    out.open = decoder_.feed(std::span<const std::byte>(bytes_of(*block), block->size()), h);
    if (out.open) {
        fold_into_previous_block(block);
        carry_small_partial();
    } else
        drop_partial();
    return out;
}

message_framer::ended message_framer::finish(bool clean) {
    ended out;
    const auto left = decoder_.at_eof();
    if (left.kind == frame_decoder::eof_kind::partial_message && clean &&
        decoder_.framing_kind() == framing::line && (!partial_.empty() || !carry_.empty())) {
        complete_message(out.batch, left.bytes);
    } else if (left.kind == frame_decoder::eof_kind::partial_message ||
               left.kind == frame_decoder::eof_kind::partial_header) {
        out.truncated = true;
        out.truncated_bytes = left.bytes;
    }
    drop_partial();
    return out;
}

void message_framer::complete_message(message_batch& batch, std::size_t length) {
    const bool length_framed = decoder_.framing_kind() == framing::length;
    if (length_framed) {
        // The prefix is still in front of the payload unless the read was split inside it.
        const piece* first = partial_.empty() || !carry_.empty() ? nullptr : &partial_.front();
        if (first && first->segment.offset >= 4) {
            batch.add(first->block, bytes_of(*first->block) + first->segment.offset - 4, 4);
        } else {
            const auto n = static_cast<std::uint32_t>(length);
            const char prefix[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                                    static_cast<char>(n >> 8), static_cast<char>(n)};
            batch.add(nullptr, batch.own(std::string(prefix, 4)), 4);
        }
    }
    if (!carry_.empty()) {
        const std::size_t carried = carry_.size();
        batch.add(nullptr, batch.own(std::exchange(carry_, {})), carried);
    }
    for (const piece& p : partial_)
        batch.add(p.block, bytes_of(*p.block) + p.segment.offset, p.segment.length);
    if (!length_framed) {
        // The '\n' follows the payload in the same chunk unless the read ended right before it.
        const piece* last = partial_.empty() ? nullptr : &partial_.back();
        const std::size_t end = last ? last->segment.offset + last->segment.length : 0;
        if (last && end < last->block->size())
            batch.add(last->block, bytes_of(*last->block) + end, 1);
        else
            batch.add(nullptr, &newline, 1);
    }
    ++batch.messages;
    ++messages_;
    partial_.clear();
}

std::size_t message_framer::pinned_blocks() const {
    std::size_t blocks = 0;
    const chunk* last = nullptr;
    for (const piece& p : partial_) // a block's pieces are next to each other
        if (std::exchange(last, p.block.get()) != p.block.get())
            ++blocks;
    return blocks;
}

void message_framer::fold_into_previous_block(const std::shared_ptr<const chunk>& block) {
    if (partial_.size() < 2)
        return;
    const piece& read = partial_.back();
    piece& previous = partial_[partial_.size() - 2];
    const std::size_t end = previous.segment.offset + previous.segment.length;
    const bool only_this_message =
        read.block == block && read.segment.offset == 0 && read.segment.length == block->size();
    if (!only_this_message || previous.block == block ||
        end + block->size() > previous.block->capacity())
        return;
    // The previous piece ends where its block's written bytes end (its message went on past
    // them), and nothing but this message may grow into the rest of that block: the batches
    // that share it read only the bytes before. So writing there races with nobody.
    std::memcpy(const_cast<std::byte*>(bytes_of(*previous.block)) + end, bytes_of(*block),
                block->size());
    previous.segment.length += block->size();
    partial_.pop_back(); // the read's own block goes back as soon as the caller lets go of it
}

void message_framer::carry_small_partial() {
    std::size_t bytes = carry_.size();
    for (const piece& p : partial_)
        bytes += p.segment.length;
    if (partial_.empty() || bytes > carry_limit)
        return;
    for (const piece& p : partial_)
        carry_.append(reinterpret_cast<const char*>(bytes_of(*p.block) + p.segment.offset),
                      p.segment.length);
    partial_.clear();
}

void message_framer::drop_partial() {
    partial_.clear();
    carry_.clear();
}

} // namespace funnel
