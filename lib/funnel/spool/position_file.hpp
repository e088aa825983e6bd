#pragma once
// position_file: where delivery has got to in a spool (segment number, offset after the last
// acknowledged record), kept in two 32-byte slots written alternately, each with a counter and
// a CRC32C, so a torn write of one slot leaves the other readable. Losing it only means
// duplicates (docs/spool.md), so writes are not synced one by one: sync() does that.
//
// Thread affinity: one thread at a time (the spool's).

#include "funnel/spool/unique_fd.hpp"

#include <compare>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <system_error>

namespace funnel::spool {

struct spool_position {
    std::uint64_t segment = 0;
    std::uint64_t offset = 0; // 0: the segment's start
    auto operator<=>(const spool_position&) const = default;
};

class position_file {
public:
    static constexpr std::size_t slot_size = 32;

    // Opens (creating) `path`; an error code when it cannot.
    static std::error_code open(const std::filesystem::path& path,
                                std::optional<position_file>& out);

    // The newest readable slot, if any.
    std::optional<spool_position> load() const;
    std::error_code store(spool_position p);
    std::error_code sync();

private:
    explicit position_file(unique_fd fd) : fd_(std::move(fd)) {}

    unique_fd fd_;
    std::uint64_t counter_ = 0; // of the newest slot written
};

} // namespace funnel::spool
