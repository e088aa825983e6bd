// Message mode end to end: many clients, framed messages, a few upstream connections.

#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <thread>

#include "support/loopback.hpp"
#include "support/message_sink.hpp"
#include "support/relay_fixture.hpp"

namespace funnel::test {
namespace {

std::uint64_t get(const metrics::counter& c) {
    return metrics::get(c);
}

config message_config(const tcp::endpoint& target, framing f) {
    auto c = relay_config(target);
    c.mode = relay_mode::message;
    c.message_framing = f;
    c.upstream_connections = 3;
    c.reconnect_backoff_min = std::chrono::milliseconds(5);
    c.reconnect_backoff_max = std::chrono::milliseconds(50);
    c.level = log_level::info;
    return c;
}

std::string frame(framing f, const std::string& payload) {
    if (f == framing::line)
        return payload + "\n";
    const auto n = static_cast<std::uint32_t>(payload.size());
    std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                    static_cast<char>(n >> 8), static_cast<char>(n)};
    return out + payload;
}

// "c<client> s<seq> " then filler: printable for lines, any byte but '\n' otherwise.
std::string payload(std::size_t client, std::size_t seq, std::size_t filler, framing f,
                    std::mt19937& rng) {
    std::string p = "c" + std::to_string(client) + " s" + std::to_string(seq) + " ";
    for (std::size_t i = 0; i < filler; ++i)
        p += f == framing::line ? static_cast<char>('a' + rng() % 26) : static_cast<char>(rng());
    return p;
}

// Every message of every client exactly once, whole, and in each client's order.
void expect_all_delivered(message_sink& sink, framing f,
                          const std::vector<std::vector<std::string>>& sent) {
    std::size_t total = 0, expected_bytes = 0;
    for (const auto& client : sent)
        for (const auto& m : client) {
            ++total;
            expected_bytes += m.size() + (f == framing::line ? 1 : 4);
        }
    ASSERT_TRUE(poll_until([&] { return sink.bytes() >= expected_bytes; }))
        << sink.bytes() << " of " << expected_bytes << " bytes";
    std::vector<std::string> received;
    for (const auto& stream : sink.streams())
        for (auto& m : f == framing::line ? split_lines(stream) : split_frames(stream))
            received.push_back(std::move(m));
    EXPECT_EQ(received.size(), total);
    std::vector<std::size_t> next(sent.size(), 0);
    for (const auto& m : received) {
        const auto space = m.find(' ');
        ASSERT_NE(space, std::string::npos);
        const std::size_t client = std::stoul(m.substr(1, space - 1));
        ASSERT_LT(client, sent.size());
        ASSERT_LT(next[client], sent[client].size()) << "client " << client << " duplicated";
        EXPECT_EQ(m, sent[client][next[client]])
            << "client " << client << " message " << next[client];
        ++next[client];
    }
}

// Each of `clients` sends "c<i> s<seq>" lines one after the other, and closes.
std::vector<std::vector<std::string>> send_lines(relay& r, std::size_t clients,
                                                 std::size_t per_client, bool wait_for_close) {
    std::vector<std::vector<std::string>> sent(clients);
    for (std::size_t i = 0; i < clients; ++i) {
        conn client = r.connect();
        std::string wire;
        for (std::size_t s = 0; s < per_client; ++s) {
            sent[i].push_back("c" + std::to_string(i) + " s" + std::to_string(s));
            wire += sent[i].back() + "\n";
        }
        client.write_all(wire);
        client.shutdown_send();
        if (wait_for_close)
            client.wait_for_end();
    }
    return sent;
}

// A port nothing listens on (bound, then closed): a target that is down.
std::uint16_t unused_port() {
    target_server probe;
    return probe.endpoint().port();
}

void run_many_clients(framing f, std::size_t clients, std::size_t per_client,
                      std::size_t max_filler) {
    message_sink sink;
    relay r(message_config(sink.endpoint(), f));
    std::vector<std::vector<std::string>> sent(clients);
    std::vector<std::thread> threads;
    for (std::size_t c = 0; c < clients; ++c) {
        std::mt19937 rng(static_cast<unsigned>(c));
        std::string wire;
        for (std::size_t s = 0; s < per_client; ++s) {
            sent[c].push_back(payload(c, s, rng() % (max_filler + 1), f, rng));
            wire += frame(f, sent[c].back());
        }
        threads.emplace_back([&r, wire = std::move(wire)] {
            conn client = r.connect();
            // Odd-sized writes, so that messages are split across reads everywhere.
            for (std::size_t pos = 0; pos < wire.size(); pos += 7777)
                client.write_all(std::string_view(wire).substr(pos, 7777));
            client.shutdown_send();
            client.wait_for_end();
        });
    }
    for (auto& t : threads)
        t.join();
    expect_all_delivered(sink, f, sent);
    EXPECT_LE(sink.connections(), 3u);
    EXPECT_EQ(get(r.stats().messages_in), clients * per_client);
}

TEST(Message, LineFramedFrom64ClientsArriveWholeOnceAndInOrder) {
    run_many_clients(framing::line, 64, 10000, 200);
}

TEST(Message, LengthFramedFrom64ClientsArriveWholeOnceAndInOrder) {
    run_many_clients(framing::length, 64, 10000, 300);
}

TEST(Message, AThousandConcurrentClients) {
    run_many_clients(framing::line, 1000, 20, 50);
}

TEST(Message, OversizeSkipDropsThatMessageOnly) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::line);
    c.max_message_size = 100;
    relay r(c);
    conn client = r.connect();
    client.write_all("c0 s0 before\n" + std::string(5000, 'x') + "\nc0 s1 after\n");
    client.shutdown_send();
    expect_all_delivered(sink, framing::line, {{"c0 s0 before", "c0 s1 after"}});
    EXPECT_EQ(get(r.stats().oversize_dropped), 1u);
    EXPECT_TRUE(r.logged("over --max-message-size"));
}

