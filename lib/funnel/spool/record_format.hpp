#pragma once
// The spool's on-disk format (docs/spool.md): a segment header, then records, each a 20-byte
// header (sync marker, payload length, message count, payload CRC32C, header CRC32C) and a
// payload of whole, framed messages.
//
// Everything here is pure: no I/O, no global state. scan_record() and parse_records() never read
// outside the span they are given and always make progress, whatever the bytes (they are the
// fuzzing target).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace funnel::spool {

inline constexpr std::uint32_t format_version = 1;
inline constexpr std::size_t segment_header_size = 16;
inline constexpr std::size_t record_header_size = 20;
inline constexpr std::uint32_t record_marker = 0x7E1A5FD3;
// A larger length field is garbage, not a record (and bounds what a reader ever buffers).
inline constexpr std::uint32_t max_payload = 64U << 20;

// CRC32C (Castagnoli), as in iSCSI and ext4: crc32c("123456789") == 0xE3069283.
std::uint32_t crc32c(std::span<const std::byte> data);

std::array<std::byte, segment_header_size> encode_segment_header();
std::array<std::byte, record_header_size> encode_record_header(std::span<const std::byte> payload,
                                                               std::uint32_t messages);

enum class segment_header_status {
    ok,
    too_short,           // fewer than segment_header_size bytes
    corrupt,             // wrong magic or CRC
    unsupported_version, // a valid header of a format this funnel cannot read
};
struct segment_header_check {
    segment_header_status status;
    std::uint32_t version = 0; // when the CRC matched
};
segment_header_check check_segment_header(std::span<const std::byte> data);

struct scan_result {
    enum class kind {
        record,    // a whole, valid record of `size` bytes
        need_more, // a record may start here but is not complete (at the end: a torn tail)
        garbage,   // skip `size` bytes (> 0) to the next place a record may start
    };
    kind what;
    std::size_t size = 0;
    std::span<const std::byte> payload; // record only
    std::uint32_t messages = 0;         // record only
};
// Classifies the bytes at the start of `data`.
scan_result scan_record(std::span<const std::byte> data);

struct parsed_record {
    std::size_t offset; // of its header in the parsed span
    std::span<const std::byte> payload;
    std::uint32_t messages;
};
struct parse_result {
    std::vector<parsed_record> records;
    std::size_t corrupt_regions = 0; // runs of skipped bytes between records
    std::size_t corrupt_bytes = 0;
    std::size_t torn_bytes = 0; // an incomplete record (or a few stray bytes) at the end
};
// Every valid record in `data` (bytes after a segment header), skipping and counting corrupt
// regions and the torn tail.
parse_result parse_records(std::span<const std::byte> data);

struct parse_segment_result {
    segment_header_check header;
    parse_result body; // records parsed after the header when there are enough bytes for one
};
// A whole segment file's bytes. A corrupt header is counted as a corrupt region and the
// records after it are still read; an unsupported version stops there (nothing is parsed).
parse_segment_result parse_segment(std::span<const std::byte> data);

} // namespace funnel::spool
