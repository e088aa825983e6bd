// Fuzz target: frame_decoder, both framings, both oversize policies, the stream cut into reads
// where the input says (see framing_input.hpp). Invariants, checked on every input:
//   - every segment is non-empty, inside the buffer being fed, after the previous one of the
//     same feed, and (line framing) holds no '\n'; the payload reported for one message never
//     exceeds the limit, even before the decoder knows it is oversize;
//   - on_message_end's length is the bytes reported for that message, at most the limit;
//   - the messages and oversize events are exactly those of the one-message-at-a-time reference
//     decoder on the whole stream, however the reads were cut;
//   - close is sticky and silent; messages() and oversize() count what was reported;
//   - at_eof() agrees with the reference and with what is pending.

#include "funnel/framing/frame_decoder.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "framing_input.hpp"
#include "fuzz_check.hpp"
#include "support/framing_reference.hpp"

namespace {

using funnel::frame_decoder;
using funnel::frame_segment;
using funnel::framing;

// Rebuilds the messages from the segments, as a caller would, checking each segment.
struct checking_handler {
    framing f;
    std::size_t max;
    std::string_view buffer{}; // the one being fed
    std::size_t next_offset = 0;
    std::string pending{}; // the payload reported since the last end or oversize
    std::vector<funnel::test::frame_event> events{};

    void on_payload(frame_segment s) {
        FUZZ_CHECK(s.length > 0);
        FUZZ_CHECK(s.offset >= next_offset);
        FUZZ_CHECK(s.offset <= buffer.size() && s.length <= buffer.size() - s.offset);
        next_offset = s.offset + s.length;
        const std::string_view bytes = buffer.substr(s.offset, s.length);
        FUZZ_CHECK(f == framing::length || bytes.find('\n') == std::string_view::npos);
        pending.append(bytes);
        FUZZ_CHECK(pending.size() <= max); // the caller never holds more than one message
    }
    void on_message_end(std::size_t length) {
        FUZZ_CHECK(length == pending.size());
        FUZZ_CHECK(length <= max);
        events.push_back(funnel::test::message_event(pending));
        pending.clear();
    }
    void on_oversize(std::size_t length) {
        FUZZ_CHECK(length > max);
        events.push_back(funnel::test::oversize_event(length));
        pending.clear();
    }
    bool feed(frame_decoder& d, std::string_view data) {
        buffer = data;
        next_offset = 0;
        return d.feed(std::as_bytes(std::span<const char>(data.data(), data.size())), *this);
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using eof_kind = frame_decoder::eof_kind;
    // The decoder takes any buffer size; one read of the whole stream is a case of its own.
    const auto in = funnel::fuzz::parse_framing_input(data, size, size);
    if (!in)
        return 0;
    const funnel::test::framing_params params{in->f, in->max_message_size, in->p};
    const auto want = funnel::test::reference_decode(params, in->stream);

    frame_decoder d(in->f, in->max_message_size, in->p);
    checking_handler h{in->f, in->max_message_size};
    bool closed = false;
    for (std::string_view read : in->reads) {
        if (!h.feed(d, read)) {
            closed = true;
            break;
        }
    }
    FUZZ_CHECK(closed == want.closed);
    FUZZ_CHECK(d.closed() == want.closed);
    if (closed) {
        const std::size_t before = h.events.size();
        FUZZ_CHECK(!h.feed(d, "more\n"));
        FUZZ_CHECK(h.events.size() == before);
    }

    FUZZ_CHECK(h.events.size() == want.events.size());
    std::uint64_t messages = 0;
    for (std::size_t i = 0; i < want.events.size(); ++i) {
        FUZZ_CHECK(funnel::test::same_event(params, want.events[i], h.events[i]));
        messages += want.events[i].oversize ? 0u : 1u;
    }
    FUZZ_CHECK(d.messages() == messages);
    FUZZ_CHECK(d.oversize() == want.events.size() - messages);

    const auto eof = d.at_eof();
    FUZZ_CHECK(eof.kind == want.eof);
    FUZZ_CHECK(eof.declared_length == want.declared);
    switch (eof.kind) {
    case eof_kind::partial_message:
        FUZZ_CHECK(h.pending == want.pending && eof.bytes == h.pending.size());
        break;
    case eof_kind::partial_header:
        FUZZ_CHECK(eof.bytes == want.pending.size() && eof.header.size() == eof.bytes);
        FUZZ_CHECK(std::string_view(reinterpret_cast<const char*>(eof.header.data()),
                                    eof.header.size()) == want.pending);
        break;
    case eof_kind::clean:
    case eof_kind::partial_oversize:
        FUZZ_CHECK(h.pending.empty() && eof.bytes == 0);
        break;
    case eof_kind::closed:
        break;
    }
    return 0;
}