TEST(Message, OversizeCloseClosesThatClientAfterDeliveringWhatCameBefore) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::length);
    c.max_message_size = 100;
    c.oversize = oversize_policy::close;
    relay r(c);
    conn bad = r.connect();
    conn good = r.connect();
    bad.write_all(frame(framing::length, "c0 s0 fine") + std::string("\xff\xff\xff\xff", 4) + "x");
    EXPECT_EQ(bad.wait_for_end(), conn::outcome::reset);
    good.write_all(frame(framing::length, "c1 s0 unaffected"));
    good.shutdown_send();
    expect_all_delivered(sink, framing::length, {{"c0 s0 fine"}, {"c1 s0 unaffected"}});
    EXPECT_EQ(get(r.stats().oversize_dropped), 1u);
}

TEST(Message, LastLineWithoutNewlineIsForwardedTruncatedFrameIsDropped) {
    message_sink sink;
    relay lines(message_config(sink.endpoint(), framing::line));
    conn a = lines.connect();
    a.write_all("c0 s0 whole\nc0 s1 no newline");
    a.shutdown_send();
    expect_all_delivered(sink, framing::line, {{"c0 s0 whole", "c0 s1 no newline"}});

    message_sink frames_sink;
    relay frames(message_config(frames_sink.endpoint(), framing::length));
    conn b = frames.connect();
    b.write_all(frame(framing::length, "c0 s0 whole") +
                frame(framing::length, "c0 s1 cut").substr(0, 6));
    b.shutdown_send();
    expect_all_delivered(frames_sink, framing::length, {{"c0 s0 whole"}});
    EXPECT_TRUE(poll_until([&] { return get(frames.stats().messages_truncated) == 1; }));
}

