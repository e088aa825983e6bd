#pragma once
// message_session: one client of message mode. Its reads (io thread) are framed on the strand
// of the upstream_link it is pinned to, and whole messages are queued there.
//
//   client socket (io thread)                     its upstream_link's strand (pool)
//   chunk_reader ─► chunk ─► chunk_outbox ─post─►  frame_decoder.feed ─► whole messages ─► link
//              ◄──────── credit (chunk framed) ─┘   (an atomic; posts only to wake the reader)
//
// Pinning a client to one link keeps its messages in order; messages of different clients meet
// only whole, in the link's queue. A message is queued only when its last byte has arrived, so
// it is never cut and never interleaved; its bytes stay in the chunks they were read into (the
// budget of --buffer-limit) until the target's kernel has acknowledged them. With
// --client-buffer-limit they also count against this client's share (client_budget, released
// on the link's strand with the chunk): a client holding its share is paused alone.
//
// How a stream becomes whole messages, and what happens to its end, is message_framer's job.
//
// Lifetime: like stream_session, owned by its handlers; the registry holds a weak reference.

#include "funnel/buffer/chunk_reader.hpp"
#include "funnel/message/chunk_outbox.hpp"
#include "funnel/message/message_framer.hpp"
#include "funnel/message/upstream_link.hpp"
#include "funnel/net.hpp"
#include "funnel/server/session_context.hpp"
#include "funnel/server/session_registry.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace funnel {

class message_session : public registered_session,
                        public chunk_reader::sink,
                        public std::enable_shared_from_this<message_session> {
public:
    static constexpr std::size_t window = 4;

    message_session(tcp::socket client, std::shared_ptr<upstream_link> link, chunk_outbox& outbox,
                    session_context& ctx, std::uint64_t id);
    ~message_session() override;

    void start();                                 // io thread
    void close(std::string_view reason) override; // io thread
    // Link strand: frames one chunk the reader read (chunk_outbox brings it).
    void frame(std::shared_ptr<const chunk> block);

private:
    // chunk_reader::sink, on the io thread.
    void on_chunk(chunk c) override;
    void on_read_end(error_code ec) override;
    std::shared_ptr<void> keepalive() override { return shared_from_this(); }
    std::size_t pinned_blocks() const override {
        return pinned_blocks_.load(std::memory_order_seq_cst);
    }

    // On the link's strand.
    // `at`: when the io thread saw the end, which completes a last line without its '\n'.
    void end_of_stream(bool clean, std::chrono::steady_clock::time_point at);
    void enqueue(message_batch batch);
    void report_oversize(std::size_t count, std::size_t length);
    void close_from_strand(std::string reason);
    void note_message_boundary(bool completed_one, std::chrono::steady_clock::time_point arrived);

    // io thread.
    void finish(std::string_view reason, bool reset);
    void arm_idle_timer();
    // When the message the client is in the middle of began, as far as the client is to blame.
    std::optional<std::chrono::steady_clock::time_point> message_started() const;

    session_context& ctx_;
    const std::uint64_t id_;
    std::string peer_;
    std::shared_ptr<upstream_link> link_;
    chunk_outbox& outbox_; // io thread
    // io thread
    tcp::socket client_;
    chunk_reader reader_;
    net::steady_timer idle_timer_;
    std::chrono::steady_clock::time_point last_activity_;
    // The latest time the reader was seen paused by backpressure: until then, an unfinished
    // message is our delay, not the client's.
    std::chrono::steady_clock::time_point excused_until_;
    std::uint64_t bytes_in_ = 0;
    bool closed_ = false;
    // Written on the link strand, read by the io thread's idle timer: since when the bytes
    // framed so far end inside a message (steady_clock ticks), or 0. --idle-timeout also bounds
    // how long one message may take to arrive, so that a client trickling a byte at a time
    // (slowloris) cannot hold a read buffer forever.
    std::atomic<std::int64_t> inside_message_since_{0};
    // Written on the link strand before each credit, read by the reader (io thread): the blocks
    // the unfinished message holds (message_framer::pinned_blocks), which --client-buffer-limit
    // must not pause the client for (chunk_reader).
    std::atomic<std::size_t> pinned_blocks_{0};
    // link strand
    message_framer framer_;
    bool stream_closed_ = false;
};

} // namespace funnel
