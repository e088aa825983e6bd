#pragma once
// frame_decoder: splits one client's byte stream into messages, without copying them.
//
// Sans-io: it is fed the buffers the caller read and tells a handler, in order, what each buffer
// holds. It never copies a payload byte (only up to 4 bytes of a length header that is split
// across feeds), never allocates in feed(), and never sizes anything from a declared length, so
// a 0xFFFFFFFF prefix costs nothing but the time to skip past it.
//
// Framings:
//   line    payload '\n'         a '\r' before the '\n' is payload, like any other byte
//   length  u32 big-endian N, then N payload bytes
// max_message_size caps the payload (without the '\n' or the prefix): exactly max is accepted,
// max + 1 is oversize. Empty lines and zero-length frames are messages like any other.
//
// The handler contract (the caller owns every buffer; segments only point into them):
//   on_payload(segment)          the next piece of the current message's payload, as
//                                {offset, length} inside the buffer passed to this feed(). Never
//                                empty; never a framing byte. The caller keeps a reference to its
//                                buffer (chunk) plus the segment; a message spanning N reads is N
//                                segments in N buffers, gathered on write without a copy.
//   on_message_end(length)       the segments reported since the previous on_message_end or
//                                on_oversize are, concatenated, exactly one whole message of
//                                `length` payload bytes (0 for an empty line or frame, which has
//                                no segment at all). Only now may the caller forward it. Framing
//                                bytes are not reported: the caller writes its own '\n' or
//                                4-byte prefix (the received prefix may be split across reads).
//   on_oversize(length)          the current message exceeds max_message_size. Discard every
//                                segment reported for it (line framing may have reported up to
//                                max bytes before it knew; length framing knows from the prefix
//                                and has reported none). Since a message is only forwarded at
//                                on_message_end, nothing of it was ever forwarded. `length` is
//                                the declared length (length framing) or the payload bytes seen
//                                when the decision was made, > max (line framing; the whole line
//                                if its '\n' was already in view).
//                                skip:  the decoder drops the rest of that message by itself,
//                                       exactly up to and including its '\n', or exactly the
//                                       declared number of bytes, and goes on with the next.
//                                close: feed() returns false at once; the bytes after the
//                                       oversize prefix or line in that buffer are not looked
//                                       at, every later feed() returns false and reports nothing.
// So at any time the caller holds at most the segments of one unfinished message: at most max
// payload bytes, in at most max / (read size) + 2 buffers. A buffer no segment of the unfinished
// message points into may be released as soon as feed() returns.
//
// At EOF the caller asks at_eof() what was left: nothing, a message cut short (its payload is
// the segments reported since the last end; forward or drop it, the decoder has no opinion),
// 1 to 3 bytes of a length prefix, or the rest of an oversize message that was being skipped.
//
// Thread-safety: none; one decoder per client stream, used by one strand at a time.
// Lifetime: a plain value; it holds no pointer to any buffer between calls.

#include "funnel/framing/framing.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace funnel {

// A piece of payload inside the buffer passed to the current feed().
struct frame_segment {
    std::size_t offset;
    std::size_t length;
};

template <class H>
concept frame_handler = requires(H& h, frame_segment s, std::size_t n) {
    h.on_payload(s);
    h.on_message_end(n);
    h.on_oversize(n);
};

class frame_decoder {
public:
    using segment = frame_segment;

    enum class eof_kind {
        clean,            // nothing pending: the stream ended on a message boundary
        partial_message,  // a message was cut short; its payload so far is pending with the caller
        partial_header,   // length framing: 1 to 3 bytes of a prefix, held by the decoder
        partial_oversize, // EOF while skipping an oversize message (already counted)
        closed,           // the decoder closed the stream (oversize with the close policy)
    };
    struct eof_status {
        eof_kind kind = eof_kind::clean;
        // partial_message: the payload bytes reported since the last message end (may be 0 for
        // length framing, when the prefix came but no payload). partial_header: the prefix bytes.
        std::size_t bytes = 0;
        // partial_message with length framing: the length the prefix declared.
        std::optional<std::size_t> declared_length;
        // partial_header: the prefix bytes themselves, in the decoder; valid until the next feed().
        std::span<const std::byte> header;
    };

    frame_decoder(framing f, std::size_t max_message_size, oversize_policy p);

    // Reports what `data` holds to `h`, in stream order. Returns false when the stream must be
    // closed (oversize with the close policy, now or before). An empty buffer is a no-op.
    template <frame_handler Handler> bool feed(std::span<const std::byte> data, Handler& h);

    // What the stream left behind if it ended now. Does not change the decoder.
    eof_status at_eof() const;

    bool closed() const { return state_ == state::closed; }
    framing framing_kind() const { return framing_; }
    std::size_t max_message_size() const { return max_; }
    oversize_policy policy() const { return policy_; }
    // Whole messages reported by on_message_end, and messages reported by on_oversize.
    std::uint64_t messages() const { return messages_; }
    std::uint64_t oversize() const { return oversize_; }

private:
    enum class state : std::uint8_t {
        line_payload,   // inside a line (possibly at its start); so_far_ payload bytes reported
        line_skip,      // dropping an oversize line up to and including its '\n'
        length_header,  // hdr_len_ prefix bytes collected in hdr_
        length_payload, // remaining_ of declared_ payload bytes still to come
        length_skip,    // remaining_ bytes of an oversize frame still to drop
        closed,
    };

