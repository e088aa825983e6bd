#include "funnel/spool/record_format.hpp"

#include <boost/crc.hpp>

#include <algorithm>
#include <cstring>

namespace funnel::spool {
namespace {

constexpr std::array<char, 8> segment_magic{'F', 'U', 'N', 'N', 'E', 'L', 'S', 'P'};

void store_le32(std::byte* to, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
        to[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFFU);
}

std::uint32_t load_le32(const std::byte* from) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
        v |= static_cast<std::uint32_t>(from[i]) << (8 * i);
    return v;
}

const std::array<std::byte, 4> marker_bytes = [] {
    std::array<std::byte, 4> m{};
    store_le32(m.data(), record_marker);
    return m;
}();

// Where the next marker begins after the first byte (a record cannot start at 0 when this is
// asked). Without one, everything but a last few bytes that could be the start of a marker cut
// by the end of the span: a streaming reader then sees them again with more bytes behind them.
std::size_t skip_to_next_marker(std::span<const std::byte> data) {
    const auto from = data.begin() + 1;
    const auto it = std::search(from, data.end(), marker_bytes.begin(), marker_bytes.end());
    if (it != data.end())
        return static_cast<std::size_t>(it - data.begin());
    const std::size_t keep = std::min<std::size_t>(marker_bytes.size() - 1, data.size() - 1);
    return data.size() - keep;
}

} // namespace

std::uint32_t crc32c(std::span<const std::byte> data) {
    boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
    crc.process_bytes(data.data(), data.size());
    return crc.checksum();
}

std::array<std::byte, segment_header_size> encode_segment_header() {
    std::array<std::byte, segment_header_size> h{};
    std::memcpy(h.data(), segment_magic.data(), segment_magic.size());
    store_le32(h.data() + 8, format_version);
    store_le32(h.data() + 12, crc32c(std::span(h).first(12)));
    return h;
}

std::array<std::byte, record_header_size> encode_record_header(std::span<const std::byte> payload,
                                                               std::uint32_t messages) {
    std::array<std::byte, record_header_size> h{};
    store_le32(h.data(), record_marker);
    store_le32(h.data() + 4, static_cast<std::uint32_t>(payload.size()));
    store_le32(h.data() + 8, messages);
    store_le32(h.data() + 12, crc32c(payload));
    store_le32(h.data() + 16, crc32c(std::span(h).first(16)));
    return h;
}

segment_header_check check_segment_header(std::span<const std::byte> data) {
    if (data.size() < segment_header_size)
        return {segment_header_status::too_short};
    if (std::memcmp(data.data(), segment_magic.data(), segment_magic.size()) != 0 ||
        load_le32(data.data() + 12) != crc32c(data.first(12)))
        return {segment_header_status::corrupt};
    const auto version = load_le32(data.data() + 8);
    if (version != format_version)
        return {segment_header_status::unsupported_version, version};
    return {segment_header_status::ok, version};
}

scan_result scan_record(std::span<const std::byte> data) {
    using kind = scan_result::kind;
    const scan_result need_more{kind::need_more, 0, {}, 0};
    const auto garbage = [](std::size_t n) {
        return scan_result{kind::garbage, n, {}, 0};
    };
    if (data.size() < marker_bytes.size())
        return need_more;
    if (!std::equal(marker_bytes.begin(), marker_bytes.end(), data.begin()))
        return garbage(skip_to_next_marker(data));
    if (data.size() < record_header_size)
        return need_more;
    const auto length = load_le32(data.data() + 4);
    if (load_le32(data.data() + 16) != crc32c(data.first(16)) || length > max_payload)
        return garbage(skip_to_next_marker(data));
    if (data.size() - record_header_size < length)
        return need_more;
    const auto payload = data.subspan(record_header_size, length);
    // The header checked out, so its length is trusted: skip the whole record.
    if (load_le32(data.data() + 12) != crc32c(payload))
        return garbage(record_header_size + length);
    return {kind::record, record_header_size + length, payload, load_le32(data.data() + 8)};
}

parse_result parse_records(std::span<const std::byte> data) {
    parse_result out;
    std::size_t at = 0;
    bool in_garbage = false;
    while (at < data.size()) {
        const auto r = scan_record(data.subspan(at));
        if (r.what == scan_result::kind::need_more) {
            // Too few bytes to hold even a marker, right after garbage: more of the same.
            if (in_garbage && data.size() - at < sizeof(record_marker))
                out.corrupt_bytes += data.size() - at;
            else
                out.torn_bytes = data.size() - at;
            break;
        }
        if (r.what == scan_result::kind::garbage) {
            if (!in_garbage)
                ++out.corrupt_regions;
            in_garbage = true;
            out.corrupt_bytes += r.size;
        } else {
            in_garbage = false;
            out.records.push_back({at, r.payload, r.messages});
        }
        at += r.size;
    }
    return out;
}

parse_segment_result parse_segment(std::span<const std::byte> data) {
    parse_segment_result out{check_segment_header(data), {}};
    switch (out.header.status) {
    case segment_header_status::unsupported_version:
        return out;
    case segment_header_status::too_short:
        out.body.torn_bytes = data.size();
        return out;
    case segment_header_status::corrupt:
    case segment_header_status::ok:
        break;
    }
    out.body = parse_records(data.subspan(segment_header_size));
    if (out.header.status == segment_header_status::corrupt) {
        // The header is one more corrupt region, unless garbage right after it continues it.
        const bool joined = out.body.corrupt_bytes > 0 &&
                            (out.body.records.empty() || out.body.records.front().offset > 0);
        if (!joined)
            ++out.body.corrupt_regions;
        out.body.corrupt_bytes += segment_header_size;
    }
    return out;
}

} // namespace funnel::spool