TEST(Message, EmptyLinesAndZeroLengthFramesAreMessages) {
    message_sink sink;
    relay r(message_config(sink.endpoint(), framing::line));
    conn client = r.connect();
    client.write_all("c0 s0\n\n\nc0 s1\n");
    client.shutdown_send();
    ASSERT_TRUE(poll_until([&] { return sink.bytes() == 14; }));
    std::string all;
    for (const auto& s : sink.streams())
        all += s;
    EXPECT_EQ(all, "c0 s0\n\n\nc0 s1\n");
    EXPECT_EQ(get(r.stats().messages_in), 4u);

    message_sink frames_sink;
    relay frames(message_config(frames_sink.endpoint(), framing::length));
    conn framed = frames.connect();
    const std::string wire = frame(framing::length, "c0 s0") + frame(framing::length, "") +
                             frame(framing::length, "") + frame(framing::length, "c0 s1");
    framed.write_all(wire);
    framed.shutdown_send();
    ASSERT_TRUE(poll_until([&] { return frames_sink.bytes() == wire.size(); }));
    std::string all_frames;
    for (const auto& s : frames_sink.streams())
        all_frames += s;
    EXPECT_EQ(all_frames, wire);
    EXPECT_EQ(get(frames.stats().messages_in), 4u);
}

TEST(Message, TargetDownAtStartGetsEverythingOnceUp) {
    const std::uint16_t port = unused_port();
    auto c = message_config(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), framing::line);
    relay r(c);
    const auto sent = send_lines(r, 8, 100, true);
    ASSERT_TRUE(poll_until([&] { return get(r.stats().messages_in) == 800; }));
    EXPECT_TRUE(r.logged("cannot connect"));
    EXPECT_GT(metrics::get(r.stats().connect_failures), 0u);
    message_sink sink(port);
    expect_all_delivered(sink, framing::line, sent);
}

TEST(Message, StopDeliversWhatIsHeldBeforeExiting) {
    message_sink sink;
    relay r(message_config(sink.endpoint(), framing::line));
    const auto sent = send_lines(r, 4, 1000, false);
    r.stop();
    expect_all_delivered(sink, framing::line, sent);
}

} // namespace
} // namespace funnel::test

