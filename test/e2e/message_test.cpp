// Message mode end to end: many clients, framed messages, a few upstream connections.

#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <sys/mount.h>
#include <thread>

#include "support/loopback.hpp"
#include "support/message_sink.hpp"
#include "support/relay_fixture.hpp"
#include "support/temp_dir.hpp"

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

// Message `seq` of client `client` in the tests that stream lines through target faults.
std::string fault_line(std::size_t client, std::size_t seq) {
    return "c" + std::to_string(client) + " s" + std::to_string(seq) + " payload";
}

// One thread per client: each connects, sends its `per_client` fault_line()s in 4 KiB writes
// (`pace` apart: spreading the flow over time, so that target faults fall in the middle of it;
// nothing waits on it), closes its side and waits (with a deadline) for funnel to close. With
// `stages`, the writes are cut into stages.size() + 1 equal parts, and part k + 1 waits until
// stages[k] is ready (or a deadline passes): a target started before a stage opens is sure to
// get data, however fast the parts before went. The caller joins them.
std::vector<std::thread> stream_lines(relay& r, std::size_t clients, std::size_t per_client,
                                      duration pace = {},
                                      std::vector<std::shared_future<void>> stages = {}) {
    std::vector<std::thread> senders;
    for (std::size_t i = 0; i < clients; ++i) {
        senders.emplace_back([&r, i, per_client, pace, stages] {
            conn client = r.connect();
            std::string wire;
            for (std::size_t s = 0; s < per_client; ++s)
                wire += fault_line(i, s) + "\n";
            const std::size_t writes = (wire.size() + 4095) / 4096;
            std::size_t stage = 0;
            for (std::size_t w = 0; w < writes; ++w) {
                if (w > 0 && pace > duration::zero())
                    std::this_thread::sleep_for(pace);
                if (stage < stages.size() && w == writes * (stage + 1) / (stages.size() + 1))
                    stages[stage++].wait_for(60s);
                client.write_all(std::string_view(wire).substr(w * 4096, 4096));
            }
            client.shutdown_send();
            client.wait_for_end(60s);
        });
    }
    return senders;
}

// What a target got of `clients` x `per_client` fault_line()s, over all its connections.
struct delivery {
    std::size_t received = 0;   // whole lines, duplicates included
    std::size_t duplicates = 0; // lines seen before
    std::size_t backwards = 0;  // first arrivals behind a later message of the same client
    std::size_t malformed = 0;  // whole lines that are no fault_line(): pieces joined, or damage
    std::size_t cut = 0;        // connections that ended inside a message
    std::size_t missing = 0;    // messages that never arrived
    std::size_t missing_bytes = 0;
};

std::ostream& operator<<(std::ostream& out, const delivery& d) {
    return out << d.received << " received, " << d.duplicates << " duplicates, " << d.backwards
               << " out of order, " << d.malformed << " malformed, " << d.cut
               << " connections ending inside a message, " << d.missing << " missing ("
               << d.missing_bytes << " bytes)";
}

delivery tally(const std::vector<std::string>& streams, std::size_t clients,
               std::size_t per_client) {
    delivery d;
    std::vector<std::vector<bool>> got(clients, std::vector<bool>(per_client, false));
    std::vector<std::size_t> highest(clients, 0);
    for (const auto& stream : streams) {
        std::string rest;
        for (const auto& m : split_lines(stream, &rest)) {
            ++d.received;
            std::size_t client = 0, seq = 0;
            if (std::sscanf(m.c_str(), "c%zu s%zu", &client, &seq) != 2 || client >= clients ||
                seq >= per_client || m != fault_line(client, seq)) {
                ++d.malformed;
                continue;
            }
            if (got[client][seq]) {
                ++d.duplicates;
                continue;
            }
            if (seq < highest[client])
                ++d.backwards;
            highest[client] = std::max(highest[client], seq);
            got[client][seq] = true;
        }
        if (!rest.empty())
            ++d.cut;
    }
    for (std::size_t i = 0; i < clients; ++i)
        for (std::size_t s = 0; s < per_client; ++s)
            if (!got[i][s]) {
                ++d.missing;
                d.missing_bytes += fault_line(i, s).size() + 1;
            }
    return d;
}

