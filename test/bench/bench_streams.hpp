#pragma once
// What the benchmarks feed the hot path: a client's byte stream of whole messages of one size,
// cut into the 64 KiB reads that chunk_reader makes (one pool block each).

#include "funnel/framing/framing.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace funnel::bench {

constexpr std::size_t read_size = 64 * 1024; // one buffer_pool block, one read
constexpr std::size_t stream_reads = 16;     // 1 MiB: stays in L2/L3, as a fresh read does

// The bytes a message of `payload` bytes takes on the wire.
constexpr std::size_t frame_size(framing f, std::size_t payload) {
    return payload + (f == framing::line ? 1 : 4);
}

// How many whole messages fit in the stream; it ends on a message boundary, so that a decoder
// can go round it again and again. Message sizes that do not divide 64 KiB put message splits
// at every read boundary, as real reads do.
constexpr std::size_t stream_messages(framing f, std::size_t payload) {
    return stream_reads * read_size / frame_size(f, payload);
}

// Printable payload bytes (never '\n'), each message preceded by its u32 big-endian length
// (length framing) or followed by '\n' (line framing).
inline std::vector<std::byte> make_stream(framing f, std::size_t payload) {
    const std::size_t count = stream_messages(f, payload);
    std::vector<std::byte> out;
    out.reserve(count * frame_size(f, payload));
    std::uint32_t seed = 2463534242u;
    for (std::size_t i = 0; i < count; ++i) {
        if (f == framing::length) {
            const auto n = static_cast<std::uint32_t>(payload);
            for (int shift = 24; shift >= 0; shift -= 8)
                out.push_back(static_cast<std::byte>((n >> shift) & 0xFF));
        }
        for (std::size_t j = 0; j < payload; ++j) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            out.push_back(static_cast<std::byte>('a' + seed % 26));
        }
        if (f == framing::line)
            out.push_back(std::byte{'\n'});
    }
    return out;
}

// The stream as the reads that would bring it: read_size each, the last one shorter.
inline std::vector<std::span<const std::byte>> cut_into_reads(const std::vector<std::byte>& s) {
    std::vector<std::span<const std::byte>> reads;
    for (std::size_t at = 0; at < s.size(); at += read_size)
        reads.emplace_back(s.data() + at, std::min(read_size, s.size() - at));
    return reads;
}

} // namespace funnel::bench
