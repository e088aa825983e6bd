#include "funnel/loadtest/sink_server.hpp"

#include "funnel/loadtest/bulk_pattern.hpp"
#include "funnel/loadtest/json_writer.hpp"
#include "funnel/loadtest/message_reader.hpp"
#include "funnel/loadtest/sequence_tracker.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace funnel::loadtest {

const char* to_string(sink_mode m) {
    switch (m) {
    case sink_mode::count:
        return "count";
    case sink_mode::bulk:
        return "bulk";
    case sink_mode::line:
        return "line";
    case sink_mode::length:
        return "length";
    }
    return "?";
}

namespace {

using clock = std::chrono::steady_clock;

std::uint64_t to_ns(clock::time_point t) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

bool is_message_mode(sink_mode m) {
    return m == sink_mode::line || m == sink_mode::length;
}

// What every io thread shares.
struct shared_state {
    explicit shared_state(const sink_config& c) : cfg(c) {}
    const sink_config& cfg;
    client_table clients;
    std::atomic<std::uint64_t> bytes{0};
    std::atomic<std::uint64_t> messages{0};
    std::atomic<std::uint64_t> ended{0};           // connections ended with EOF
    std::atomic<std::uint64_t> open{0};            // connections started and not yet closed
    std::function<void(const char*)> request_stop; // any thread: posts to the control thread
};

// One io thread and what its connections add up to; read by the control thread only after the
// thread is joined.
struct worker {
    net::io_context io{1};
    net::executor_work_guard<net::io_context::executor_type> guard{io.get_executor()};
    std::vector<char> buffer; // one read at a time, after the connection's unfinished message
    receive_totals totals;
    std::uint64_t bytes = 0;
    std::uint64_t first_ns = 0;
    std::uint64_t last_ns = 0;
    // Bulk streams.
    std::uint64_t streams_with_header = 0;
    std::uint64_t streams_open = 0; // neither ended nor found corrupted yet
    std::uint64_t streams_complete = 0;
    std::uint64_t streams_short = 0;
    std::uint64_t streams_corrupted = 0;
    std::thread thread;
    // Its connections, for a restart (--restart-every); pruned as it grows.
    std::vector<std::weak_ptr<class connection>> live;
};

// One accepted connection, on its worker's thread. Kept alive by its pending handler.
class connection : public std::enable_shared_from_this<connection> {
public:
    connection(worker& w, shared_state& s, tcp::socket socket)
        : w_(w), s_(s), socket_(std::move(socket)), pace_timer_(w.io),
          reader_(s.cfg.mode == sink_mode::length ? framing::length : framing::line,
                  s.cfg.max_message_size) {
        if (s.cfg.close_after)
            fault_at_ = *s.cfg.close_after;
        if (s.cfg.reset_after && (!fault_at_ || *s.cfg.reset_after <= *fault_at_)) {
            fault_at_ = *s.cfg.reset_after;
            fault_is_reset_ = true;
        }
        if (s.cfg.read_rate > 0)
            rate_chunk_ = std::clamp<std::uint64_t>(s.cfg.read_rate / 20, 1, s.cfg.read_size);
    }

    void start() {
        if (w_.live.size() == w_.live.capacity())
            std::erase_if(w_.live, [](const auto& c) { return c.expired(); });
        w_.live.push_back(weak_from_this());
        s_.open.fetch_add(1, std::memory_order_relaxed);
        error_code ec;
        socket_.non_blocking(true, ec);
        if (ec) {
            end(false);
            return;
        }
        if (fault_at_ && *fault_at_ == 0) {
            apply_fault();
            return;
        }
        read();
    }