// The target is killed twice while 16 clients stream. What can be lost is only what a dead
// target's kernel had acknowledged but the target had not read: at most its receive buffer per
// connection. Everything else arrives, each client's messages in order (duplicates aside). Each
// third of the clients' data waits for its target: a fast run could otherwise end before the next
// target starts (a third is about 380 KB, well above the 100 KB a target takes before its kill).
TEST(Message, TargetRestartedTwiceMidRunLosesAtMostItsReceiveBuffers) {
    constexpr int small_buffer = 4096;
    constexpr std::size_t clients = 16;
    constexpr std::size_t per_client = 4000;
    auto first = std::make_unique<message_sink>(0, small_buffer);
    const std::uint16_t port = first->endpoint().port();
    auto c = message_config(first->endpoint(), framing::line);
    relay r(c);

    std::promise<void> second_target_listening, last_target_listening;
    auto senders =
        stream_lines(r, clients, per_client, {},
                     {second_target_listening.get_future(), last_target_listening.get_future()});
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
    second_target_listening.set_value();
    kill(second, 100000);
    message_sink last(port);
    last_target_listening.set_value();
    for (auto& t : senders)
        t.join();

    const std::size_t total = clients * per_client;
    ASSERT_TRUE(poll_until([&] {
        std::size_t distinct = 0;
        for (const auto& s : last.streams())
            distinct += split_lines(s).size();
        return distinct > 0 && metrics::get(r.stats().messages_out) >= total;
    })) << metrics::get(r.stats().messages_out)
        << " of " << total << " acknowledged, " << metrics::get(r.stats().messages_in) << " in, "
        << last.connections() << " connections to the last target\n"
        << r.log_text();
    r.stop(); // returns once the last target acknowledged everything, then closes the links
    ASSERT_TRUE(poll_until([&] { return last.open_connections() == 0; }));
    for (auto& s : last.streams())
        streams.push_back(std::move(s));
    const std::size_t lost_bytes_bound = 2 * c.upstream_connections * 2 * small_buffer + 2 * 4096;

    const delivery d = tally(streams, clients, per_client);
    EXPECT_EQ(d.malformed, 0u) << d;
    EXPECT_EQ(d.backwards, 0u) << d; // a first arrival never goes backwards: each client's order
    EXPECT_LE(d.missing_bytes, lost_bytes_bound) << d;
    EXPECT_LE(d.duplicates, metrics::get(r.stats().messages_resent)) << d;
    EXPECT_GE(metrics::get(r.stats().upstream_reconnects), 2u);
    std::cout << d << " (bound " << lost_bytes_bound << " bytes), "
              << metrics::get(r.stats().messages_resent) << " resent\n";
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

// Many clients in the middle of messages larger than a read block, each arriving in small
// pieces: each message holds about its size of the budget until it completes (the reads are
// folded together), not a whole 64 KiB block per read. With a block per read these 8 clients
// would need 8 x 50 blocks by the end, and after 8 rounds the 64-block budget would be spent by
// unfinished messages alone: every reader would wait for a block only their own reads would free.
TEST(Message, ManyLargeMessagesInSmallPiecesAtOnceDoNotFreezeTheRelay) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::line);
    c.max_message_size = 256 << 10;
    c.buffer_limit = 64 * config::min_read_size;
    c.idle_timeout = config::seconds(30); // on, as in production; far beyond the test
    relay r(c);
    constexpr std::size_t clients = 8;
    constexpr std::size_t piece = 2000;
    constexpr std::size_t rounds = 50;
    std::vector<conn> senders;
    std::vector<std::vector<std::string>> sent(clients);
    std::vector<std::string> wires(clients);
    for (std::size_t i = 0; i < clients; ++i) {
        senders.push_back(r.connect());
        const std::string prefix = "c" + std::to_string(i) + " s0 ";
        sent[i].push_back(
            prefix + std::string(rounds * piece - prefix.size() - 1, static_cast<char>('a' + i)));
        wires[i] = sent[i].back() + "\n";
    }
    for (std::size_t round = 0; round < rounds; ++round) {
        for (std::size_t i = 0; i < clients; ++i)
            senders[i].write_all(std::string_view(wires[i]).substr(round * piece, piece));
        // One read per piece: the next round waits until funnel has read this one.
        const std::size_t read = (round + 1) * piece * clients;
        ASSERT_TRUE(poll_until([&] { return get(r.stats().bytes_from_clients) >= read; }))
            << "funnel stopped reading at " << get(r.stats().bytes_from_clients) << " of " << read
            << " bytes, in round " << round << "; " << r.service().target_buffers().bytes_held()
            << " bytes of the budget held";
    }
    for (auto& s : senders) {
        s.shutdown_send();
        EXPECT_EQ(s.wait_for_end(), conn::outcome::eof);
    }
    expect_all_delivered(sink, framing::line, sent);
}