namespace funnel::test {
namespace {

// The target is killed twice while 16 clients stream. What can be lost is only what a dead
// target's kernel had acknowledged but the target had not read: at most its receive buffer per
// connection. Everything else arrives, each client's messages in order (duplicates aside).
TEST(Message, TargetRestartedTwiceMidRunLosesAtMostItsReceiveBuffers) {
    constexpr int small_buffer = 4096;
    constexpr std::size_t clients = 16;
    constexpr std::size_t per_client = 4000;
    auto first = std::make_unique<message_sink>(0, small_buffer);
    const std::uint16_t port = first->endpoint().port();
    auto c = message_config(first->endpoint(), framing::line);
    relay r(c);

    std::vector<std::thread> senders;
    for (std::size_t i = 0; i < clients; ++i) {
        senders.emplace_back([&r, i] {
            conn client = r.connect();
            std::string wire;
            for (std::size_t s = 0; s < per_client; ++s)
                wire += "c" + std::to_string(i) + " s" + std::to_string(s) + " payload\n";
            for (std::size_t pos = 0; pos < wire.size(); pos += 4096)
                client.write_all(std::string_view(wire).substr(pos, 4096));
            client.shutdown_send();
            client.wait_for_end(60s);
        });
    }
    std::vector<std::string> streams;
    auto kill = [&](std::unique_ptr<message_sink>& sink, std::uint64_t after_bytes) {
        ASSERT_TRUE(poll_until([&] { return sink->bytes() >= after_bytes; }));
        sink->stop();
        for (auto& s : sink->streams())
            streams.push_back(std::move(s));
        sink.reset();
    };
    kill(first, 100000);
    auto second = std::make_unique<message_sink>(port, small_buffer);
    kill(second, 100000);
    message_sink last(port);
    for (auto& t : senders)
        t.join();

    // Each client's messages, in arrival order across the three targets.
    std::vector<std::vector<std::size_t>> seen(clients);
    std::size_t lost_bytes_bound = 0, received = 0;
    auto collect = [&](const std::string& stream) {
        std::string rest;
        for (const auto& m : split_lines(stream, &rest)) {
            ASSERT_EQ(m.front(), 'c') << m;
            const auto space = m.find(' ');
            seen[std::stoul(m.substr(1, space - 1))].push_back(std::stoul(m.substr(space + 2)));
            ++received;
        }
    };
    const std::size_t total = clients * per_client;
    ASSERT_TRUE(poll_until([&] {
        std::size_t distinct = 0;
        for (const auto& s : last.streams())
            distinct += split_lines(s).size();
        return distinct > 0 && metrics::get(r.stats().messages_out) >= total;
    }));
    r.stop(); // returns once the last target acknowledged everything, then closes the links
    ASSERT_TRUE(poll_until([&] { return last.open_connections() == 0; }));
    for (const auto& s : streams)
        collect(s);
    for (const auto& s : last.streams())
        collect(s);
    lost_bytes_bound = 2 * c.upstream_connections * 2 * small_buffer + 2 * 4096;

    std::size_t missing_bytes = 0, duplicates = 0;
    for (std::size_t i = 0; i < clients; ++i) {
        std::vector<bool> got(per_client, false);
        std::size_t highest = 0;
        for (const auto s : seen[i]) {
            ASSERT_LT(s, per_client);
            if (got[s]) {
                ++duplicates;
                continue;
            }
            // A first arrival never goes backwards: the order of each client holds.
            EXPECT_TRUE(s >= highest) << "client " << i << " message " << s << " after " << highest;
            highest = std::max(highest, s);
            got[s] = true;
        }
        for (std::size_t s = 0; s < per_client; ++s)
            if (!got[s])
                missing_bytes +=
                    ("c" + std::to_string(i) + " s" + std::to_string(s) + " payload\n").size();
    }
    EXPECT_LE(missing_bytes, lost_bytes_bound);
    EXPECT_LE(duplicates, metrics::get(r.stats().messages_resent));
    EXPECT_GE(metrics::get(r.stats().upstream_reconnects), 2u);
    std::cout << "received " << received << " of " << total << " messages, " << duplicates
              << " duplicates, " << missing_bytes << " bytes lost (bound " << lost_bytes_bound
              << "), " << metrics::get(r.stats().messages_resent) << " resent\n";
}

TEST(Message, StalledTargetHoldsAtMostBufferLimitThenEverythingArrives) {
    target_server target(128, 64 << 10);
    auto c = message_config(target.endpoint(), framing::line);
    c.upstream_connections = 1;
    c.buffer_limit = 1 << 20;
    c.max_message_size = 1000;
    relay r(c);
    constexpr std::size_t clients = 8;
    constexpr std::size_t per_client = 100000; // 8 x ~2.5 MB: more than the kernel buffers
    std::vector<std::thread> senders;
    for (std::size_t i = 0; i < clients; ++i) {
        senders.emplace_back([&r, i] {
            conn client = r.connect();
            std::string wire;
            for (std::size_t s = 0; s < per_client; ++s)
                wire += "c" + std::to_string(i) + " s" + std::to_string(s) + "\n";
            client.write_all(wire);
            client.shutdown_send();
            client.wait_for_end(60s);
        });
    }
    conn upstream = target.accept();
    ASSERT_TRUE(poll_until([&] { return r.service().target_buffers().waiting() > 0; }));
    EXPECT_LE(r.service().target_buffers().high_water(), c.buffer_limit);
    // The target reads again: everything arrives, in order per client.
    std::vector<std::size_t> next(clients, 0);
    std::string rest;
    std::size_t received = 0;
    while (received < clients * per_client) {
        std::string data = rest;
        if (upstream.read_available(data, 20s) != conn::outcome::data)
            break;
        for (const auto& m : split_lines(data, &rest)) {
            const auto space = m.find(' ');
            const std::size_t client = std::stoul(m.substr(1, space - 1));
            ASSERT_EQ(std::stoul(m.substr(space + 2)), next[client]++) << m;
            ++received;
        }
    }
    for (auto& t : senders)
        t.join();
    EXPECT_EQ(received, clients * per_client);
    EXPECT_LE(r.service().target_buffers().high_water(), c.buffer_limit);
    EXPECT_GT(metrics::get(r.stats().read_pauses), 0u);
}

// --client-buffer-limit (issue 5). A noisy client floods a target that does not read, with a
// --buffer-limit of 8 read blocks; a quiet client then sends a few messages. Both clients share
// the one link, so only the budget decides who is read.
class NoisyClient : public ::testing::Test {
protected:
    static constexpr std::size_t noisy_messages = 40000; // ~2 MB, far more than the target takes
    static constexpr std::size_t quiet_messages = 3;
    static constexpr std::size_t block = 64 << 10;

