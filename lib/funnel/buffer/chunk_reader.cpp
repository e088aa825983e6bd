#include "funnel/buffer/chunk_reader.hpp"

#include <boost/asio/post.hpp>

namespace funnel {

void chunk_reader::start() {
    if (reading_ || ended_)
        return;
    if (window_full()) {
        starved_.store(true);
        if (window_full())
            return;            // credit() will see starved_ and post a resume
        starved_.store(false); // it came meanwhile; a resume it may have posted is harmless
    }
    reading_ = true;
    if (expect_more_)
        acquire_and_read();
    else
        wait_readable();
}

void chunk_reader::credit(std::size_t chunks) {
    credited_.fetch_add(chunks);
    if (starved_.exchange(false))
        net::post(socket_.get_executor(), [this, keep = sink_.keepalive()] { start(); });
}

void chunk_reader::stop() {
    if (ended_)
        return;
    ended_ = true;
    pool_.cancel(this);
}

void chunk_reader::end(error_code ec) {
    if (ended_)
        return;
    stop();
    sink_.on_read_end(ec);
}

void chunk_reader::wait_readable() {
    socket_.async_wait(tcp::socket::wait_read, [this, keep = sink_.keepalive()](error_code ec) {
        if (ended_)
            return;
        if (ec) {
            reading_ = false;
            end(ec);
            return;
        }
        acquire_and_read();
    });
}

void chunk_reader::acquire_and_read() {
    if (chunk c = pool_.try_acquire()) {
        read_into(std::move(c));
        return;
    }
    metrics::add(pauses_, 1);
    parked_ = true;
    // The waiter keeps the owner alive until it is granted or stop() cancels it.
    pool_.async_acquire(
        socket_.get_executor(),
        [this, keep = sink_.keepalive()](chunk c) { read_into(std::move(c)); }, this);
}

void chunk_reader::read_into(chunk c) {
    reading_ = false;
    parked_ = false;
    if (ended_)
        return;
    error_code ec;
    const std::size_t n = socket_.read_some(c.writable(), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
        expect_more_ = false;
        reading_ = true;
        wait_readable();
        return;
    }
    if (ec) {
        end(ec);
        return;
    }
    c.set_size(n);
    c.set_arrived(std::chrono::steady_clock::now()); // one vDSO clock read per read
    expect_more_ = n == c.capacity();
    ++handed_out_;
    sink_.on_chunk(std::move(c));
    start();
}

} // namespace funnel