    // A restart: FIN now, and go on reading until the sender's EOF, so that whatever it wrote
    // before it saw the FIN is read and counted.
    void close_gracefully() {
        if (ended_)
            return;
        error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
    }

private:
    void wait_readable() {
        socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
            if (self->ended_)
                return;
            if (ec) {
                self->end(false);
                return;
            }
            self->read();
        });
    }

    void read() {
        if (rate_chunk_ > 0) {
            const auto now = clock::now();
            if (now < next_read_) {
                pace_timer_.expires_at(next_read_);
                pace_timer_.async_wait([self = shared_from_this()](error_code ec) {
                    if (!ec && !self->ended_)
                        self->read_now();
                });
                return;
            }
        }
        read_now();
    }

    void read_now() {
        std::size_t limit = s_.cfg.read_size;
        if (fault_at_)
            limit =
                static_cast<std::size_t>(std::min<std::uint64_t>(limit, *fault_at_ - received_));
        if (rate_chunk_ > 0)
            limit = static_cast<std::size_t>(std::min<std::uint64_t>(limit, rate_chunk_));
        char* dst = w_.buffer.data() + carry_.size();
        error_code ec;
        const std::size_t n = socket_.read_some(net::buffer(dst, limit), ec);
        if (ec == net::error::would_block || ec == net::error::try_again) {
            wait_readable();
            return;
        }
        if (ec) {
            end(ec == net::error::eof);
            return;
        }
        on_data(dst, n);
        if (rate_chunk_ > 0) {
            const auto cost = std::chrono::nanoseconds(static_cast<std::int64_t>(
                static_cast<double>(n) * 1e9 / static_cast<double>(s_.cfg.read_rate)));
            next_read_ = std::max(next_read_, clock::now()) +
                         std::chrono::duration_cast<clock::duration>(cost);
        }
        if (fault_at_ && received_ >= *fault_at_) {
            apply_fault();
            return;
        }
        if (n == limit) // probably more waiting: read again, after the others on this thread
            net::post(socket_.get_executor(), [self = shared_from_this()] {
                if (!self->ended_)
                    self->read();
            });
        else
            wait_readable();
    }

    void on_data(char* dst, std::size_t n) {
        const std::uint64_t now = to_ns(clock::now()); // once per read, not per message
        if (w_.first_ns == 0)
            w_.first_ns = now;
        w_.last_ns = now;
        received_ += n;
        w_.bytes += n;
        std::uint64_t messages = 0;
        switch (s_.cfg.mode) {
        case sink_mode::count:
            break;
        case sink_mode::bulk:
            on_bulk(dst, n);
            break;
        case sink_mode::line:
        case sink_mode::length: {
            char* base = w_.buffer.data();
            const std::size_t carried = carry_.size();
            if (carried > 0)
                std::memcpy(base, carry_.data(), carried);
            const std::uint64_t before = w_.totals.messages;
            const std::size_t total = carried + n;
            const std::size_t keep = reader_.consume(base, total, now, s_.clients, w_.totals);
            carry_.assign(base + total - keep, base + total); // reuses its capacity
            messages = w_.totals.messages - before;
            break;
        }
        }
        const auto& cfg = s_.cfg;
        const std::uint64_t bytes = s_.bytes.fetch_add(n, std::memory_order_relaxed) + n;
        if (cfg.expect_bytes && bytes >= *cfg.expect_bytes && bytes - n < *cfg.expect_bytes)
            s_.request_stop("expect-bytes");
        if (messages > 0) {
            const std::uint64_t m =
                s_.messages.fetch_add(messages, std::memory_order_relaxed) + messages;
            if (cfg.expect_messages && m >= *cfg.expect_messages &&
                m - messages < *cfg.expect_messages)
                s_.request_stop("expect-messages");
        }
    }

    void on_bulk(const char* data, std::size_t n) {
        if (stream_ == stream_state::none) {
            stream_ = stream_state::open;
            ++w_.streams_open;
        }
        const bool had_header = bulk_.has_header();
        bulk_.consume(data, n);
        if (!had_header && bulk_.has_header())
            ++w_.streams_with_header;
        if (stream_ == stream_state::open && bulk_.corrupted()) {
            stream_ = stream_state::classified;
            --w_.streams_open;
            ++w_.streams_corrupted;
        }
    }

    void classify_stream() {
        if (stream_ != stream_state::open)
            return;
        stream_ = stream_state::classified;
        --w_.streams_open;
        switch (bulk_.finish()) {
        case bulk_verifier::outcome::complete:
            ++w_.streams_complete;
            break;
        case bulk_verifier::outcome::corrupted:
            ++w_.streams_corrupted;
            break;
        case bulk_verifier::outcome::empty:
        case bulk_verifier::outcome::short_stream:
            ++w_.streams_short;
            break;
        }
    }

    // The connection ended: EOF from the peer (`eof`), or an error.
    void end(bool eof) {
        if (ended_)
            return;
        ended_ = true;
        if (eof && is_message_mode(s_.cfg.mode))
            reader_.end_of_stream(carry_.size(), w_.totals);
        if (s_.cfg.mode == sink_mode::bulk)
            classify_stream();
        error_code ignored;
        pace_timer_.cancel();
        socket_.close(ignored);
        s_.open.fetch_sub(1, std::memory_order_relaxed);
        if (eof) {
            const std::uint64_t n = s_.ended.fetch_add(1, std::memory_order_relaxed) + 1;
            if (s_.cfg.expect_connections && n == *s_.cfg.expect_connections)
                s_.request_stop("expect-connections");
        }
    }

    // --close-after or --reset-after reached.
    void apply_fault() {
        ended_ = true;
        if (s_.cfg.mode == sink_mode::bulk)
            classify_stream();
        error_code ignored;
        pace_timer_.cancel();
        if (fault_is_reset_)
            socket_.set_option(net::socket_base::linger(true, 0), ignored);
        else
            socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
        s_.open.fetch_sub(1, std::memory_order_relaxed);
    }

    enum class stream_state { none, open, classified };

    worker& w_;
    shared_state& s_;
    tcp::socket socket_;
    net::steady_timer pace_timer_;
    message_reader reader_;
    std::vector<char> carry_; // the unfinished message after the last read
    bulk_verifier bulk_;
    stream_state stream_ = stream_state::none;
    std::uint64_t received_ = 0;
    std::optional<std::uint64_t> fault_at_;
    bool fault_is_reset_ = false;
    std::uint64_t rate_chunk_ = 0; // --read-rate: the most one read takes; 0 when unpaced
    clock::time_point next_read_{};
    bool ended_ = false;
};

} // namespace

