#include "funnel/spool/link_spool.hpp"

#include "funnel/spool/record_format.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <string>
#include <sys/file.h>
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
    // One funnel per spool: a second one would deliver, remove and append the same segments.
    // The lock goes with the descriptor, so a killed funnel never leaves it behind.
    lock_ = unique_fd(::open((opts_.dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock_)
        throw spool_error(where + "lock: " + std::generic_category().message(errno));
    if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0)
        throw spool_error(where + (errno == EWOULDBLOCK ? "in use by another funnel"
                                                        : std::generic_category().message(errno)));
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

std::size_t link_spool::prepend(std::span<const record_view> records, append_result& failure) {
    failure = {};
    std::size_t stored = 0;
    if (segments_.empty()) { // nothing to go before: appending is the same
        for (const auto& r : records) {
            if (failure = append(r.framed, r.messages); !failure.ok())
                break;
            ++stored;
        }
        return stored;
    }
    if (records.empty())
        return 0;
    // Segments no larger than appends make them (drop_oldest and removal work in segments),
    // numbered down from the oldest one: `firsts` holds each one's first record.
    std::vector<std::size_t> firsts;
    std::uint64_t planned = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const std::uint64_t record = record_header_size + records[i].framed.size();
        if (firsts.empty() || planned + record > opts_.segment_bytes) {
            firsts.push_back(i);
            planned = segment_header_size;
        }
        planned += record;
    }
    const std::uint64_t first_number = segments_.front().number - firsts.size();
    std::vector<segment> made;
    std::uint64_t added = 0;
    for (std::size_t g = 0; g < firsts.size(); ++g) {
        const auto path = segment_path(first_number + g);
        std::optional<segment_writer> w;
        if (failure = segment_writer::create(path, ops_, w); !failure.ok())
            break;
        const auto end = g + 1 < firsts.size() ? firsts[g + 1] : records.size();
        std::size_t in_segment = 0;
        for (auto i = firsts[g]; i < end; ++i) {
            const auto& r = records[i];
            if (bytes_ + added + w->size() + record_header_size + r.framed.size() > opts_.limit) {
                failure = {append_status::limit, {}};
                break;
            }
            if (failure = w->append(r.framed, r.messages, false); !failure.ok())
                break;
            ++in_segment;
        }
        std::error_code ec;
        if (in_segment > 0 && opts_.sync != sync_policy::never)
            ec = w->sync();
        const std::uint64_t size = w->size();
        w.reset();
        if (in_segment == 0 || ec) {
            ::unlink(path.c_str());
            if (ec)
                failure = {append_status::io_error, ec};
            break;
        }
        made.push_back({first_number + g, size});
        added += size;
        stored += in_segment;
        if (!failure.ok())
            break;
    }
    if (made.empty())
        return 0;
    // The new segments are on disk (and named, after sync_dir) before the position names the
    // first: a crash in between leaves the old position, and the next start removes them as
    // delivered (numbered before it). So does a position that cannot be written: then the
    // records count as not stored. Only what was acknowledged in the spool before is ever read
    // again from the start of the old first segment, and a link prepends only batches older
    // than everything it read back, so nothing there was acknowledged: no duplicates either.
    if (opts_.sync != sync_policy::never)
        sync_dir();
    const spool_position start{first_number, 0};
    auto position_ec = position_file_->store(start);
    if (!position_ec && opts_.sync != sync_policy::never)
        position_ec = position_file_->sync();
    if (position_ec) {
        ++counters_.position_errors;
        for (const auto& m : made)
            ::unlink(segment_path(m.number).c_str());
        failure = {append_status::io_error, position_ec};
        return 0;
    }
    segments_.insert(segments_.begin(), made.begin(), made.end());
    bytes_ += added;
    counters_.records_appended += stored;
    reader_.reset();
    outstanding_.clear();
    read_ = acked_ = start;
    return stored;
}

std::optional<std::uint64_t> link_spool::drop_oldest() {
    // Batches read and not yet acknowledged pin the segments up to the reading position (they
    // are acknowledged by position); the segment being written stays too.
    auto it = segments_.begin();
    if (!outstanding_.empty())
        while (it != segments_.end() && it->number <= read_.segment)
            ++it;
    if (it == segments_.end() || (writer_ && std::next(it) == segments_.end()))
        return std::nullopt;
    // With nothing outstanding, reading stands at the acknowledged position: only what lies
    // after it is lost.
    const auto messages = messages_in(*it, read_.segment == it->number ? read_.offset : 0);
    const bool front = it == segments_.begin();
    if (read_.segment == it->number)
        reader_.reset();
    ::unlink(segment_path(it->number).c_str()); // if it stays, the next start removes it
    bytes_ -= it->size;
    ++counters_.segments_dropped;
    segments_.erase(it);
    if (front) {
        read_ = acked_ = segments_.empty() ? spool_position{next_number_, 0}
                                           : spool_position{segments_.front().number, 0};
        store_position();
    }
    return messages;
}

std::uint64_t link_spool::messages_in(const segment& seg, std::uint64_t from) const {
    std::string bytes(seg.size, '\0');
    const int fd = ::open(segment_path(seg.number).c_str(), O_RDONLY | O_CLOEXEC);
    std::size_t got = 0;
    while (fd >= 0 && got < bytes.size()) {
        const auto n = ::pread(fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
        if (n <= 0)
            break;
        got += static_cast<std::size_t>(n);
    }
    if (fd >= 0)
        ::close(fd);
    bytes.resize(got);
    std::uint64_t messages = 0;
    for (const auto& r : parse_segment(std::as_bytes(std::span(bytes))).body.records)
        if (segment_header_size + r.offset >= from) // offsets count from after the header
            messages += r.messages;
    return messages;
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