// A message larger than framing copies out (message_framer::carry_limit) arriving in reads too
// large to fold into the block before (over half a block each) pins a whole block per read: more
// blocks than --client-buffer-limit at its minimum (a message of --max-message-size in whole
// blocks). Those blocks are freed only when the message completes, so the client must not be
// paused for them.
TEST(Message, AMessageInManySmallReadsIsNotPausedByItsOwnClientBufferLimit) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::line);
    c.upstream_connections = 1;
    c.max_message_size = 1 << 20;
    c.client_buffer_limit = c.max_message_size + 2 * config::min_read_size; // the minimum
    c.idle_timeout = config::seconds(30); // on, as in production; far beyond the test
    relay r(c);
    const std::size_t piece = 40000;
    const std::size_t reads = c.client_buffer_limit / config::min_read_size + 6; // 24 > 18 blocks
    const std::string message = "c0 s0 " + std::string(reads * piece, 'x');
    const std::string wire = message + "\n";
    conn client = r.connect();
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

// Bytes in the spool's segment files under `dir`.
std::uint64_t spooled_bytes(const std::string& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
         it.increment(ec))
        if (it->path().extension() == ".seg")
            total += it->file_size(ec);
    return total;
}

// A down target, a buffer far smaller than what the clients send, and a spool.
config spool_config(std::uint16_t target_port, const temp_dir& dir) {
    auto c = message_config(tcp::endpoint(net::ip::make_address("127.0.0.1"), target_port),
                            framing::line);
    c.upstream_connections = 2;
    c.buffer_limit = 256 << 10;
    c.max_message_size = 4096;
    c.spool_dir = dir.file("spool");
    c.spool_limit = 64 << 20;
    c.spool_sync_mode = spool_sync::never;
    return c;
}

TEST(MessageSpool, TakesWhatTheBufferCannotHoldWhileTheTargetIsDownThenDeliversItOnceInOrder) {
    temp_dir dir;
    const std::uint16_t port = unused_port();
    const auto c = spool_config(port, dir);
    relay r(c);
    // ~1.7 MB: without the spool the clients could not finish (each waits for its close).
    const auto sent = send_lines(r, 8, 20000, true);
    ASSERT_TRUE(poll_until([&] { return get(r.stats().messages_in) == 8 * 20000; }));
    EXPECT_GT(spooled_bytes(c.spool_dir), c.buffer_limit);
    EXPECT_LE(r.service().target_buffers().high_water(), c.buffer_limit);

    message_sink sink(port);
    expect_all_delivered(sink, framing::line, sent);
    // Delivered segments are removed.
    EXPECT_TRUE(poll_until([&] { return spooled_bytes(c.spool_dir) == 0; }))
        << spooled_bytes(c.spool_dir);
}

