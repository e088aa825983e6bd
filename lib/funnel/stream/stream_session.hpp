#pragma once
// stream_session: one client and its own connection to the target, bytes verbatim both ways.
//
//   client socket (io thread)                       target socket (its strand on the pool)
//   wait_read → read_some into a chunk ──post──►    queue → one gathered async_write
//            ◄──────── credit (chunks written)
//   queue → one gathered async_write  ◄──post──     wait_read → read_some into a chunk
//            ─────────► credit ─────────────────►
//
// Each socket, with everything about it (its queue, its flags), belongs to one executor and is
// touched only there: the client end to the io thread, the target end to its strand. The only
// way across is post(), except credit, which is an atomic count that posts only to wake a reader
// waiting for it (chunk_reader). A reader keeps at most `window` chunks in flight and waits for
// credit before reading more; every chunk also comes from a byte-bounded pool, so a target that
// stops reading stops the client's reads (TCP backpressure) instead of growing memory. With
// --client-buffer-limit each direction's reader also stops at that many bytes of its pool held
// for this session (client_budget), so that one stalled pair cannot take a whole pool.
//
// Half-close travels across: EOF read on one end becomes shutdown(send) on the other once
// everything before it is written. An end closes when both of its directions are done. A read
// or write error on one end resets the other (SO_LINGER 0), so a reset travels across too.
//
// Lifetime: owned by the handlers in flight (each holds shared_from_this()); the registry only
// holds a weak reference. The destructor tells the registry.

#include "funnel/buffer/chunk.hpp"
#include "funnel/buffer/chunk_reader.hpp"
#include "funnel/net.hpp"
#include "funnel/server/session_context.hpp"
#include "funnel/server/session_registry.hpp"
#include "funnel/upstream/connector.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace funnel {

class stream_session : public registered_session,
                       public std::enable_shared_from_this<stream_session> {
public:
    // Chunks one direction may have read but not yet written: enough to overlap a read with a
    // write without letting one session take the whole budget.
    static constexpr std::size_t window = 4;

    stream_session(tcp::socket client, net::any_io_executor target_ex, session_context& ctx,
                   std::uint64_t id);
    ~stream_session() override;

    void start();                                 // io thread
    void close(std::string_view reason) override; // io thread

private:
    // One socket and everything about it; touched only on the socket's executor.
    struct end final : chunk_reader::sink {
        end(stream_session& s, tcp::socket sock, const char* n, buffer_pool& pool)
            : session(s), socket(std::move(sock)), name(n),
              reader(socket, pool, window, *this, s.ctx_.stats, s.ctx_.cfg.client_buffer_limit) {}
        void on_chunk(chunk c) override { session.on_chunk(*this, std::move(c)); }
        void on_read_end(error_code ec) override { session.on_read_end(*this, ec); }
        std::shared_ptr<void> keepalive() override { return session.shared_from_this(); }

        stream_session& session;
        tcp::socket socket;
        const char* name;
        chunk_reader reader; // as a source
        bool connected = true;
        bool closed = false;
        bool read_eof = false;
        // As a sink.
        std::deque<chunk> queue;
        std::vector<net::const_buffer> gather;
        bool writing = false;
        bool peer_eof = false;
        bool write_shut = false;
    };

    end& other(end& e) { return &e == &client_ ? target_ : client_; }
    bool is_client(const end& e) const { return &e == &client_; }
    template <class F> void on_executor_of(end& e, F&& f);

    // Source side, on the source's executor.
    void on_chunk(end& src, chunk c);
    void on_read_end(end& src, error_code ec);
    // Sink side, on the sink's executor.
    void deliver(end& dst, chunk c);
    void on_peer_eof(end& dst);
    void do_write(end& dst);
    void on_write(end& dst, error_code ec, std::size_t bytes, std::size_t chunks);
    // Lifecycle.
    void start_connect();
    void on_connected(error_code ec, const tcp::endpoint& ep);
    void maybe_finish(end& e);
    void fail(end& e, error_code ec, std::string_view what);
    void shut_end(end& e, bool reset);
    static bool has_unsent(const end& e);
    void note_reason(std::string_view reason); // io thread
    void touch();                              // io thread
    void arm_idle_timer();
    void on_idle_timer(error_code ec);

    session_context& ctx_;
    const std::uint64_t id_;
    std::string peer_; // the client's address, for log lines
    end client_;
    end target_;
    connector connector_;                          // target executor
    net::steady_timer idle_timer_;                 // io thread
    std::chrono::steady_clock::time_point opened_; // io thread
    std::chrono::steady_clock::time_point last_activity_;
    std::string close_reason_;     // io thread
    bool target_closed_ = false;   // io thread: the target end has closed too
    std::uint64_t bytes_up_ = 0;   // io thread: read from the client
    std::uint64_t bytes_down_ = 0; // io thread: written to the client
    std::atomic<bool> failed_{false};
    std::atomic<std::uint64_t> written_to_target_{0}; // target strand adds, io thread reads
    std::uint64_t written_seen_ = 0;                  // io thread: at the last idle check
};

} // namespace funnel
