// Stream mode end to end: the real service on 127.0.0.1, real client sockets, a real target.

#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "support/loopback.hpp"
#include "support/relay_fixture.hpp"

namespace funnel::test {
namespace {

std::uint64_t get(const metrics::counter& c) {
    return metrics::get(c);
}

TEST(Stream, ByteExactBothWaysWith64ConcurrentClients) {
    constexpr int clients = 64;
    target_server target;
    relay r(relay_config(target.endpoint()));

    // The target echoes each connection back, byte for byte, from a thread of its own.
    std::atomic<int> target_failures{0};
    std::thread target_side([&] {
        std::vector<std::thread> echoes;
        for (int i = 0; i < clients; ++i) {
            echoes.emplace_back([&target_failures, c = std::make_shared<conn>(target.accept())] {
                try {
                    std::string got = c->read_to_eof();
                    c->write_all(got);
                    c->shutdown_send();
                } catch (const std::exception&) {
                    ++target_failures;
                }
            });
        }
        for (auto& t : echoes)
            t.join();
    });

    std::mt19937 sizes(42);
    std::vector<std::string> payloads;
    for (int i = 0; i < clients; ++i)
        payloads.push_back(
            random_bytes(std::uniform_int_distribution<std::size_t>(0, 300000)(sizes),
                         static_cast<std::uint64_t>(i)));
    std::vector<std::string> echoed(clients);
    std::vector<std::thread> client_side;
    for (int i = 0; i < clients; ++i) {
        client_side.emplace_back([&, i] {
            conn c = r.connect();
            std::thread writer([&] {
                c.write_all(payloads[static_cast<std::size_t>(i)]);
                c.shutdown_send();
            });
            try {
                echoed[static_cast<std::size_t>(i)] = c.read_to_eof();
            } catch (const std::exception& e) {
                echoed[static_cast<std::size_t>(i)] = std::string("failed: ") + e.what();
            }
            writer.join();
        });
    }
    for (auto& t : client_side)
        t.join();
    target_side.join();

    EXPECT_EQ(target_failures.load(), 0);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < clients; ++i) {
        EXPECT_EQ(echoed[i].size(), payloads[i].size()) << "client " << i;
        EXPECT_TRUE(echoed[i] == payloads[i]) << "client " << i << " got different bytes";
        total += payloads[i].size();
    }
    EXPECT_TRUE(poll_until([&] { return get(r.stats().connections_active) == 0; }));
    EXPECT_EQ(get(r.stats().bytes_from_clients), total);
    EXPECT_EQ(get(r.stats().bytes_to_targets), total);
    EXPECT_EQ(get(r.stats().bytes_to_clients), total);
    EXPECT_EQ(r.service().target_buffers().bytes_held(), 0u);
}

TEST(Stream, ClientHalfCloseReachesTargetAndRepliesStillFlow) {
    target_server target;
    relay r(relay_config(target.endpoint()));
    conn client = r.connect();
    conn upstream = target.accept();

    client.write_all("request");
    client.shutdown_send();
    EXPECT_EQ(upstream.read_to_eof(), "request");
    // The target's direction is still open after the client's FIN.
    upstream.write_all("reply after your FIN");
    EXPECT_EQ(client.read_exact(20), "reply after your FIN");
    upstream.shutdown_send();
    EXPECT_EQ(client.read_to_eof(), "");
}

TEST(Stream, TargetHalfCloseReachesClientAndRequestsStillFlow) {
    target_server target;
    relay r(relay_config(target.endpoint()));
    conn client = r.connect();
    conn upstream = target.accept();

    upstream.write_all("banner");
    upstream.shutdown_send();
    EXPECT_EQ(client.read_to_eof(), "banner");
    client.write_all("still talking");
    EXPECT_EQ(upstream.read_exact(13), "still talking");
    client.shutdown_send();
    EXPECT_EQ(upstream.read_to_eof(), "");
    EXPECT_TRUE(poll_until([&] { return get(r.stats().connections_active) == 0; }));
}

TEST(Stream, ClientResetResetsTarget) {
    target_server target;
    relay r(relay_config(target.endpoint()));
    conn client = r.connect();
    conn upstream = target.accept();
    client.write_all("partial");
    EXPECT_EQ(upstream.read_exact(7), "partial");
    client.reset();
    EXPECT_EQ(upstream.wait_for_end(), conn::outcome::reset);
    EXPECT_TRUE(poll_until([&] { return get(r.stats().resets) == 1; }));
}

TEST(Stream, TargetResetResetsClient) {
    target_server target;
    relay r(relay_config(target.endpoint()));
    conn client = r.connect();
    conn upstream = target.accept();
    upstream.write_all("hello");
    EXPECT_EQ(client.read_exact(5), "hello");
    upstream.reset();
    EXPECT_EQ(client.wait_for_end(), conn::outcome::reset);
}

TEST(Stream, UnreachableTargetClosesClientWithLogLine) {
    tcp::endpoint nothing_there;
    {
        target_server closed_port; // bound, then closed: nothing listens on it
        nothing_there = closed_port.endpoint();
    }
    relay r(relay_config(nothing_there));
    conn client = r.connect();
    client.write_all("lost");
    EXPECT_EQ(client.wait_for_end(), conn::outcome::reset);
    EXPECT_EQ(get(r.stats().connect_failures), 1u);
    EXPECT_TRUE(r.logged("unreachable")) << r.log_text();
}

// A listener whose accept queue is full drops SYNs, so connecting to it hangs: the relay's
// connect must give up at --connect-timeout. Accepting the queued connections afterwards lets a
// retransmitted SYN through, which the second test uses to hold bytes during a slow connect.
class full_backlog_target {
public:
    full_backlog_target() : server_(0) {
        // With a backlog of 0, Linux lets one connection complete; the queue is then full.
        fillers_.push_back(conn::connect(server_.endpoint()));
    }
    tcp::endpoint endpoint() const { return server_.endpoint(); }
    target_server& server() { return server_; }

private:
    target_server server_;
    std::vector<conn> fillers_;
};

TEST(Stream, ConnectTimeoutClosesClientWithLogLine) {
    full_backlog_target target;
    auto c = relay_config(target.endpoint());
    c.connect_timeout = config::seconds(0.3);
    relay r(c);
    conn client = r.connect();
    EXPECT_EQ(client.wait_for_end(), conn::outcome::reset);
    EXPECT_EQ(get(r.stats().connect_failures), 1u);
    EXPECT_TRUE(r.logged("timed out")) << r.log_text();
}

TEST(Stream, BytesSentWhileConnectingAreHeldAndDelivered) {
    full_backlog_target target;
    relay r(relay_config(target.endpoint()));
    conn client = r.connect();
    const std::string early = random_bytes(100000, 7);
    client.write_all(early);
    ASSERT_TRUE(poll_until([&] { return get(r.stats().bytes_from_clients) == early.size(); }));
    EXPECT_EQ(get(r.stats().bytes_to_targets), 0u);
    // Free the queue: the relay's retransmitted SYN now completes.
    target.server().accept();
    conn upstream = target.server().accept();
    EXPECT_TRUE(upstream.read_exact(early.size()) == early);
}

TEST(Stream, StalledTargetHoldsAtMostBufferLimitAndLosesNothing) {
    constexpr int clients = 8;
    // More than the kernel can buffer (the relay's send buffer grows to 4 MiB), so that the
    // relay itself has to hold data.
    constexpr std::size_t per_client = 8 << 20;
    target_server target(128, 64 << 10);
    auto c = relay_config(target.endpoint());
    c.buffer_limit = 1 << 20; // 16 chunks for 8 clients that could each hold 4
    relay r(c);

    std::vector<std::string> payloads;
    for (int i = 0; i < clients; ++i)
        payloads.push_back(random_bytes(per_client, 100 + static_cast<std::uint64_t>(i)));
    std::vector<std::thread> writers;
    for (int i = 0; i < clients; ++i) {
        writers.emplace_back([&, i] {
            conn client = r.connect();
            // The client's first byte tells the target which payload to expect.
            client.write_all(std::string(1, static_cast<char>(i)));
            client.write_all(payloads[static_cast<std::size_t>(i)]);
            client.shutdown_send();
            client.wait_for_end(60s);
        });
    }
    std::vector<conn> upstreams;
    for (int i = 0; i < clients; ++i)
        upstreams.push_back(target.accept());

    // Nobody reads at the target: the relay fills its budget, then parks its readers.
    ASSERT_TRUE(poll_until([&] { return r.service().target_buffers().waiting() > 0; }))
        << "held " << r.service().target_buffers().bytes_held();
    EXPECT_LE(r.service().target_buffers().high_water(), c.buffer_limit);
    EXPECT_LT(get(r.stats().bytes_from_clients), clients * per_client);

    // The target reads again, all connections at once (the budget is shared, so a target that
    // stays stalled keeps its share): everything arrives, in order, and the readers resumed.
    std::vector<std::string> received(clients);
    std::vector<std::thread> readers;
    for (std::size_t i = 0; i < upstreams.size(); ++i)
        readers.emplace_back([&, i] { received[i] = upstreams[i].read_to_eof(60s); });
    for (auto& t : readers)
        t.join();
    for (auto& got : received) {
        ASSERT_EQ(got.size(), per_client + 1);
        const auto who = static_cast<std::size_t>(static_cast<unsigned char>(got[0]));
        ASSERT_LT(who, payloads.size());
        EXPECT_TRUE(got.compare(1, std::string::npos, payloads[who]) == 0) << "client " << who;
    }
    for (auto& up : upstreams)
        up.close();
    for (auto& w : writers)
        w.join();
    EXPECT_LE(r.service().target_buffers().high_water(), c.buffer_limit);
    EXPECT_GT(get(r.stats().read_pauses), 0u);
}

// --client-buffer-limit (issue 5) in stream mode. A noisy client's target stops reading; a
// quiet client with a target that reads then sends a few bytes. --buffer-limit is 4 read blocks,
// as many as one session's window: without the limit, the stalled pair holds all of them.
class StalledPairBesideAQuietOne : public ::testing::Test {
protected:
    static constexpr std::size_t block = 64 << 10;      // the read size with a budget under 4 MiB
    static constexpr std::size_t noisy_bytes = 8 << 20; // more than the kernel buffers

