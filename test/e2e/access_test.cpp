// Access control and overload end to end: --allow/--deny, --max-connections-per-ip and
// --refuse-when-full on the real service, with clients on 127.0.0.1 and [::1].

#include "funnel/config/parse.hpp"

#include <gtest/gtest.h>

#include <exception>
#include <optional>
#include <thread>

#include "support/loopback.hpp"
#include "support/relay_fixture.hpp"

namespace funnel::test {
namespace {

std::uint64_t get(const metrics::counter& c) {
    return metrics::get(c);
}

bool ipv6_loopback_available() {
    error_code ec;
    tcp::acceptor probe(test_io());
    probe.open(tcp::v6(), ec);
    if (!ec)
        probe.bind(tcp::endpoint(net::ip::address_v6::loopback(), 0), ec);
    return !ec;
}

std::size_t count_of(const std::string& log, std::string_view text) {
    std::size_t n = 0;
    for (std::size_t pos = log.find(text); pos != std::string::npos; pos = log.find(text, pos + 1))
        ++n;
    return n;
}

tcp::endpoint listening_on(relay& r, bool v6) {
    for (const auto& ep : r.service().local_endpoints())
        if (ep.address().is_v6() == v6)
            return ep;
    ADD_FAILURE() << "no " << (v6 ? "IPv6" : "IPv4") << " listener";
    return {};
}

TEST(Access, DeniedIpv4ClientIsClosedWhileAnIpv6ClientPasses) {
    if (!ipv6_loopback_available())
        GTEST_SKIP() << "IPv6 loopback [::1] is not available here";
    target_server target;
    auto c = relay_config(target.endpoint());
    c.listen = {host_port{"127.0.0.1", 0}, host_port{"::1", 0}};
    c.deny = {parse_cidr("127.0.0.0/8", "--deny")};
    relay r(c);

    conn denied = conn::connect(listening_on(r, false));
    denied.write_all("must not arrive");
    EXPECT_NE(denied.wait_for_end(), conn::outcome::timeout);
    EXPECT_EQ(get(r.stats().refused(refusal::access_denied)), 1u);
    EXPECT_EQ(get(r.stats().connections_accepted), 0u);
    EXPECT_TRUE(r.logged("refusing a connection from 127.0.0.1:")) << r.log_text();
    EXPECT_TRUE(r.logged("in a --deny block")) << r.log_text();

    conn allowed = conn::connect(listening_on(r, true));
    conn upstream = target.accept();
    allowed.write_all("from ::1");
    EXPECT_EQ(upstream.read_exact(8), "from ::1");
    EXPECT_EQ(get(r.stats().connections_accepted), 1u);
    // The refused client's bytes never reached the target, nor did a connection for it.
    EXPECT_FALSE(target.pending(50ms));
}

TEST(Access, AllowOnlyIpv6LoopbackRefusesIpv4Clients) {
    target_server target;
    auto c = relay_config(target.endpoint());
    c.allow = {parse_cidr("::1/128", "--allow")};
    relay r(c);
    for (int i = 0; i < 3; ++i) {
        conn client = r.connect();
        EXPECT_NE(client.wait_for_end(), conn::outcome::timeout);
    }
    EXPECT_EQ(get(r.stats().refused(refusal::access_denied)), 3u);
    EXPECT_EQ(get(r.stats().connections_accepted), 0u);
    EXPECT_TRUE(r.logged("not in any --allow block")) << r.log_text();
    EXPECT_FALSE(target.pending(50ms));
}

TEST(Access, PerIpLimitRefusesTheThirdAndAdmitsAgainOnceOneCloses) {
    target_server target;
    auto c = relay_config(target.endpoint());
    c.max_connections_per_ip = 2;
    relay r(c);
    conn a = r.connect();
    conn up_a = target.accept(); // one at a time: the pool connects pairs in any order
    conn b = r.connect();
    conn up_b = target.accept();

    conn third = r.connect();
    EXPECT_EQ(third.wait_for_end(), conn::outcome::eof);
    EXPECT_EQ(get(r.stats().refused(refusal::per_ip_limit)), 1u);
    EXPECT_TRUE(r.logged("--max-connections-per-ip 2 reached by this address")) << r.log_text();
    EXPECT_FALSE(target.pending(50ms));

    // Once a's session is gone (both directions closed), 127.0.0.1 has a slot again. The count
    // drops when the io thread hears of the session's end, a moment after the target end sees
    // it: each try waits until the relay has either admitted or refused it.
    a.close();
    EXPECT_EQ(up_a.wait_for_end(), conn::outcome::eof);
    up_a.close();
    std::optional<conn> again;
    ASSERT_TRUE(poll_until([&] {
        const auto accepted = get(r.stats().connections_accepted);
        const auto refused = get(r.stats().refused(refusal::per_ip_limit));
        conn attempt = r.connect();
        EXPECT_TRUE(poll_until([&] {
            return get(r.stats().connections_accepted) > accepted ||
                   get(r.stats().refused(refusal::per_ip_limit)) > refused;
        }));
        if (get(r.stats().connections_accepted) > accepted)
            again.emplace(std::move(attempt));
        return again.has_value();
    }));
    conn up_again = target.accept();
    again->write_all("again");
    b.write_all("b");
    EXPECT_EQ(up_again.read_exact(5), "again");
    EXPECT_EQ(up_b.read_exact(1), "b");
    EXPECT_EQ(get(r.stats().connections_accepted), 3u);
}

// A target that does not read and a one-block budget: one client's stream exhausts it.
struct stalled_relay {
    static config make(const tcp::endpoint& target, bool refuse_when_full) {
        auto c = relay_config(target);
        c.buffer_limit = config::min_read_size;
        c.refuse_when_full = refuse_when_full;
        return c;
    }

