#pragma once
// message_framer: one client's byte stream in, whole-message batches out; no I/O (sans-io).
//
// Each read chunk is fed in order. Whole messages become spans of the chunks they were read
// into (see message_batch), so the payload is never copied, with two exceptions that keep an
// unfinished message from holding more of the budget than its size, whatever the reads that
// bring it: a client sending large messages in small pieces would otherwise pin a whole 64 KiB
// block per read, and a few such clients could take the whole budget and then wait for each
// other forever, each for a block that only their own reads would free.
// - An unfinished message of at most `carry_limit` bytes is copied out between reads, so a
//   client between two reads pins no block at all.
// - A longer one grows by copying: a read that holds nothing but more of it is copied into the
//   unused end of the block its previous bytes are in, where it fits, and the read's own block
//   goes back at once. Such a message holds about its size in blocks when its reads are small,
//   and at most twice its size plus two blocks whatever they are (a read that does not fit
//   whole takes a block of its own).
//
// At the end of the stream a last line without its '\n' is completed with one when the client
// closed cleanly (a sender that forgot the final newline still meant the line); a length frame
// cut short, or a prefix cut short, is dropped and reported, since its sender promised more.
//
// Thread-safety: none; message_session calls it on its link's strand only.

#include "funnel/buffer/chunk.hpp"
#include "funnel/framing/frame_decoder.hpp"
#include "funnel/message/message_batch.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace funnel {

class message_framer {
public:
    static constexpr std::size_t carry_limit = 4096;

    struct fed {
        message_batch batch;             // the messages this chunk completed; may be empty
        std::size_t oversize = 0;        // messages over the limit it dropped or refused
        std::size_t oversize_length = 0; // the size of the last one, for the log line
        bool open = true;                // false once the oversize policy closed the stream
    };
    struct ended {
        message_batch batch;             // a last line completed with its '\n', if any
        std::size_t truncated_bytes = 0; // the bytes of a message cut short, when truncated
        bool truncated = false;
    };

    message_framer(framing f, std::size_t max_message_size, oversize_policy p)
        : decoder_(f, max_message_size, p) {}

    fed feed(const std::shared_ptr<const chunk>& block);
    // The stream is over: `clean` when the client closed it (EOF), not when it failed.
    ended finish(bool clean);

    const frame_decoder& decoder() const { return decoder_; }
    // Whether the bytes so far end inside a message (or its length prefix, or an oversize
    // message being skipped): the client owes us the rest.
    bool inside_message() const { return decoder_.at_eof().kind != frame_decoder::eof_kind::clean; }
    std::uint64_t messages() const { return messages_; }
    // The read blocks the unfinished message holds once it is over carry_limit: about its size
    // in blocks, plus one, when its reads fit in what the previous block has left; up to one per
    // read when they do not (reads of over half a block can). Only its completion (or the
    // stream's end) frees them.
    std::size_t pinned_blocks() const;

private:
    struct piece {
        std::shared_ptr<const chunk> block;
        frame_segment segment;
    };
    struct handler; // the frame_decoder's handler, for one chunk

    void complete_message(message_batch& batch, std::size_t length);
    void fold_into_previous_block(const std::shared_ptr<const chunk>& block);
    void carry_small_partial();
    void drop_partial();

    frame_decoder decoder_;
    std::string carry_;          // the unfinished message's first bytes, copied
    std::vector<piece> partial_; // and the rest of its payload so far, in read buffers
    std::uint64_t messages_ = 0;
};

} // namespace funnel
