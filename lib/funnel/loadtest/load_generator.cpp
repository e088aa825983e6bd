#include "funnel/loadtest/load_generator.hpp"

#include "funnel/loadtest/bulk_pattern.hpp"
#include "funnel/loadtest/json_writer.hpp"
#include "funnel/loadtest/probe_message.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <csignal>
#include <limits>
#include <sys/prctl.h>
#include <thread>
#include <vector>

namespace funnel::loadtest {

const char* to_string(load_mode m) {
    switch (m) {
    case load_mode::bulk:
        return "bulk";
    case load_mode::line:
        return "line";
    case load_mode::length:
        return "length";
    }
    return "?";
}

namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();

std::uint64_t to_ns(clock::time_point t) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

struct shared_state {
    explicit shared_state(const load_config& c) : cfg(c) {}
    const load_config& cfg;
    tcp::resolver::results_type endpoints;
    std::atomic<std::size_t> settled{0}; // connections connected or failed
    std::atomic<std::uint64_t> errors{0};
    std::atomic<bool> stopping{false}; // a signal: stop sending, finish
    clock::time_point t0{};            // set before the start is posted to the workers
    std::function<void()> all_settled; // any thread: start every worker at one t0
};

class connection;

struct worker {
    net::io_context io{1};
    std::optional<net::executor_work_guard<net::io_context::executor_type>> guard{
        io.get_executor()};
    net::steady_timer tick{io};     // paced modes: writes what is due
    net::steady_timer deadline{io}; // --duration
    std::vector<std::shared_ptr<connection>> connections;
    std::size_t active = 0; // connections not done yet
    bool started = false;
    // Progress, read by the control thread; written by this thread only.
    std::atomic<std::uint64_t> messages{0};
    std::atomic<std::uint64_t> bytes{0};
    std::uint64_t last_write_ns = 0;
    shared_state* s = nullptr;
    std::thread thread;

    void run();
    void start();
    void on_tick();
    void finish_all();
    void connection_done() {
        if (--active == 0) {
            tick.cancel();
            deadline.cancel();
        }
    }
};

// One client: its socket, its schedule, its batch. On its worker's thread only; kept alive by
// the worker's list.
class connection : public std::enable_shared_from_this<connection> {
public:
    connection(worker& w, shared_state& s, std::size_t index)
        : w_(w), s_(s), socket_(w.io), timer_(w.io),
          client_(s.cfg.client_id_base + static_cast<std::uint32_t>(index)) {
        const load_config& cfg = s.cfg;
        const double n = static_cast<double>(cfg.connections);
        per_second_ = cfg.rate / n;
        phase_ = static_cast<double>(index) / n;
        if (cfg.mode == load_mode::bulk) {
            total_ = cfg.bytes ? *cfg.bytes : unlimited;
            encode_bulk_header({client_, cfg.bytes ? *cfg.bytes : 0}, header_.data());
        } else {
            framing_ = cfg.mode == load_mode::line ? framing::line : framing::length;
            total_ = cfg.messages ? *cfg.messages : unlimited;
            // A batch of 16-256 KiB, smaller with many connections, at least one message.
            const std::size_t target = std::clamp<std::size_t>(
                (8U << 20) / cfg.connections, std::size_t{16} << 10, std::size_t{256} << 10);
            batch_capacity_ = std::max<std::size_t>(1, target / cfg.message_size);
            batch_capacity_ = static_cast<std::size_t>(
                std::min<std::uint64_t>(batch_capacity_, std::max<std::uint64_t>(total_, 1)));
            batch_.resize(batch_capacity_ * cfg.message_size);
        }
    }

