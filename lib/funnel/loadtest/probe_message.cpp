#include "funnel/loadtest/probe_message.hpp"

#include <bit>
#include <cstring>

namespace funnel::loadtest {
namespace {

static_assert(std::endian::native == std::endian::little, "the hex codec assumes little-endian");

constexpr std::uint64_t ones = 0x0101010101010101ULL;

std::uint64_t byteswap64(std::uint64_t v) {
    return __builtin_bswap64(v);
}

// 8 lower-case hex digits of v at dst, most significant first (SWAR: no loop, no table).
void put_hex32(std::uint32_t v, char* dst) {
    std::uint64_t x = v;
    x = ((x & 0xFFFF0000ULL) << 16) | (x & 0x0000FFFFULL);
    x = ((x & 0x0000FF000000FF00ULL) << 8) | (x & 0x000000FF000000FFULL);
    x = ((x & 0x00F000F000F000F0ULL) << 4) | (x & 0x000F000F000F000FULL);
    // Each byte now holds one nibble, the most significant in the highest byte.
    const std::uint64_t letters = ((x + 0x0606060606060606ULL) >> 4) & ones; // nibble >= 10
    x += 0x3030303030303030ULL + letters * static_cast<std::uint64_t>('a' - '0' - 10);
    x = byteswap64(x);
    std::memcpy(dst, &x, 8);
}

void put_hex64(std::uint64_t v, char* dst) {
    put_hex32(static_cast<std::uint32_t>(v >> 32), dst);
    put_hex32(static_cast<std::uint32_t>(v), dst + 8);
}

// The value of 8 hex digits. Lenient: other characters give some value, which the caller catches
// by writing the header back and comparing.
std::uint32_t get_hex32(const char* src) {
    std::uint64_t x = 0;
    std::memcpy(&x, src, 8);
    x = byteswap64(x); // the first digit in the highest byte
    const std::uint64_t letters = (x >> 6) & ones;
    x = (x & 0x0F0F0F0F0F0F0F0FULL) + letters * 9;
    x = (x | (x >> 4)) & 0x00FF00FF00FF00FFULL;
    x = (x | (x >> 8)) & 0x0000FFFF0000FFFFULL;
    x = (x | (x >> 16)) & 0x00000000FFFFFFFFULL;
    return static_cast<std::uint32_t>(x);
}

std::uint64_t get_hex64(const char* src) {
    return (std::uint64_t{get_hex32(src)} << 32) | get_hex32(src + 8);
}

// Each word goes through its own bijection (odd multiplier, rotation) before the xor, so a change
// of any one word always changes the check.
// The shape changes the check too, so that a graphite body whose suffix is damaged (and so reads
// as a plain one) fails it.
std::uint32_t check_of(const probe& p, std::uint32_t length, probe_shape s) {
    const auto mix = [](std::uint32_t w, std::uint32_t k, int r) {
        return std::rotl(w * k, r);
    };
    return (s == probe_shape::graphite ? 0x6A7E5C3BU : 0x5EED1234U) ^
           mix(p.client, 0x9E3779B1U, 5) ^
           mix(static_cast<std::uint32_t>(p.seq >> 32), 0x85EBCA77U, 11) ^
           mix(static_cast<std::uint32_t>(p.seq), 0xC2B2AE3DU, 17) ^
           mix(static_cast<std::uint32_t>(p.sent_ns >> 32), 0x27D4EB2FU, 23) ^
           mix(static_cast<std::uint32_t>(p.sent_ns), 0x165667B1U, 29) ^
           mix(length, 0xD3A2646DU, 3);
}

void put_header(const probe& p, std::uint32_t length, probe_shape s, char* dst) {
    put_hex32(p.client, dst);
    put_hex64(p.seq, dst + 8);
    put_hex64(p.sent_ns, dst + 24);
    put_hex32(length, dst + 40);
    put_hex32(check_of(p, length, s), dst + 48);
}

// Whether every byte of [p, p + n) is c; eight at a time.
bool all_equal(const char* p, std::size_t n, char c) {
    const std::uint64_t pattern = ones * static_cast<unsigned char>(c);
    std::uint64_t diff = 0;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t x = 0;
        std::memcpy(&x, p + i, 8);
        diff |= x ^ pattern;
    }
    for (; i < n; ++i)
        diff |= static_cast<unsigned char>(p[i]) ^ static_cast<unsigned char>(c);
    return diff == 0;
}

} // namespace

char filler_of(std::uint32_t client, std::uint64_t seq) {
    return static_cast<char>('g' + (seq + std::uint64_t{client} * 7) % 20);
}

void encode_message(framing f, const probe& p, std::size_t size, char* dst, probe_shape s) {
    const std::size_t body = size - framing_overhead(f);
    const std::size_t suffix = shape_overhead(s);
    if (f == framing::length) {
        const auto n = static_cast<std::uint32_t>(body);
        const unsigned char prefix[4] = {
            static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
            static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
        std::memcpy(dst, prefix, 4);
        dst += 4;
    }
    put_header(p, static_cast<std::uint32_t>(body), s, dst);
    std::memset(dst + probe_header_size, filler_of(p.client, p.seq),
                body - probe_header_size - suffix);
    if (suffix != 0)
        std::memcpy(dst + body - suffix, graphite_suffix.data(), suffix);
    if (f == framing::line)
        dst[body] = '\n';
}

bool parse_body(std::string_view body, probe& out) {
    if (body.size() < probe_header_size || body.size() > max_probe_body)
        return false;
    const char* b = body.data();
    probe p;
    p.client = get_hex32(b);
    p.seq = get_hex64(b + 8);
    p.sent_ns = get_hex64(b + 24);
    const std::uint32_t length = get_hex32(b + 40);
    if (length != body.size())
        return false;
    constexpr std::size_t suffix = graphite_suffix.size();
    const bool graphite =
        body.size() >= probe_header_size + suffix &&
        std::memcmp(b + body.size() - suffix, graphite_suffix.data(), suffix) == 0;
    char expected[probe_header_size];
    put_header(p, length, graphite ? probe_shape::graphite : probe_shape::plain, expected);
    if (std::memcmp(expected, b, probe_header_size) != 0)
        return false;
    if (!all_equal(b + probe_header_size, body.size() - probe_header_size - (graphite ? suffix : 0),
                   filler_of(p.client, p.seq)))
        return false;
    out = p;
    return true;
}

} // namespace funnel::loadtest
