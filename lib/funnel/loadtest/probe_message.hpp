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
// The graphite shape (funnel-load --graphite, line framing) makes the body a graphite plaintext
// line, `metric value timestamp`, that relays such as carbon-c-relay parse and forward unchanged:
// the header and filler are the metric name (hex digits and 'g'..'z' only, which carbon-c-relay
// keeps as they are), followed by graphite_suffix (" 1 1700000000": value 1 and a fixed unix
// time, 2023-11-14). The length field counts the whole body, suffix included, and the check mixes
// in the shape, so a damaged suffix (read as a plain body) fails the check too. parse_body()
// takes either shape: a body ending in the suffix is a graphite one.
//
// Thread-safety: pure functions.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace funnel::loadtest {

enum class framing { line, length };
enum class probe_shape { plain, graphite };

struct probe {
    std::uint32_t client = 0;
    std::uint64_t seq = 0;
    std::uint64_t sent_ns = 0; // steady_clock, nanoseconds since its epoch

    friend bool operator==(const probe&, const probe&) = default;
};

inline constexpr std::size_t probe_header_size = 56;
// The largest body the length field (and the 4-byte length prefix) can describe.
inline constexpr std::size_t max_probe_body = 0xFFFFFFFFU;

// What follows the metric name (header and filler) in a graphite-shaped body.
inline constexpr std::string_view graphite_suffix = " 1 1700000000";

constexpr std::size_t framing_overhead(framing f) {
    return f == framing::line ? 1 : 4;
}
constexpr std::size_t shape_overhead(probe_shape s) {
    return s == probe_shape::graphite ? graphite_suffix.size() : 0;
}
// The smallest message, framing included: the header, the graphite suffix if any, the framing.
constexpr std::size_t min_message_size(framing f, probe_shape s = probe_shape::plain) {
    return probe_header_size + shape_overhead(s) + framing_overhead(f);
}

// Writes one whole message of exactly `size` bytes (framing included) at `dst`.
// Requires min_message_size(f, s) <= size <= max_probe_body + framing_overhead(f).
void encode_message(framing f, const probe& p, std::size_t size, char* dst,
                    probe_shape s = probe_shape::plain);

// Checks a body (the message without its framing), of either shape. True, with `out` set, when
// it is a probe body, unchanged.
bool parse_body(std::string_view body, probe& out);

// The filler letter of (client, seq).
char filler_of(std::uint32_t client, std::uint64_t seq);

} // namespace funnel::loadtest
