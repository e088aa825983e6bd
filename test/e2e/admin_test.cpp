// The admin endpoint (--metrics-listen) of an in-process relay: /metrics against what a real
// target received, /healthz, /readyz following the target and the budget, 404/405, and bad
// admin clients that must not disturb the relay.

#include "funnel/admin/http_server.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "support/loopback.hpp"
#include "support/message_sink.hpp"
#include "support/relay_fixture.hpp"

namespace funnel::test {
namespace {

struct http_answer {
    int status = 0;
    std::string head; // status line and headers
    std::string body;
};

// Sends `request` as it is and reads the answer to EOF (the admin endpoint closes after one).
http_answer http_exchange(const tcp::endpoint& ep, const std::string& request) {
    conn c = conn::connect(ep);
    c.write_all(request);
    const std::string all = c.read_to_eof(5s);
    http_answer a;
    const auto end_of_head = all.find("\r\n\r\n");
    if (end_of_head == std::string::npos || !all.starts_with("HTTP/1.1 "))
        return a;
    a.head = all.substr(0, end_of_head);
    a.body = all.substr(end_of_head + 4);
    a.status = std::stoi(all.substr(9, 3));
    return a;
}

http_answer http_get(const tcp::endpoint& ep, const std::string& path) {
    return http_exchange(ep, "GET " + path + " HTTP/1.1\r\nHost: funnel\r\n\r\n");
}

// The value of the sample `name` (with its labels, as exposed) in an exposition; -1 if absent.
double sample(const std::string& exposition, const std::string& name) {
    std::istringstream in(exposition);
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(name + " "))
            return std::stod(line.substr(name.size() + 1));
    return -1;
}

config with_admin(config c) {
    c.metrics_listen = host_port{"127.0.0.1", 0};
    return c;
}

config message_config(const tcp::endpoint& target) {
    auto c = with_admin(relay_config(target));
    c.mode = relay_mode::message;
    c.upstream_connections = 3;
    c.reconnect_backoff_min = std::chrono::milliseconds(5);
    c.reconnect_backoff_max = std::chrono::milliseconds(50);
    c.level = log_level::info;
    return c;
}

tcp::endpoint admin_of(relay& r) {
    const auto ep = r.service().admin_endpoint();
    EXPECT_TRUE(ep.has_value());
    return ep.value_or(tcp::endpoint{});
}

// A port nothing listens on (bound, then closed): a target that is down.
std::uint16_t unused_port() {
    target_server probe;
    return probe.endpoint().port();
}

// `clients` clients each send `per_client` lines and close; returns the bytes on the wire.
std::uint64_t send_lines(relay& r, std::size_t clients, std::size_t per_client) {
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < clients; ++i) {
        conn client = r.connect();
        std::string wire;
        for (std::size_t s = 0; s < per_client; ++s)
            wire += "c" + std::to_string(i) + " s" + std::to_string(s) + " payload\n";
        client.write_all(wire);
        client.shutdown_send();
        client.wait_for_end();
        bytes += wire.size();
    }
    return bytes;
}