TEST(MessageSpool, WhatTheSpoolHoldsAtStopGoesOutFirstAtTheNextStart) {
    temp_dir dir;
    const std::uint16_t port = unused_port();
    std::vector<std::vector<std::string>> sent;
    {
        auto c = spool_config(port, dir);
        c.drain_timeout = config::seconds(0.5);
        relay r(c);
        sent = send_lines(r, 4, 20000, true);
        ASSERT_TRUE(poll_until([&] { return get(r.stats().messages_in) == 4 * 20000; }));
        r.stop();
        EXPECT_FALSE(r.logged("not acknowledged")) << r.log_text();
    }
    message_sink sink(port);
    relay r(spool_config(port, dir));
    EXPECT_TRUE(r.logged("left in the spool")) << r.log_text();
    // Sent after the restart: on its connection it comes after everything the spool held.
    conn late = r.connect();
    late.write_all("c4 s0\n");
    late.shutdown_send();
    sent.push_back({"c4 s0"});
    expect_all_delivered(sink, framing::line, sent);
    std::size_t ends_with_it = 0;
    for (const auto& stream : sink.streams())
        ends_with_it += stream.ends_with("\nc4 s0\n") ? 1U : 0U;
    EXPECT_EQ(ends_with_it, 1U);
}

// Waits until each of the `clients` x `per_client` messages sent is either at `sink` or counted
// as dropped by the spool (spilling, and dropping, may go on after the clients are done), and
// checks that each client's messages arrived in order, none twice. Returns the last sequence
// number that arrived of each client (-1: none).
std::vector<long> expect_delivered_or_dropped(relay& r, message_sink& sink, std::size_t clients,
                                              std::size_t per_client) {
    std::vector<std::string> lines;
    const auto dropped = [&] {
        return get(r.stats().spool_messages_dropped);
    };
    EXPECT_TRUE(poll_until([&] {
        lines.clear();
        for (const auto& stream : sink.streams())
            for (auto& m : split_lines(stream))
                lines.push_back(std::move(m));
        return lines.size() + dropped() == clients * per_client &&
               lines.size() == get(r.stats().messages_out);
    })) << lines.size()
        << " delivered, " << dropped() << " dropped";
    EXPECT_GT(dropped(), 0U);
    EXPECT_GT(lines.size(), 0U);
    std::vector<long> last(clients, -1);
    for (const auto& m : lines) {
        const auto space = m.find(' ');
        const std::size_t client = std::stoul(m.substr(1, space - 1));
        const long seq = std::stol(m.substr(space + 2));
        EXPECT_GT(seq, last[client]) << m;
        last[client] = seq;
    }
    return last;
}

// A spool that holds little: each link's share of --spool-limit is one eighth of what is sent.
config small_spool_config(std::uint16_t target_port, const temp_dir& dir, overflow_policy p) {
    auto c = spool_config(target_port, dir);
    c.spool_limit = 2 * 96 << 10;
    c.overflow = p;
    return c;
}

TEST(MessageSpool, FullSpoolWithOverflowBlockPausesTheClientsAndLosesNothing) {
    temp_dir dir;
    const std::uint16_t port = unused_port();
    relay r(small_spool_config(port, dir, overflow_policy::block));
    std::vector<std::vector<std::string>> sent;
    std::thread sender([&] { sent = send_lines(r, 8, 20000, true); });
    ASSERT_TRUE(poll_until([&] { return r.logged("clients wait until it has room"); }))
        << r.log_text();
    EXPECT_LT(get(r.stats().messages_in), 8U * 20000U);
    message_sink sink(port);
    sender.join();
    expect_all_delivered(sink, framing::line, sent);
}

TEST(MessageSpool, FullSpoolWithOverflowDropNewestKeepsTheClientsGoingAndCountsTheDrops) {
    temp_dir dir;
    const std::uint16_t port = unused_port();
    auto c = small_spool_config(port, dir, overflow_policy::drop_newest);
    // One link: once it spills, everything it keeps is in the spool, so an empty spool means
    // all of it was delivered.
    c.upstream_connections = 1;
    c.spool_limit = 96 << 10;
    relay r(c);
    send_lines(r, 8, 20000, true);
    ASSERT_TRUE(poll_until([&] { return get(r.stats().messages_in) == 8 * 20000; }));
    EXPECT_TRUE(poll_until([&] { return r.logged("dropped (--overflow drop-newest)"); }))
        << r.log_text();
    message_sink sink(port);
    expect_delivered_or_dropped(r, sink, 8, 20000);
    EXPECT_TRUE(poll_until([&] { return spooled_bytes(c.spool_dir) == 0; }));
}