    void start(std::size_t client_limit) {
        auto c = relay_config(target_.endpoint());
        c.buffer_limit = 4 * block;
        c.client_buffer_limit = client_limit;
        r_.emplace(c);
        noisy_.emplace(r_->connect());
        noisy_upstream_.emplace(target_.accept()); // never reads until the end
        writer_ = std::thread([this] {
            error_code ignored; // fails only if the test ends early and funnel resets it
            net::write(noisy_->socket(), net::buffer(payload_), ignored);
        });
    }

    void connect_quiet() {
        quiet_.emplace(r_->connect());
        quiet_upstream_.emplace(target_.accept());
    }

    // The stalled target reads again: the noisy client's bytes arrive whole.
    void expect_the_noisy_bytes_arrive() {
        EXPECT_TRUE(noisy_upstream_->read_exact(noisy_bytes, 60s) == payload_);
        writer_.join();
    }

    void TearDown() override {
        if (writer_.joinable()) { // ended early: resetting the target unblocks the writer
            noisy_upstream_->reset();
            writer_.join();
        }
    }

    const std::string payload_ = random_bytes(noisy_bytes, 77);
    target_server target_{128, 64 << 10};
    std::optional<relay> r_;
    std::optional<conn> noisy_, noisy_upstream_, quiet_, quiet_upstream_;
    std::thread writer_;
};

TEST_F(StalledPairBesideAQuietOne, ClientBufferLimitKeepsRoomForTheQuietClient) {
    ASSERT_NO_FATAL_FAILURE(start(2 * block));
    // The noisy client fills its share (for good once the kernel buffers are full too).
    ASSERT_TRUE(poll_until([&] { return get(r_->stats().client_pauses) > 0; }));
    EXPECT_EQ(get(r_->stats().client_buffer_high_water), 2 * block);
    connect_quiet();
    quiet_->write_all("quiet");
    // The quiet client is read and forwarded while the stalled pair keeps its two blocks.
    EXPECT_EQ(quiet_upstream_->read_exact(5), "quiet");
    EXPECT_EQ(get(r_->stats().read_pauses), 0u) << "a reader waited for the shared budget";
    EXPECT_LE(r_->service().target_buffers().high_water(), 3 * block);
    expect_the_noisy_bytes_arrive();
    EXPECT_EQ(get(r_->stats().client_buffer_high_water), 2 * block);
}

// The same without the limit: the stalled pair holds the whole budget, and the quiet client's
// read waits for it (what the test above would fail with).
TEST_F(StalledPairBesideAQuietOne, WithoutClientBufferLimitTheStalledPairStarvesTheQuietOne) {
    ASSERT_NO_FATAL_FAILURE(start(0));
    auto& pool = r_->service().target_buffers();
    ASSERT_TRUE(poll_until([&] { return pool.bytes_held() == 4 * block; }));
    connect_quiet();
    // Until the kernel buffers behind the stalled target are full, blocks still come back and a
    // quiet byte may get through; one byte at a time until the quiet reader waits for a block.
    std::size_t sent = 0;
    std::string through;
    for (;;) {
        quiet_->write_all("q");
        ++sent;
        ASSERT_TRUE(poll_until(
            [&] { return pool.waiting() == 1 || quiet_upstream_->socket().available() > 0; }));
        if (pool.waiting() == 1)
            break;
        ASSERT_EQ(quiet_upstream_->read_available(through, 5s), conn::outcome::data);
        ASSERT_LT(sent, 1000u) << "the noisy pair never stalled";
    }
    EXPECT_EQ(pool.bytes_held(), 4 * block);
    EXPECT_EQ(get(r_->stats().client_pauses), 0u);
    expect_the_noisy_bytes_arrive();
    EXPECT_EQ(through + quiet_upstream_->read_exact(sent - through.size()), std::string(sent, 'q'));
}

TEST(Stream, MaxConnectionsRefusesTheExtraClientOnly) {
    target_server target;
    auto c = relay_config(target.endpoint());
    c.max_connections = 2;
    relay r(c);
    conn a = r.connect();
    conn b = r.connect();
    conn up_a = target.accept();
    conn up_b = target.accept();

    conn extra = r.connect();
    EXPECT_EQ(extra.wait_for_end(), conn::outcome::eof);
    EXPECT_EQ(get(r.stats().refused(refusal::max_connections)), 1u);
    EXPECT_FALSE(target.pending(50ms));

    // The admitted pair still works both ways.
    a.write_all("a");
    b.write_all("b");
    std::string got = up_a.read_exact(1) + up_b.read_exact(1);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, "ab");
}