TEST(Admin, MetricsCountWhatTheSinkReceived) {
    message_sink sink;
    relay r(message_config(sink.endpoint()));
    constexpr std::size_t clients = 8, per_client = 500;
    const std::uint64_t bytes = send_lines(r, clients, per_client);
    ASSERT_TRUE(poll_until([&] { return sink.bytes() == bytes; })) << sink.bytes();
    // Sent counts what the target's kernel acknowledged; wait for the last acknowledgement.
    ASSERT_TRUE(
        poll_until([&] { return metrics::get(r.stats().messages_out) == clients * per_client; }));

    const auto a = http_get(admin_of(r), "/metrics");
    ASSERT_EQ(a.status, 200) << a.head;
    EXPECT_NE(a.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << a.head;
    EXPECT_NE(a.head.find("Connection: close"), std::string::npos) << a.head;
    const std::string& m = a.body;
    EXPECT_EQ(sample(m, "funnel_messages_received_total"), clients * per_client);
    EXPECT_EQ(sample(m, "funnel_messages_sent_total"), clients * per_client);
    EXPECT_EQ(sample(m, "funnel_bytes_received_total"), static_cast<double>(sink.bytes()));
    EXPECT_EQ(sample(m, "funnel_bytes_sent_total"), static_cast<double>(sink.bytes()));
    EXPECT_EQ(sample(m, "funnel_connections_accepted_total"), clients);
    EXPECT_EQ(sample(m, "funnel_messages_resent_total"), 0);
    EXPECT_EQ(sample(m, "funnel_upstream_connections_up"), 3);
    // Each message is observed once on its way out (nothing was written twice).
    EXPECT_EQ(sample(m, "funnel_forward_latency_seconds_count"), clients * per_client);
    EXPECT_EQ(sample(m, "funnel_forward_latency_seconds_bucket{le=\"+Inf\"}"),
              clients * per_client);
    EXPECT_GT(sample(m, "funnel_forward_latency_seconds_sum"), 0);
    EXPECT_EQ(sample(m, "funnel_write_batch_bytes_sum"), static_cast<double>(sink.bytes()));
    EXPECT_EQ(sample(m, "funnel_build_info{version=\"" FUNNEL_VERSION "\"}"), 1);
    EXPECT_EQ(sample(m, "funnel_connections_refused_total{reason=\"max_connections\"}"), 0);
}

TEST(Admin, StreamModeCountsBothDirections) {
    target_server target;
    relay r(with_admin(relay_config(target.endpoint())));
    conn client = r.connect();
    conn server = target.accept();
    client.write_all("hello target");
    EXPECT_EQ(server.read_exact(12), "hello target");
    server.write_all("hi");
    EXPECT_EQ(client.read_exact(2), "hi");
    // A write is counted when it completes, which may come just after the peer read it.
    std::string m;
    ASSERT_TRUE(poll_until([&] {
        m = http_get(admin_of(r), "/metrics").body;
        return sample(m, "funnel_bytes_sent_total") == 12 &&
               sample(m, "funnel_reply_bytes_sent_total") == 2;
    })) << m;
    EXPECT_EQ(sample(m, "funnel_bytes_received_total"), 12);
    EXPECT_EQ(sample(m, "funnel_reply_bytes_received_total"), 2);
    EXPECT_EQ(sample(m, "funnel_connections_open"), 1);
    EXPECT_EQ(sample(m, "funnel_upstream_connections_up"), 1);
    EXPECT_EQ(sample(m, "funnel_forward_latency_seconds_count"), 1); // one read, one chunk
    EXPECT_EQ(sample(m, "funnel_write_batch_bytes_sum"), 12);
}

TEST(Admin, HealthzAnswersAndOtherPathsAndMethodsAreRefused) {
    message_sink sink;
    relay r(message_config(sink.endpoint()));
    const auto ep = admin_of(r);
    const auto health = http_get(ep, "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, "ok\n");
    EXPECT_EQ(http_get(ep, "/").status, 404);
    EXPECT_EQ(http_get(ep, "/metrics/extra").status, 404);
    const auto post =
        http_exchange(ep, "POST /metrics HTTP/1.1\r\nHost: f\r\nContent-Length: 2\r\n\r\nhi");
    EXPECT_EQ(post.status, 405);
    EXPECT_NE(post.head.find("Allow: GET"), std::string::npos) << post.head;
}

TEST(Admin, ReadyzIs503WhileTheTargetIsDownAndTheBudgetFullThen200) {
    const std::uint16_t port = unused_port();
    auto c = message_config(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    c.max_message_size = 1024;
    c.buffer_limit = 3 * config::min_read_size; // three read blocks
    relay r(c);
    const auto ep = admin_of(r);
    // The target is down, but the budget can hold data until it is back: ready.
    EXPECT_EQ(http_get(ep, "/readyz").status, 200);

    // Each client's read holds a block until the target acknowledges it: four fill three.
    std::vector<conn> clients;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(r.connect());
        clients.back().write_all("held " + std::to_string(i) + "\n");
    }
    ASSERT_TRUE(poll_until([&] { return r.service().target_buffers().waiting() > 0; }));
    const auto full = http_get(ep, "/readyz");
    EXPECT_EQ(full.status, 503);
    EXPECT_EQ(full.body, "no target connection is up and --buffer-limit is full\n");
    EXPECT_EQ(http_get(ep, "/healthz").status, 200); // alive all the same

    message_sink sink(port);
    ASSERT_TRUE(poll_until([&] { return http_get(ep, "/readyz").status == 200; }));
    ASSERT_TRUE(poll_until([&] { return sink.bytes() == 4 * 7; }));
}

TEST(Admin, StreamModeReadyzFollowsTheLastConnect) {
    const std::uint16_t port = unused_port();
    relay r(with_admin(relay_config(tcp::endpoint(net::ip::make_address("127.0.0.1"), port))));
    const auto ep = admin_of(r);
    EXPECT_EQ(http_get(ep, "/readyz").status, 200); // nothing tried yet
    conn refused = r.connect();
    EXPECT_EQ(refused.wait_for_end(), conn::outcome::reset);
    const auto down = http_get(ep, "/readyz");
    EXPECT_EQ(down.status, 503);
    EXPECT_EQ(down.body, "the last connection attempt to the target failed\n");

    target_server target(128, 0, port);
    conn client = r.connect();
    conn server = target.accept();
    // Ready again once funnel has seen the connect complete.
    EXPECT_TRUE(poll_until([&] { return http_get(ep, "/readyz").status == 200; }));
}

TEST(Admin, ReadyzIs503WhileDraining) {
    message_sink sink;
    relay r(message_config(sink.endpoint()));
    const auto ep = admin_of(r);
    conn client = r.connect(); // keeps the drain going
    client.write_all("one\n");
    ASSERT_TRUE(poll_until([&] { return sink.bytes() == 4; }));
    r.service().stop();
    ASSERT_TRUE(poll_until([&] { return http_get(ep, "/readyz").status == 503; }));
    EXPECT_EQ(http_get(ep, "/readyz").body, "draining: not accepting clients\n");
    EXPECT_EQ(http_get(ep, "/healthz").status, 200);
    client.close();
    r.stop();
}

TEST(Admin, BadAdminClientsDoNotDisturbRelaying) {
    message_sink sink;
    relay r(message_config(sink.endpoint()));
    const auto ep = admin_of(r);

    // Idle admin connections take every admin slot; one more is closed at once.
    std::vector<conn> idle;
    for (std::size_t i = 0; i < http_server::max_connections; ++i)
        idle.push_back(conn::connect(ep));
    ASSERT_TRUE(poll_until([&] {
        conn extra = conn::connect(ep);
        return extra.wait_for_end(2s) != conn::outcome::timeout;
    }));

    // Meanwhile the relay goes on.
    const std::uint64_t bytes = send_lines(r, 4, 200);
    ASSERT_TRUE(poll_until([&] { return sink.bytes() == bytes; }));
    idle.clear();

    // Garbage is answered 400, a request over the size limit 413; then the endpoint still works.
    ASSERT_TRUE(poll_until([&] { return http_get(ep, "/healthz").status == 200; }));
    EXPECT_EQ(http_exchange(ep, "\x01\x02 nonsense\r\n\r\n").status, 400);
    EXPECT_EQ(
        http_exchange(ep, "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n")
            .status,
        413);
    EXPECT_EQ(http_get(ep, "/healthz").status, 200);

    const std::uint64_t more = send_lines(r, 4, 200);
    ASSERT_TRUE(poll_until([&] { return sink.bytes() == bytes + more; }));
    EXPECT_EQ(metrics::get(r.stats().messages_in), 8u * 200);
}

} // namespace
} // namespace funnel::test
