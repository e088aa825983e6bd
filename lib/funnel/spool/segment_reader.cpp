#include "funnel/spool/segment_reader.hpp"

#include "funnel/spool/record_format.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace funnel::spool {

std::error_code segment_reader::open(const std::filesystem::path& path, std::uint64_t offset,
                                     std::optional<segment_reader>& out) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return {errno, std::generic_category()};
    out.emplace(segment_reader(std::move(fd), offset));
    out->header_checked_ = offset != 0;
    return {};
}

bool segment_reader::fill(std::uint64_t file_end, std::error_code& error) {
    const auto file_at = buffer_offset_ + end_;
    if (file_at >= file_end)
        return false;
    // Keep the unread bytes, at the front.
    if (begin_ > 0) {
        std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
        buffer_offset_ += begin_;
        end_ -= begin_;
        begin_ = 0;
    }
    const auto want =
        static_cast<std::size_t>(std::min<std::uint64_t>(file_end - file_at, read_size));
    if (buffer_.size() < end_ + want)
        buffer_.resize(end_ + want);
    ssize_t n;
    do
        n = ::pread(fd_.get(), buffer_.data() + end_, want, static_cast<off_t>(file_at));
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        error = {errno, std::generic_category()};
        return false;
    }
    end_ += static_cast<std::size_t>(n);
    return n > 0;
}

void segment_reader::skip_garbage(std::size_t n, read_counters& c) {
    if (!in_garbage_)
        ++c.corrupt_regions;
    in_garbage_ = true;
    c.corrupt_bytes += n;
    begin_ += n;
}

std::optional<segment_reader::record> segment_reader::peek(std::uint64_t file_end, read_counters& c,
                                                           std::error_code& error) {
    while (!header_checked_) {
        const auto status =
            check_segment_header(std::span(buffer_).subspan(begin_, end_ - begin_)).status;
        if (status == segment_header_status::too_short) {
            if (fill(file_end, error))
                continue;
            if (error)
                return std::nullopt;
            c.torn_bytes += end_ - begin_;
            c.torn_tails += end_ > begin_ ? 1 : 0;
            begin_ = end_;
            return std::nullopt;
        }
        header_checked_ = true;
        // The spool refuses to open a segment of another version; here any bad header is
        // corrupt bytes, and the records after it are still read.
        if (status == segment_header_status::ok)
            begin_ += segment_header_size;
        else
            skip_garbage(segment_header_size, c);
    }
    for (;;) {
        const auto r = scan_record(std::span(buffer_).subspan(begin_, end_ - begin_));
        switch (r.what) {
        case scan_result::kind::record:
            in_garbage_ = false;
            peeked_ = r.size;
            return record{r.payload, r.messages};
        case scan_result::kind::garbage:
            skip_garbage(r.size, c);
            break;
        case scan_result::kind::need_more:
            if (fill(file_end, error))
                break;
            if (error)
                return std::nullopt;
            if (in_garbage_ && end_ - begin_ < sizeof(record_marker)) {
                // Too few bytes to hold even a marker, right after garbage: more of the same.
                c.corrupt_bytes += end_ - begin_;
                begin_ = end_;
            } else if (end_ > begin_) {
                ++c.torn_tails;
                c.torn_bytes += end_ - begin_;
                begin_ = end_;
            }
            return std::nullopt;
        }
    }
}

void segment_reader::consume() {
    begin_ += peeked_;
    peeked_ = 0;
}

} // namespace funnel::spool
