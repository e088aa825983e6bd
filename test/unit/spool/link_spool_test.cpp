#include "funnel/spool/link_spool.hpp"
#include "funnel/spool/record_format.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace funnel::spool {
namespace {

namespace fs = std::filesystem;

std::span<const std::byte> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string text_of(const link_spool::batch& b) {
    return b.bytes;
}

// A message of the line framing, numbered: "m0007 xxxx...\n".
std::string message(int i, std::size_t pad = 10) {
    char head[8];
    std::snprintf(head, sizeof head, "m%04d ", i);
    return head + std::string(pad, 'x') + "\n";
}

std::vector<fs::path> segments_in(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".seg")
            out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

// Reads and acknowledges everything the spool holds, one record per batch.
std::vector<std::string> drain(link_spool& s) {
    std::vector<std::string> out;
    while (auto b = s.read_next(1)) {
        out.push_back(text_of(*b));
        s.acknowledge();
    }
    return out;
}

// Makes writes fail with `err` once `budget` bytes have been written (part of a write first, as
// a disk filling up does); sync failures on demand.
class failing_ops : public file_ops {
public:
    ssize_t writev(int fd, const iovec* iov, int count) override {
        std::size_t want = 0;
        for (int i = 0; i < count; ++i)
            want += iov[i].iov_len;
        if (budget >= want) {
            budget -= want;
            return file_ops::writev(fd, iov, count);
        }
        if (budget == 0) {
            errno = err;
            return -1;
        }
        // A short write of what is left, as the kernel does when the disk fills.
        std::vector<iovec> part;
        std::size_t left = budget;
        for (int i = 0; i < count && left > 0; ++i) {
            part.push_back({iov[i].iov_base, std::min(left, iov[i].iov_len)});
            left -= part.back().iov_len;
        }
        const auto n = file_ops::writev(fd, part.data(), static_cast<int>(part.size()));
        budget -= static_cast<std::size_t>(n);
        return n;
    }
    int fdatasync(int fd) override {
        ++syncs;
        return file_ops::fdatasync(fd);
    }

    std::size_t budget = SIZE_MAX;
    int err = ENOSPC;
    int syncs = 0;
};

class LinkSpool : public ::testing::Test {
protected:
    link_spool::options opts(std::uint64_t limit = 1 << 20, std::uint64_t segment = 4096) const {
        return {dir_.file("link-0"), limit, segment, sync_policy::never};
    }
    test::temp_dir dir_;
};

TEST_F(LinkSpool, RoundTripInOrder) {
    auto s = link_spool::open(opts());
    EXPECT_TRUE(s->empty());
    EXPECT_FALSE(s->read_next(1000));
    for (int i = 0; i < 10; ++i)
        ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
    EXPECT_TRUE(s->has_unread());
    const auto b = s->read_next(1 << 20);
    ASSERT_TRUE(b);
    std::string expected;
    for (int i = 0; i < 10; ++i)
        expected += message(i);
    EXPECT_EQ(text_of(*b), expected);
    EXPECT_EQ(b->messages, 10U);
    EXPECT_EQ(b->records, 10U);
    EXPECT_FALSE(s->has_unread());
    EXPECT_FALSE(s->read_next(1000));
}

TEST_F(LinkSpool, ReadNextStopsAtMaxBytesButTakesOneRecordAtLeast) {
    auto s = link_spool::open(opts());
    const auto big = message(0, 100);
    ASSERT_TRUE(s->append(bytes_of(big), 1).ok());
    ASSERT_TRUE(s->append(bytes_of(message(1)), 1).ok());
    ASSERT_TRUE(s->append(bytes_of(message(2)), 1).ok());
    auto b = s->read_next(10);
    ASSERT_TRUE(b);
    EXPECT_EQ(text_of(*b), big);
    b = s->read_next(2 * message(1).size());
    ASSERT_TRUE(b);
    EXPECT_EQ(text_of(*b), message(1) + message(2));
    EXPECT_EQ(s->outstanding(), 2U);
}

TEST_F(LinkSpool, SegmentsRollAndAreRemovedOnceDelivered) {
    auto s = link_spool::open(opts(1 << 20, 256));
    for (int i = 0; i < 40; ++i)
        ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
    const auto dir = opts().dir;
    const auto before = segments_in(dir).size();
    EXPECT_GT(before, 3U);
    for (const auto& p : segments_in(dir))
        EXPECT_LE(fs::file_size(p), 256U);

    // Half delivered: the segments wholly before the position are gone, the rest stay.
    for (int i = 0; i < 20; ++i) {
        auto b = s->read_next(1);
        ASSERT_TRUE(b);
        EXPECT_EQ(text_of(*b), message(i));
        s->acknowledge();
    }
    const auto middle = segments_in(dir).size();
    EXPECT_LT(middle, before);
    EXPECT_GT(middle, 0U);

    std::uint64_t on_disk = 0;
    for (const auto& p : segments_in(dir))
        on_disk += fs::file_size(p);
    EXPECT_EQ(s->bytes(), on_disk);

    const auto rest = drain(*s);
    ASSERT_EQ(rest.size(), 20U);
    EXPECT_EQ(rest.front(), message(20));
    EXPECT_TRUE(segments_in(dir).empty());
    EXPECT_TRUE(s->empty());
    EXPECT_EQ(s->bytes(), 0U);
    EXPECT_EQ(s->stats().segments_removed, before);

    // And it goes on after being emptied.
    ASSERT_TRUE(s->append(bytes_of(message(99)), 1).ok());
    EXPECT_EQ(drain(*s), std::vector<std::string>{message(99)});
}

TEST_F(LinkSpool, ReadWhileBeingWritten) {
    auto s = link_spool::open(opts());
    ASSERT_TRUE(s->append(bytes_of(message(0)), 1).ok());
    auto b = s->read_next(1000);
    ASSERT_TRUE(b);
    ASSERT_TRUE(s->append(bytes_of(message(1)), 1).ok());
    b = s->read_next(1000);
    ASSERT_TRUE(b);
    EXPECT_EQ(text_of(*b), message(1));
    s->acknowledge();
    EXPECT_FALSE(s->empty()) << "the second batch is not acknowledged yet";
    s->acknowledge();
    EXPECT_TRUE(s->empty());
}

TEST_F(LinkSpool, LimitIsReportedAndFreedByDelivery) {
    const std::uint64_t limit = segment_header_size + 3 * (record_header_size + message(0).size());
    auto s = link_spool::open(opts(limit));
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok()) << i;
    const auto full = s->append(bytes_of(message(3)), 1);
    EXPECT_EQ(full.status, append_status::limit);
    EXPECT_EQ(s->bytes(), limit);
    EXPECT_EQ(drain(*s).size(), 3U);
    EXPECT_TRUE(s->append(bytes_of(message(3)), 1).ok());
    EXPECT_EQ(drain(*s), std::vector<std::string>{message(3)});
    // A record that an empty spool could not take either.
    EXPECT_EQ(s->append(bytes_of(std::string(limit, 'x')), 1).status, append_status::too_large);
}

