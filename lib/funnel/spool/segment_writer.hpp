#pragma once
// segment_writer: appends records to one new segment file. A record goes out in one writev
// (header and payload); a write that fails part-way is cut back to the record's start, so the
// file only ever holds whole records. If even that fails the writer is `broken()` and the
// spool starts a new segment (the partial record is then a corrupt region for the reader).
//
// Thread affinity: one thread at a time (the spool's). Lifetime: owns its descriptor.

#include "funnel/spool/file_ops.hpp"
#include "funnel/spool/unique_fd.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <system_error>

namespace funnel::spool {

enum class append_status {
    stored,
    limit,     // the spool's byte limit: room may come with delivery
    too_large, // larger than the limit (or max_payload) allows even in an empty spool
    disk_full, // ENOSPC or EDQUOT
    io_error,
};

struct append_result {
    append_status status = append_status::stored;
    std::error_code error; // for disk_full and io_error
    bool ok() const { return status == append_status::stored; }
};

class segment_writer {
public:
    // Creates `path` (it must not exist) and writes the segment header. On failure nothing is
    // left behind and `out` stays empty.
    static append_result create(const std::filesystem::path& path, file_ops& ops,
                                std::optional<segment_writer>& out);

    // Appends one record; with `sync`, fdatasync()s before returning.
    append_result append(std::span<const std::byte> payload, std::uint32_t messages, bool sync);
    std::error_code sync();

    std::uint64_t size() const { return size_; } // bytes in the file
    bool broken() const { return broken_; }

private:
    segment_writer(unique_fd fd, file_ops& ops) : fd_(std::move(fd)), ops_(&ops) {}
    // Writes all of `iov`; on failure cuts the file back to size_.
    append_result write_all(iovec* iov, int count);

    unique_fd fd_;
    file_ops* ops_;
    std::uint64_t size_ = 0;
    bool broken_ = false;
};

} // namespace funnel::spool