    void connect() {
        timer_.expires_after(s_.cfg.connect_timeout);
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (!ec && self->state_ == state::connecting)
                self->done(true); // closes the socket: the connect completes with an error
        });
        net::async_connect(socket_, s_.endpoints,
                           [self = shared_from_this()](error_code ec, const tcp::endpoint&) {
                               self->on_connect(ec);
                           });
    }

    // All connections settled: send from t0 on.
    void begin() {
        if (state_ != state::waiting)
            return;
        state_ = state::sending;
        pump(clock::now());
    }

    // Writes the next batch when none is in flight and something is due; finishes when all is
    // sent or the time is up. Called after each write and, paced, on each tick.
    void pump(clock::time_point now) {
        if (state_ != state::sending || writing_)
            return;
        if (s_.stopping.load(std::memory_order_relaxed) ||
            (s_.cfg.duration && now >= s_.t0 + *s_.cfg.duration) || sent_ >= total_) {
            finish();
            return;
        }
        if (s_.cfg.mode == load_mode::bulk)
            write_bulk(now);
        else
            write_messages(now);
    }

    // Stop sending: shut down once the write in flight (if any) is done, and close after
    // `linger` in any case.
    void finish() {
        if (state_ == state::connecting || state_ == state::waiting) {
            done(false); // a connect in flight completes with an error and settles
            return;
        }
        if (state_ != state::sending)
            return;
        state_ = state::finishing;
        timer_.expires_after(s_.cfg.linger);
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (ec || self->state_ == state::done)
                return;
            // A write still stuck now never reached the peer: this connection failed.
            self->done(self->writing_);
        });
        if (!writing_)
            shutdown_and_drain();
    }

private:
    enum class state { connecting, waiting, sending, finishing, done };

    void on_connect(error_code ec) {
        timer_.cancel();
        if (state_ == state::connecting) {
            if (ec) {
                done(true);
            } else {
                state_ = state::waiting;
                error_code ignored;
                socket_.set_option(tcp::no_delay(true), ignored);
            }
        }
        // Every connection settles exactly once, here, even one finished while connecting.
        if (s_.settled.fetch_add(1) + 1 == s_.cfg.connections)
            s_.all_settled();
    }

    std::uint64_t due_units(clock::time_point now) const {
        if (per_second_ <= 0)
            return unlimited;
        const double elapsed = std::chrono::duration<double>(now - s_.t0).count();
        if (s_.cfg.mode == load_mode::bulk)
            return static_cast<std::uint64_t>(elapsed * per_second_);
        const double k = elapsed * per_second_ - phase_;
        return k < 0 ? 0 : static_cast<std::uint64_t>(k) + 1;
    }

    void write_messages(clock::time_point now) {
        std::uint64_t count = std::min<std::uint64_t>(batch_capacity_, total_ - sent_);
        const std::uint64_t due = due_units(now);
        if (due <= sent_)
            return; // paced: nothing due until a later tick
        count = std::min(count, due - sent_);
        const std::size_t size = s_.cfg.message_size;
        const std::uint64_t now_ns = to_ns(now);
        const std::uint64_t t0_ns = to_ns(s_.t0);
        const double interval_ns = per_second_ > 0 ? 1e9 / per_second_ : 0;
        char* out = batch_.data();
        for (std::uint64_t i = 0; i < count; ++i, out += size) {
            const std::uint64_t seq = sent_ + i;
            // Paced: the time it was due, so a stall shows up as latency.
            const std::uint64_t stamp =
                per_second_ > 0 ? t0_ns + static_cast<std::uint64_t>(
                                              (static_cast<double>(seq) + phase_) * interval_ns)
                                : now_ns;
            encode_message(framing_, probe{client_, seq, stamp}, size, out, s_.cfg.shape);
        }
        sent_ += count;
        const std::size_t bytes = static_cast<std::size_t>(count) * size;
        write(std::array<net::const_buffer, 2>{net::buffer(batch_.data(), bytes),
                                               net::const_buffer()},
              count);
    }

    void write_bulk(clock::time_point now) {
        std::uint64_t k = std::min<std::uint64_t>(bulk_pattern::max_slice, total_ - sent_);
        const std::uint64_t due = due_units(now);
        if (due <= sent_)
            return;
        k = std::min(k, due - sent_);
        std::array<net::const_buffer, 2> buffers;
        std::uint64_t from_header = 0;
        if (sent_ < bulk_header_size) {
            from_header = std::min<std::uint64_t>(k, bulk_header_size - sent_);
            buffers[0] = net::buffer(header_.data() + sent_, static_cast<std::size_t>(from_header));
        }
        const std::uint64_t payload = k - from_header;
        if (payload > 0) {
            const std::uint64_t pos = sent_ + from_header - bulk_header_size;
            buffers[1] = net::buffer(bulk_pattern::get().at(client_, pos),
                                     static_cast<std::size_t>(payload));
        }
        sent_ += k;
        write(buffers, 0);
    }

    void write(const std::array<net::const_buffer, 2>& buffers, std::uint64_t messages) {
        writing_ = true;
        net::async_write(socket_, buffers,
                         [self = shared_from_this(), messages](error_code ec, std::size_t n) {
                             self->on_written(ec, n, messages);
                         });
    }

    void on_written(error_code ec, std::size_t n, std::uint64_t messages) {
        writing_ = false;
        if (state_ == state::done)
            return;
        if (ec) {
            done(true);
            return;
        }
        const auto now = clock::now();
        w_.messages.store(w_.messages.load(std::memory_order_relaxed) + messages,
                          std::memory_order_relaxed);
        w_.bytes.store(w_.bytes.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        w_.last_write_ns = to_ns(now);
        if (state_ == state::finishing)
            shutdown_and_drain();
        else
            pump(now);
    }

    void shutdown_and_drain() {
        error_code ec;
        socket_.shutdown(tcp::socket::shutdown_send, ec);
        if (ec) {
            done(false);
            return;
        }
        drain();
    }

    // Reads (and drops) until the peer's EOF or an error, so the bytes were really handed over.
    void drain() {
        socket_.async_read_some(net::buffer(drain_),
                                [self = shared_from_this()](error_code ec, std::size_t) {
                                    if (self->state_ == state::done)
                                        return;
                                    if (ec)
                                        self->done(false);
                                    else
                                        self->drain();
                                });
    }

    void done(bool failed) {
        if (state_ == state::done)
            return;
        state_ = state::done;
        if (failed)
            s_.errors.fetch_add(1);
        timer_.cancel();
        error_code ignored;
        socket_.close(ignored);
        w_.connection_done();
    }

    worker& w_;
    shared_state& s_;
    tcp::socket socket_;
    net::steady_timer timer_; // connect timeout, then the linger at the end
    std::uint32_t client_;
    state state_ = state::connecting;
    bool writing_ = false;
    double per_second_ = 0;   // paced: this connection's share of the rate
    double phase_ = 0;        // paced: where in its interval this connection's schedule starts
    std::uint64_t total_ = 0; // messages or bytes to send; `unlimited` until the duration
    std::uint64_t sent_ = 0;  // messages or bytes generated so far
    framing framing_ = framing::line;
    std::size_t batch_capacity_ = 0; // messages
    std::vector<char> batch_;
    std::array<char, bulk_header_size> header_{};
    std::array<char, 4096> drain_{};
};

