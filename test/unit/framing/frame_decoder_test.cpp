#include "funnel/framing/frame_decoder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "support/framing_reference.hpp"

namespace funnel {
namespace {

using eof_kind = frame_decoder::eof_kind;

std::span<const std::byte> as_span(std::string_view s) {
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

std::string be32(std::uint32_t n) {
    std::string s(4, '\0');
    s[0] = static_cast<char>((n >> 24) & 0xFF);
    s[1] = static_cast<char>((n >> 16) & 0xFF);
    s[2] = static_cast<char>((n >> 8) & 0xFF);
    s[3] = static_cast<char>(n & 0xFF);
    return s;
}

std::string frame(std::string_view payload) {
    return be32(static_cast<std::uint32_t>(payload.size())) + std::string(payload);
}

using event = test::frame_event;
using config = test::framing_params;
using expected = test::reference_frames;

event msg(std::string_view p) {
    return test::message_event(p);
}
event over(std::size_t length) {
    return test::oversize_event(length);
}
expected reference(const config& c, std::string_view s) {
    return test::reference_decode(c, s);
}

// Rebuilds messages from segments the way a caller would (it copies here only to compare), and
// checks each segment is non-empty, in order, and inside the buffer being fed.
struct collector {
    std::span<const std::byte> buffer;
    std::size_t next_offset = 0; // segments of one feed never go backwards or overlap
    std::string pending;
    std::vector<event> events;

    void on_payload(frame_segment s) {
        EXPECT_GT(s.length, 0U);
        EXPECT_GE(s.offset, next_offset);
        ASSERT_LE(s.offset + s.length, buffer.size());
        next_offset = s.offset + s.length;
        for (std::byte b : buffer.subspan(s.offset, s.length))
            pending.push_back(std::to_integer<char>(b));
    }
    void on_message_end(std::size_t length) {
        EXPECT_EQ(length, pending.size());
        events.push_back(msg(pending));
        pending.clear();
    }
    void on_oversize(std::size_t length) {
        events.push_back(over(length));
        pending.clear(); // what was reported for it is dropped, as a caller would
    }
    bool feed(frame_decoder& d, std::span<const std::byte> b) {
        buffer = b;
        next_offset = 0;
        return d.feed(b, *this);
    }
};

struct run_result {
    std::vector<event> events;
    bool closed = false;
    frame_decoder::eof_status eof;
    std::string pending;
    std::string header; // the partial prefix bytes, copied out of the decoder
    std::uint64_t messages = 0;
    std::uint64_t oversize = 0;
};

// Feeds `stream` cut at `cuts` (ascending positions), stopping once the decoder says close.
run_result run(const config& c, std::string_view stream, const std::vector<std::size_t>& cuts) {
    frame_decoder d(c.f, c.max, c.p);
    collector col;
    run_result r;
    std::size_t from = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t to = i < cuts.size() ? cuts[i] : stream.size();
        if (!col.feed(d, as_span(stream.substr(from, to - from)))) {
            r.closed = true;
            // Closed is sticky and silent.
            const std::size_t before = col.events.size();
            EXPECT_FALSE(col.feed(d, as_span("x\n")));
            EXPECT_EQ(col.events.size(), before);
            break;
        }
        from = to;
    }
    r.events = col.events;
    r.eof = d.at_eof();
    r.pending = col.pending;
    for (std::byte b : r.eof.header)
        r.header.push_back(std::to_integer<char>(b));
    r.messages = d.messages();
    r.oversize = d.oversize();
    return r;
}

std::string describe(const std::vector<std::size_t>& cuts) {
    std::string s = "cuts:";
    for (std::size_t c : cuts)
        s += " " + std::to_string(c);
    return s;
}

// Compares without gtest's per-assertion cost when all is well, since some tests do 10^5 runs.
void check(const config& c, const expected& e, const run_result& r,
           const std::vector<std::size_t>& cuts) {
    bool same = r.events.size() == e.events.size() && r.closed == e.closed && r.eof.kind == e.eof &&
                r.eof.declared_length == e.declared;
    for (std::size_t i = 0; same && i < e.events.size(); ++i) {
        same = test::same_event(c, e.events[i], r.events[i]);
    }
    if (same && e.eof == eof_kind::partial_message)
        same = r.pending == e.pending && r.eof.bytes == e.pending.size();
    if (same && e.eof == eof_kind::partial_header)
        same = r.header == e.pending && r.eof.bytes == e.pending.size();
    std::uint64_t messages = 0;
    for (const event& ev : e.events)
        messages += ev.oversize ? 0 : 1;
    same = same && r.messages == messages && r.oversize == e.events.size() - messages;
    if (same)
        return;
    std::string detail = describe(cuts) + "\nexpected:";
    for (const event& ev : e.events)
        detail += ev.oversize ? " [oversize " + std::to_string(ev.length) + "]"
                              : " \"" + ev.payload + "\"";
    detail += " eof=" + std::to_string(static_cast<int>(e.eof)) + " pending=\"" + e.pending + "\"";
    detail += "\nactual:  ";
    for (const event& ev : r.events)
        detail += ev.oversize ? " [oversize " + std::to_string(ev.length) + "]"
                              : " \"" + ev.payload + "\"";
    detail += " eof=" + std::to_string(static_cast<int>(r.eof.kind)) + " pending=\"" + r.pending +
              "\" header=\"" + r.header + "\"";
    ADD_FAILURE() << detail;
}

// Feeds `stream` whole, as single bytes, cut at every position, and (when short enough) cut at
// every pair of positions; each must agree with the reference.
void check_every_split(const config& c, std::string_view stream) {
    const expected e = reference(c, stream);
    const std::size_t n = stream.size();
    check(c, e, run(c, stream, {}), {});
    std::vector<std::size_t> singles;
    for (std::size_t i = 1; i < n; ++i)
        singles.push_back(i);
    check(c, e, run(c, stream, singles), singles);
    for (std::size_t i = 0; i <= n; ++i)
        check(c, e, run(c, stream, {i}), {i});
    if (n <= 120) {
        for (std::size_t i = 0; i <= n; ++i)
            for (std::size_t j = i; j <= n; ++j)
                check(c, e, run(c, stream, {i, j}), {i, j});
    }
}

// Only counts, for streams too big to copy.
struct counting_handler {
    std::uint64_t payload_bytes = 0;
    std::uint64_t segments = 0;
    std::vector<std::size_t> ends;
    std::vector<std::size_t> oversizes;
    void on_payload(frame_segment s) {
        payload_bytes += s.length;
        ++segments;
    }
    void on_message_end(std::size_t length) { ends.push_back(length); }
    void on_oversize(std::size_t length) { oversizes.push_back(length); }
};

// ---------------------------------------------------------------------------------------------
// Line framing

constexpr config line_skip{framing::line, 8, oversize_policy::skip};
constexpr config line_close{framing::line, 8, oversize_policy::close};

TEST(FrameDecoderLine, MixedStreamAtEverySplit) {
    // Empty lines, \r kept, exactly at the limit, limit + 1 skipped, then a tail with no '\n'.
    const std::string stream = "hello\n\nworld\r\n\r\n12345678\n123456789\nafter\n\n" +
                               std::string(30, 'x') + "\nok\ntail";
    const expected e = reference(line_skip, stream);
    ASSERT_EQ(e.events.size(), 10U);
    EXPECT_EQ(e.events[0].payload, "hello");
    EXPECT_EQ(e.events[1].payload, "");
    EXPECT_EQ(e.events[2].payload, "world\r");
    EXPECT_EQ(e.events[3].payload, "\r");
    EXPECT_EQ(e.events[4].payload, "12345678");
    EXPECT_TRUE(e.events[5].oversize);
    EXPECT_EQ(e.events[6].payload, "after");
    EXPECT_EQ(e.events[7].payload, "");
    EXPECT_TRUE(e.events[8].oversize);
    EXPECT_EQ(e.events[9].payload, "ok");
    EXPECT_EQ(e.eof, eof_kind::partial_message);
    EXPECT_EQ(e.pending, "tail");
    check_every_split(line_skip, stream);
}

TEST(FrameDecoderLine, CloseAtEverySplit) {
    const std::string stream = "one\n\n12345678\n123456789\nnever\n";
    const expected e = reference(line_close, stream);
    ASSERT_EQ(e.events.size(), 4U);
    EXPECT_TRUE(e.events[3].oversize);
    EXPECT_TRUE(e.closed);
    check_every_split(line_close, stream);
}

TEST(FrameDecoderLine, ExactlyAtLimitIsAccepted) {
    const run_result r = run(line_skip, "12345678\n", {});
    ASSERT_EQ(r.events.size(), 1U);
    EXPECT_EQ(r.events[0].payload, "12345678");
    EXPECT_EQ(r.messages, 1U);
    EXPECT_EQ(r.oversize, 0U);
    EXPECT_EQ(r.eof.kind, eof_kind::clean);
}

TEST(FrameDecoderLine, LimitPlusOneSkipKeepsTheNextMessage) {
    const run_result r = run(line_skip, "123456789\nnext\n", {});
    ASSERT_EQ(r.events.size(), 2U);
    EXPECT_TRUE(r.events[0].oversize);
    EXPECT_EQ(r.events[0].length, 9U);
    EXPECT_EQ(r.events[1].payload, "next");
    EXPECT_EQ(r.messages, 1U);
    EXPECT_EQ(r.oversize, 1U);
}

TEST(FrameDecoderLine, LimitPlusOneCloseReturnsFalse) {
    frame_decoder d(framing::line, 8, oversize_policy::close);
    collector col;
    EXPECT_TRUE(col.feed(d, as_span("before\n")));
    EXPECT_FALSE(col.feed(d, as_span("123456789\nafter\n")));
    EXPECT_TRUE(d.closed());
    ASSERT_EQ(col.events.size(), 2U);
    EXPECT_EQ(col.events[0].payload, "before");
    EXPECT_TRUE(col.events[1].oversize);
    EXPECT_EQ(d.at_eof().kind, eof_kind::closed);
}

TEST(FrameDecoderLine, CarriageReturnIsPayloadAndCounts) {
    const config c{framing::line, 1, oversize_policy::skip};
    const run_result r = run(c, "\r\na\r\nb\n", {});
    ASSERT_EQ(r.events.size(), 3U);
    EXPECT_EQ(r.events[0].payload, "\r");
    EXPECT_TRUE(r.events[1].oversize); // "a\r" is two payload bytes
    EXPECT_EQ(r.events[2].payload, "b");
}

TEST(FrameDecoderLine, OversizeIsDecidedBeforeTheNewlineArrives) {
    // The caller must be able to let go of an oversize line's chunks without waiting for its end.
    frame_decoder d(framing::line, 4, oversize_policy::skip);
    collector col;
    EXPECT_TRUE(col.feed(d, as_span("abc")));
    EXPECT_EQ(col.pending, "abc"); // reported, not yet a message
    EXPECT_TRUE(col.feed(d, as_span("de")));
    ASSERT_EQ(col.events.size(), 1U);
    EXPECT_TRUE(col.events[0].oversize);
    EXPECT_EQ(col.events[0].length, 5U);
    EXPECT_EQ(col.pending, "");
    EXPECT_EQ(d.at_eof().kind, eof_kind::partial_oversize);
    EXPECT_TRUE(col.feed(d, as_span("fgh")));
    EXPECT_TRUE(col.feed(d, as_span("ij\nkl\n")));
    ASSERT_EQ(col.events.size(), 2U);
    EXPECT_EQ(col.events[1].payload, "kl");
}

TEST(FrameDecoderLine, ZeroLimitAcceptsOnlyEmptyLines) {
    const config c{framing::line, 0, oversize_policy::skip};
    check_every_split(c, "\n\na\n\nbc\n\n");
    const run_result r = run(c, "\n\na\n\n", {});
    EXPECT_EQ(r.messages, 3U);
    EXPECT_EQ(r.oversize, 1U);
}

TEST(FrameDecoderLine, EndOfStream) {
    EXPECT_EQ(run(line_skip, "", {}).eof.kind, eof_kind::clean);
    EXPECT_EQ(run(line_skip, "a\n", {}).eof.kind, eof_kind::clean);
    const run_result partial = run(line_skip, "a\nbc", {2, 3});
    EXPECT_EQ(partial.eof.kind, eof_kind::partial_message);
    EXPECT_EQ(partial.eof.bytes, 2U);
    EXPECT_EQ(partial.pending, "bc"); // its bytes are the segments reported since the last end
    EXPECT_EQ(partial.messages, 1U);
    EXPECT_EQ(run(line_skip, "a\n0123456789", {}).eof.kind, eof_kind::partial_oversize);
    const run_result cr = run(line_skip, "x\r", {});
    EXPECT_EQ(cr.eof.kind, eof_kind::partial_message);
    EXPECT_EQ(cr.pending, "x\r");
}

TEST(FrameDecoderLine, ManyMessagesInOneFeed) {
    std::string stream;
    std::vector<std::string> want;
    for (std::size_t i = 0; i < 10000; ++i) {
        want.push_back(std::string(i % 9, static_cast<char>('a' + i % 26)));
        stream += want.back() + "\n";
    }
    const run_result r = run(line_skip, stream, {});
    ASSERT_EQ(r.events.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(r.events[i].payload, want[i]) << i;
    EXPECT_EQ(r.eof.kind, eof_kind::clean);
}

TEST(FrameDecoderLine, LongMessageSpansManyReadsAsOneSegmentEach) {
    frame_decoder d(framing::line, 1 << 20, oversize_policy::skip);
    const std::vector<std::byte> read(64 * 1024, std::byte{'z'});
    counting_handler h;
    for (int i = 0; i < 16; ++i)
        ASSERT_TRUE(d.feed(read, h));
    ASSERT_TRUE(d.feed(as_span("\n"), h));
    EXPECT_EQ(h.segments, 16U);
    ASSERT_EQ(h.ends.size(), 1U);
    EXPECT_EQ(h.ends[0], 1U << 20);
    EXPECT_EQ(h.payload_bytes, 1U << 20);
}

// ---------------------------------------------------------------------------------------------
// Length framing

constexpr config length_skip{framing::length, 8, oversize_policy::skip};
constexpr config length_close{framing::length, 8, oversize_policy::close};

TEST(FrameDecoderLength, MixedStreamAtEverySplit) {
    // Zero-length frames, exactly at the limit, limit + 1 skipped, a big declared length
    // skipped, payload holding '\n' and NUL, then a partial frame.
    const std::string stream = frame("abc") + frame("") + frame("") + frame("12345678") +
                               frame("123456789") + frame(std::string("a\n\0b", 4)) +
                               frame(std::string(40, 'x')) + frame("z") + be32(5) + "par";
    const expected e = reference(length_skip, stream);
    ASSERT_EQ(e.events.size(), 8U);
    EXPECT_EQ(e.events[0].payload, "abc");
    EXPECT_EQ(e.events[1].payload, "");
    EXPECT_EQ(e.events[2].payload, "");
    EXPECT_EQ(e.events[3].payload, "12345678");
    EXPECT_TRUE(e.events[4].oversize);
    EXPECT_EQ(e.events[4].length, 9U);
    EXPECT_EQ(e.events[5].payload, std::string("a\n\0b", 4));
    EXPECT_TRUE(e.events[6].oversize);
    EXPECT_EQ(e.events[7].payload, "z");
    EXPECT_EQ(e.eof, eof_kind::partial_message);
    EXPECT_EQ(e.pending, "par");
    EXPECT_EQ(e.declared, 5U);
    check_every_split(length_skip, stream);
}

TEST(FrameDecoderLength, CloseAtEverySplit) {
    const std::string stream = frame("one") + frame("") + frame("123456789") + frame("never");
    const expected e = reference(length_close, stream);
    ASSERT_EQ(e.events.size(), 3U);
    EXPECT_TRUE(e.closed);
    check_every_split(length_close, stream);
}

TEST(FrameDecoderLength, ZeroLengthFramesAreMessages) {
    const std::string stream = frame("") + frame("") + frame("a") + frame("") + frame("");
    const run_result r = run(length_skip, stream, {});
    ASSERT_EQ(r.events.size(), 5U);
    EXPECT_EQ(r.events[2].payload, "a");
    EXPECT_EQ(r.messages, 5U);
    check_every_split(length_skip, stream);
    // Even with a limit of zero.
    const config zero{framing::length, 0, oversize_policy::skip};
    const run_result z = run(zero, stream, {});
    EXPECT_EQ(z.messages, 4U);
    EXPECT_EQ(z.oversize, 1U);
}

TEST(FrameDecoderLength, LimitPlusOneCloseReturnsFalse) {
    frame_decoder d(framing::length, 8, oversize_policy::close);
    collector col;
    EXPECT_TRUE(col.feed(d, as_span(frame("12345678"))));
    EXPECT_FALSE(col.feed(d, as_span(frame("123456789") + frame("after"))));
    ASSERT_EQ(col.events.size(), 2U);
    EXPECT_TRUE(col.events[1].oversize);
    EXPECT_EQ(col.events[1].length, 9U);
    EXPECT_EQ(d.at_eof().kind, eof_kind::closed);
}

TEST(FrameDecoderLength, MaxPrefixWithCloseReturnsFalse) {
    frame_decoder d(framing::length, 1 << 20, oversize_policy::close);
    collector col;
    EXPECT_FALSE(col.feed(d, as_span(be32(0xFFFFFFFF) + "whatever")));
    ASSERT_EQ(col.events.size(), 1U);
    EXPECT_TRUE(col.events[0].oversize);
    EXPECT_EQ(col.events[0].length, 0xFFFFFFFFU);
    EXPECT_EQ(d.oversize(), 1U);
}

// Feeds `total` bytes by reusing one zero-filled read, the last piece followed by `tail`.
bool feed_zeros_then(frame_decoder& d, counting_handler& h, std::uint64_t total,
                     std::string_view tail) {
    static const std::vector<std::byte> zeros(64 * 1024);
    while (total > zeros.size()) {
        if (!d.feed(zeros, h))
            return false;
        total -= zeros.size();
    }
    std::vector<std::byte> last(static_cast<std::size_t>(total));
    for (std::byte b : as_span(tail))
        last.push_back(b);
    return d.feed(last, h);
}

TEST(FrameDecoderLength, MaxPrefixWithSkipResynchronisesAfterFourGiB) {
    const auto start = std::chrono::steady_clock::now();
    frame_decoder d(framing::length, 1 << 20, oversize_policy::skip);
    counting_handler h;
    ASSERT_TRUE(d.feed(as_span(be32(0xFFFFFFFF)), h));
    ASSERT_EQ(h.oversizes.size(), 1U);
    EXPECT_EQ(h.oversizes[0], 0xFFFFFFFFU);
    // The declared bytes end inside the last read, which also holds the next frame and half a
    // prefix.
    ASSERT_TRUE(feed_zeros_then(d, h, 0xFFFFFFFFULL, frame("next") + be32(7).substr(0, 2)));
    EXPECT_EQ(h.payload_bytes, 4U); // nothing of the skipped frame was reported
    ASSERT_EQ(h.ends.size(), 1U);
    EXPECT_EQ(h.ends[0], 4U);
    const auto eof = d.at_eof();
    EXPECT_EQ(eof.kind, eof_kind::partial_header);
    EXPECT_EQ(eof.bytes, 2U);
    EXPECT_EQ(d.messages(), 1U);
    EXPECT_EQ(d.oversize(), 1U);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(FrameDecoderLength, SkipsExactlyTheDeclaredLengthOfALargeFrame) {
    frame_decoder d(framing::length, 16, oversize_policy::skip);
    collector col;
    // 10 MiB + 3 declared, in reads of odd sizes; the next frame begins at the very next byte.
    const std::size_t declared = (10U << 20) + 3U;
    std::string stream = be32(static_cast<std::uint32_t>(declared)) + std::string(declared, '\n');
    stream += frame("after") + frame("");
    std::size_t pos = 0;
    for (std::size_t step = 1; pos < stream.size(); step = step * 7 % 65521 + 1) {
        const std::size_t n = std::min(step, stream.size() - pos);
        ASSERT_TRUE(col.feed(d, as_span(std::string_view(stream).substr(pos, n))));
        pos += n;
    }
    ASSERT_EQ(col.events.size(), 3U);
    EXPECT_TRUE(col.events[0].oversize);
    EXPECT_EQ(col.events[0].length, declared);
    EXPECT_EQ(col.events[1].payload, "after");
    EXPECT_EQ(col.events[2].payload, "");
    EXPECT_EQ(d.at_eof().kind, eof_kind::clean);
}

TEST(FrameDecoderLength, MaxPrefixAtTheLimitIsAcceptedWithoutAllocating) {
    // 0xFFFFFFFF declared and allowed: reported as segments of the reads, never sized up front.
    frame_decoder d(framing::length, 0xFFFFFFFFU, oversize_policy::skip);
    counting_handler h;
    ASSERT_TRUE(d.feed(as_span(be32(0xFFFFFFFF)), h));
    EXPECT_EQ(d.at_eof().kind, eof_kind::partial_message);
    ASSERT_TRUE(feed_zeros_then(d, h, 0xFFFFFFFFULL, frame("")));
    EXPECT_EQ(h.payload_bytes, 0xFFFFFFFFU);
    ASSERT_EQ(h.ends.size(), 2U);
    EXPECT_EQ(h.ends[0], 0xFFFFFFFFU);
    EXPECT_EQ(h.ends[1], 0U);
    EXPECT_TRUE(h.oversizes.empty());
}

TEST(FrameDecoderLength, EndOfStream) {
    EXPECT_EQ(run(length_skip, "", {}).eof.kind, eof_kind::clean);
    EXPECT_EQ(run(length_skip, frame("ab"), {}).eof.kind, eof_kind::clean);
    for (std::size_t n = 1; n < 4; ++n) {
        const std::string prefix = be32(0x01020304).substr(0, n);
        const run_result r = run(length_skip, frame("ab") + prefix, {3});
        EXPECT_EQ(r.eof.kind, eof_kind::partial_header) << n;
        EXPECT_EQ(r.eof.bytes, n);
        EXPECT_EQ(r.header, prefix);
    }
    const run_result bare = run(length_skip, be32(3), {});
    EXPECT_EQ(bare.eof.kind, eof_kind::partial_message);
    EXPECT_EQ(bare.eof.bytes, 0U);
    EXPECT_EQ(bare.eof.declared_length, 3U);
    const run_result part = run(length_skip, be32(3) + "ab", {5});
    EXPECT_EQ(part.eof.kind, eof_kind::partial_message);
    EXPECT_EQ(part.eof.bytes, 2U);
    EXPECT_EQ(part.pending, "ab");
    EXPECT_EQ(run(length_skip, be32(9) + "abc", {}).eof.kind, eof_kind::partial_oversize);
}

TEST(FrameDecoderLength, ManyMessagesInOneFeed) {
    std::string stream;
    std::vector<std::string> want;
    for (std::size_t i = 0; i < 10000; ++i) {
        want.push_back(std::string(i % 9, static_cast<char>(i % 256)));
        stream += frame(want.back());
    }
    const run_result r = run(length_skip, stream, {});
    ASSERT_EQ(r.events.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(r.events[i].payload, want[i]) << i;
    EXPECT_EQ(r.messages, want.size());
}

// ---------------------------------------------------------------------------------------------
// Randomized differential test against the reference, seeded and bounded.

std::string random_stream(std::mt19937& rng, const config& c) {
    auto pick = [&](std::size_t lo, std::size_t hi) {
        return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
    };
    std::string s;
    const std::size_t count = pick(0, 10);
    for (std::size_t m = 0; m < count; ++m) {
        // Mostly around the limit, sometimes well past it.
        const std::size_t length = pick(0, 9) == 0 ? pick(0, 100) : pick(0, c.max + 3);
        std::string payload;
        for (std::size_t i = 0; i < length; ++i) {
            static constexpr char alphabet[] = {'a', 'b', '\r', '\0', '\xff', '\n'};
            // '\n' only inside length-framed payloads.
            payload.push_back(alphabet[pick(0, c.f == framing::line ? 4 : 5)]);
        }
        s += c.f == framing::line ? payload + "\n" : frame(payload);
    }
    // A ragged end: part of a message, or of a prefix, or a huge declared length.
    switch (pick(0, 3)) {
    case 0:
        break;
    case 1:
        s += std::string(pick(1, c.max + 3), 'e');
        break;
    case 2:
        s += c.f == framing::line
                 ? "\r"
                 : be32(static_cast<std::uint32_t>(pick(0, 40))).substr(0, pick(1, 4));
        break;
    default:
        if (c.f == framing::length)
            s += be32(0xFFFFFFFF) + "zz";
        break;
    }
    return s;
}

TEST(FrameDecoderRandom, AgreesWithReference) {
    std::mt19937 rng(20240531);
    for (int iteration = 0; iteration < 4000; ++iteration) {
        const config c{iteration % 2 == 0 ? framing::line : framing::length,
                       std::uniform_int_distribution<std::size_t>(0, 12)(rng),
                       iteration % 4 < 2 ? oversize_policy::skip : oversize_policy::close};
        const std::string stream = random_stream(rng, c);
        const expected e = reference(c, stream);
        std::vector<std::size_t> cuts;
        std::size_t pos = 0;
        while (!stream.empty()) {
            pos += std::uniform_int_distribution<std::size_t>(0, 8)(rng); // 0: empty reads
            if (pos >= stream.size())
                break;
            cuts.push_back(pos);
        }
        SCOPED_TRACE("iteration " + std::to_string(iteration));
        check(c, e, run(c, stream, cuts), cuts);
        check(c, e, run(c, stream, {}), {});
        if (HasFailure())
            return;
    }
}

} // namespace
} // namespace funnel
