#include "funnel/buffer/buffer_pool.hpp"
#include "funnel/message/message_framer.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace funnel {
namespace {

std::string contents(const message_batch& b) {
    std::string out;
    for (const auto& s : b.spans)
        out.append(reinterpret_cast<const char*>(s.data), s.length);
    return out;
}

// Feeds `wire` to a framer in reads cut at `cuts`, as chunk_reader would hand them over, and
// collects what it forwards.
struct framed_stream {
    framed_stream(framing f, std::size_t max_message = 64,
                  oversize_policy p = oversize_policy::skip)
        : framer(f, max_message, p) {}

    void feed(const std::string& wire, const std::vector<std::size_t>& cuts) {
        std::size_t from = 0;
        auto read = [&](std::size_t to) {
            chunk c = pool.try_acquire();
            ASSERT_TRUE(c);
            ASSERT_LE(to - from, c.capacity()) << "a read larger than a block";
            std::memcpy(c.writable().data(), wire.data() + from, to - from);
            c.set_size(to - from);
            from = to;
            auto out = framer.feed(std::make_shared<const chunk>(std::move(c)));
            take(out.batch);
            oversize += out.oversize;
            open = out.open;
        };
        for (auto c : cuts)
            read(c);
        read(wire.size());
    }
    void take(const message_batch& b) {
        forwarded += contents(b);
        messages += b.messages;
    }