struct sink_server::impl {
    explicit impl(sink_config c) : cfg(std::move(c)), shared(cfg) {
        shared.request_stop = [this](const char* reason) {
            net::post(control, [this, reason] { finish(reason); });
        };
        tcp::resolver resolver(control);
        const auto results = resolver.resolve(cfg.listen_host, std::to_string(cfg.listen_port),
                                              tcp::resolver::passive);
        listen(results.begin()->endpoint());

        const std::size_t buffer_size =
            cfg.read_size + (is_message_mode(cfg.mode) ? cfg.max_message_size + 4 : 0);
        for (std::size_t i = 0; i < cfg.threads; ++i) {
            auto w = std::make_unique<worker>();
            w->buffer.resize(buffer_size);
            workers.push_back(std::move(w));
        }
        if (cfg.handle_signals) {
            signals.add(SIGINT);
            signals.add(SIGTERM);
        }
        if (cfg.mode == sink_mode::bulk)
            (void)bulk_pattern::get(); // built now, not on the first read
    }

    ~impl() {
        if (!finished) {
            for (auto& w : workers)
                w->io.stop();
            for (auto& w : workers)
                if (w->thread.joinable())
                    w->thread.join();
        }
    }

    void listen(const tcp::endpoint& ep) {
        acceptor.open(ep.protocol());
        acceptor.set_option(net::socket_base::reuse_address(true));
        acceptor.bind(ep);
        acceptor.listen(net::socket_base::max_listen_connections);
    }

    // --restart-every: down (no listener, every connection closing gracefully), then up again.
    void arm_restart() {
        restart_timer.expires_after(*cfg.restart_every);
        restart_timer.async_wait([this](error_code ec) {
            if (ec || finished)
                return;
            ++restarts;
            const tcp::endpoint ep = acceptor.local_endpoint();
            error_code ignored;
            acceptor.close(ignored);
            for (auto& w : workers)
                net::post(w->io, [&w = *w] {
                    for (const auto& weak : w.live)
                        if (const auto c = weak.lock())
                            c->close_gracefully();
                    w.live.clear();
                });
            restart_timer.expires_after(cfg.down_for);
            restart_timer.async_wait([this, ep](error_code e) {
                if (!e && !finished)
                    come_back_up(ep);
            });
        });
    }