TEST_F(LinkSpool, DiskFullCutsThePartialRecordAndRecovers) {
    failing_ops ops;
    auto s = link_spool::open(opts(), ops);
    ASSERT_TRUE(s->append(bytes_of(message(0)), 1).ok());
    // Room for part of the next record only.
    ops.budget = 7;
    const auto r = s->append(bytes_of(message(1)), 1);
    EXPECT_EQ(r.status, append_status::disk_full);
    EXPECT_EQ(r.error, std::errc::no_space_on_device);
    const auto files = segments_in(opts().dir);
    ASSERT_EQ(files.size(), 1U);
    EXPECT_EQ(fs::file_size(files[0]), segment_header_size + record_header_size + message(0).size())
        << "the partial record must be cut off";
    EXPECT_EQ(s->bytes(), fs::file_size(files[0]));

    // Space comes back: the next record follows the first with nothing between them.
    ops.budget = SIZE_MAX;
    ASSERT_TRUE(s->append(bytes_of(message(2)), 1).ok());
    EXPECT_EQ(drain(*s), (std::vector<std::string>{message(0), message(2)}));
    EXPECT_EQ(s->stats().corrupt_regions, 0U);
}

TEST_F(LinkSpool, DiskFullWhenStartingASegment) {
    failing_ops ops;
    ops.budget = 0;
    ops.err = EDQUOT;
    auto s = link_spool::open(opts(), ops);
    EXPECT_EQ(s->append(bytes_of(message(0)), 1).status, append_status::disk_full);
    EXPECT_TRUE(segments_in(opts().dir).empty());
    EXPECT_EQ(s->bytes(), 0U);
    ops.budget = SIZE_MAX;
    ASSERT_TRUE(s->append(bytes_of(message(1)), 1).ok());
    EXPECT_EQ(drain(*s), std::vector<std::string>{message(1)});
}

TEST_F(LinkSpool, OtherWriteErrorsAreIoErrors) {
    failing_ops ops;
    auto s = link_spool::open(opts(), ops);
    ASSERT_TRUE(s->append(bytes_of(message(0)), 1).ok());
    ops.budget = 0;
    ops.err = EIO;
    EXPECT_EQ(s->append(bytes_of(message(1)), 1).status, append_status::io_error);
}

