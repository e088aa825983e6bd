// Message mode end to end: many clients, framed messages, a few upstream connections.

#include <gtest/gtest.h>

#include <map>
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
    std::size_t total = 0;
    for (const auto& s : sent)
        total += s.size();
    std::vector<std::string> received;
    ASSERT_TRUE(poll_until([&] {
        received.clear();
        for (const auto& stream : sink.streams())
            for (auto& m : f == framing::line ? split_lines(stream) : split_frames(stream))
                received.push_back(std::move(m));
        return received.size() >= total;
    })) << received.size()
        << " of " << total << " messages";
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
    run_many_clients(framing::line, 64, 2000, 200);
}

TEST(Message, LengthFramedFrom64ClientsArriveWholeOnceAndInOrder) {
    run_many_clients(framing::length, 64, 2000, 300);
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
}

TEST(Message, TargetDownAtStartGetsEverythingOnceUp) {
    std::uint16_t port = 0;
    {
        target_server probe;
        port = probe.endpoint().port();
    }
    auto c = message_config(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), framing::line);
    relay r(c);
    std::vector<std::vector<std::string>> sent(8);
    for (std::size_t i = 0; i < sent.size(); ++i) {
        conn client = r.connect();
        std::string wire;
        for (std::size_t s = 0; s < 100; ++s) {
            sent[i].push_back("c" + std::to_string(i) + " s" + std::to_string(s));
            wire += sent[i].back() + "\n";
        }
        client.write_all(wire);
        client.shutdown_send();
        client.wait_for_end();
    }
    ASSERT_TRUE(poll_until([&] { return get(r.stats().messages_in) == 800; }));
    EXPECT_TRUE(r.logged("cannot connect"));
    message_sink sink(port);
    expect_all_delivered(sink, framing::line, sent);
}

TEST(Message, StopDeliversWhatIsHeldBeforeExiting) {
    message_sink sink;
    relay r(message_config(sink.endpoint(), framing::line));
    std::vector<std::vector<std::string>> sent(4);
    for (std::size_t i = 0; i < sent.size(); ++i) {
        conn client = r.connect();
        std::string wire;
        for (std::size_t s = 0; s < 1000; ++s) {
            sent[i].push_back("c" + std::to_string(i) + " s" + std::to_string(s));
            wire += sent[i].back() + "\n";
        }
        client.write_all(wire);
        client.shutdown_send();
    }
    r.stop();
    expect_all_delivered(sink, framing::line, sent);
}

} // namespace
} // namespace funnel::test