    // Like a new process, only once the old one has read every connection to its end: a new
    // connection's data never overtakes an old one's in this sink.
    void come_back_up(const tcp::endpoint& ep) {
        if (shared.open.load(std::memory_order_relaxed) > 0) {
            restart_timer.expires_after(std::chrono::milliseconds(5));
            restart_timer.async_wait([this, ep](error_code e) {
                if (!e && !finished)
                    come_back_up(ep);
            });
            return;
        }
        try {
            listen(ep);
        } catch (const std::exception&) {
            // The port was taken meanwhile: stay down, the sender keeps holding.
            finish("restart-failed");
            return;
        }
        do_accept();
        arm_restart();
    }

    void do_accept() {
        worker& w = *workers[next_worker++ % workers.size()];
        acceptor.async_accept(w.io.get_executor(), [this, &w](error_code ec, tcp::socket s) {
            if (finished)
                return;
            if (ec) {
                if (ec == net::error::operation_aborted)
                    return;
                // Out of descriptors or similar: try again shortly rather than spin.
                accept_retry.expires_after(std::chrono::milliseconds(100));
                accept_retry.async_wait([this](error_code e) {
                    if (!e && !finished)
                        do_accept();
                });
                return;
            }
            ++accepted;
            if (cfg.no_read) {
                parked.push_back(std::move(s));
            } else {
                auto c = std::make_shared<connection>(w, shared, std::move(s));
                net::post(w.io, [c] { c->start(); });
            }
            do_accept();
        });
    }

    void watch_idle() {
        const auto idle = *cfg.idle_exit;
        const auto tick = std::clamp<std::chrono::nanoseconds>(
            idle / 4, std::chrono::milliseconds(1), std::chrono::milliseconds(50));
        idle_timer.expires_after(tick);
        idle_timer.async_wait([this, idle](error_code ec) {
            if (ec || finished)
                return;
            const auto now = clock::now();
            const std::uint64_t b = shared.bytes.load(std::memory_order_relaxed);
            if (b != idle_bytes) {
                idle_bytes = b;
                idle_since = now;
            } else if (b > 0 && now - idle_since >= idle) {
                finish("idle");
                return;
            }
            watch_idle();
        });
    }

    void finish(const char* reason) {
        if (finished)
            return;
        finished = true;
        stop_reason = reason;
        error_code ignored;
        acceptor.close(ignored);
        signals.cancel(ignored);
        timeout_timer.cancel();
        idle_timer.cancel();
        accept_retry.cancel();
        restart_timer.cancel();
        for (auto& w : workers)
            w->io.stop();
        for (auto& w : workers)
            if (w->thread.joinable())
                w->thread.join();
        control.stop();
    }

    sink_result run() {
        for (auto& w : workers) {
            worker* p = w.get();
            p->thread = std::thread([p] { p->io.run(); });
        }
        do_accept();
        if (cfg.handle_signals)
            signals.async_wait([this](error_code ec, int) {
                if (!ec)
                    finish("signal");
            });
        if (cfg.timeout) {
            timeout_timer.expires_after(*cfg.timeout);
            timeout_timer.async_wait([this](error_code ec) {
                if (!ec)
                    finish("timeout");
            });
        }
        if (cfg.idle_exit)
            watch_idle();
        if (cfg.restart_every)
            arm_restart();
        control.run();
        finish("stopped");
        return result();
    }

    sink_result result() const;

    // Destruction runs bottom-up: the parked sockets and the control context (whose cancelled
    // accept may still hold a socket of a worker) go before the workers they belong to.
    sink_config cfg;
    shared_state shared;
    std::vector<std::unique_ptr<worker>> workers;
    net::io_context control{1};
    tcp::acceptor acceptor{control};
    net::signal_set signals{control};
    net::steady_timer timeout_timer{control};
    net::steady_timer idle_timer{control};
    net::steady_timer accept_retry{control};
    net::steady_timer restart_timer{control};
    std::vector<tcp::socket> parked; // --no-read: accepted, never read
    std::size_t next_worker = 0;
    std::uint64_t accepted = 0;
    std::uint64_t restarts = 0;
    std::uint64_t idle_bytes = 0;
    clock::time_point idle_since{};
    bool finished = false;
    std::string stop_reason;
};