    void start(std::size_t client_limit) {
        c_ = message_config(target_.endpoint(), framing::line);
        c_.upstream_connections = 1;
        c_.buffer_limit = 8 * block;
        c_.max_message_size = 1000;
        c_.client_buffer_limit = client_limit;
        r_.emplace(c_);
        noisy_.emplace(r_->connect());
        noisy_writer_ = std::thread([this] {
            std::string wire;
            for (std::size_t s = 0; s < noisy_messages; ++s)
                wire += "n s" + std::to_string(s) + " flooding the relay with lines\n";
            error_code ignored; // fails only if the test ends early and funnel closes it
            net::write(noisy_->socket(), net::buffer(wire), ignored);
        });
        upstream_.emplace(target_.accept());
    }

    void send_quiet() {
        quiet_.emplace(r_->connect());
        for (std::size_t s = 0; s < quiet_messages; ++s)
            quiet_->write_all("q s" + std::to_string(s) + "\n");
    }

    // The target reads again: every message of both clients arrives once, in each one's order.
    void expect_everything_arrives() {
        std::map<char, std::size_t> next;
        std::string rest;
        while (next['n'] < noisy_messages || next['q'] < quiet_messages) {
            std::string data = rest;
            if (upstream_->read_available(data, 20s) != conn::outcome::data)
                break;
            for (const auto& m : split_lines(data, &rest)) {
                const auto seq = std::stoul(m.substr(3)); // "n s<seq> ..." or "q s<seq>"
                ASSERT_EQ(seq, next[m.front()]++) << m;
            }
        }
        EXPECT_EQ(next['n'], noisy_messages);
        EXPECT_EQ(next['q'], quiet_messages);
    }

    void TearDown() override {
        if (noisy_writer_.joinable()) { // ended early: stopping funnel unblocks the writer
            r_->stop();
            noisy_writer_.join();
        }
        quiet_.reset(); // the clients end their sessions, so that the stop has nothing to drain
        noisy_.reset();
    }