TEST(Stream, IdleTimeoutClosesTheQuietPair) {
    target_server target;
    auto c = relay_config(target.endpoint());
    c.idle_timeout = config::seconds(0.3);
    relay r(c);
    conn client = r.connect();
    conn upstream = target.accept();
    client.write_all("ping");
    EXPECT_EQ(upstream.read_exact(4), "ping");
    const auto before = std::chrono::steady_clock::now();
    EXPECT_EQ(client.wait_for_end(5s), conn::outcome::eof);
    EXPECT_GE(std::chrono::steady_clock::now() - before, 250ms);
    EXPECT_EQ(upstream.wait_for_end(5s), conn::outcome::eof);
    EXPECT_EQ(get(r.stats().idle_timeouts), 1u);
}

// A target that stops reading makes no progress: the pair is idle and closed after the timeout,
// not held (with its share of the budget) for as long as the target stays silent.
TEST(Stream, IdleTimeoutClosesAPairWhoseTargetStoppedReading) {
    target_server target(128, 64 << 10);
    auto c = relay_config(target.endpoint());
    c.idle_timeout = config::seconds(0.3);
    relay r(c);
    conn client = r.connect();
    conn silent = target.accept(); // never reads
    std::thread writer([&client] {
        error_code ignored; // the write fails once funnel resets the pair
        const std::string data = random_bytes(32 << 20, 9);
        net::write(client.socket(), net::buffer(data), ignored);
    });
    EXPECT_TRUE(poll_until([&] { return get(r.stats().idle_timeouts) == 1; }, 5s));
    silent.reset(); // unblocks the writer whatever happened
    writer.join();
}