// The target is down; memory holds all the clients sent (nothing spilled) when funnel stops:
// it goes to the spool instead of being dropped, and the next start delivers it.
TEST(MessageSpool, StopWithTheTargetDownKeepsWhatMemoryHeldForTheNextStart) {
    temp_dir dir;
    const std::uint16_t port = unused_port();
    std::vector<std::vector<std::string>> sent;
    {
        auto c = spool_config(port, dir);
        c.buffer_limit = 8 << 20;
        c.drain_timeout = config::seconds(0.3);
        relay r(c);
        sent = send_lines(r, 4, 5000, true);
        ASSERT_TRUE(poll_until([&] { return get(r.stats().messages_in) == 4 * 5000; }));
        EXPECT_EQ(spooled_bytes(c.spool_dir), 0U);
        r.stop();
        EXPECT_TRUE(r.logged("are kept in the spool")) << r.log_text();
        EXPECT_EQ(get(r.stats().messages_dropped_at_stop), 0U);
        EXPECT_EQ(get(r.stats().spool_messages_written), 4U * 5000U);
        EXPECT_GT(spooled_bytes(c.spool_dir), 0U);
    }
    message_sink sink(port);
    relay r(spool_config(port, dir));
    expect_all_delivered(sink, framing::line, sent);
}

// Write-ahead with the target up: a stop waits until what the spool holds has been delivered
// too (the drain's bound permitting), so nothing is left behind on the disk.
TEST(MessageSpool, StopWithTheTargetUpDeliversWhatTheSpoolHoldsBeforeExiting) {
    temp_dir dir;
    message_sink sink;
    auto c = spool_config(sink.endpoint().port(), dir);
    c.spool_use = spool_mode::always;
    relay r(c);
    const auto sent = send_lines(r, 4, 5000, false);
    r.stop();
    EXPECT_EQ(get(r.stats().messages_out), 4U * 5000U);
    EXPECT_EQ(spooled_bytes(c.spool_dir), 0U);
    EXPECT_GT(get(r.stats().spool_messages_written), 0U);
    expect_all_delivered(sink, framing::line, sent);
}

// The target accepts and never reads while the clients send more than memory holds: the write
// in flight stays unacknowledged, and later batches go to the spool. At the stop, what the
// target's kernel did not acknowledge goes ahead of what the spool holds (and the connection is
// reset, so the target gets no more of it); the target's kernel keeps what it did acknowledge.
// What the target read, then what the next start delivers, has every message in order.
TEST(MessageSpool, StopWithAStalledTargetPutsWhatItDidNotAcknowledgeAheadOfTheSpool) {
    constexpr std::size_t clients = 8, per_client = 20000;
    temp_dir dir;
    auto stalled = std::make_unique<target_server>(128, 64 << 10);
    const std::uint16_t port = stalled->endpoint().port();
    auto c = spool_config(port, dir);
    c.upstream_connections = 1;
    c.drain_timeout = config::seconds(0.3);
    std::vector<std::string> streams;
    {
        relay r(c);
        conn upstream = stalled->accept();
        send_lines(r, clients, per_client, true);
        ASSERT_TRUE(poll_until([&] { return get(r.stats().messages_in) == clients * per_client; }));
        EXPECT_GT(get(r.stats().spool_messages_written), 0U);
        r.stop();
        EXPECT_EQ(get(r.stats().messages_dropped_at_stop), 0U);
        std::string received;
        while (upstream.read_available(received, 5s) == conn::outcome::data) {
        }
        streams.push_back(received);
    }
    stalled.reset();
    message_sink sink(port);
    relay r(spool_config(port, dir));
    const auto problem = [&] {
        auto all = streams;
        for (auto& s : sink.streams())
            all.push_back(std::move(s));
        return at_least_once_problem(all, clients, per_client);
    };
    EXPECT_TRUE(poll_until([&] { return problem().empty(); })) << problem();
}

