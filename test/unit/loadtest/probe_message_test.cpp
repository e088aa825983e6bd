#include "funnel/loadtest/probe_message.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace funnel::loadtest {
namespace {

std::string encode(framing f, const probe& p, std::size_t size) {
    std::string out(size, '\0');
    encode_message(f, p, size, out.data());
    return out;
}

// The body of one encoded message, its framing checked and removed.
std::string body_of(framing f, const std::string& message) {
    if (f == framing::line) {
        EXPECT_EQ(message.back(), '\n');
        return message.substr(0, message.size() - 1);
    }
    const auto* u = reinterpret_cast<const unsigned char*>(message.data());
    const std::size_t length = (std::size_t{u[0]} << 24) | (std::size_t{u[1]} << 16) |
                               (std::size_t{u[2]} << 8) | std::size_t{u[3]};
    EXPECT_EQ(length, message.size() - 4);
    return message.substr(4);
}

const std::vector<probe> probes{
    {0, 0, 0},
    {1, 1, 1},
    {7, 123456789, 987654321012345ULL},
    {std::numeric_limits<std::uint32_t>::max(), std::numeric_limits<std::uint64_t>::max(),
     std::numeric_limits<std::uint64_t>::max()},
    {0xA5A5A5A5U, 0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL},
};

TEST(ToolsProbeMessage, RoundTripsInBothFramingsAndEverySize) {
    for (const framing f : {framing::line, framing::length}) {
        for (const std::size_t size : {min_message_size(f), min_message_size(f) + 1,
                                       std::size_t{100}, std::size_t{1024}, std::size_t{65536}}) {
            for (const probe& p : probes) {
                const std::string message = encode(f, p, size);
                ASSERT_EQ(message.size(), size);
                probe parsed;
                ASSERT_TRUE(parse_body(body_of(f, message), parsed))
                    << "size " << size << " client " << p.client;
                EXPECT_EQ(parsed, p);
            }
        }
    }
}

TEST(ToolsProbeMessage, BodyIsPrintableAsciiWithoutNewline) {
    for (std::uint32_t client = 0; client < 50; ++client) {
        for (std::uint64_t seq = 0; seq < 50; ++seq) {
            const std::string m = encode(framing::line, {client, seq * 0x1234567ULL, seq}, 100);
            const std::string_view body(m.data(), m.size() - 1);
            for (const char c : body) {
                ASSERT_NE(c, '\n');
                ASSERT_GE(c, '!');
                ASSERT_LE(c, '~');
            }
        }
    }
}

TEST(ToolsProbeMessage, EveryCorruptedByteIsDetected) {
    // Every position of the body, changed to every other byte value.
    for (const std::size_t size : {std::size_t{57}, std::size_t{100}}) {
        const std::string body =
            body_of(framing::line, encode(framing::line, {42, 1000003, 5555555555ULL}, size));
        for (std::size_t i = 0; i < body.size(); ++i) {
            for (int v = 0; v < 256; ++v) {
                if (static_cast<char>(v) == body[i])
                    continue;
                std::string bad = body;
                bad[i] = static_cast<char>(v);
                probe ignored;
                ASSERT_FALSE(parse_body(bad, ignored)) << "position " << i << " value " << v;
            }
        }
    }
}

TEST(ToolsProbeMessage, ALostOrAddedByteIsDetected) {
    const std::string body = body_of(framing::line, encode(framing::line, {3, 4, 5}, 100));
    probe ignored;
    for (std::size_t i = 0; i < body.size(); ++i) {
        std::string dropped = body;
        dropped.erase(i, 1);
        EXPECT_FALSE(parse_body(dropped, ignored)) << "dropped " << i;
        std::string added = body;
        added.insert(i, 1, body[i]);
        EXPECT_FALSE(parse_body(added, ignored)) << "doubled " << i;
    }
}

TEST(ToolsProbeMessage, RejectsBodiesTooShortForTheHeader) {
    probe ignored;
    EXPECT_FALSE(parse_body("", ignored));
    EXPECT_FALSE(parse_body(std::string(probe_header_size - 1, 'a'), ignored));
    EXPECT_EQ(min_message_size(framing::line), 57U);
    EXPECT_EQ(min_message_size(framing::length), 60U);
}

TEST(ToolsProbeMessage, FillerIsNeverAHexDigitAndVariesWithTheSequence) {
    for (std::uint64_t seq = 0; seq < 100; ++seq) {
        const char c = filler_of(9, seq);
        EXPECT_TRUE(c >= 'g' && c <= 'z') << c;
    }
    EXPECT_NE(filler_of(9, 0), filler_of(9, 1));
}

// ---- the graphite shape ----------------------------------------------------------------------

std::string graphite_line(const probe& p, std::size_t size) {
    std::string out(size, '\0');
    encode_message(framing::line, p, size, out.data(), probe_shape::graphite);
    return out;
}

TEST(ToolsProbeMessage, GraphiteLinesRoundTripInEverySize) {
    const std::size_t min = min_message_size(framing::line, probe_shape::graphite);
    EXPECT_EQ(min, 70U);
    for (const std::size_t size :
         {min, min + 1, std::size_t{100}, std::size_t{1024}, std::size_t{65536}}) {
        for (const probe& p : probes) {
            const std::string message = graphite_line(p, size);
            ASSERT_EQ(message.size(), size);
            probe parsed;
            ASSERT_TRUE(parse_body(body_of(framing::line, message), parsed))
                << "size " << size << " client " << p.client;
            EXPECT_EQ(parsed, p);
        }
    }
}

TEST(ToolsProbeMessage, GraphiteLineIsMetricValueTimestamp) {
    // The metric name: only characters carbon-c-relay keeps as they are, and no dots (it would
    // collapse two in a row); then " 1 1700000000" and '\n'.
    for (std::uint32_t client = 0; client < 20; ++client) {
        for (std::uint64_t seq = 0; seq < 20; ++seq) {
            const std::string m = graphite_line({client, seq * 0x1234567ULL, seq}, 100);
            ASSERT_EQ(m.back(), '\n');
            const std::string_view body(m.data(), m.size() - 1);
            const std::size_t space = body.find(' ');
            ASSERT_EQ(space, body.size() - graphite_suffix.size());
            EXPECT_EQ(body.substr(space), " 1 1700000000");
            for (const char c : body.substr(0, space))
                ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) << c;
        }
    }
}

