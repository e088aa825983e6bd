#pragma once
// How the framing fuzz targets read their input: a few bytes of settings, where the reads are
// cut, then the client's byte stream. Every input means something, so libFuzzer wastes none.
//
//   byte 0        bit 0: framing (0 line, 1 length)   bit 1: oversize (0 skip, 1 close)
//                 bit 2: the client ends with EOF (1) or an error (0)
//                 bit 3: max_message_size is 1GiB, the largest --max-message-size (bytes 1-2
//                        are then ignored)
//   bytes 1-2     max_message_size, u16 big-endian (0 too: the decoder accepts only empty
//                 messages then)
//   byte 3        low 4 bits: how many read lengths follow (0-15)
//   2 bytes each  a read length, u16 big-endian, cut to what is left of the stream; 0 is an
//                 empty read
//   the rest      the stream; what the listed reads leave is read in reads of at most
//                 `largest_read` bytes
// Shorter than 4 bytes: no input (the target returns at once).

#include "funnel/framing/framing.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace funnel::fuzz {

struct framing_input {
    framing f = framing::line;
    oversize_policy p = oversize_policy::skip;
    bool clean_eof = true;
    std::size_t max_message_size = 0;
    std::string_view stream;
    std::vector<std::string_view> reads; // in order; together exactly `stream`
};

inline std::optional<framing_input> parse_framing_input(const std::uint8_t* data, std::size_t size,
                                                        std::size_t largest_read) {
    constexpr std::size_t settings = 4;
    if (size < settings)
        return std::nullopt;
    const auto u16 = [&](std::size_t at) {
        return static_cast<std::size_t>(data[at] << 8 | data[at + 1]);
    };
    framing_input in;
    in.f = (data[0] & 1) != 0 ? framing::length : framing::line;
    in.p = (data[0] & 2) != 0 ? oversize_policy::close : oversize_policy::skip;
    in.clean_eof = (data[0] & 4) != 0;
    in.max_message_size = (data[0] & 8) != 0 ? std::size_t{1} << 30 : u16(1);
    const std::size_t listed = data[3] & 0x0F;
    std::size_t pos = std::min(size, settings + 2 * listed);
    const std::size_t lengths_end = pos;
    in.stream = std::string_view(reinterpret_cast<const char*>(data) + pos, size - pos);

    std::size_t from = 0;
    for (std::size_t at = settings; at + 2 <= lengths_end; at += 2) {
        const std::size_t n = std::min({u16(at), in.stream.size() - from, largest_read});
        in.reads.push_back(in.stream.substr(from, n));
        from += n;
    }
    while (from < in.stream.size()) {
        const std::size_t n = std::min(in.stream.size() - from, largest_read);
        in.reads.push_back(in.stream.substr(from, n));
        from += n;
    }
    return in;
}

} // namespace funnel::fuzz