TEST(Stream, StopDrainsWhatClientsSentBeforeClosing) {
    target_server target;
    auto c = relay_config(target.endpoint());
    c.buffer_limit = 256 << 10;
    relay r(c);
    conn client = r.connect();
    conn upstream = target.accept();
    const std::string data = random_bytes(2 << 20, 3);
    std::thread writer([&] {
        client.write_all(data);
        client.shutdown_send();
    });
    // Part of it is held in the relay when the stop begins; the target only reads afterwards.
    ASSERT_TRUE(poll_until([&] { return get(r.stats().bytes_from_clients) > 0; }));
    r.service().stop();
    std::string got = upstream.read_to_eof();
    writer.join();
    EXPECT_TRUE(got == data) << got.size() << " of " << data.size() << " bytes";
    upstream.close();
    r.stop();
    EXPECT_TRUE(r.logged("stopped"));
}

TEST(Stream, WorkersZeroRunsEverythingOnTheIoThread) {
    target_server target;
    auto c = relay_config(target.endpoint());
    c.workers = 0;
    relay r(c);
    conn client = r.connect();
    conn upstream = target.accept();
    const std::string data = random_bytes(500000, 11);
    std::thread writer([&] {
        client.write_all(data);
        client.shutdown_send();
    });
    EXPECT_TRUE(upstream.read_to_eof() == data);
    writer.join();
    upstream.write_all("done");
    upstream.shutdown_send();
    EXPECT_EQ(client.read_to_eof(), "done");
}

} // namespace
} // namespace funnel::test

