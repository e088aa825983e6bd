#include "funnel/framing/frame_decoder.hpp"

namespace funnel {

frame_decoder::frame_decoder(framing f, std::size_t max_message_size, oversize_policy p)
    : framing_(f), max_(max_message_size), policy_(p),
      state_(f == framing::line ? state::line_payload : state::length_header) {}

frame_decoder::eof_status frame_decoder::at_eof() const {
    eof_status s;
    switch (state_) {
    case state::line_payload:
        if (so_far_ != 0) {
            s.kind = eof_kind::partial_message;
            s.bytes = so_far_;
        }
        break;
    case state::length_header:
        if (hdr_len_ != 0) {
            s.kind = eof_kind::partial_header;
            s.bytes = hdr_len_;
            s.header = std::span<const std::byte>(hdr_, hdr_len_);
        }
        break;
    case state::length_payload:
        // Even with no payload byte yet, the prefix promised a message that did not come whole.
        s.kind = eof_kind::partial_message;
        s.bytes = declared_ - remaining_;
        s.declared_length = declared_;
        break;
    case state::line_skip:
    case state::length_skip:
        s.kind = eof_kind::partial_oversize;
        break;
    case state::closed:
        s.kind = eof_kind::closed;
        break;
    }
    return s;
}

} // namespace funnel
