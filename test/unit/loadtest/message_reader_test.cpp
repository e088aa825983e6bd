#include "funnel/loadtest/message_reader.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace funnel::loadtest {
namespace {

std::string messages(framing f, std::uint32_t client, std::uint64_t first, std::uint64_t count,
                     std::size_t size) {
    std::string out(count * size, '\0');
    for (std::uint64_t i = 0; i < count; ++i)
        encode_message(f, {client, first + i, 1000 + i}, size, out.data() + i * size);
    return out;
}

// One connection as funnel-sink runs it: each piece after the unfinished rest of the last one.
struct connection {
    connection(framing f, std::size_t max_body = 1 << 20) : reader(f, max_body) {}

    void feed(std::string_view piece, std::uint64_t now_ns = 5000) {
        std::string buffer = carry + std::string(piece);
        const std::size_t keep =
            reader.consume(buffer.data(), buffer.size(), now_ns, table, totals);
        carry = buffer.substr(buffer.size() - keep);
    }
    void eof() { reader.end_of_stream(carry.size(), totals); }

    message_reader reader;
    client_table table;
    receive_totals totals;
    std::string carry;
};

TEST(ToolsMessageReader, CountsAndVerifiesEverySplitPoint) {
    for (const framing f : {framing::line, framing::length}) {
        const std::string data = messages(f, 3, 0, 5, 100);
        for (std::size_t split = 0; split <= data.size(); ++split) {
            connection c(f);
            c.feed(std::string_view(data).substr(0, split));
            c.feed(std::string_view(data).substr(split));
            c.eof();
            ASSERT_EQ(c.totals.messages, 5U) << split;
            ASSERT_EQ(c.totals.corrupted, 0U) << split;
            const auto t = c.table.summarize();
            ASSERT_EQ(t.unique, 5U);
            ASSERT_EQ(t.clients, 1U);
            ASSERT_EQ(t.holes, 0U);
        }
    }
}

TEST(ToolsMessageReader, RecordsLatencyFromTheEmbeddedTimestamp) {
    connection c(framing::line);
    c.feed(messages(framing::line, 1, 0, 3, 80), 2000); // stamped 1000, 1001, 1002
    EXPECT_EQ(c.totals.latency.count(), 3U);
    EXPECT_EQ(c.totals.latency.max(), 1000U);
    EXPECT_EQ(c.totals.latency.min(), 998U);
}

TEST(ToolsMessageReader, EveryCorruptedByteOfAStreamIsNoticed) {
    // Whatever byte of three messages changes (framing included), something is reported.
    for (const framing f : {framing::line, framing::length}) {
        const std::string data = messages(f, 8, 0, 3, 70);
        for (std::size_t i = 0; i < data.size(); ++i) {
            for (const int x : {0x01, 0x0B, 0x20, 0x80, 0xFF}) {
                std::string bad = data;
                bad[i] = static_cast<char>(bad[i] ^ x);
                connection c(f, 4096);
                c.feed(bad);
                c.eof();
                const auto t = c.table.summarize();
                const bool noticed = c.totals.corrupted > 0 || t.unique != 3 || t.holes > 0;
                ASSERT_TRUE(noticed) << "byte " << i << " xor " << x;
            }
        }
    }
}

TEST(ToolsMessageReader, ATruncatedLastMessageIsCorrupted) {
    for (const framing f : {framing::line, framing::length}) {
        const std::string data = messages(f, 1, 0, 2, 100);
        connection c(f);
        c.feed(std::string_view(data).substr(0, data.size() - 1));
        c.eof();
        EXPECT_EQ(c.totals.messages, 2U);
        EXPECT_EQ(c.totals.corrupted, 1U);
    }
}

TEST(ToolsMessageReader, SkipsAnOversizeLineAndResumesAfterIt) {
    connection c(framing::line, 200);
    c.feed(std::string(150, 'a'));
    c.feed(std::string(150, 'b')); // now longer than 200 without a newline
    c.feed("b\n" + messages(framing::line, 1, 0, 2, 100));
    c.eof();
    EXPECT_EQ(c.totals.messages, 3U);
    EXPECT_EQ(c.totals.corrupted, 1U);
    EXPECT_EQ(c.table.summarize().unique, 2U);
}

TEST(ToolsMessageReader, AnImpossibleLengthStopsFraming) {
    connection c(framing::length, 200);
    c.feed(std::string("\x00\x10\x00\x00", 4) + messages(framing::length, 1, 0, 2, 100));
    c.eof();
    EXPECT_EQ(c.totals.corrupted, 1U);
    EXPECT_EQ(c.table.summarize().unique, 0U);
}

TEST(ToolsMessageReader, SeesDuplicatesAcrossConnectionsOfOneClient) {
    client_table table;
    receive_totals totals;
    message_reader a(framing::line, 1 << 20);
    message_reader b(framing::line, 1 << 20);
    const std::string first = messages(framing::line, 5, 0, 10, 100);
    const std::string again = messages(framing::line, 5, 8, 5, 100); // 8, 9 again, then 10-12
    EXPECT_EQ(a.consume(first.data(), first.size(), 0, table, totals), 0U);
    EXPECT_EQ(b.consume(again.data(), again.size(), 0, table, totals), 0U);
    const auto t = table.summarize();
    EXPECT_EQ(t.unique, 13U);
    EXPECT_EQ(t.duplicated, 2U);
    EXPECT_EQ(t.clients, 1U);
}

} // namespace
} // namespace funnel::loadtest