void worker::run() {
    // Paced sending wakes up every tick; the default 50 us timer slack would blur that.
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    io.run();
}

void worker::start() {
    started = true;
    guard.reset();
    for (auto& c : connections)
        c->begin();
    if (active == 0)
        return;
    if (s->cfg.rate > 0) {
        tick.expires_after(s->cfg.tick);
        tick.async_wait([this](error_code ec) {
            if (!ec)
                on_tick();
        });
    }
    if (s->cfg.duration) {
        deadline.expires_at(s->t0 + *s->cfg.duration);
        deadline.async_wait([this](error_code ec) {
            if (!ec)
                finish_all();
        });
    }
}

void worker::on_tick() {
    const auto now = clock::now();
    for (auto& c : connections)
        c->pump(now);
    if (active == 0)
        return;
    tick.expires_at(now + s->cfg.tick);
    tick.async_wait([this](error_code ec) {
        if (!ec)
            on_tick();
    });
}

void worker::finish_all() {
    for (auto& c : connections)
        c->finish();
}

} // namespace

struct load_generator::impl {
    explicit impl(load_config c) : cfg(std::move(c)), shared(cfg) {
        tcp::resolver resolver(control);
        shared.endpoints = resolver.resolve(cfg.host, std::to_string(cfg.port));
        const std::size_t cores = std::max(1U, std::thread::hardware_concurrency());
        threads = std::clamp<std::size_t>(cfg.threads == 0 ? cores : cfg.threads, 1,
                                          std::max<std::size_t>(cfg.connections, 1));
    }