// With --overflow drop-oldest a full spool drops its oldest segments: the clients go on, the
// newest messages arrive, and what arrives is in each client's order.
TEST(MessageSpool, FullSpoolWithOverflowDropOldestKeepsTheNewestMessages) {
    constexpr std::size_t clients = 8, per_client = 50000; // ~3.6 MB
    temp_dir dir;
    const std::uint16_t port = unused_port();
    auto c = small_spool_config(port, dir, overflow_policy::drop_oldest);
    c.upstream_connections = 1;
    c.spool_limit = 1 << 20; // segments of 128 KiB: there is an oldest one to drop
    relay r(c);
    send_lines(r, clients, per_client, true);
    ASSERT_TRUE(poll_until([&] { return get(r.stats().messages_in) == clients * per_client; }));
    message_sink sink(port);
    const auto last = expect_delivered_or_dropped(r, sink, clients, per_client);
    EXPECT_TRUE(r.logged("of the oldest spooled messages dropped (--overflow drop-oldest)"))
        << r.log_text();
    EXPECT_TRUE(poll_until([&] { return spooled_bytes(c.spool_dir) == 0; }));
    // The clients sent one after the other: the newest messages are the last client's.
    EXPECT_EQ(last[clients - 1], static_cast<long>(per_client) - 1);
}

// A tmpfs of `bytes` mounted on a new directory for the test's lifetime; needs root (or
// CAP_SYS_ADMIN). `error` says why there is none.
class small_filesystem {
public:
    small_filesystem(const temp_dir& dir, std::size_t bytes) : path_(dir.file("small-fs")) {
        std::filesystem::create_directory(path_);
        const auto options = "size=" + std::to_string(bytes);
        if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
            error_ = std::string("mount tmpfs: ") + std::strerror(errno);
    }
    ~small_filesystem() {
        if (error_.empty())
            ::umount2(path_.c_str(), MNT_DETACH);
    }
    small_filesystem(const small_filesystem&) = delete;
    small_filesystem& operator=(const small_filesystem&) = delete;

    const std::string& error() const { return error_; }
    std::string path() const { return path_; }

private:
    std::string path_;
    std::string error_;
};

// The spool's filesystem fills up (1 MiB, far below --spool-limit) while the target is down: with
// --overflow drop-newest the new records are dropped and counted, nothing is corrupted, funnel
// keeps taking clients, and once the target is up what the spool kept arrives in order.
TEST(MessageSpool, FullDiskWithOverflowDropNewestDropsCountsAndDeliversTheRestInOrder) {
    constexpr std::size_t clients = 8, per_client = 50000; // ~3.6 MB
    temp_dir dir;
    small_filesystem fs(dir, 1 << 20);
    if (!fs.error().empty())
        GTEST_SKIP() << "no small filesystem for the spool (" << fs.error() << ")";
    const std::uint16_t port = unused_port();
    auto c = spool_config(port, dir);
    c.spool_dir = fs.path() + "/spool";
    c.upstream_connections = 1;
    c.overflow = overflow_policy::drop_newest;
    relay r(c);
    send_lines(r, clients, per_client, true);
    ASSERT_TRUE(poll_until([&] { return get(r.stats().messages_in) == clients * per_client; }));
    message_sink sink(port);
    expect_delivered_or_dropped(r, sink, clients, per_client);
    EXPECT_TRUE(r.logged("spool: disk full")) << r.log_text();
    EXPECT_GT(get(r.stats().spool_write_errors), 0U);
    const auto delivered = get(r.stats().messages_out);
    // And funnel goes on taking and delivering.
    conn late = r.connect();
    late.write_all("c0 s999999\n");
    late.shutdown_send();
    EXPECT_EQ(late.wait_for_end(), conn::outcome::eof);
    EXPECT_TRUE(poll_until([&] { return get(r.stats().messages_out) == delivered + 1; }));
}

} // namespace
} // namespace funnel::test

