#pragma once
// The probe message of funnel-load's message modes, written by the load and checked by the sink.
//
// A message is `size` bytes on the wire, framing included: line framing puts a '\n' after the
// body, length framing puts the body's length (4 bytes, big-endian) before it. The body is
// printable ASCII without '\n', a fixed 56-byte header and then filler:
//
//   offset  0   8 hex digits   client id
//           8  16 hex digits   sequence number: 0, 1, 2, ... per client
//          24  16 hex digits   send time, steady_clock nanoseconds (the same host's clock)
//          40   8 hex digits   body length
//          48   8 hex digits   check: a mix of the four fields above
//          56  ...             filler: one letter of 'g'..'z', chosen by (client, sequence)
//
// Verification decodes the fields, writes the header they should have had and compares the whole
// of it, then compares the filler, so any one corrupted byte is caught: a byte that is no
// lower-case hex digit cannot be written back, another hex digit changes one field and so the
// check, a changed check differs from the one computed, a changed filler byte differs from the
// letter (which is never a hex digit), and a byte lost or added changes the length.
//
// Thread-safety: pure functions.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace funnel::loadtest {

enum class framing { line, length };

struct probe {
    std::uint32_t client = 0;
    std::uint64_t seq = 0;
    std::uint64_t sent_ns = 0; // steady_clock, nanoseconds since its epoch

    friend bool operator==(const probe&, const probe&) = default;
};

inline constexpr std::size_t probe_header_size = 56;
// The largest body the length field (and the 4-byte length prefix) can describe.
inline constexpr std::size_t max_probe_body = 0xFFFFFFFFU;

constexpr std::size_t framing_overhead(framing f) {
    return f == framing::line ? 1 : 4;
}
// The smallest message, framing included: the header and its framing.
constexpr std::size_t min_message_size(framing f) {
    return probe_header_size + framing_overhead(f);
}

// Writes one whole message of exactly `size` bytes (framing included) at `dst`.
// Requires min_message_size(f) <= size <= max_probe_body + framing_overhead(f).
void encode_message(framing f, const probe& p, std::size_t size, char* dst);

// Checks a body (the message without its framing). True, with `out` set, when it is a probe
// body, unchanged.
bool parse_body(std::string_view body, probe& out);

// The filler letter of (client, seq).
char filler_of(std::uint32_t client, std::uint64_t seq);

} // namespace funnel::loadtest
