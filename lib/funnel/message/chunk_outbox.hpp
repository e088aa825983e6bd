#pragma once
// chunk_outbox: the chunks the io thread reads, in one round of its event loop, for the clients of
// one upstream_link, handed to the link's strand in one post.
//
// Every post to the pool may wake a sleeping thread, and on a busy relay that wake-up, not the
// framing, is the larger cost of a small read. The io thread runs every handler that is ready
// before it comes back to the flush it posted behind them, so the clients that were readable
// together share one post and one wake-up.
//
// Order: one outbox per link, FIFO, so each client's chunks reach the strand in the order they
// were read. Anything else a session posts to the link's strand must call flush() first, so that
// it cannot overtake the session's own chunks.
//
// Thread affinity: the io thread. Lifetime: owned by the service, which outlives the io thread.

#include "funnel/buffer/chunk.hpp"
#include "funnel/metrics/metrics.hpp"
#include "funnel/net.hpp"

#include <memory>
#include <utility>
#include <vector>

namespace funnel {

class message_session;

class chunk_outbox {
public:
    // `queue_depth`: the gauge of jobs posted to the pool (metrics::worker_queue_depth).
    chunk_outbox(net::any_io_executor io, net::any_io_executor strand,
                 metrics::counter& queue_depth)
        : io_(std::move(io)), strand_(std::move(strand)), queue_depth_(queue_depth) {}

    void push(std::shared_ptr<message_session> session, chunk c);
    // Hands what is waiting to the strand now.
    void flush();

private:
    using item = std::pair<std::shared_ptr<message_session>, chunk>;

    net::any_io_executor io_;
    net::any_io_executor strand_;
    metrics::counter& queue_depth_;
    std::vector<item> items_;
    bool flush_posted_ = false;
};

} // namespace funnel
