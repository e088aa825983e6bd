#pragma once
// segment_reader: reads one segment's records in order from a position, through a buffer of
// at most one record (plus a read's worth), skipping corrupt regions and a torn tail and counting
// them. The reader never looks past `file_end`, the bytes the spool knows are whole, so the
// segment being appended to can be read while it grows.
//
// Thread affinity: one thread at a time (the spool's). Lifetime: owns its descriptor.

#include "funnel/spool/unique_fd.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

namespace funnel::spool {

struct read_counters {
    std::uint64_t corrupt_regions = 0;
    std::uint64_t corrupt_bytes = 0;
    std::uint64_t torn_tails = 0;
    std::uint64_t torn_bytes = 0;
};

class segment_reader {
public:
    static constexpr std::size_t read_size = 256 * 1024;

    // Opens `path` to read from `offset` (0: from the start, checking the segment header).
    static std::error_code open(const std::filesystem::path& path, std::uint64_t offset,
                                std::optional<segment_reader>& out);

    struct record {
        std::span<const std::byte> payload; // valid until the next call
        std::uint32_t messages;
    };
    // The record at the current position, without consuming it; skips (and counts in `c`)
    // corrupt bytes on the way. Nothing when the segment holds no more whole record before
    // `file_end` (bytes left there and no more to come are counted as a torn tail and skipped).
    // An I/O error reads as the end of the segment, and is returned in `error`.
    std::optional<record> peek(std::uint64_t file_end, read_counters& c, std::error_code& error);
    // Moves past the record peek() returned.
    void consume();

    // File offset of the next byte to look at.
    std::uint64_t position() const { return buffer_offset_ + begin_; }

private:
    segment_reader(unique_fd fd, std::uint64_t offset)
        : fd_(std::move(fd)), buffer_offset_(offset) {}
    // Reads more of the file, up to file_end; false at its end or on error.
    bool fill(std::uint64_t file_end, std::error_code& error);
    void skip_garbage(std::size_t n, read_counters& c);

    unique_fd fd_;
    std::vector<std::byte> buffer_;
    std::uint64_t buffer_offset_ = 0; // file offset of buffer_[0]
    std::size_t begin_ = 0, end_ = 0; // the unread bytes in buffer_
    std::size_t peeked_ = 0;          // size of the record peek() returned
    bool header_checked_ = false;
    bool in_garbage_ = false;
};

} // namespace funnel::spool
