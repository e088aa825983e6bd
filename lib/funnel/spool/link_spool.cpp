#include "funnel/spool/link_spool.hpp"

#include "funnel/spool/record_format.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <string>
#include <unistd.h>

namespace funnel::spool {
namespace {

// "0000004294967296.seg": 16 decimal digits, so names sort as numbers do.
std::optional<std::uint64_t> segment_number(const std::string& name) {
    if (name.size() != 20 || !name.ends_with(".seg") ||
        !std::all_of(name.begin(), name.begin() + 16, [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    return std::stoull(name.substr(0, 16));
}

} // namespace

std::unique_ptr<link_spool> link_spool::open(options opts, file_ops& ops) {
    std::unique_ptr<link_spool> s(new link_spool(std::move(opts), ops));
    s->recover();
    return s;
}

link_spool::link_spool(options opts, file_ops& ops) : opts_(std::move(opts)), ops_(ops) {}

std::filesystem::path link_spool::segment_path(std::uint64_t number) const {
    std::array<char, 32> name{};
    std::snprintf(name.data(), name.size(), "%016llu.seg", static_cast<unsigned long long>(number));
    return opts_.dir / name.data();
}

void link_spool::recover() {
    const auto where = "spool directory " + opts_.dir.string() + ": ";
    std::error_code ec;
    std::filesystem::create_directories(opts_.dir, ec);
    if (ec)
        throw spool_error(where + ec.message());
    if (auto e = position_file::open(opts_.dir / "position", position_file_))
        throw spool_error(where + "position: " + e.message());

    std::vector<segment> found;
    for (std::filesystem::directory_iterator it(opts_.dir, ec), end; !ec && it != end;
         it.increment(ec)) {
        const auto number = segment_number(it->path().filename().string());
        if (!number)
            continue;
        const auto size = it->file_size(ec);
        if (ec)
            break;
        found.push_back({*number, size});
    }
    if (ec)
        throw spool_error(where + ec.message());
    std::sort(found.begin(), found.end(),
              [](const segment& a, const segment& b) { return a.number < b.number; });

    const auto saved = position_file_->load();
    for (const auto& seg : found) {
        const auto path = segment_path(seg.number);
        // Delivered in full before the last run ended, or created and never written to.
        if ((saved && seg.number < saved->segment) || seg.size <= segment_header_size) {
            if (::unlink(path.c_str()) != 0)
                throw spool_error(where + "cannot remove " + path.filename().string() + ": " +
                                  std::generic_category().message(errno));
            continue;
        }
        std::array<std::byte, segment_header_size> header{};
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        const auto n = fd >= 0 ? ::pread(fd, header.data(), header.size(), 0) : -1;
        if (fd >= 0)
            ::close(fd);
        if (n < 0)
            throw spool_error(where + "cannot read " + path.filename().string() + ": " +
                              std::generic_category().message(errno));
        const auto check = check_segment_header(header);
        // Never remove what this funnel cannot read.
        if (check.status == segment_header_status::unsupported_version)
            throw spool_error(where + path.filename().string() + " has format version " +
                              std::to_string(check.version) + "; this funnel reads " +
                              std::to_string(format_version));
        segments_.push_back(seg);
        bytes_ += seg.size;
    }

    next_number_ = std::max(first_segment, saved ? saved->segment : 0);
    if (!segments_.empty())
        next_number_ = std::max(next_number_, segments_.back().number + 1);
    if (segments_.empty())
        read_ = {next_number_, 0};
    else if (saved && saved->segment == segments_.front().number)
        read_ = *saved;
    else
        read_ = {segments_.front().number, 0};
    acked_ = read_;
}

bool link_spool::has_unread() const {
    if (segments_.empty())
        return false;
    const auto& last = segments_.back();
    return read_.segment < last.number || read_.offset < last.size;
}

append_result link_spool::append(std::span<const std::byte> framed, std::uint32_t messages) {
    const std::uint64_t record = record_header_size + framed.size();
    if (framed.size() > max_payload || segment_header_size + record > opts_.limit)
        return {append_status::too_large, {}};
    const bool roll =
        !writer_ || writer_->broken() ||
        (writer_->size() > segment_header_size && writer_->size() + record > opts_.segment_bytes);
    if (bytes_ + record + (roll ? segment_header_size : 0) > opts_.limit)
        return {append_status::limit, {}};
    if (roll) {
        if (auto r = start_segment(); !r.ok())
            return r;
    }
    const auto before = writer_->size();
    auto r = writer_->append(framed, messages, opts_.sync == sync_policy::always);
    segments_.back().size = writer_->size();
    bytes_ += writer_->size() - before;
    if (r.ok())
        ++counters_.records_appended;
    return r;
}

append_result link_spool::start_segment() {
    if (writer_) {
        // What rolls out of reach of sync() is synced now, unless nothing ever is.
        auto ec = opts_.sync == sync_policy::never ? std::error_code{} : writer_->sync();
        writer_.reset();
        if (ec)
            return {append_status::io_error, ec};
    }
    const auto number = next_number_++;
    if (auto r = segment_writer::create(segment_path(number), ops_, writer_); !r.ok())
        return r;
    segments_.push_back({number, writer_->size()});
    bytes_ += writer_->size();
    if (opts_.sync != sync_policy::never)
        sync_dir();
    return {};
}

std::optional<link_spool::batch> link_spool::read_next(std::size_t max_bytes) {
    batch out;
    const auto from = read_;
    while (!segments_.empty()) {
        // Segments before the read position are gone, or were never created (a failed start).
        if (read_.segment < segments_.front().number)
            read_ = {segments_.front().number, 0};
        const auto it = std::find_if(segments_.begin(), segments_.end(),
                                     [&](const segment& s) { return s.number == read_.segment; });
        if (it == segments_.end())
            break; // after the newest segment: nothing written yet
        std::error_code ec;
        if (!reader_)
            ec = segment_reader::open(segment_path(it->number), read_.offset, reader_);
        std::optional<segment_reader::record> r;
        if (!ec) {
            r = reader_->peek(it->size, counters_, ec);
            read_.offset = reader_->position();
        }
        if (ec) {
            give_up_segment(ec);
            if (std::next(it) == segments_.end())
                break;
            read_ = {std::next(it)->number, 0};
            continue;
        }
        if (r) {
            if (out.records > 0 && out.bytes.size() + r->payload.size() > max_bytes)
                break;
            out.bytes.append(reinterpret_cast<const char*>(r->payload.data()), r->payload.size());
            out.messages += r->messages;
            ++out.records;
            reader_->consume();
            read_.offset = reader_->position();
            continue;
        }
        if (std::next(it) == segments_.end())
            break; // the newest segment: more may come
        reader_.reset();
        read_ = {std::next(it)->number, 0};
    }
    if (out.records == 0) {
        // Only garbage or a torn tail was passed: nobody will acknowledge it, so it counts as
        // delivered with whatever was read before it.
        if (read_ != from) {
            if (outstanding_.empty()) {
                acked_ = read_;
                remove_delivered();
                store_position();
            } else {
                outstanding_.back() = read_;
            }
        }
        return std::nullopt;
    }
    counters_.records_read += out.records;
    counters_.messages_read += out.messages;
    outstanding_.push_back(read_);
    return out;
}

void link_spool::give_up_segment(std::error_code ec) {
    reader_.reset();
    ++counters_.unreadable_segments;
    counters_.last_read_error = ec;
}

void link_spool::acknowledge() {
    if (outstanding_.empty())
        return;
    acked_ = outstanding_.front();
    outstanding_.pop_front();
    remove_delivered();
    store_position();
}

void link_spool::remove_delivered() {
    while (!segments_.empty()) {
        const auto& front = segments_.front();
        const bool passed = front.number < acked_.segment;
        // Acknowledged to its end: for the newest segment, that is everything written.
        const bool finished = front.number == acked_.segment && acked_.offset >= front.size &&
                              (segments_.size() > 1 || outstanding_.empty());
        if (!passed && !finished)
            break;
        remove_front();
    }
    if (segments_.empty())
        read_ = acked_ = {next_number_, 0};
}

void link_spool::remove_front() {
    const auto& front = segments_.front();
    if (read_.segment == front.number)
        reader_.reset();
    if (writer_ && segments_.size() == 1)
        writer_.reset();
    // A segment that cannot be removed is found again (before the position) at the next start.
    ::unlink(segment_path(front.number).c_str());
    bytes_ -= front.size;
    ++counters_.segments_removed;
    segments_.pop_front();
}

void link_spool::store_position() {
    if (position_file_->store(acked_))
        ++counters_.position_errors;
}

std::error_code link_spool::sync() {
    std::error_code ec;
    if (writer_)
        ec = writer_->sync();
    if (auto e = position_file_->sync(); e && !ec)
        ec = e;
    return ec;
}

void link_spool::sync_dir() {
    const int fd = ::open(opts_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    ::fsync(fd); // best effort: what a failure risks is the new file's name after a power loss
    ::close(fd);
}

} // namespace funnel::spool
