#include "funnel/message/message_batch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace funnel {
namespace {

// A batch over `wire`, cut into spans at `cuts`.
message_batch batch_over(const std::string& wire, const std::vector<std::size_t>& cuts,
                         std::size_t messages) {
    message_batch b;
    std::size_t from = 0;
    auto add = [&](std::size_t to) {
        if (to > from)
            b.spans.push_back(
                {nullptr, reinterpret_cast<const std::byte*>(wire.data()) + from, to - from});
        from = to;
    };
    for (auto c : cuts)
        add(c);
    add(wire.size());
    b.bytes = wire.size();
    b.messages = messages;
    return b;
}

std::string contents(const message_batch& b) {
    std::string out;
    for (const auto& s : b.spans)
        out.append(reinterpret_cast<const char*>(s.data), s.length);
    return out;
}

// Checks every acknowledged count against the message ends: what stays is everything from the
// first message not wholly acknowledged.
void check_every_offset(const std::string& wire, const std::vector<std::size_t>& message_ends,
                        framing f) {
    for (std::size_t cut = 0; cut <= wire.size(); ++cut)
        for (std::size_t acked = 0; acked < wire.size(); ++acked) {
            auto b = batch_over(wire, {cut}, message_ends.size());
            std::size_t whole = 0, boundary = 0;
            for (auto end : message_ends)
                if (end <= acked) {
                    ++whole;
                    boundary = end;
                }
            EXPECT_EQ(b.drop_acknowledged(acked, f), whole) << "acked " << acked;
            EXPECT_EQ(contents(b), wire.substr(boundary)) << "acked " << acked << " cut " << cut;
            EXPECT_EQ(b.bytes, wire.size() - boundary);
            EXPECT_EQ(b.messages, message_ends.size() - whole);
        }
}

TEST(MessageBatch, DropAcknowledgedKeepsWholeMessagesLineFramed) {
    check_every_offset("aa\nbbb\n\ncccc\n", {3, 7, 8, 13}, framing::line);
}

TEST(MessageBatch, DropAcknowledgedKeepsWholeMessagesLengthFramed) {
    const std::string wire = std::string("\0\0\0\2ab\0\0\0\0\0\0\0\3xyz", 17);
    check_every_offset(wire, {6, 10, 17}, framing::length);
}

TEST(MessageBatch, NothingAcknowledgedDropsNothing) {
    const std::string wire = "one\ntwo\n";
    auto b = batch_over(wire, {2, 5}, 2);
    EXPECT_EQ(b.drop_acknowledged(0, framing::line), 0u);
    EXPECT_EQ(contents(b), wire);
}

} // namespace
} // namespace funnel