TEST(ToolsProbeMessage, EveryCorruptedByteOfAGraphiteLineIsDetected) {
    for (const std::size_t size : {std::size_t{70}, std::size_t{100}}) {
        const std::string body =
            body_of(framing::line, graphite_line({42, 1000003, 5555555555ULL}, size));
        for (std::size_t i = 0; i < body.size(); ++i) {
            for (int v = 0; v < 256; ++v) {
                if (static_cast<char>(v) == body[i])
                    continue;
                std::string bad = body;
                bad[i] = static_cast<char>(v);
                probe ignored;
                ASSERT_FALSE(parse_body(bad, ignored)) << "position " << i << " value " << v;
            }
        }
    }
}

TEST(ToolsProbeMessage, ALostOrAddedByteOfAGraphiteLineIsDetected) {
    const std::string body = body_of(framing::line, graphite_line({3, 4, 5}, 100));
    probe ignored;
    for (std::size_t i = 0; i < body.size(); ++i) {
        std::string dropped = body;
        dropped.erase(i, 1);
        EXPECT_FALSE(parse_body(dropped, ignored)) << "dropped " << i;
        std::string added = body;
        added.insert(i, 1, body[i]);
        EXPECT_FALSE(parse_body(added, ignored)) << "doubled " << i;
    }
}

TEST(ToolsProbeMessage, TheShapeIsPartOfTheCheck) {
    // A graphite line whose suffix is replaced by filler, and a plain one whose tail is replaced
    // by the suffix, both keep their length and header but fail.
    const probe p{5, 6, 7};
    std::string graphite = body_of(framing::line, graphite_line(p, 100));
    graphite.replace(graphite.size() - graphite_suffix.size(), graphite_suffix.size(),
                     graphite_suffix.size(), filler_of(p.client, p.seq));
    probe ignored;
    EXPECT_FALSE(parse_body(graphite, ignored));
    std::string plain = body_of(framing::line, encode(framing::line, p, 100));
    plain.replace(plain.size() - graphite_suffix.size(), graphite_suffix.size(), graphite_suffix);
    EXPECT_FALSE(parse_body(plain, ignored));
}

} // namespace
} // namespace funnel::loadtest
