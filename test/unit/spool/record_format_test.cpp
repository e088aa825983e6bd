#include "funnel/spool/record_format.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace funnel::spool {
namespace {

std::vector<std::byte> bytes_of(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    return {p, p + s.size()};
}

std::string text_of(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

void append_record(std::vector<std::byte>& out, std::string_view payload, std::uint32_t messages) {
    const auto p = bytes_of(payload);
    const auto h = encode_record_header(p, messages);
    out.insert(out.end(), h.begin(), h.end());
    out.insert(out.end(), p.begin(), p.end());
}

// A segment of three records, and where each of them starts.
struct sample {
    std::vector<std::byte> bytes;
    std::vector<std::size_t> starts;
    std::vector<std::string> payloads{"one\n", "two\nthree\n", "four\n"};
};

sample three_records() {
    sample s;
    const auto h = encode_segment_header();
    s.bytes.assign(h.begin(), h.end());
    for (std::size_t i = 0; i < s.payloads.size(); ++i) {
        s.starts.push_back(s.bytes.size());
        append_record(s.bytes, s.payloads[i], i == 1 ? 2 : 1);
    }
    return s;
}

TEST(SpoolRecordFormat, Crc32cKnownAnswer) {
    EXPECT_EQ(crc32c(bytes_of("123456789")), 0xE3069283U);
    EXPECT_EQ(crc32c({}), 0U);
}

TEST(SpoolRecordFormat, RoundTrip) {
    const auto s = three_records();
    const auto r = parse_segment(s.bytes);
    ASSERT_EQ(r.header.status, segment_header_status::ok);
    ASSERT_EQ(r.body.records.size(), 3U);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(text_of(r.body.records[i].payload), s.payloads[i]);
        EXPECT_EQ(r.body.records[i].offset + segment_header_size, s.starts[i]);
    }
    EXPECT_EQ(r.body.records[1].messages, 2U);
    EXPECT_EQ(r.body.corrupt_regions, 0U);
    EXPECT_EQ(r.body.torn_bytes, 0U);
}

TEST(SpoolRecordFormat, EmptyPayloadIsARecord) {
    std::vector<std::byte> b;
    append_record(b, "", 0);
    const auto r = parse_records(b);
    ASSERT_EQ(r.records.size(), 1U);
    EXPECT_TRUE(r.records[0].payload.empty());
}

// A crash can cut the file anywhere: every whole record before the cut is kept, the rest is a
// torn tail, and nothing is called corrupt.
TEST(SpoolRecordFormat, TornTailAtEveryByteOffset) {
    const auto s = three_records();
    for (std::size_t cut = segment_header_size; cut <= s.bytes.size(); ++cut) {
        const auto r = parse_segment(std::span(s.bytes).first(cut));
        std::size_t whole = 0, end = segment_header_size;
        for (std::size_t i = 0; i < s.starts.size(); ++i) {
            const auto next = i + 1 < s.starts.size() ? s.starts[i + 1] : s.bytes.size();
            if (next <= cut) {
                ++whole;
                end = next;
            }
        }
        EXPECT_EQ(r.body.records.size(), whole) << "cut " << cut;
        EXPECT_EQ(r.body.torn_bytes, cut - end) << "cut " << cut;
        EXPECT_EQ(r.body.corrupt_regions, 0U) << "cut " << cut;
    }
}

TEST(SpoolRecordFormat, ShortSegmentHeaderIsTorn) {
    const auto h = encode_segment_header();
    for (std::size_t cut = 0; cut < h.size(); ++cut) {
        const auto r = parse_segment(std::span(h).first(cut));
        EXPECT_EQ(r.header.status, segment_header_status::too_short);
        EXPECT_EQ(r.body.torn_bytes, cut);
    }
}

// A byte flipped anywhere in the middle record loses that record only: the reader resynchronises
// on the next marker (or skips the record whole when its header is intact).
TEST(SpoolRecordFormat, FlippedByteInTheMiddleIsSkippedAndTheRestRecovered) {
    const auto s = three_records();
    for (std::size_t at = s.starts[1]; at < s.starts[2]; ++at) {
        auto damaged = s.bytes;
        damaged[at] ^= std::byte{0x40};
        const auto r = parse_segment(damaged);
        ASSERT_EQ(r.body.records.size(), 2U) << "flipped " << at;
        EXPECT_EQ(text_of(r.body.records[0].payload), s.payloads[0]);
        EXPECT_EQ(text_of(r.body.records[1].payload), s.payloads[2]);
        EXPECT_EQ(r.body.corrupt_regions, 1U) << "flipped " << at;
        EXPECT_EQ(r.body.corrupt_bytes, s.starts[2] - s.starts[1]) << "flipped " << at;
        EXPECT_EQ(r.body.torn_bytes, 0U);
    }
}

TEST(SpoolRecordFormat, GarbageBetweenRecordsIsOneRegion) {
    std::vector<std::byte> b;
    append_record(b, "a\n", 1);
    const auto junk = bytes_of("not a record at all, just noise");
    b.insert(b.end(), junk.begin(), junk.end());
    append_record(b, "b\n", 1);
    const auto r = parse_records(b);
    ASSERT_EQ(r.records.size(), 2U);
    EXPECT_EQ(text_of(r.records[1].payload), "b\n");
    EXPECT_EQ(r.corrupt_regions, 1U);
    EXPECT_EQ(r.corrupt_bytes, junk.size());
}

TEST(SpoolRecordFormat, TrailingGarbageIsCorruptNotTorn) {
    std::vector<std::byte> b;
    append_record(b, "a\n", 1);
    const auto junk = bytes_of("xyzzy");
    b.insert(b.end(), junk.begin(), junk.end());
    const auto r = parse_records(b);
    EXPECT_EQ(r.records.size(), 1U);
    EXPECT_EQ(r.corrupt_regions, 1U);
    EXPECT_EQ(r.corrupt_bytes, junk.size());
    EXPECT_EQ(r.torn_bytes, 0U);
}

TEST(SpoolRecordFormat, CorruptSegmentHeaderStillYieldsRecords) {
    auto s = three_records();
    s.bytes[2] ^= std::byte{1};
    const auto r = parse_segment(s.bytes);
    EXPECT_EQ(r.header.status, segment_header_status::corrupt);
    EXPECT_EQ(r.body.records.size(), 3U);
    EXPECT_EQ(r.body.corrupt_regions, 1U);
    EXPECT_EQ(r.body.corrupt_bytes, segment_header_size);
}

TEST(SpoolRecordFormat, UnknownVersionIsReportedNotParsed) {
    auto s = three_records();
    // Version 2 with a valid CRC: a newer funnel wrote it.
    s.bytes[8] = std::byte{2};
    const auto crc = crc32c(std::span(s.bytes).first(12));
    for (int i = 0; i < 4; ++i)
        s.bytes[static_cast<std::size_t>(12 + i)] =
            static_cast<std::byte>((crc >> (8 * i)) & 0xFFU);
    const auto r = parse_segment(s.bytes);
    EXPECT_EQ(r.header.status, segment_header_status::unsupported_version);
    EXPECT_EQ(r.header.version, 2U);
    EXPECT_TRUE(r.body.records.empty());
}

TEST(SpoolRecordFormat, OversizeLengthIsGarbage) {
    std::vector<std::byte> b;
    append_record(b, "x", 1);
    // Claim a length beyond max_payload, with a header CRC that matches it.
    const std::uint32_t huge = max_payload + 1;
    for (int i = 0; i < 4; ++i)
        b[static_cast<std::size_t>(4 + i)] = static_cast<std::byte>((huge >> (8 * i)) & 0xFFU);
    const auto crc = crc32c(std::span(b).first(16));
    for (int i = 0; i < 4; ++i)
        b[static_cast<std::size_t>(16 + i)] = static_cast<std::byte>((crc >> (8 * i)) & 0xFFU);
    const auto r = parse_records(b);
    EXPECT_TRUE(r.records.empty());
    EXPECT_EQ(r.corrupt_regions, 1U);
    EXPECT_EQ(r.torn_bytes, 0U);
}

// Random bytes and randomly damaged segments: never a crash, and every byte is accounted for
// as a record, corrupt or torn.
TEST(SpoolRecordFormat, ArbitraryInputIsAccountedFor) {
    std::mt19937 rng(12345);
    const auto s = three_records();
    for (int round = 0; round < 3000; ++round) {
        std::vector<std::byte> b;
        if (round % 2 == 0) {
            b.resize(rng() % 200);
            for (auto& x : b)
                x = static_cast<std::byte>(rng());
        } else {
            b = s.bytes;
            for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
                b[rng() % b.size()] ^= static_cast<std::byte>(1U << (rng() % 8));
            b.resize(rng() % (b.size() + 1));
        }
        const auto r = parse_records(b);
        std::size_t in_records = 0;
        for (const auto& rec : r.records) {
            ASSERT_LE(rec.offset + record_header_size + rec.payload.size(), b.size());
            in_records += record_header_size + rec.payload.size();
        }
        EXPECT_EQ(in_records + r.corrupt_bytes + r.torn_bytes, b.size()) << "round " << round;
        (void)parse_segment(b);
    }
}

} // namespace
} // namespace funnel::spool