namespace funnel::test {
namespace {

// With one block per direction, a client that stops reading holds the only reply block. Another
// session waiting for a block must stay parked, alive, and finish once the block comes back.
TEST(Stream, SessionParkedOnAnExhaustedBudgetResumesWhenItFrees) {
    target_server target;
    auto c = relay_config(target.endpoint());
    c.buffer_limit = config::min_read_size;
    relay r(c);
    const buffer_pool& replies = r.service().client_buffers();

    conn slow_client = conn::connect(r.endpoint(), 64 << 10);
    conn slow_target = target.accept();
    const std::string big = random_bytes(16 << 20, 5);
    std::thread slow_writer([&] { slow_target.write_all(big); });
    // The kernel buffers between the relay and the slow client are full once nothing moves any
    // more; from then on the relay's write holds the only reply block.
    ASSERT_TRUE(poll_until_steady([&] { return get(r.stats().bytes_to_clients); }, 300ms));
    ASSERT_EQ(replies.bytes_held(), replies.byte_limit());

    conn client = r.connect();
    conn upstream = target.accept();
    client.write_all("request");
    client.shutdown_send();
    EXPECT_EQ(upstream.read_to_eof(), "request");
    const std::string reply = random_bytes(1 << 20, 6);
    std::thread writer([&] {
        upstream.write_all(reply);
        upstream.shutdown_send();
    });

    // Both target ends wait for the one block, which the slow client's write holds.
    ASSERT_TRUE(poll_until([&] { return replies.waiting() == 2; })) << replies.waiting();
    EXPECT_TRUE(slow_client.read_exact(big.size()) == big);
    std::string got = client.read_to_eof();
    EXPECT_TRUE(got == reply) << got.size() << " of " << reply.size() << " bytes";
    writer.join();
    slow_writer.join();
}

} // namespace
} // namespace funnel::test