TEST_F(LinkSpool, SyncAlwaysSyncsEveryAppend) {
    failing_ops ops;
    auto o = opts();
    o.sync = sync_policy::always;
    auto s = link_spool::open(o, ops);
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
    EXPECT_EQ(ops.syncs, 5);
}

TEST_F(LinkSpool, RestartContinuesAfterTheAcknowledgedPosition) {
    {
        auto s = link_spool::open(opts(1 << 20, 256));
        for (int i = 0; i < 30; ++i)
            ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
        for (int i = 0; i < 12; ++i) {
            ASSERT_TRUE(s->read_next(1));
            s->acknowledge();
        }
        // Read but never acknowledged: delivered again after the restart.
        ASSERT_TRUE(s->read_next(1));
    }
    auto s = link_spool::open(opts(1 << 20, 256));
    const auto rest = drain(*s);
    ASSERT_EQ(rest.size(), 18U);
    EXPECT_EQ(rest.front(), message(12));
    EXPECT_EQ(rest.back(), message(29));
    // New records go to a new segment after the old ones.
    ASSERT_TRUE(s->append(bytes_of(message(30)), 1).ok());
    EXPECT_EQ(drain(*s), std::vector<std::string>{message(30)});
}

TEST_F(LinkSpool, RestartWithAnUnreadablePositionStartsAtTheOldestSegment) {
    {
        auto s = link_spool::open(opts());
        for (int i = 0; i < 3; ++i)
            ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
        ASSERT_TRUE(s->read_next(1));
        s->acknowledge();
    }
    std::ofstream(opts().dir / "position", std::ios::trunc) << "garbage";
    auto s = link_spool::open(opts());
    EXPECT_EQ(drain(*s).size(), 3U) << "at-least-once: the whole segment again";
}

