#pragma once
// The simplest frame decoder that could work: the whole stream in hand, one message at a time,
// no buffers, no states. frame_decoder's unit test and the framing fuzz targets compare what the
// real decoder reports, wherever its reads were cut, with what this one says.

#include "funnel/framing/frame_decoder.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace funnel::test {

// One thing a decoder reported: a whole message, or an oversize one.
struct frame_event {
    bool oversize = false;
    std::string payload; // a message: its bytes
    std::size_t length = 0;
};

inline frame_event message_event(std::string_view payload) {
    return {false, std::string(payload), payload.size()};
}
inline frame_event oversize_event(std::size_t length) {
    return {true, {}, length};
}

struct framing_params {
    framing f;
    std::size_t max;
    oversize_policy p;
};

struct reference_frames {
    std::vector<frame_event> events;
    bool closed = false;
    frame_decoder::eof_kind eof = frame_decoder::eof_kind::clean;
    std::string pending; // partial_message: its bytes; partial_header: the prefix bytes
    std::optional<std::size_t> declared;
};

inline reference_frames reference_decode(const framing_params& c, std::string_view s) {
    using eof_kind = frame_decoder::eof_kind;
    reference_frames e;
    std::size_t pos = 0;
    auto reject = [&](std::size_t length) {
        e.events.push_back(oversize_event(length));
        if (c.p == oversize_policy::close) {
            e.closed = true;
            e.eof = eof_kind::closed;
        }
        return !e.closed;
    };
    if (c.f == framing::line) {
        while (pos < s.size()) {
            std::size_t end = pos;
            while (end < s.size() && s[end] != '\n')
                ++end;
            const std::size_t length = end - pos;
            if (length > c.max) {
                if (!reject(length))
                    return e;
                if (end == s.size())
                    e.eof = eof_kind::partial_oversize;
            } else if (end == s.size()) {
                e.eof = eof_kind::partial_message;
                e.pending = std::string(s.substr(pos));
            } else {
                e.events.push_back(message_event(s.substr(pos, length)));
            }
            pos = end + 1;
        }
        return e;
    }
    while (pos < s.size()) {
        if (s.size() - pos < 4) {
            e.eof = eof_kind::partial_header;
            e.pending = std::string(s.substr(pos));
            return e;
        }
        std::size_t declared = 0;
        for (std::size_t i = 0; i < 4; ++i)
            declared = declared << 8 | static_cast<unsigned char>(s[pos + i]);
        pos += 4;
        const std::size_t avail = s.size() - pos;
        if (declared > c.max) {
            if (!reject(declared))
                return e;
            if (avail < declared) {
                e.eof = eof_kind::partial_oversize;
                return e;
            }
        } else if (avail < declared) {
            e.eof = eof_kind::partial_message;
            e.pending = std::string(s.substr(pos));
            e.declared = declared;
            return e;
        } else {
            e.events.push_back(message_event(s.substr(pos, declared)));
        }
        pos += declared;
    }
    return e;
}

// Whether the decoder's event `got` is the reference's `want`. Line framing decides oversize as
// soon as it has seen more than max bytes: the length it reports depends on where the reads
// fell, but is over the limit and no more than the whole line.
inline bool same_event(const framing_params& c, const frame_event& want, const frame_event& got) {
    if (want.oversize != got.oversize)
        return false;
    if (!want.oversize)
        return want.payload == got.payload && got.length == want.length;
    if (c.f == framing::length)
        return got.length == want.length;
    return got.length > c.max && got.length <= want.length;
}

} // namespace funnel::test