namespace funnel::test {
namespace {

// Issue 5's target faults, each played by the sink on its first `times` connections after
// `after_bytes`, while 12 clients stream through 3 links (4 KiB writes `pace` apart). Returns
// what the target got, once funnel has had everything acknowledged, has served one more client
// after the faults, and has stopped (so the sink has read every connection to its end).
delivery stream_through(relay& r, message_sink& sink, const sink_fault& fault, duration pace) {
    constexpr std::size_t clients = 12, per_client = 4000; // 290 KB a link
    auto senders = stream_lines(r, clients, per_client, pace);
    for (auto& t : senders)
        t.join();
    EXPECT_TRUE(poll_until([&] { return get(r.stats().messages_out) == clients * per_client; }))
        << get(r.stats().messages_out) << " acknowledged";
    EXPECT_EQ(sink.faults(), fault.times);
    EXPECT_GE(get(r.stats().upstream_reconnects), fault.times);

    // Still serving: a client that comes after the faults gets its message through.
    const std::string late = fault_line(clients, 0);
    conn after = r.connect();
    after.write_all(late + "\n");
    after.shutdown_send();
    EXPECT_EQ(after.wait_for_end(), conn::outcome::eof);
    EXPECT_TRUE(poll_until([&] {
        for (const auto& s : sink.streams())
            if (s.find(late + "\n") != std::string::npos)
                return true;
        return false;
    })) << r.log_text();

    r.stop();
    EXPECT_TRUE(poll_until([&] { return sink.open_connections() == 0; }));
    auto streams = sink.streams();
    for (auto& s : streams) // the late client is no part of the tally
        if (const auto at = s.find(late + "\n"); at != std::string::npos)
            s.erase(at, late.size() + 1);
    const delivery d = tally(streams, clients, per_client);
    std::cout << d << "; " << get(r.stats().messages_resent) << " resent, "
              << get(r.stats().upstream_reconnects) << " reconnects\n";
    return d;
}

// The target resets (RST) each of its first 6 connections after reading 32 KiB of it, in the
// middle of funnel's writes. funnel reconnects each time and writes again, whole, every message
// the target's kernel had not acknowledged. What the kernel acknowledged and the target never
// read is lost, as with any TCP sender: at most its receive buffer per reset (fixed small here),
// plus the message the reset cut. Nothing else is missing, no whole line is damaged (a message
// cut by a reset is never continued on the next connection), each client's order holds, and
// every duplicate is one funnel counted as resent.
TEST(Message, TargetResettingMidWriteRepeatedlyLosesAtMostItsUnreadReceiveBuffers) {
    constexpr int receive_buffer = 4096;
    const sink_fault fault{sink_fault::kind::reset, 32 << 10, 6};
    message_sink sink(0, receive_buffer, fault);
    relay r(message_config(sink.endpoint(), framing::line));
    // All at once: a reset ends the write in flight too, so each connection gets its 32 KiB.
    const delivery d = stream_through(r, sink, fault, duration::zero());
    EXPECT_GT(get(r.stats().messages_resent), 0u); // the unacknowledged tail of each connection
    EXPECT_EQ(d.malformed, 0u) << d;
    EXPECT_EQ(d.backwards, 0u) << d;
    EXPECT_LE(d.cut, fault.times) << d;
    const std::size_t longest = fault_line(99, 9999).size() + 1;
    EXPECT_LE(d.missing_bytes, fault.times * (2 * receive_buffer + longest)) << d;
    EXPECT_LE(d.duplicates, get(r.stats().messages_resent)) << d;
}

// The target closes each of its first 6 connections (FIN) after reading 32 KiB of it, and reads
// on until funnel closes too. funnel finishes the write in flight, so no connection ends inside
// a message, and writes again on a new connection whatever was not acknowledged: every message
// arrives, in each client's order, and every duplicate is one funnel counted as resent. (Here
// `resent` is often 0: the target reads on, so its kernel has acknowledged nearly everything by
// the time funnel gives the connection up; the faults show in the sink's count and the
// reconnects.)
TEST(Message, TargetClosingAfterNBytesRepeatedlyGetsEverythingAndNoCutMessage) {
    const sink_fault fault{sink_fault::kind::close, 32 << 10, 6};
    message_sink sink(0, 0, fault);
    relay r(message_config(sink.endpoint(), framing::line));
    // Paced over about 0.4 s: the write in flight when the FIN comes is finished, and had the
    // clients sent everything at once, that one write could carry all that is left.
    const delivery d = stream_through(r, sink, fault, 20ms);
    EXPECT_EQ(d.missing, 0u) << d;
    EXPECT_EQ(d.cut, 0u) << d;
    EXPECT_EQ(d.malformed, 0u) << d;
    EXPECT_EQ(d.backwards, 0u) << d;
    EXPECT_LE(d.duplicates, get(r.stats().messages_resent)) << d;
}

// Past --max-connections, message mode closes each extra client at once, before reading
// anything, and counts it refused; the admitted clients are untouched and deliver everything.
TEST(Message, MaxConnectionsRefusesTheExtraClientsAndTheAdmittedDeliverEverything) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::line);
    c.max_connections = 2;
    relay r(c);
    std::vector<conn> admitted;
    admitted.push_back(r.connect());
    admitted.push_back(r.connect());
    ASSERT_TRUE(poll_until([&] { return get(r.stats().connections_accepted) == 2; }));
    std::vector<conn> extra;
    for (int i = 0; i < 3; ++i)
        extra.push_back(r.connect());
    for (auto& e : extra) // idle-timeout is off: only a refusal closes them
        EXPECT_EQ(e.wait_for_end(5s), conn::outcome::eof);
    EXPECT_EQ(get(r.stats().refused(refusal::max_connections)), 3u);
    EXPECT_EQ(get(r.stats().connections_accepted), 2u);
    EXPECT_TRUE(r.logged("--max-connections 2 reached")) << r.log_text();

