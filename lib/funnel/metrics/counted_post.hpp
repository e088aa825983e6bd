#pragma once
// post_counted: net::post for jobs handed to the target side (the pool's strands), keeping the
// funnel_worker_queue_depth gauge: one up when posted, one down when the job starts.
//
// Only the posts funnel makes itself are counted (chunks, ends of stream, control), not the
// completions of the target sockets' own operations, which Asio queues without a post. A job
// destroyed without running (at shutdown) leaves the gauge up, which nobody reads any more.
//
// Thread-safety: from any thread; the gauge is a relaxed atomic of `metrics`, which outlives
// every job.

#include "funnel/metrics/metrics.hpp"
#include "funnel/net.hpp"

#include <boost/asio/post.hpp>

#include <utility>

namespace funnel {

template <class Executor, class F>
void post_counted(const Executor& ex, metrics::counter& depth, F&& f) {
    metrics::add(depth, 1);
    net::post(ex, [&depth, f = std::forward<F>(f)]() mutable {
        metrics::sub(depth, 1);
        f();
    });
}

} // namespace funnel
