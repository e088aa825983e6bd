#include "funnel/spool/segment_writer.hpp"

#include "funnel/spool/record_format.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace funnel::spool {
namespace {

append_result failure(int err) {
    const auto status =
        (err == ENOSPC || err == EDQUOT) ? append_status::disk_full : append_status::io_error;
    return {status, std::error_code(err, std::generic_category())};
}

} // namespace

append_result segment_writer::create(const std::filesystem::path& path, file_ops& ops,
                                     std::optional<segment_writer>& out) {
    unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640));
    if (!fd)
        return failure(errno);
    segment_writer w(std::move(fd), ops);
    auto header = encode_segment_header();
    iovec iov{header.data(), header.size()};
    if (auto r = w.write_all(&iov, 1); !r.ok()) {
        ::unlink(path.c_str());
        return r;
    }
    out.emplace(std::move(w));
    return {};
}

append_result segment_writer::append(std::span<const std::byte> payload, std::uint32_t messages,
                                     bool sync) {
    if (payload.size() > max_payload)
        return {append_status::too_large, {}};
    auto header = encode_record_header(payload, messages);
    iovec iov[2] = {{header.data(), header.size()},
                    {const_cast<std::byte*>(payload.data()), payload.size()}};
    if (auto r = write_all(iov, payload.empty() ? 1 : 2); !r.ok())
        return r;
    if (sync) {
        if (auto ec = this->sync())
            return failure(ec.value());
    }
    return {};
}

std::error_code segment_writer::sync() {
    if (ops_->fdatasync(fd_.get()) != 0)
        return {errno, std::generic_category()};
    return {};
}

append_result segment_writer::write_all(iovec* iov, int count) {
    std::uint64_t written = 0;
    while (count > 0) {
        const auto n = ops_->writev(fd_.get(), iov, count);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            const int err = n < 0 ? errno : EIO; // no progress on a regular file: give up
            // Cut back to the last whole record; O_APPEND writes then continue from there.
            if (::ftruncate(fd_.get(), static_cast<off_t>(size_)) != 0) {
                broken_ = true;
                size_ += written;
            }
            return failure(err);
        }
        written += static_cast<std::uint64_t>(n);
        auto left = static_cast<std::size_t>(n);
        while (count > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            ++iov;
            --count;
        }
        if (count > 0) {
            iov->iov_base = static_cast<char*>(iov->iov_base) + left;
            iov->iov_len -= left;
        }
    }
    size_ += written;
    return {};
}

} // namespace funnel::spool