    static std::size_t read_be32(const std::byte* p) {
        return (std::to_integer<std::size_t>(p[0]) << 24) |
               (std::to_integer<std::size_t>(p[1]) << 16) |
               (std::to_integer<std::size_t>(p[2]) << 8) | std::to_integer<std::size_t>(p[3]);
    }
    // Counts an oversize message and applies the policy; false when the stream must close.
    template <class Handler> bool reject(Handler& h, std::size_t length);
    template <class Handler> void complete(Handler& h, std::size_t length);
    // After a whole prefix: accept the frame, skip it, or close. False when closing.
    template <class Handler> bool begin_frame(Handler& h, std::size_t declared);

    framing framing_;
    std::size_t max_;
    oversize_policy policy_;
    state state_;
    std::size_t so_far_ = 0;    // line_payload: payload bytes of the current line reported
    std::size_t declared_ = 0;  // length_payload: the current frame's declared length
    std::size_t remaining_ = 0; // length_payload, length_skip: bytes still to come
    std::byte hdr_[4] = {};     // length_header: the only bytes the decoder ever copies
    std::size_t hdr_len_ = 0;
    std::uint64_t messages_ = 0;
    std::uint64_t oversize_ = 0;
};

template <class Handler> bool frame_decoder::reject(Handler& h, std::size_t length) {
    ++oversize_;
    so_far_ = 0;
    h.on_oversize(length);
    if (policy_ == oversize_policy::close) {
        state_ = state::closed;
        return false;
    }
    return true;
}

template <class Handler> void frame_decoder::complete(Handler& h, std::size_t length) {
    ++messages_;
    h.on_message_end(length);
}

template <class Handler> bool frame_decoder::begin_frame(Handler& h, std::size_t declared) {
    if (declared > max_) {
        if (!reject(h, declared))
            return false;
        remaining_ = declared;
        state_ = state::length_skip;
    } else if (declared == 0) {
        complete(h, 0); // stays in length_header
    } else {
        declared_ = declared;
        remaining_ = declared;
        state_ = state::length_payload;
    }
    return true;
}

template <frame_handler Handler>
bool frame_decoder::feed(std::span<const std::byte> data, Handler& h) {
    const std::byte* const base = data.data();
    const std::size_t size = data.size();
    std::size_t pos = 0;
    // One turn per message or per state change, never per byte: memchr does the line scan.
    while (pos < size) {
        switch (state_) {
        case state::closed:
            return false;

        case state::line_payload: {
            const std::size_t avail = size - pos;
            const void* nl = std::memchr(base + pos, '\n', avail);
            if (nl == nullptr) {
                // so_far_ <= max_ always holds here, so the subtraction cannot wrap.
                if (avail > max_ - so_far_) {
                    if (!reject(h, so_far_ + avail))
                        return false;
                    state_ = state::line_skip;
                    return true;
                }
                h.on_payload(segment{pos, avail});
                so_far_ += avail;
                return true;
            }
            const auto end = static_cast<std::size_t>(static_cast<const std::byte*>(nl) - base);
            const std::size_t take = end - pos;
            pos = end + 1; // past the '\n': the next message starts there either way
            if (take > max_ - so_far_) {
                // The whole line is in view, so there is nothing left to skip.
                if (!reject(h, so_far_ + take))
                    return false;
                break;
            }
            if (take != 0)
                h.on_payload(segment{end - take, take});
            const std::size_t length = so_far_ + take;
            so_far_ = 0;
            complete(h, length);
            break;
        }

        case state::line_skip: {
            const void* nl = std::memchr(base + pos, '\n', size - pos);
            if (nl == nullptr)
                return true;
            pos = static_cast<std::size_t>(static_cast<const std::byte*>(nl) - base) + 1;
            state_ = state::line_payload;
            break;
        }

        case state::length_header: {
            std::size_t declared = 0;
            if (hdr_len_ == 0 && size - pos >= 4) {
                declared = read_be32(base + pos); // the common case: no copy at all
                pos += 4;
            } else {
                const std::size_t take = std::min(size - pos, 4 - hdr_len_);
                std::memcpy(hdr_ + hdr_len_, base + pos, take);
                hdr_len_ += take;
                pos += take;
                if (hdr_len_ < 4)
                    return true;
                hdr_len_ = 0;
                declared = read_be32(hdr_);
            }
            if (!begin_frame(h, declared))
                return false;
            break;
        }

        case state::length_payload: {
            const std::size_t take = std::min(size - pos, remaining_);
            h.on_payload(segment{pos, take});
            pos += take;
            remaining_ -= take;
            if (remaining_ == 0) {
                state_ = state::length_header;
                complete(h, declared_);
            }
            break;
        }

        case state::length_skip: {
            const std::size_t take = std::min(size - pos, remaining_);
            pos += take;
            remaining_ -= take;
            if (remaining_ == 0)
                state_ = state::length_header;
            break;
        }
        }
    }
    return state_ != state::closed;
}

} // namespace funnel
