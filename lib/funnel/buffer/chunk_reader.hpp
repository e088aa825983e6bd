#pragma once
// chunk_reader: reads one socket into chunks of a buffer_pool, reactor style.
//
// It waits for readability before it takes a block, so an idle connection holds no buffer
// memory; while reads fill their whole chunk it reads again at once instead of waiting. At most
// `window` chunks are in flight: the sink gives them back with credit() once it is done with
// them, and reading resumes. credit() may come from any thread and posts to the reader only when
// the reader is waiting for it: a reader that still has room sees the credit when it next looks,
// so a busy stream costs no cross-thread post (and no wake-up) per chunk. Each chunk is stamped
// with the time its read completed (chunk::arrived()). When the pool's budget is
// spent it parks in the pool's FIFO (and the read_pauses counter moves) until a block comes back.
//
// With a client limit (--client-buffer-limit), each chunk is also charged to the reader's own
// client_budget until it is given back, wherever that happens: a reader whose client holds its
// limit reads no more (one client_pauses per episode) until a release wakes it. Credit and the
// budget share one starved_ flag and one wake-up: either posts start(), which looks at both.
// The limit never pauses a reader whose held blocks only more input can free (the sink's
// pinned_blocks(), message mode's unfinished message, once they fill the limit): nothing else
// would free them, and pausing would hold the client forever. The sink changes pinned_blocks()
// only before a credit(), so a reader it lets go is woken like one that got credit.
//
// Thread affinity: the socket's executor, for every member but credit() and every sink call.
// Lifetime: a member of its sink's owner; every pending handler holds sink::keepalive(), and so
// does the reader itself while its client's budget holds it back. stop() (or closing the socket)
// ends it; a parked acquire is cancelled by stop(), which also lets go of the owner.

#include "funnel/buffer/buffer_pool.hpp"
#include "funnel/buffer/client_budget.hpp"
#include "funnel/metrics/metrics.hpp"
#include "funnel/net.hpp"

#include <atomic>
#include <cstddef>
#include <memory>

namespace funnel {

class chunk_reader {
public:
    class sink {
    public:
        virtual void on_chunk(chunk c) = 0;
        // net::error::eof, or the error that ended reading; not called after stop().
        virtual void on_read_end(error_code ec) = 0;
        virtual std::shared_ptr<void> keepalive() = 0;
        // From the reader's executor: how many of the chunks the sink holds for the reader only
        // more input can free (message mode: the unfinished message's). Sequentially consistent,
        // and changed only before a credit(); 0 by default.
        virtual std::size_t pinned_blocks() const { return 0; }

    protected:
        ~sink() = default;
    };

    // `client_limit`: the bytes of `pool` this reader's chunks may hold at once; 0 = no limit.
    chunk_reader(tcp::socket& socket, buffer_pool& pool, std::size_t window, sink& s,
                 metrics& stats, std::size_t client_limit = 0)
        : socket_(socket), pool_(pool), window_(window), sink_(s), stats_(stats),
          client_limit_(client_limit) {}

    // Starts reading, or resumes it if the window and the client's budget allow.
    void start();
    // From any thread: the sink is done with `chunks` chunks.
    void credit(std::size_t chunks);
    void stop();
    bool ended() const { return ended_; }
    // Held back: waiting for a block of the budget, for credit, or for the client's own blocks.
    bool paused() const { return parked_ || held_back(); }

private:
    // From any thread, holding the sink's owner: posts start() if the reader waits.
    void wake(std::shared_ptr<void> keep);
    bool held_back() const { return window_full() || budget_holds_back(); }
    // The client holds its limit, and not only in blocks that more input must free.
    bool budget_holds_back() const {
        return budget_ && budget_->full() &&
               sink_.pinned_blocks() * pool_.block_size() < budget_->most();
    }
    void wait_readable();
    void acquire_and_read();
    void read_into(chunk c);
    void end(error_code ec);
    bool window_full() const {
        return handed_out_ - credited_.load(std::memory_order_seq_cst) >= window_;
    }

    tcp::socket& socket_;
    buffer_pool& pool_;
    const std::size_t window_;
    sink& sink_;
    metrics& stats_;
    const std::size_t client_limit_;
    // Made by the first start(), once the sink's owner can hand out a (weak) reference to itself.
    std::shared_ptr<client_budget> budget_;
    std::size_t handed_out_ = 0; // chunks given to the sink, ever
    // Chunks the sink gave back, ever (and the client's budget), and whether the reader waits for
    // them: a store to one and a load of the other on each side, all sequentially consistent, so
    // that either credit() (or the release that ends full()) sees the reader waiting or the
    // reader sees the credit (or the room), never neither.
    std::atomic<std::size_t> credited_{0};
    std::atomic<bool> starved_{false};
    // Set while budget_ holds the reader back (one client_pauses per episode): nothing else may
    // hold the owner then (message mode: the link holds the chunks, not the session), so this
    // keeps it alive until the wake-up, like a parked acquire's handler; stop() drops it.
    std::shared_ptr<void> paused_keep_;
    bool reading_ = false;
    bool expect_more_ = false; // the last read filled its chunk: read again before waiting
    bool ended_ = false;
    bool parked_ = false;
};

} // namespace funnel