sink_result sink_server::impl::result() const {
    sink_result r;
    r.mode = cfg.mode;
    r.stop = stop_reason;
    r.connections = accepted;
    r.connections_ended = shared.ended.load();
    r.restarts = restarts;
    latency_histogram latency;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    std::uint64_t open_streams = 0;
    for (const auto& w : workers) {
        r.bytes += w->bytes;
        r.messages += w->totals.messages;
        r.corrupted += w->totals.corrupted + w->streams_corrupted;
        latency.merge(w->totals.latency);
        if (w->first_ns != 0 && (first == 0 || w->first_ns < first))
            first = w->first_ns;
        last = std::max(last, w->last_ns);
        r.streams_complete += w->streams_complete;
        r.streams_short += w->streams_short;
        open_streams += w->streams_open;
        if (cfg.mode == sink_mode::bulk)
            r.clients += w->streams_with_header;
    }
    r.streams_short += open_streams; // still open when it stopped: not complete
    if (first != 0)
        r.seconds = static_cast<double>(last - first) / 1e9;
    if (is_message_mode(cfg.mode)) {
        const sequence_totals t = shared.clients.summarize();
        r.unique = t.unique;
        r.duplicated = t.duplicated;
        r.reordered = t.reordered;
        r.holes = t.holes;
        r.clients = t.clients;
        r.latency_count = latency.count();
        r.latency_p50 = latency.percentile(0.5);
        r.latency_p90 = latency.percentile(0.9);
        r.latency_p99 = latency.percentile(0.99);
        r.latency_p999 = latency.percentile(0.999);
        r.latency_max = latency.max();
    }

    std::vector<std::string> reasons;
    const auto add = [&reasons](std::uint64_t n, const char* what) {
        if (n > 0)
            reasons.push_back(std::to_string(n) + " " + what);
    };
    add(r.corrupted, cfg.mode == sink_mode::bulk ? "corrupted streams" : "corrupted");
    add(r.duplicated, "duplicated");
    add(r.reordered, "reordered");
    add(r.holes, "holes");
    if (cfg.mode == sink_mode::bulk)
        add(r.streams_short, "short streams");
    const auto expect = [&](const std::optional<std::uint64_t>& want, std::uint64_t got,
                            const char* what) {
        if (want && got < *want) {
            r.expectations_met = false;
            reasons.push_back("expected " + std::to_string(*want) + " " + what + ", got " +
                              std::to_string(got));
        }
    };
    expect(cfg.expect_messages, r.messages, "messages");
    expect(cfg.expect_bytes, r.bytes, "bytes");
    expect(cfg.expect_connections, r.connections_ended, "connections ended");
    if (reasons.empty()) {
        r.verdict = "ok";
    } else {
        r.verdict = "fail: ";
        for (std::size_t i = 0; i < reasons.size(); ++i)
            r.verdict += (i == 0 ? "" : ", ") + reasons[i];
    }
    return r;
}

std::string sink_result::to_json() const {
    json_object j;
    j.text("tool", "funnel-sink")
        .text("mode", to_string(mode))
        .text("stop", stop)
        .number("connections", connections)
        .number("connections_ended", connections_ended)
        .number("restarts", restarts)
        .number("bytes", bytes)
        .number("messages", messages)
        .number("unique", unique)
        .number("duplicated", duplicated)
        .number("reordered", reordered)
        .number("corrupted", corrupted)
        .number("holes", holes)
        .number("clients", clients)
        .real("seconds", seconds, 6)
        .real("messages_per_second", seconds > 0 ? static_cast<double>(messages) / seconds : 0, 0)
        .real("megabytes_per_second", seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0,
              3);
    if (mode == sink_mode::line || mode == sink_mode::length) {
        json_object lat;
        const auto us = [](std::uint64_t ns) {
            return static_cast<double>(ns) / 1e3;
        };
        lat.real("p50", us(latency_p50), 1)
            .real("p90", us(latency_p90), 1)
            .real("p99", us(latency_p99), 1)
            .real("p999", us(latency_p999), 1)
            .real("max", us(latency_max), 1);
        j.object("latency_us", lat);
    }
    if (mode == sink_mode::bulk)
        j.number("streams_complete", streams_complete).number("streams_short", streams_short);
    j.text("verdict", verdict);
    return j.str();
}

sink_server::sink_server(sink_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}
sink_server::~sink_server() = default;

tcp::endpoint sink_server::local_endpoint() const {
    return impl_->acceptor.local_endpoint();
}

sink_result sink_server::run() {
    return impl_->run();
}

} // namespace funnel::loadtest
