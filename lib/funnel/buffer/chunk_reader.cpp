#include "funnel/buffer/chunk_reader.hpp"

#include <boost/asio/post.hpp>

namespace funnel {

void chunk_reader::start() {
    if (reading_ || ended_)
        return;
    if (client_limit_ != 0 && !budget_) {
        budget_ = std::make_shared<client_budget>(
            client_limit_, pool_.block_size(),
            [this, owner = std::weak_ptr<void>(sink_.keepalive())] {
                if (auto keep = owner.lock()) // else the reader is gone with its owner
                    wake(std::move(keep));
            });
    }
    if (held_back()) {
        starved_.store(true);
        if (held_back()) { // credit() or the budget's release will see starved_ and wake us
            if (budget_holds_back() && !paused_keep_) {
                paused_keep_ = sink_.keepalive();
                metrics::add(stats_.client_pauses, 1);
            }
            return;
        }
        starved_.store(false); // it came meanwhile; a resume it may have posted is harmless
    }
    paused_keep_.reset(); // the caller holds the owner too
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

void chunk_reader::wake(std::shared_ptr<void> keep) {
    if (starved_.exchange(false))
        net::post(socket_.get_executor(), [this, keep = std::move(keep)] { start(); });
}

void chunk_reader::stop() {
    if (ended_)
        return;
    ended_ = true;
    pool_.cancel(this);
    paused_keep_.reset(); // the caller holds the owner too
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
    metrics::add(stats_.read_pauses, 1);
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
    if (budget_) {
        c.charge_to(budget_);
        metrics::raise(stats_.client_buffer_high_water, budget_->held());
    }
    expect_more_ = n == c.capacity();
    ++handed_out_;
    sink_.on_chunk(std::move(c));
    start();
}

} // namespace funnel