    ~impl() {
        for (auto& w : workers) {
            w->io.stop();
            if (w->thread.joinable())
                w->thread.join();
        }
    }

    load_result run(const std::function<void(const load_progress&)>& progress) {
        for (std::size_t t = 0; t < threads; ++t) {
            auto w = std::make_unique<worker>();
            w->s = &shared;
            workers.push_back(std::move(w));
        }
        for (std::size_t i = 0; i < cfg.connections; ++i) {
            worker& w = *workers[i % threads];
            w.connections.push_back(std::make_shared<connection>(w, shared, i));
            ++w.active;
        }
        shared.all_settled = [this] {
            const auto t0 = clock::now();
            shared.t0 = t0;
            net::post(control, [this, t0] { started = t0; });
            for (auto& w : workers)
                net::post(w->io, [p = w.get()] { p->start(); });
        };
        // The io_contexts do not run yet: starting the connects from here is safe.
        for (auto& w : workers)
            for (auto& c : w->connections)
                c->connect();
        for (auto& w : workers) {
            worker* p = w.get();
            p->thread = std::thread([this, p] {
                p->run();
                net::post(control, [this] {
                    if (++workers_done == workers.size())
                        on_all_done();
                });
            });
        }
        if (cfg.handle_signals) {
            signals.add(SIGINT);
            signals.add(SIGTERM);
            wait_for_signal();
        }
        if (progress)
            report_progress(progress);
        control.run();
        for (auto& w : workers)
            if (w->thread.joinable())
                w->thread.join();
        return result();
    }

    void wait_for_signal() {
        signals.async_wait([this](error_code ec, int) {
            if (ec)
                return;
            shared.stopping = true;
            for (auto& w : workers)
                net::post(w->io, [p = w.get()] { p->finish_all(); });
            wait_for_signal();
        });
    }

    void report_progress(const std::function<void(const load_progress&)>& progress) {
        progress_timer.expires_after(250ms);
        progress_timer.async_wait([this, &progress](error_code ec) {
            if (ec)
                return;
            load_progress p;
            for (const auto& w : workers) {
                p.messages += w->messages.load(std::memory_order_relaxed);
                p.bytes += w->bytes.load(std::memory_order_relaxed);
            }
            if (started)
                p.elapsed = std::chrono::duration<double>(clock::now() - *started).count();
            progress(p);
            report_progress(progress);
        });
    }

    void on_all_done() {
        error_code ignored;
        signals.cancel(ignored);
        progress_timer.cancel();
        control_guard.reset();
    }

    load_result result() const {
        load_result r;
        r.mode = cfg.mode;
        r.connections = cfg.connections;
        r.threads = threads;
        r.errors = shared.errors.load();
        std::uint64_t last = 0;
        for (const auto& w : workers) {
            r.messages += w->messages.load();
            r.bytes += w->bytes.load();
            last = std::max(last, w->last_write_ns);
        }
        const std::uint64_t t0 = to_ns(shared.t0);
        if (last > t0)
            r.seconds = static_cast<double>(last - t0) / 1e9;
        return r;
    }

    load_config cfg;
    shared_state shared;
    std::size_t threads = 1;
    net::io_context control{1};
    std::optional<net::executor_work_guard<net::io_context::executor_type>> control_guard{
        control.get_executor()};
    net::signal_set signals{control};
    net::steady_timer progress_timer{control};
    std::vector<std::unique_ptr<worker>> workers;
    std::size_t workers_done = 0;
    std::optional<clock::time_point> started;
};

std::string load_result::to_json() const {
    json_object j;
    j.text("tool", "funnel-load")
        .text("mode", to_string(mode))
        .number("connections", connections)
        .number("threads", threads)
        .number("messages", messages)
        .number("bytes", bytes)
        .real("seconds", seconds, 6)
        .real("messages_per_second", seconds > 0 ? static_cast<double>(messages) / seconds : 0, 0)
        .real("megabytes_per_second", seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0,
              3)
        .number("errors", errors);
    return j.str();
}

load_generator::load_generator(load_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}
load_generator::~load_generator() = default;

load_result load_generator::run(const std::function<void(const load_progress&)>& progress) {
    return impl_->run(progress);
}

} // namespace funnel::loadtest