    target_server target_{128, 64 << 10};
    config c_;
    std::optional<relay> r_;
    std::optional<conn> noisy_, quiet_, upstream_;
    std::thread noisy_writer_;
};

TEST_F(NoisyClient, ClientBufferLimitPausesTheNoisyClientAloneWhileTheQuietOneIsRead) {
    start(4 * block); // half the budget
    // The noisy client fills its share and is paused; the budget keeps room for others.
    ASSERT_TRUE(poll_until([&] { return get(r_->stats().client_pauses) > 0; }));
    EXPECT_EQ(get(r_->stats().client_buffer_high_water), 4 * block);
    EXPECT_LE(r_->service().target_buffers().bytes_held(), 4 * block);

    // The quiet client's bytes are read (and its messages framed) while the noisy one waits.
    const std::uint64_t before = get(r_->stats().bytes_from_clients);
    send_quiet();
    EXPECT_TRUE(poll_until([&] {
        return get(r_->stats().bytes_from_clients) >= before + quiet_messages * 5;
    })) << "the quiet client was not read";
    EXPECT_EQ(get(r_->stats().read_pauses), 0u) << "a reader waited for the shared budget";
    EXPECT_LE(get(r_->stats().client_buffer_high_water), 4 * block);

    expect_everything_arrives();
    noisy_writer_.join();
    EXPECT_LE(get(r_->stats().client_buffer_high_water), 4 * block);
    // The noisy client's share, and a block for each quiet message at most (each may have been
    // read on its own).
    EXPECT_LE(r_->service().target_buffers().high_water(), (4 + quiet_messages) * block);
}

// The same without the limit: the noisy client takes the whole budget and the quiet one waits
// behind it (what the test above would fail with).
TEST_F(NoisyClient, WithoutClientBufferLimitTheNoisyClientStarvesTheQuietOne) {
    start(0);
    ASSERT_TRUE(poll_until([&] { return r_->service().target_buffers().waiting() > 0; }));
    EXPECT_EQ(r_->service().target_buffers().high_water(), c_.buffer_limit);
    send_quiet();
    // The quiet client's reader parks behind the noisy one's: neither is read.
    EXPECT_TRUE(poll_until([&] { return r_->service().target_buffers().waiting() >= 2; }));
    EXPECT_EQ(get(r_->stats().client_pauses), 0u);
    EXPECT_EQ(get(r_->stats().client_buffer_high_water), 0u);

    expect_everything_arrives();
    noisy_writer_.join();
}

// A client paused by its --client-buffer-limit has no read pending, so funnel does not see it
// close: the session (and its --max-connections-per-ip slot) stays until the target takes data
// or the stop's drain timeout closes it (documented beside the flag). The stop stays bounded.
TEST(Message, AClientClosedWhilePausedByItsBufferLimitEndsWithinTheDrainTimeout) {
    target_server target{128, 64 << 10};
    auto c = message_config(target.endpoint(), framing::line);
    c.upstream_connections = 1;
    c.max_message_size = 1000;
    c.buffer_limit = 8 * config::min_read_size;
    c.client_buffer_limit = 4 * config::min_read_size;
    c.drain_timeout = config::seconds(0.3);
    relay r(c);
    conn client = r.connect();
    conn upstream = target.accept(); // never reads: what funnel holds is never acknowledged
    std::string wire;
    for (std::size_t s = 0; wire.size() < (16u << 20); ++s)
        wire += "c0 s" + std::to_string(s) + " filling this client's share of the budget\n";
    // Non-blocking writes between the checks, as far as the kernel takes them, until funnel
    // pauses the client.
    client.socket().non_blocking(true);
    std::size_t written = 0;
    ASSERT_TRUE(poll_until([&] {
        error_code ignored;
        written += client.socket().write_some(
            net::buffer(wire.data() + written, wire.size() - written), ignored);
        return get(r.stats().client_pauses) > 0;
    })) << written
        << " bytes written";
    client.reset();
    EXPECT_EQ(get(r.stats().connections_active), 1u); // still there: nothing reads it
    const auto start = std::chrono::steady_clock::now();
    r.stop();
    // One --drain-timeout for the connections, one for the links, and scheduling slack.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2 * 300ms + 2s);
    EXPECT_EQ(get(r.stats().connections_active), 0u);
    EXPECT_TRUE(r.logged("drain timeout: closing 1 connections still open")) << r.log_text();
}

// A message larger than framing copies out (message_framer::carry_limit) arriving in many small
// reads pins a whole read block per read, however few bytes each holds: more blocks than
// --client-buffer-limit at its minimum (a message of --max-message-size in whole blocks). Those
// blocks are freed only when the message completes, so the client must not be paused for them.
TEST(Message, AMessageInManySmallReadsIsNotPausedByItsOwnClientBufferLimit) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::line);
    c.upstream_connections = 1;
    c.max_message_size = 1 << 20;
    c.client_buffer_limit = c.max_message_size + 2 * config::min_read_size; // the minimum
    c.idle_timeout = config::seconds(30); // on, as in production; far beyond the test
    relay r(c);
    const std::size_t reads = 2 * c.client_buffer_limit / config::min_read_size; // 36 > 18 blocks
    const std::string message = "c0 s0 " + std::string(reads * 5000, 'x');
    const std::string wire = message + "\n";
    conn client = r.connect();
    const std::size_t piece = 5000;
    for (std::size_t pos = 0; pos < wire.size(); pos += piece) {
        client.write_all(std::string_view(wire).substr(pos, piece));
        // One read per write: the next write waits until funnel has read this one.
        const std::size_t sent = std::min(wire.size(), pos + piece);
        ASSERT_TRUE(poll_until([&] { return get(r.stats().bytes_from_clients) >= sent; }))
            << "funnel stopped reading the client at " << get(r.stats().bytes_from_clients)
            << " of " << sent << " bytes (" << get(r.stats().client_pauses) << " pauses)";
    }
    client.shutdown_send();
    EXPECT_EQ(client.wait_for_end(), conn::outcome::eof);
    expect_all_delivered(sink, framing::line, {{message}});
}

