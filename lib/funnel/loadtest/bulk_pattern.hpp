#pragma once
// The verifiable byte stream of bulk mode: funnel-load writes it, funnel-sink checks it.
//
// Each connection is one stream: a 32-byte header, then payload bytes taken from one fixed
// pseudo-random pattern whose period (bulk_period) is a prime, so that no power of two, page or
// buffer size lines up with it. The payload of stream `id` starts at its own offset into the
// pattern, so streams swapped or mixed are told apart too.
//
//   header:  "FNLBULK1"  stream id (u64 LE)  total length (u64 LE)  check (u64 LE)
//
// The total length counts every byte of the stream, header included; 0 means open-ended (the
// stream is complete at EOF, whatever its length). The writer slices the precomputed pattern
// (no per-byte work); the checker compares each read against it with memcmp, so it catches a
// changed, dropped, added or shifted byte, and a stream that ended short.
//
// Thread-safety: bulk_pattern::get() is immutable once built and shared by all threads;
// a bulk_verifier belongs to one connection.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace funnel::loadtest {

inline constexpr std::size_t bulk_header_size = 32;
inline constexpr std::size_t bulk_period = 1048573; // the largest prime below 2^20

struct bulk_header {
    std::uint64_t stream_id = 0;
    std::uint64_t total_length = 0; // bytes of the whole stream, header included; 0: open-ended

    friend bool operator==(const bulk_header&, const bulk_header&) = default;
};

void encode_bulk_header(const bulk_header& h, char* dst); // writes bulk_header_size bytes
std::optional<bulk_header> decode_bulk_header(const char* src);

class bulk_pattern {
public:
    // The longest slice at() guarantees to be contiguous.
    static constexpr std::size_t max_slice = 256 * 1024;

    static const bulk_pattern& get(); // built on first use

    // The payload bytes of stream `id` from payload offset `pos` on: max_slice of them at least.
    const char* at(std::uint64_t stream_id, std::uint64_t pos) const {
        return bytes_.data() + (start_of(stream_id) + pos % bulk_period) % bulk_period;
    }
    static std::uint64_t start_of(std::uint64_t stream_id) {
        return (stream_id * 0x9E3779B97F4A7C15ULL) % bulk_period;
    }

private:
    bulk_pattern();
    std::vector<char> bytes_; // the period, then its first max_slice bytes again
};

// Checks one stream as it arrives, in pieces of any size.
class bulk_verifier {
public:
    enum class outcome { empty, complete, short_stream, corrupted };

    // The next `n` bytes of the stream.
    void consume(const char* data, std::size_t n);
    // Classifies the stream once it has ended (EOF): complete only if the header was valid, the
    // declared length arrived exactly and every byte matched.
    outcome finish() const;

    bool corrupted() const { return corrupted_; }
    bool has_header() const { return header_.has_value(); }
    std::uint64_t received() const { return received_; }

private:
    void verify_payload(const char* data, std::size_t n);

    std::uint64_t received_ = 0; // all bytes, header included
    std::size_t header_got_ = 0;
    char header_bytes_[bulk_header_size] = {};
    std::optional<bulk_header> header_;
    std::uint64_t payload_pos_ = 0; // payload bytes verified
    bool corrupted_ = false;
};

} // namespace funnel::loadtest
