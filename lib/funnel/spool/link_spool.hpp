#pragma once
// link_spool: one message-mode link's spool on disk (docs/spool.md). A FIFO of records (each
// one or more whole, framed messages) in numbered segment files, with a byte limit, a sync
// policy, and the delivery position kept across restarts.
//
//   append ─► newest segment ─► ... ─► read_next (oldest first) ─► [caller delivers] ─► acknowledge
//                                                                                        │
//                     segments wholly acknowledged are removed ◄─────────────────────────┘
//
// Batches are acknowledged in the order they were read; the caller keeps the ones it has read
// until then (a resend after a broken connection is the caller's, from memory). The spool
// decides no policy: a full spool or disk is reported to the caller (`--overflow`).
//
// Thread affinity: none inside; every call from one thread at a time (the spool strand of the
// integration), never the io thread, since every call may block on the disk.
// Lifetime: owned by its user; the files stay when it is destroyed.

#include "funnel/spool/file_ops.hpp"
#include "funnel/spool/position_file.hpp"
#include "funnel/spool/segment_reader.hpp"
#include "funnel/spool/segment_writer.hpp"
#include "funnel/spool/unique_fd.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace funnel::spool {

enum class sync_policy { always, interval, never };

// A spool directory that cannot be used at startup (one line, names the path).
class spool_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class link_spool {
public:
    // Numbers of new spools start here, leaving room below for a prepend (docs/spool.md).
    static constexpr std::uint64_t first_segment = std::uint64_t{1} << 32;

    struct options {
        std::filesystem::path dir;
        std::uint64_t limit = 0;                  // bytes of segment files, all included
        std::uint64_t segment_bytes = 16U << 20;  // a segment rolls before it would exceed this
        sync_policy sync = sync_policy::interval; // always: fdatasync per append
    };

    struct counters : read_counters {
        std::uint64_t records_appended = 0;
        std::uint64_t records_read = 0;
        std::uint64_t messages_read = 0;
        std::uint64_t segments_removed = 0;
        std::uint64_t position_errors = 0;     // failed writes of the position (duplicates at most)
        std::uint64_t unreadable_segments = 0; // could not be opened or read: given up
        std::uint64_t segments_dropped = 0;    // by drop_oldest()
        std::error_code last_read_error;
    };

    struct batch {
        std::string bytes; // whole framed messages, ready to write
        std::uint32_t messages = 0;
        std::uint32_t records = 0;
    };

    // Opens (creating) `opts.dir` and recovers what a previous run left: the delivery position,
    // the segments after it. Throws spool_error when the directory cannot be used or holds a
    // segment of an unknown format version.
    static std::unique_ptr<link_spool> open(options opts, file_ops& ops = file_ops::system());

    link_spool(const link_spool&) = delete;
    link_spool& operator=(const link_spool&) = delete;

    // Stores `framed` (whole messages with their framing) as one record.
    append_result append(std::span<const std::byte> framed, std::uint32_t messages);

    struct record_view {
        std::span<const std::byte> framed;
        std::uint32_t messages = 0;
    };
    // At a stop only: puts `records` before everything the spool holds (docs/spool.md, "At a
    // stop"), in new segments (of at most the segment size) numbered just below the oldest, and
    // moves the position to the first, so that the next start reads them first. What was read
    // from the spool and not acknowledged is read again then. Returns how many leading records were
    // stored; `failure` says why the next one was not (the limit counts as for append).
    std::size_t prepend(std::span<const record_view> records, append_result& failure);

    // --overflow drop-oldest: removes the oldest segment that nothing has been read from and
    // that is not being written, so that an append may find room. Returns the messages it held
    // (counted from its records), or nothing when no segment qualifies.
    std::optional<std::uint64_t> drop_oldest();
    // The next records after those already read, up to `max_bytes` (at least one record, however
    // large); nothing when no whole record is left to read (corrupt bytes or a torn tail may
    // have been skipped and counted on the way).
    std::optional<batch> read_next(std::size_t max_bytes);
    // The oldest batch read and not yet acknowledged has been delivered. Removes the segments
    // delivered in full and records the position.
    void acknowledge();
    // fdatasync()s the segment being written and the position (the `interval` timer's job).
    std::error_code sync();

    std::uint64_t bytes() const { return bytes_; } // on disk, counted against the limit
    std::uint64_t limit() const { return opts_.limit; }
    bool empty() const { return segments_.empty(); }
    bool has_unread() const; // bytes not yet read (read_next may find only garbage there)
    std::size_t outstanding() const { return outstanding_.size(); } // read, not acknowledged
    const counters& stats() const { return counters_; }

private:
    struct segment {
        std::uint64_t number;
        std::uint64_t size;
    };

    link_spool(options opts, file_ops& ops);
    std::filesystem::path segment_path(std::uint64_t number) const;
    void recover();
    append_result start_segment();
    void remove_front();
    // Messages of the records at or after `from` in the segment (its file read whole).
    std::uint64_t messages_in(const segment& seg, std::uint64_t from) const;
    void remove_delivered();
    void store_position();
    void give_up_segment(std::error_code ec);
    void sync_dir();

    options opts_;
    file_ops& ops_;
    unique_fd lock_; // flock()ed for as long as this spool is open
    std::optional<position_file> position_file_;
    std::deque<segment> segments_;         // oldest first; the last is written when writer_ is set
    std::optional<segment_writer> writer_; // only ever a segment this process created
    std::optional<segment_reader> reader_; // at read_
    spool_position read_;                  // next to read
    spool_position acked_;                 // delivered up to here
    std::deque<spool_position> outstanding_; // end of each batch read, not yet acknowledged
    std::uint64_t next_number_ = first_segment;
    std::uint64_t bytes_ = 0;
    counters counters_;
};

} // namespace funnel::spool