TEST(Message, IdleTimeoutClosesAQuietClientAfterDeliveringItsMessages) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::line);
    c.idle_timeout = config::seconds(0.3);
    relay r(c);
    conn client = r.connect();
    client.write_all("c0 s0 then silence\n");
    EXPECT_EQ(client.wait_for_end(5s), conn::outcome::eof);
    EXPECT_EQ(metrics::get(r.stats().idle_timeouts), 1u);
    expect_all_delivered(sink, framing::line, {{"c0 s0 then silence"}});
}

// A client that falls silent in the middle of a message is closed like any idle one; the part it
// sent is dropped and counted as cut short, not forwarded as if it were whole.
TEST(Message, IdleTimeoutInsideAMessageCountsItTruncated) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::line);
    c.idle_timeout = config::seconds(0.3);
    relay r(c);
    conn client = r.connect();
    client.write_all("c0 s0 whole\nc0 s1 and then sil");
    EXPECT_EQ(client.wait_for_end(5s), conn::outcome::eof);
    EXPECT_EQ(metrics::get(r.stats().idle_timeouts), 1u);
    EXPECT_TRUE(poll_until([&] { return metrics::get(r.stats().messages_truncated) == 1; }));
    expect_all_delivered(sink, framing::line, {{"c0 s0 whole"}});
}

// Writes `piece` every `pace` until funnel ends the connection (or `steps` went by); returns how
// many pieces went out. The pace is what is under test, not a synchronisation: each step waits
// for the connection's end with that timeout.
std::size_t trickle(conn& client, std::string_view piece, duration pace, std::size_t steps) {
    std::string ignored;
    for (std::size_t i = 0; i < steps; ++i) {
        if (client.read_available(ignored, pace) != conn::outcome::timeout)
            return i;
        error_code ec;
        net::write(client.socket(), net::buffer(piece), ec);
        if (ec)
            return i;
    }
    return steps;
}

// Slowloris: a client trickling one byte at a time is never idle, but one message may take at
// most --idle-timeout to arrive; then the client is closed and the part is counted cut short.
TEST(Message, AMessageTricklingInLongerThanTheIdleTimeoutClosesTheClient) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::line);
    c.idle_timeout = config::seconds(0.3);
    relay r(c);
    conn client = r.connect();
    client.write_all("c0 s0 whole\n");
    const auto start = std::chrono::steady_clock::now();
    const std::size_t bytes = trickle(client, "x", 20ms, 250); // 5 s at most
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(bytes, 250u) << "still open after 5 s of a message that never ends";
    EXPECT_GE(took, 300ms);
    EXPECT_EQ(metrics::get(r.stats().idle_timeouts), 1u);
    EXPECT_TRUE(poll_until([&] { return metrics::get(r.stats().messages_truncated) == 1; }));
    EXPECT_TRUE(r.logged("a message took longer than --idle-timeout")) << r.log_text();
    expect_all_delivered(sink, framing::line, {{"c0 s0 whole"}});
}

// The limit is per message: a slow client whose every message arrives within --idle-timeout
// stays connected however long it goes on.
TEST(Message, ASlowClientWhoseMessagesEachArriveInTimeStaysConnected) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::line);
    c.idle_timeout = config::seconds(0.3);
    relay r(c);
    conn client = r.connect();
    // "c0 sN\n" in two halves 50 ms apart, for 1.2 s: four idle timeouts long.
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < 12; ++i) {
        sent.push_back("c0 s" + std::to_string(i));
        ASSERT_EQ(trickle(client, sent.back().substr(0, 3), 50ms, 1), 1u) << "closed at " << i;
        ASSERT_EQ(trickle(client, sent.back().substr(3) + "\n", 50ms, 1), 1u) << "closed at " << i;
    }
    client.shutdown_send();
    EXPECT_EQ(client.wait_for_end(), conn::outcome::eof);
    EXPECT_EQ(metrics::get(r.stats().idle_timeouts), 0u);
    expect_all_delivered(sink, framing::line, {sent});
}

} // namespace
} // namespace funnel::test

