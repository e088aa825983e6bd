#include "funnel/message/message_batch.hpp"

#include <algorithm>
#include <cstring>

namespace funnel {

namespace {

// Reads the batch's bytes in order, across its spans.
class batch_cursor {
public:
    explicit batch_cursor(const std::vector<message_batch::span>& spans) : spans_(spans) {}

    std::size_t position() const { return position_; }
    bool at_end() const { return index_ == spans_.size(); }
    std::byte next() {
        const std::byte b = spans_[index_].data[offset_];
        advance(1);
        return b;
    }
    // Moves just past the next `b`, or to the end.
    void skip_past(std::byte b) {
        while (!at_end()) {
            const auto& s = spans_[index_];
            const auto* from = s.data + offset_;
            const auto* hit = static_cast<const std::byte*>(
                std::memchr(from, std::to_integer<int>(b), s.length - offset_));
            if (hit) {
                advance(static_cast<std::size_t>(hit - from) + 1);
                return;
            }
            advance(s.length - offset_);
        }
    }
    void advance(std::size_t n) {
        while (n > 0 && index_ < spans_.size()) {
            const std::size_t step = std::min(n, spans_[index_].length - offset_);
            offset_ += step;
            position_ += step;
            n -= step;
            if (offset_ == spans_[index_].length) {
                ++index_;
                offset_ = 0;
            }
        }
    }

private:
    const std::vector<message_batch::span>& spans_;
    std::size_t index_ = 0;
    std::size_t offset_ = 0;
    std::size_t position_ = 0;
};

} // namespace

std::size_t message_batch::drop_acknowledged(std::size_t acknowledged, framing f) {
    if (acknowledged == 0)
        return 0;
    // Walk message by message; a message goes only if every byte of it was acknowledged.
    batch_cursor cursor(spans);
    std::size_t dropped = 0;
    std::size_t cut = 0;
    while (!cursor.at_end()) {
        if (f == framing::line) {
            cursor.skip_past(std::byte{'\n'});
        } else {
            std::uint32_t length = 0;
            for (int i = 0; i < 4 && !cursor.at_end(); ++i)
                length = (length << 8) | std::to_integer<std::uint32_t>(cursor.next());
            cursor.advance(length);
        }
        if (cursor.position() > acknowledged)
            break;
        cut = cursor.position();
        ++dropped;
    }
    bytes -= cut;
    messages -= std::min(messages, dropped);
    auto first = spans.begin();
    while (first != spans.end() && cut >= first->length) {
        cut -= first->length;
        ++first;
    }
    spans.erase(spans.begin(), first);
    if (cut > 0 && !spans.empty()) {
        spans.front().data += cut;
        spans.front().length -= cut;
    }
    return dropped;
}

} // namespace funnel
