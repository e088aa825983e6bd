#include "funnel/loadtest/bulk_pattern.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>

namespace funnel::loadtest {
namespace {

using outcome = bulk_verifier::outcome;

// A whole stream as funnel-load writes it: the header, then the pattern of `id`.
std::string stream(std::uint64_t id, std::uint64_t total, bool declare_length = true) {
    std::string s(bulk_header_size, '\0');
    encode_bulk_header({id, declare_length ? total : 0}, s.data());
    const bulk_pattern& p = bulk_pattern::get();
    for (std::uint64_t pos = 0; s.size() < total;) {
        const auto k = std::min<std::uint64_t>(bulk_pattern::max_slice, total - s.size());
        s.append(p.at(id, pos), static_cast<std::size_t>(k));
        pos += k;
    }
    return s;
}

// Feeds `data` in pieces of random sizes and returns the verdict at EOF.
outcome verify(const std::string& data, std::uint64_t seed = 1) {
    bulk_verifier v;
    std::mt19937_64 rng(seed);
    for (std::size_t at = 0; at < data.size();) {
        const std::size_t n = std::min<std::size_t>(data.size() - at, 1 + rng() % 300000);
        v.consume(data.data() + at, n);
        at += n;
    }
    return v.finish();
}

constexpr std::uint64_t three_periods = 3 * bulk_period + 12345;

TEST(ToolsBulkPattern, HeaderRoundTripsAndRejectsDamage) {
    char h[bulk_header_size];
    encode_bulk_header({77, 1 << 20}, h);
    EXPECT_EQ(decode_bulk_header(h), (bulk_header{77, 1 << 20}));
    for (std::size_t i = 0; i < bulk_header_size; ++i) {
        char bad[bulk_header_size];
        std::copy(h, h + bulk_header_size, bad);
        bad[i] = static_cast<char>(bad[i] ^ 0x10);
        EXPECT_FALSE(decode_bulk_header(bad)) << i;
    }
}

TEST(ToolsBulkPattern, PeriodIsNotAPowerOfTwoAndRepeats) {
    EXPECT_NE(bulk_period & (bulk_period - 1), 0U);
    EXPECT_NE(bulk_period % 4096, 0U);
    const bulk_pattern& p = bulk_pattern::get();
    EXPECT_TRUE(std::equal(p.at(5, 100), p.at(5, 100) + 1000, p.at(5, 100 + bulk_period)));
    EXPECT_FALSE(std::equal(p.at(5, 100), p.at(5, 100) + 1000, p.at(6, 100)));
}

TEST(ToolsBulkPattern, AWholeStreamIsComplete) {
    EXPECT_EQ(verify(stream(1, three_periods)), outcome::complete);
    EXPECT_EQ(verify(stream(2, bulk_header_size)), outcome::complete);
    EXPECT_EQ(verify(stream(3, 1000, false)), outcome::complete); // open-ended
}

TEST(ToolsBulkPattern, AFlippedByteAnywhereIsCorruption) {
    const std::string good = stream(9, three_periods);
    std::mt19937_64 rng(4);
    for (int i = 0; i < 50; ++i) {
        std::string bad = good;
        const std::size_t at = rng() % bad.size();
        bad[at] = static_cast<char>(bad[at] ^ (1 << (rng() % 8)));
        EXPECT_EQ(verify(bad, rng()), outcome::corrupted) << "byte " << at;
    }
}

TEST(ToolsBulkPattern, ADroppedOrAddedByteIsCorruption) {
    const std::string good = stream(9, 2 * bulk_period);
    for (const std::size_t at : {std::size_t{40}, std::size_t{bulk_period}, good.size() - 2}) {
        std::string dropped = good;
        dropped.erase(at, 1);
        EXPECT_EQ(verify(dropped), outcome::corrupted) << at;
        std::string added = good;
        added.insert(at, 1, 'x');
        EXPECT_EQ(verify(added), outcome::corrupted) << at;
    }
    EXPECT_EQ(verify(good + "x"), outcome::corrupted); // longer than declared
}

TEST(ToolsBulkPattern, AShortStreamIsShort) {
    const std::string good = stream(9, three_periods);
    EXPECT_EQ(verify(good.substr(0, good.size() - 1)), outcome::short_stream);
    EXPECT_EQ(verify(good.substr(0, 10)), outcome::short_stream); // not even the header
    EXPECT_EQ(verify(""), outcome::empty);
}

TEST(ToolsBulkPattern, AnotherStreamsBytesAreCorruption) {
    const std::string a = stream(1, 100000);
    const std::string b = stream(2, 100000);
    std::string mixed = a.substr(0, 50000) + b.substr(50000);
    EXPECT_EQ(verify(mixed), outcome::corrupted);
}

} // namespace
} // namespace funnel::loadtest
