#include "funnel/spool/position_file.hpp"

#include "funnel/spool/record_format.hpp"

#include <array>
#include <cerrno>
#include <cstddef>
#include <fcntl.h>
#include <span>
#include <unistd.h>

namespace funnel::spool {
namespace {

// A slot: marker (4), CRC32C of bytes 8..31 (4), counter (8), segment (8), offset (8).
constexpr std::uint32_t slot_marker = 0x50534E46; // "FNSP"

void store_le(std::byte* to, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
        to[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFFU);
}

std::uint64_t load_le(const std::byte* from, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
        v |= static_cast<std::uint64_t>(from[i]) << (8 * i);
    return v;
}

struct slot {
    std::uint64_t counter;
    spool_position position;
};

std::optional<slot> decode(std::span<const std::byte, position_file::slot_size> s) {
    if (load_le(s.data(), 4) != slot_marker || load_le(s.data() + 4, 4) != crc32c(s.subspan(8)))
        return std::nullopt;
    return slot{load_le(s.data() + 8, 8), {load_le(s.data() + 16, 8), load_le(s.data() + 24, 8)}};
}

// The readable slot with the highest counter.
std::optional<slot> newest_slot(int fd) {
    std::array<std::byte, 2 * position_file::slot_size> both{};
    const auto n = ::pread(fd, both.data(), both.size(), 0);
    std::optional<slot> best;
    for (std::size_t i = 0; n > 0 && (i + 1) * position_file::slot_size <= std::size_t(n); ++i) {
        auto s = decode(std::span(both)
                            .subspan(i * position_file::slot_size)
                            .first<position_file::slot_size>());
        if (s && (!best || s->counter > best->counter))
            best = s;
    }
    return best;
}

} // namespace

std::error_code position_file::open(const std::filesystem::path& path,
                                    std::optional<position_file>& out) {
    unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
    if (!fd)
        return {errno, std::generic_category()};
    out.emplace(position_file(std::move(fd)));
    // Go on counting from the newest slot, so the next store overwrites the older one.
    if (auto s = newest_slot(out->fd_.get()))
        out->counter_ = s->counter;
    return {};
}

std::optional<spool_position> position_file::load() const {
    if (auto s = newest_slot(fd_.get()))
        return s->position;
    return std::nullopt;
}

std::error_code position_file::store(spool_position p) {
    const auto counter = counter_ + 1;
    std::array<std::byte, slot_size> s{};
    store_le(s.data(), slot_marker, 4);
    store_le(s.data() + 8, counter, 8);
    store_le(s.data() + 16, p.segment, 8);
    store_le(s.data() + 24, p.offset, 8);
    store_le(s.data() + 4, crc32c(std::span(s).subspan(8)), 4);
    const auto at = static_cast<off_t>((counter % 2) * slot_size);
    ssize_t n;
    do
        n = ::pwrite(fd_.get(), s.data(), s.size(), at);
    while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(s.size()))
        return {n < 0 ? errno : EIO, std::generic_category()};
    counter_ = counter;
    return {};
}

std::error_code position_file::sync() {
    if (::fdatasync(fd_.get()) != 0)
        return {errno, std::generic_category()};
    return {};
}

} // namespace funnel::spool
