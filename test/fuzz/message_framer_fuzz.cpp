// Fuzz target: message_framer (frame_decoder plus batching, the copy of small unfinished
// messages, and end of stream), both framings, both oversize policies, the stream cut into reads
// where the input says (see framing_input.hpp), each read in a pool chunk as chunk_reader would
// hand it over. Invariants, checked on every input:
//   - every span of a batch is non-empty and inside its chunk's block (past the chunk's data
//     only where later reads of a message were folded in), or in bytes the batch owns, or the
//     one-byte '\n'; a batch's bytes and messages are what its spans hold;
//   - after each read, what was forwarded is exactly the messages the reference decoder finds in
//     the stream so far, each with its own framing bytes, oversize ones left out: nothing cut,
//     nothing early, nothing lost, whatever the cuts;
//   - oversize counts and open/closed follow the reference; oversize_length is over the limit;
//   - between reads no chunk is held, except by an unfinished message over carry_limit bytes,
//     and that one holds at most 2 blocks per block of its bytes, plus 2 (reads are folded
//     into the block before whenever they fit);
//   - finish() completes a cleanly ended last line with its '\n' and reports a cut length frame
//     or prefix as truncated with its byte count; afterwards no chunk is held.

#include "funnel/buffer/buffer_pool.hpp"
#include "funnel/config/config.hpp"
#include "funnel/message/message_framer.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "framing_input.hpp"
#include "fuzz_check.hpp"
#include "support/framing_reference.hpp"

namespace {

using funnel::framing;
using funnel::message_batch;
using funnel::message_framer;

constexpr std::size_t block_size = funnel::config::min_read_size;

// One pool for the whole run: every input must give back every block it took.
funnel::buffer_pool& pool() {
    static funnel::buffer_pool p(block_size, 256 * block_size);
    return p;
}

bool within(const std::byte* p, std::size_t n, const void* base, std::size_t size) {
    const auto* b = static_cast<const std::byte*>(base);
    return p >= b && p <= b + size && n <= static_cast<std::size_t>(b + size - p);
}

// Checks the batch's spans and appends their bytes to `out`.
void take(const message_batch& batch, std::string& out, std::size_t& messages) {
    std::size_t bytes = 0;
    for (const auto& s : batch.spans) {
        FUZZ_CHECK(s.length > 0 && s.data != nullptr);
        if (s.block) {
            FUZZ_CHECK(within(s.data, s.length, s.block->data().data(), s.block->capacity()));
        } else {
            bool owned = false;
            if (batch.owned)
                for (const std::string& kept : *batch.owned)
                    owned = owned || within(s.data, s.length, kept.data(), kept.size());
            FUZZ_CHECK(owned || (s.length == 1 && *s.data == std::byte{'\n'}));
        }
        bytes += s.length;
        out.append(reinterpret_cast<const char*>(s.data), s.length);
    }
    FUZZ_CHECK(bytes == batch.bytes);
    FUZZ_CHECK(batch.empty() == (batch.messages == 0));
    messages += batch.messages;
}

// A message as it goes to the target: its payload with its framing bytes.
std::string on_the_wire(framing f, std::string_view payload) {
    if (f == framing::line)
        return std::string(payload) + '\n';
    const auto n = static_cast<std::uint32_t>(payload.size());
    return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8), static_cast<char>(n)} +
           std::string(payload);
}

std::shared_ptr<const funnel::chunk> read_into_chunk(std::string_view bytes) {
    funnel::chunk c = pool().try_acquire();
    FUZZ_CHECK(static_cast<bool>(c));
    std::memcpy(c.writable().data(), bytes.data(), bytes.size());
    c.set_size(bytes.size());
    return std::make_shared<const funnel::chunk>(std::move(c));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using eof_kind = funnel::frame_decoder::eof_kind;
    const auto in = funnel::fuzz::parse_framing_input(data, size, block_size);
    if (!in)
        return 0;
    const funnel::test::framing_params params{in->f, in->max_message_size, in->p};
    FUZZ_CHECK(pool().bytes_held() == 0);

    message_framer framer(in->f, in->max_message_size, in->p);
    std::string forwarded;
    std::size_t messages = 0;
    std::size_t oversize = 0;
    std::size_t fed = 0;
    funnel::test::reference_frames want;
    for (std::string_view read : in->reads) {
        bool open = true;
        {
            const auto out = framer.feed(read_into_chunk(read));
            take(out.batch, forwarded, messages); // then dropped, as a written batch is
            oversize += out.oversize;
            FUZZ_CHECK(out.oversize == 0 || out.oversize_length > in->max_message_size);
            open = out.open;
        }

        fed += read.size();
        want = funnel::test::reference_decode(params, in->stream.substr(0, fed));
        std::string expected;
        std::size_t expected_oversize = 0;
        for (const auto& ev : want.events) {
            if (ev.oversize)
                ++expected_oversize;
            else
                expected += on_the_wire(in->f, ev.payload);
        }
        FUZZ_CHECK(forwarded == expected);
        FUZZ_CHECK(oversize == expected_oversize);
        FUZZ_CHECK(messages == want.events.size() - expected_oversize);
        FUZZ_CHECK(open == !want.closed);
        FUZZ_CHECK(framer.messages() == messages && framer.decoder().messages() == messages);
        FUZZ_CHECK(framer.decoder().oversize() == oversize);
        if (!open)
            break;
        // Between reads only an unfinished message too large to copy out may pin chunks.
        const bool may_pin = want.eof == eof_kind::partial_message &&
                             want.pending.size() > message_framer::carry_limit;
        FUZZ_CHECK(may_pin || pool().bytes_held() == 0);
        FUZZ_CHECK(pool().bytes_held() <= (2 * want.pending.size() / block_size + 2) * block_size);
    }
    if (want.closed) {
        const auto again = framer.feed(read_into_chunk("more\n"));
        FUZZ_CHECK(!again.open && again.batch.empty() && again.oversize == 0);
    }

    const bool completes =
        want.eof == eof_kind::partial_message && in->f == framing::line && in->clean_eof;
    const bool truncated = !completes && (want.eof == eof_kind::partial_message ||
                                          want.eof == eof_kind::partial_header);
    {
        const auto end = framer.finish(in->clean_eof);
        std::string last;
        std::size_t last_messages = 0;
        take(end.batch, last, last_messages);
        FUZZ_CHECK(last == (completes ? on_the_wire(in->f, want.pending) : std::string()));
        FUZZ_CHECK(last_messages == (completes ? 1u : 0u));
        FUZZ_CHECK(framer.messages() == messages + last_messages);
        FUZZ_CHECK(end.truncated == truncated);
        FUZZ_CHECK(end.truncated_bytes == (truncated ? want.pending.size() : 0));
    }
    FUZZ_CHECK(pool().bytes_held() == 0); // the framer holds nothing once finished
    return 0;
}