TEST_F(LinkSpool, PositionFileKeepsTheOtherSlotWhenOneIsTorn) {
    {
        auto s = link_spool::open(opts());
        for (int i = 0; i < 4; ++i)
            ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
        for (int i = 0; i < 2; ++i) {
            ASSERT_TRUE(s->read_next(1));
            s->acknowledge();
        }
    }
    // The second acknowledgement went to slot 0 (counter 2): tear it.
    {
        std::fstream f(opts().dir / "position", std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(20);
        f.put('\x55');
    }
    auto s = link_spool::open(opts());
    const auto rest = drain(*s);
    ASSERT_EQ(rest.size(), 3U) << "back to the first acknowledgement";
    EXPECT_EQ(rest.front(), message(1));
}

// A crash mid-write leaves a torn record at the end of the newest segment, at any byte.
TEST_F(LinkSpool, RecoversFromATornTailAtEveryOffset) {
    const auto rec = record_header_size + message(0).size();
    const auto whole = segment_header_size + 3 * rec;
    for (std::size_t cut = whole - rec; cut < whole; ++cut) {
        test::temp_dir dir;
        const link_spool::options o{dir.file("l"), 1 << 20, 1 << 16, sync_policy::never};
        {
            auto s = link_spool::open(o);
            for (int i = 0; i < 3; ++i)
                ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
        }
        fs::resize_file(segments_in(o.dir).at(0), cut);
        auto s = link_spool::open(o);
        ASSERT_TRUE(s->append(bytes_of(message(3)), 1).ok());
        EXPECT_EQ(drain(*s), (std::vector<std::string>{message(0), message(1), message(3)}))
            << "cut " << cut;
        EXPECT_EQ(s->stats().torn_tails, cut > whole - rec ? 1U : 0U) << "cut " << cut;
        EXPECT_EQ(s->stats().torn_bytes, cut - (whole - rec)) << "cut " << cut;
        EXPECT_EQ(s->stats().corrupt_regions, 0U);
        EXPECT_TRUE(segments_in(o.dir).empty());
    }
}

TEST_F(LinkSpool, FlippedByteOnDiskIsSkippedAndCounted) {
    {
        auto s = link_spool::open(opts());
        for (int i = 0; i < 3; ++i)
            ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
    }
    {
        const auto at = segment_header_size + record_header_size + message(0).size() + 25;
        std::fstream f(segments_in(opts().dir).at(0),
                       std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(static_cast<std::streamoff>(at));
        const char c = static_cast<char>(f.get());
        f.seekp(static_cast<std::streamoff>(at));
        f.put(static_cast<char>(c ^ 0x01));
    }
    auto s = link_spool::open(opts());
    EXPECT_EQ(drain(*s), (std::vector<std::string>{message(0), message(2)}));
    EXPECT_EQ(s->stats().corrupt_regions, 1U);
    EXPECT_EQ(s->stats().corrupt_bytes, record_header_size + message(1).size());
    EXPECT_TRUE(s->empty());
}

TEST_F(LinkSpool, SegmentOfOnlyGarbageIsPassedAndRemoved) {
    fs::create_directories(opts().dir);
    std::ofstream(opts().dir / "0000004294967296.seg") << std::string(100, 'z');
    auto s = link_spool::open(opts());
    EXPECT_TRUE(s->has_unread());
    EXPECT_FALSE(s->read_next(1000));
    EXPECT_EQ(s->stats().corrupt_regions, 1U);
    EXPECT_EQ(s->stats().corrupt_bytes, 100U);
    EXPECT_TRUE(s->empty());
    EXPECT_TRUE(segments_in(opts().dir).empty());
}

TEST_F(LinkSpool, RefusesASegmentOfAnotherVersion) {
    fs::create_directories(opts().dir);
    auto header = encode_segment_header();
    header[8] = std::byte{9};
    const auto crc = crc32c(std::span(header).first(12));
    for (int i = 0; i < 4; ++i)
        header[static_cast<std::size_t>(12 + i)] = static_cast<std::byte>((crc >> (8 * i)) & 0xFFU);
    const auto path = opts().dir / "0000004294967296.seg";
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(header.data()), header.size())
        .write("payload!", 8);
    try {
        link_spool::open(opts());
        FAIL() << "opened a version 9 segment";
    } catch (const spool_error& e) {
        EXPECT_NE(std::string(e.what()).find("format version 9; this funnel reads 1"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_TRUE(fs::exists(path)) << "never remove what cannot be read";
}

TEST_F(LinkSpool, ASpoolInUseByAnotherFunnelIsAStartupErrorUntilItIsClosed) {
    auto first = link_spool::open(opts());
    try {
        link_spool::open(opts());
        ADD_FAILURE() << "a second open of the same directory succeeded";
    } catch (const spool_error& e) {
        EXPECT_NE(std::string(e.what()).find("in use by another funnel"), std::string::npos)
            << e.what();
    }
    first.reset();
    EXPECT_NO_THROW(link_spool::open(opts()));
}

TEST_F(LinkSpool, UnusableDirectoryIsAStartupError) {
    const auto file = dir_.write("plain-file", "x");
    EXPECT_THROW(link_spool::open({fs::path(file) / "sub", 1 << 20, 4096, sync_policy::never}),
                 spool_error);
}

TEST_F(LinkSpool, RecoveryRemovesEmptyAndDeliveredSegments) {
    {
        auto s = link_spool::open(opts(1 << 20, 256));
        for (int i = 0; i < 20; ++i)
            ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
    }
    const auto files = segments_in(opts().dir);
    ASSERT_GT(files.size(), 2U);
    // A crash just after creating a segment leaves it with a header only, or less.
    std::ofstream(opts().dir / "0000009999999999.seg") << "FUN";
    auto s = link_spool::open(opts(1 << 20, 256));
    EXPECT_FALSE(fs::exists(opts().dir / "0000009999999999.seg"));
    EXPECT_EQ(drain(*s).size(), 20U);
}

std::vector<std::string> messages_from(int first, int last) {
    std::vector<std::string> out;
    for (int i = first; i <= last; ++i)
        out.push_back(message(i));
    return out;
}

TEST_F(LinkSpool, PrependIsReadFirstAtTheNextStartAndWhatWasReadComesAgain) {
    const std::vector<std::string> older{message(0), message(1), message(2)};
    {
        auto s = link_spool::open(opts(1 << 20, 256));
        for (int i = 10; i < 30; ++i)
            ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
        // Read, sent, never acknowledged: still the spool's.
        ASSERT_TRUE(s->read_next(1));
        ASSERT_TRUE(s->read_next(1));
        std::vector<link_spool::record_view> records;
        for (const auto& m : older)
            records.push_back({bytes_of(m), 1});
        append_result failure;
        EXPECT_EQ(s->prepend(records, failure), 3U);
        EXPECT_TRUE(failure.ok());
    }
    auto s = link_spool::open(opts(1 << 20, 256));
    auto expected = older;
    for (const auto& m : messages_from(10, 29))
        expected.push_back(m);
    EXPECT_EQ(drain(*s), expected);
    EXPECT_TRUE(segments_in(opts().dir).empty());
}

TEST_F(LinkSpool, APrependLargerThanASegmentTakesSeveralReadInOrder) {
    const auto older = messages_from(0, 19);
    std::size_t segments_before = 0;
    {
        auto s = link_spool::open(opts(1 << 20, 256));
        for (int i = 100; i < 130; ++i)
            ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
        segments_before = segments_in(opts().dir).size();
        std::vector<link_spool::record_view> records;
        for (const auto& m : older)
            records.push_back({bytes_of(m), 1});
        append_result failure;
        EXPECT_EQ(s->prepend(records, failure), older.size());
        // Six records of 37 bytes fill a 256-byte segment: 20 take four.
        EXPECT_EQ(segments_in(opts().dir).size(), segments_before + 4);
        for (const auto& p : segments_in(opts().dir))
            EXPECT_LE(fs::file_size(p), 256U);
    }
    auto s = link_spool::open(opts(1 << 20, 256));
    auto expected = older;
    for (const auto& m : messages_from(100, 129))
        expected.push_back(m);
    EXPECT_EQ(drain(*s), expected);
}

TEST_F(LinkSpool, PrependToAnEmptySpoolAppends) {
    auto s = link_spool::open(opts());
    const auto m = message(0);
    const link_spool::record_view record{bytes_of(m), 1};
    append_result failure;
    EXPECT_EQ(s->prepend({&record, 1}, failure), 1U);
    EXPECT_EQ(drain(*s), std::vector<std::string>{m});
}

TEST_F(LinkSpool, PrependStopsAtTheLimitAndSaysSo) {
    const std::uint64_t record = record_header_size + message(0).size();
    const std::uint64_t limit = 2 * segment_header_size + 4 * record;
    std::vector<std::string> older;
    {
        auto s = link_spool::open(opts(limit));
        ASSERT_TRUE(s->append(bytes_of(message(10)), 1).ok());
        ASSERT_TRUE(s->append(bytes_of(message(11)), 1).ok());
        std::vector<link_spool::record_view> records;
        older = messages_from(0, 3);
        for (const auto& m : older)
            records.push_back({bytes_of(m), 1});
        append_result failure;
        EXPECT_EQ(s->prepend(records, failure), 2U);
        EXPECT_EQ(failure.status, append_status::limit);
        EXPECT_LE(s->bytes(), limit);
    }
    auto s = link_spool::open(opts(limit));
    EXPECT_EQ(drain(*s),
              (std::vector<std::string>{message(0), message(1), message(10), message(11)}));
}

// Six records of 37 bytes fit a 256-byte segment after its header: m0-m5, m6-m11, m12-m17...
TEST_F(LinkSpool, DropOldestRemovesTheOldestSegmentAndCountsItsMessages) {
    auto s = link_spool::open(opts(1 << 20, 256));
    for (int i = 0; i < 40; ++i)
        ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
    const auto before = s->bytes();
    const auto first_segment = segments_in(opts().dir).front();
    EXPECT_EQ(s->drop_oldest(), std::optional<std::uint64_t>(6));
    EXPECT_FALSE(fs::exists(first_segment));
    EXPECT_LT(s->bytes(), before);
    EXPECT_EQ(drain(*s), messages_from(6, 39));
    EXPECT_EQ(s->stats().segments_dropped, 1U);
}

TEST_F(LinkSpool, DropOldestSparesWhatIsOutstandingAndCountsOnlyTheUnread) {
    auto s = link_spool::open(opts(1 << 20, 256));
    for (int i = 0; i < 40; ++i)
        ASSERT_TRUE(s->append(bytes_of(message(i)), 1).ok());
    // m0 delivered: dropping its segment loses m1-m5 only.
    ASSERT_TRUE(s->read_next(1));
    s->acknowledge();
    EXPECT_EQ(s->drop_oldest(), std::optional<std::uint64_t>(5));
    // m6 read and not acknowledged pins its segment: the next one (m12-m17) goes.
    ASSERT_TRUE(s->read_next(1));
    EXPECT_EQ(s->drop_oldest(), std::optional<std::uint64_t>(6));
    s->acknowledge();
    auto expected = messages_from(7, 11);
    for (const auto& m : messages_from(18, 39))
        expected.push_back(m);
    EXPECT_EQ(drain(*s), expected);
}

TEST_F(LinkSpool, DropOldestNeverTakesTheSegmentBeingWritten) {
    auto s = link_spool::open(opts());
    ASSERT_TRUE(s->append(bytes_of(message(0)), 1).ok());
    EXPECT_FALSE(s->drop_oldest());
    EXPECT_EQ(drain(*s), std::vector<std::string>{message(0)});
}

} // namespace
} // namespace funnel::spool