    std::vector<std::vector<std::string>> sent(admitted.size());
    for (std::size_t i = 0; i < admitted.size(); ++i) {
        std::string wire;
        for (std::size_t s = 0; s < 1000; ++s) {
            sent[i].push_back(fault_line(i, s));
            wire += sent[i].back() + "\n";
        }
        admitted[i].write_all(wire);
        admitted[i].shutdown_send();
    }
    for (auto& a : admitted)
        EXPECT_EQ(a.wait_for_end(), conn::outcome::eof);
    expect_all_delivered(sink, framing::line, sent);
}

// A client whose host vanishes sends no FIN and no RST: its connection just goes quiet. funnel
// never writes to clients in message mode and sets no keepalive, so to funnel that is exactly a
// client that stops sending in the middle of a message and keeps its socket open, which is how
// it is played here (the test holds the descriptor and never closes it). --idle-timeout reaps it
// (counted as an idle timeout, its unfinished message as truncated) while the others stream on
// and deliver everything, whole, once and in order.
// Message.IdleTimeoutInsideAMessageCountsItTruncated covers the same client alone.
TEST(Message, AClientThatVanishesMidMessageIsReapedByTheIdleTimeoutAndTheOthersDeliverAll) {
    message_sink sink;
    auto c = message_config(sink.endpoint(), framing::line);
    c.idle_timeout = config::seconds(1); // the others, however slow the machine, are never idle
    relay r(c);
    constexpr std::size_t others = 6, per_client = 2000;
    conn vanished = r.connect();
    vanished.write_all(fault_line(others, 0) + "\n" + fault_line(others, 1).substr(0, 9));
    auto senders = stream_lines(r, others, per_client);
    for (auto& t : senders)
        t.join();
    EXPECT_EQ(vanished.wait_for_end(5s), conn::outcome::eof);
    EXPECT_EQ(get(r.stats().idle_timeouts), 1u);
    EXPECT_TRUE(poll_until([&] { return get(r.stats().messages_truncated) == 1; }));

    std::vector<std::vector<std::string>> sent(others + 1);
    for (std::size_t i = 0; i < others; ++i)
        for (std::size_t s = 0; s < per_client; ++s)
            sent[i].push_back(fault_line(i, s));
    sent[others].push_back(fault_line(others, 0));
    expect_all_delivered(sink, framing::line, sent);
}

} // namespace
} // namespace funnel::test