namespace funnel::test {
namespace {

// Nothing connected at the stop and the target down: the drain still ends, within twice
// --drain-timeout, and says what it dropped.
TEST(Message, StopWithTheTargetDownEndsAfterTheDrainTimeoutAndLogsTheLoss) {
    const std::uint16_t port = unused_port();
    auto c = message_config(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), framing::line);
    c.drain_timeout = config::seconds(0.2);
    c.upstream_connections = 1;
    relay r(c);
    conn client = r.connect();
    client.write_all("c0 s0 nowhere to go\n");
    client.shutdown_send();
    EXPECT_EQ(client.wait_for_end(), conn::outcome::eof);
    ASSERT_TRUE(poll_until([&] { return metrics::get(r.stats().messages_in) == 1; }));
    const auto start = std::chrono::steady_clock::now();
    r.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_TRUE(r.logged("stopping with 1 messages not acknowledged")) << r.log_text();
}

} // namespace
} // namespace funnel::test

namespace funnel::test {
namespace {

TEST(Message, OversizedMessagesFromOneClientLeaveTheOthersUntouched) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::length);
    c.max_message_size = 200;
    relay r(c);
    constexpr std::size_t good_clients = 8, per_client = 2000;
    std::vector<std::vector<std::string>> expected(good_clients + 1);
    std::vector<std::string> wires(good_clients + 1);
    std::mt19937 rng(9);
    for (std::size_t i = 0; i < good_clients; ++i)
        for (std::size_t s = 0; s < per_client; ++s) {
            expected[i].push_back(payload(i, s, rng() % 150, framing::length, rng));
            wires[i] += frame(framing::length, expected[i].back());
        }
    // The last client alternates good messages with oversized ones.
    const std::size_t bad = good_clients;
    for (std::size_t s = 0; s < per_client; ++s) {
        expected[bad].push_back(payload(bad, s, 20, framing::length, rng));
        wires[bad] += frame(framing::length, expected[bad].back()) +
                      frame(framing::length, std::string(1000 + s, 'x'));
    }
    std::vector<std::thread> senders;
    for (auto& wire : wires)
        senders.emplace_back([&r, &wire] {
            conn client = r.connect();
            for (std::size_t pos = 0; pos < wire.size(); pos += 5000)
                client.write_all(std::string_view(wire).substr(pos, 5000));
            client.shutdown_send();
            client.wait_for_end();
        });
    for (auto& t : senders)
        t.join();
    expect_all_delivered(sink, framing::length, expected);
    EXPECT_EQ(metrics::get(r.stats().oversize_dropped), per_client);
}

} // namespace
} // namespace funnel::test

namespace funnel::test {
namespace {

// A target name that does not resolve is a target that is down: funnel takes the clients'
// messages, holds them, keeps trying (resolving again each time) and keeps serving clients.
TEST(Message, UnresolvableTargetHoldsTheMessagesKeepsRetryingAndKeepsServing) {
    auto c = message_config(tcp::endpoint(net::ip::make_address("127.0.0.1"), 9), framing::line);
    c.target.host = "no-such-host.invalid";
    c.upstream_connections = 1;
    c.drain_timeout = config::seconds(0.2); // the held messages cannot go anywhere at the end
    relay r(c);
    send_lines(r, 4, 50, true); // each client closed after funnel took all it sent
    ASSERT_TRUE(poll_until([&] { return get(r.stats().messages_in) == 200; }));
    ASSERT_TRUE(poll_until([&] { return get(r.stats().connect_failures) >= 3; })) << r.log_text();
    EXPECT_EQ(get(r.stats().messages_out), 0u);
    EXPECT_GT(r.service().target_buffers().bytes_held(), 0u);
    EXPECT_TRUE(r.logged("no-such-host.invalid")) << r.log_text();

    conn late = r.connect();
    late.write_all("c9 s0 still accepted\n");
    late.shutdown_send();
    EXPECT_EQ(late.wait_for_end(), conn::outcome::eof);
    EXPECT_TRUE(poll_until([&] { return get(r.stats().messages_in) == 201; }));
}

} // namespace
} // namespace funnel::test
