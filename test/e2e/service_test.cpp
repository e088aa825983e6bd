// The service around the sessions: listeners, name resolution, the stats line, log rate limits.

#include <gtest/gtest.h>

#include "support/loopback.hpp"
#include "support/relay_fixture.hpp"

namespace funnel::test {
namespace {

std::size_t count_lines_with(const std::string& log, std::string_view text) {
    std::size_t n = 0;
    for (std::size_t pos = log.find(text); pos != std::string::npos; pos = log.find(text, pos + 1))
        ++n;
    return n;
}

TEST(Service, TargetGivenByNameIsResolvedWhenConnecting) {
    target_server target;
    auto c = relay_config(target.endpoint());
    c.target.host = "localhost";
    relay r(c);
    conn client = r.connect();
    conn upstream = target.accept();
    client.write_all("by name");
    EXPECT_EQ(upstream.read_exact(7), "by name");
}

TEST(Service, UnresolvableTargetClosesTheClientAndKeepsServing) {
    auto c = relay_config(tcp::endpoint(net::ip::make_address("127.0.0.1"), 9));
    c.target.host = "no-such-host.invalid";
    relay r(c);
    conn client = r.connect();
    EXPECT_EQ(client.wait_for_end(), conn::outcome::reset);
    EXPECT_EQ(metrics::get(r.stats().connect_failures), 1u);
    EXPECT_TRUE(r.logged("no-such-host.invalid")) << r.log_text();
}

TEST(Service, ListensOnEveryAddressGiven) {
    target_server target;
    auto c = relay_config(target.endpoint());
    c.listen = {host_port{"127.0.0.1", 0}, host_port{"127.0.0.2", 0}};
    relay r(c);
    const auto endpoints = r.service().local_endpoints();
    ASSERT_EQ(endpoints.size(), 2u);
    for (const auto& ep : endpoints) {
        conn client = conn::connect(ep);
        conn upstream = target.accept();
        client.write_all("x");
        EXPECT_EQ(upstream.read_exact(1), "x");
    }
}

TEST(Service, StatsLineIsLoggedEveryInterval) {
    target_server target;
    auto c = relay_config(target.endpoint());
    c.stats_interval = config::seconds(0.05);
    relay r(c);
    conn client = r.connect();
    conn upstream = target.accept();
    client.write_all("12345");
    EXPECT_EQ(upstream.read_exact(5), "12345");
    EXPECT_TRUE(poll_until([&] { return r.logged("forwarded=5 "); })) << r.log_text();
    EXPECT_TRUE(poll_until([&] { return count_lines_with(r.log_text(), "stats:") >= 2; }));
}

TEST(Service, AFailureStormIsLoggedAtARateLimit) {
    tcp::endpoint nothing_there;
    {
        target_server closed_port;
        nothing_there = closed_port.endpoint();
    }
    relay r(relay_config(nothing_there));
    constexpr std::size_t clients = 40;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < clients; ++i) {
        conn client = r.connect();
        EXPECT_EQ(client.wait_for_end(), conn::outcome::reset);
    }
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
            .count();
    EXPECT_EQ(metrics::get(r.stats().connect_failures), clients);
    // The service allows 5 such warnings per second.
    const auto warnings =
        count_lines_with(r.log_text(), "unreachable: Connection refused; closing");
    EXPECT_GE(warnings, 1u);
    EXPECT_LE(warnings, 5u * static_cast<std::size_t>(seconds + 1))
        << clients << " failures in " << seconds << "s logged " << warnings << " lines";
}

} // namespace
} // namespace funnel::test