    buffer_pool pool{4096, 1 << 20};
    message_framer framer;
    std::string forwarded;
    std::size_t messages = 0;
    std::size_t oversize = 0;
    bool open = true;
};

TEST(MessageFramer, WholeMessagesPassUnchangedWhereverTheReadsAreCut) {
    const std::string lines = "alpha\nbe\n\ngamma delta\n";
    for (std::size_t cut = 0; cut <= lines.size(); ++cut) {
        framed_stream s(framing::line);
        s.feed(lines, {cut});
        EXPECT_EQ(s.forwarded, lines) << "cut at " << cut;
        EXPECT_EQ(s.messages, 4u);
    }
    const std::string frames = std::string("\0\0\0\3abc\0\0\0\0\0\0\0\2xy", 17);
    for (std::size_t a = 0; a <= frames.size(); ++a)
        for (std::size_t b = a; b <= frames.size(); ++b) {
            framed_stream s(framing::length);
            s.feed(frames, {a, b});
            EXPECT_EQ(s.forwarded, frames) << "cuts at " << a << ", " << b;
            EXPECT_EQ(s.messages, 3u);
        }
}

TEST(MessageFramer, ABatchHoldsOnlyMessagesItsChunkCompleted) {
    framed_stream s(framing::line);
    s.feed("one\ntw", {});
    EXPECT_EQ(s.forwarded, "one\n");
    s.feed("o\n", {});
    EXPECT_EQ(s.forwarded, "one\ntwo\n");
}

TEST(MessageFramer, OversizeMessagesAreDroppedAndCountedTheOthersGoOn) {
    framed_stream s(framing::line, 4);
    s.feed("ok\ntoolong\nfine\n", {5});
    EXPECT_EQ(s.forwarded, "ok\nfine\n");
    EXPECT_EQ(s.oversize, 1u);
    EXPECT_TRUE(s.open);
}

TEST(MessageFramer, TheClosePolicyEndsTheStream) {
    framed_stream s(framing::line, 4, oversize_policy::close);
    s.feed("ok\ntoolong\nfine\n", {});
    EXPECT_EQ(s.forwarded, "ok\n");
    EXPECT_FALSE(s.open);
}

TEST(MessageFramer, ALastLineWithoutNewlineIsCompletedOnACleanEnd) {
    framed_stream s(framing::line);
    s.feed("one\ntwo", {5});
    auto end = s.framer.finish(true);
    s.take(end.batch);
    EXPECT_EQ(s.forwarded, "one\ntwo\n");
    EXPECT_FALSE(end.truncated);
}

TEST(MessageFramer, ALastLineIsDroppedWhenTheClientFailed) {
    framed_stream s(framing::line);
    s.feed("one\ntwo", {});
    auto end = s.framer.finish(false);
    EXPECT_TRUE(end.batch.empty());
    EXPECT_TRUE(end.truncated);
    EXPECT_EQ(end.truncated_bytes, 3u);
    EXPECT_EQ(s.forwarded, "one\n");
}

TEST(MessageFramer, ALengthFrameCutShortIsTruncatedNotForwarded) {
    framed_stream s(framing::length);
    s.feed(std::string("\0\0\0\5ab", 6), {});
    auto end = s.framer.finish(true);
    EXPECT_TRUE(end.batch.empty());
    EXPECT_TRUE(end.truncated);
    EXPECT_EQ(s.forwarded, "");
}

TEST(MessageFramer, ShortUnfinishedMessagesDoNotHoldTheirReadBuffer) {
    framed_stream s(framing::line);
    s.feed("a partial line", {});
    EXPECT_EQ(s.pool.bytes_held(), 0u); // copied out: the block went back to the pool
    s.feed(" ends here\n", {});
    EXPECT_EQ(s.forwarded, "a partial line ends here\n");
}

// Past carry_limit, a read that holds only more of the unfinished message is copied into the
// end of the block before it where it fits, and its own block goes back: the message holds
// about its size in blocks, however small its reads (this pool's blocks are 4 KiB).
TEST(MessageFramer, AnUnfinishedMessageInSmallReadsHoldsAboutItsSizeInBlocks) {
    framed_stream s(framing::line, 1 << 20);
    std::string expected = std::string(3000, 'x');
    s.feed("done\n" + expected, {}); // copied out
    EXPECT_EQ(s.framer.pinned_blocks(), 0u);
    s.feed(std::string(1200, 'x'), {}); // now over carry_limit: kept in its block
    expected += std::string(1200, 'x');
    EXPECT_EQ(s.framer.pinned_blocks(), 1u);
    for (char c = 'a'; c < 'a' + 28; ++c) { // 28 x 100 bytes: 4000 in the first block
        s.feed(std::string(100, c), {});
        expected += std::string(100, c);
        EXPECT_EQ(s.framer.pinned_blocks(), 1u) << "after " << c;
        EXPECT_EQ(s.pool.bytes_held(), 4096u) << "after " << c; // each read's block went back
    }
    s.feed(std::string(100, 'z'), {}); // 4100 bytes do not fit: a block of its own
    expected += std::string(100, 'z');
    EXPECT_EQ(s.framer.pinned_blocks(), 2u);
    s.feed("!", {});
    expected += "!";
    EXPECT_EQ(s.framer.pinned_blocks(), 2u);
    s.feed("\nnext", {}); // completed; "next" is short enough to copy out
    EXPECT_EQ(s.framer.pinned_blocks(), 0u);
    EXPECT_EQ(s.messages, 2u);
    EXPECT_EQ(s.forwarded, "done\n" + expected + "\n");
}

// A read that brings the end of the message (or the start of the next) is never folded: it ends
// with bytes that are no part of the unfinished message. Length framing folds the same way.
TEST(MessageFramer, LengthFramedMessagesFoldTheirSmallReadsAndArriveWhole) {
    framed_stream s(framing::length, 1 << 20);
    const std::string payload(9000, 'p');
    const std::string frame = std::string("\0\0\x23\x28", 4) + payload; // 0x2328 = 9000
    std::vector<std::size_t> cuts;
    for (std::size_t at = 4000; at < frame.size(); at += 300) // reads fit a 4 KiB block
        cuts.push_back(at);
    s.feed(frame + frame.substr(0, 6), cuts); // the next frame's start comes with the last read
    EXPECT_EQ(s.messages, 1u);
    EXPECT_EQ(s.forwarded, frame);
    s.feed(frame.substr(6), {4000, 8000});
    EXPECT_EQ(s.messages, 2u);
    EXPECT_EQ(s.forwarded, frame + frame);
}

} // namespace
} // namespace funnel