    // More than the kernel buffers between the client and the target hold (the relay's send
    // buffer grows to 4 MiB), so that the relay's one block stays held.
    static constexpr std::size_t payload_size = 8 << 20;

    explicit stalled_relay(bool refuse_when_full)
        : target(128, 64 << 10), r(make(target.endpoint(), refuse_when_full)),
          payload(random_bytes(payload_size, 42)), client(r.connect()), upstream(target.accept()) {
        writer = std::thread([this] {
            try {
                client.write_all(payload);
                client.shutdown_send();
            } catch (const std::exception& e) {
                ADD_FAILURE() << "writer: " << e.what();
            }
        });
    }
    ~stalled_relay() {
        if (writer.joinable()) { // a failed test left the writer blocked: end it
            upstream.reset();
            writer.join();
        }
    }
    // The target reads everything again; the writer finishes.
    void drain_target() {
        EXPECT_TRUE(upstream.read_exact(payload.size()) == payload);
        writer.join();
    }

    target_server target;
    relay r;
    std::string payload;
    conn client;
    conn upstream;
    std::thread writer;
};

// Every pause logged so far has not been followed by its resume.
bool accepting_paused(relay& r) {
    const std::string log = r.log_text();
    return count_of(log, "not accepting new connections (--refuse-when-full)") >
           count_of(log, "accepting new connections again");
}

TEST(Access, RefuseWhenFullStopsAcceptingUntilTheBudgetHasRoom) {
    stalled_relay s(true);
    relay& r = s.r;
    // While the kernel buffers on the way fill, the budget may run out and come back a few times
    // (each an episode); once the flow has stalled it stays exhausted.
    ASSERT_TRUE(poll_until_steady([&] { return get(r.stats().bytes_from_clients); }, 300ms));
    ASSERT_TRUE(poll_until([&] { return accepting_paused(r); }))
        << "held " << r.service().target_buffers().bytes_held() << "\n"
        << r.log_text();
    EXPECT_GE(get(r.stats().accept_pauses), 1u);
    const std::uint64_t accepted = get(r.stats().connections_accepted);
    EXPECT_EQ(accepted, 1u);

    // The kernel completes the connection (backlog), but funnel does not take it.
    conn late = r.connect();
    late.write_all("late");
    EXPECT_FALSE(s.target.pending(200ms));
    EXPECT_EQ(get(r.stats().connections_accepted), accepted);
    EXPECT_EQ(r.stats().refused_total(), 0u);
    EXPECT_TRUE(accepting_paused(r));

    // The target reads again: the budget has room, accepting resumes, and the waiting client
    // is taken in with what it sent.
    s.drain_target();
    conn late_upstream = s.target.accept();
    EXPECT_EQ(late_upstream.read_exact(4), "late");
    EXPECT_EQ(get(r.stats().connections_accepted), 2u);
    // While the target drains, the budget may fill again: more episodes are fine, none missing.
    EXPECT_GE(get(r.stats().accept_pauses), 1u);
    EXPECT_TRUE(r.logged("--buffer-limit has room again after ")) << r.log_text();
}

TEST(Access, WithoutRefuseWhenFullAFullBudgetIsLoggedAndClientsAreStillTaken) {
    stalled_relay s(false);
    relay& r = s.r;
    ASSERT_TRUE(poll_until([&] { return r.logged("client reads paused"); })) << r.log_text();
    EXPECT_FALSE(r.logged("not accepting"));

    conn late = r.connect();
    conn late_upstream = s.target.accept();
    EXPECT_EQ(get(r.stats().connections_accepted), 2u);
    EXPECT_EQ(get(r.stats().accept_pauses), 0u);

    s.drain_target();
    late.write_all("late");
    EXPECT_EQ(late_upstream.read_exact(4), "late");
    EXPECT_TRUE(poll_until([&] { return r.logged("--buffer-limit has room again after "); }))
        << r.log_text();
}

} // namespace
} // namespace funnel::test
