#include "funnel/config/parse.hpp"
#include "funnel/server/access_policy.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace funnel {
namespace {

using verdict = access_policy::verdict;

std::vector<cidr> blocks(const std::vector<std::string>& texts) {
    std::vector<cidr> out;
    for (const auto& t : texts)
        out.push_back(parse_cidr(t, "--test"));
    return out;
}

verdict judge(const access_policy& p, const char* address) {
    return p.judge(net::ip::make_address(address));
}

TEST(AccessPolicy, NoRulesAdmitsEveryone) {
    const access_policy p({}, {});
    for (const char* a : {"0.0.0.0", "10.1.2.3", "255.255.255.255", "::", "::1", "2001:db8::1"})
        EXPECT_EQ(judge(p, a), verdict::admitted) << a;
}

TEST(AccessPolicy, Ipv4PrefixBoundaries) {
    const access_policy p({}, blocks({"10.0.0.0/8", "192.168.1.128/25", "172.16.0.1"}));
    EXPECT_EQ(judge(p, "10.0.0.0"), verdict::denied);
    EXPECT_EQ(judge(p, "10.255.255.255"), verdict::denied);
    EXPECT_EQ(judge(p, "9.255.255.255"), verdict::admitted);
    EXPECT_EQ(judge(p, "11.0.0.0"), verdict::admitted);
    EXPECT_EQ(judge(p, "192.168.1.127"), verdict::admitted);
    EXPECT_EQ(judge(p, "192.168.1.128"), verdict::denied);
    EXPECT_EQ(judge(p, "192.168.1.255"), verdict::denied);
    // A bare address is one host.
    EXPECT_EQ(judge(p, "172.16.0.1"), verdict::denied);
    EXPECT_EQ(judge(p, "172.16.0.0"), verdict::admitted);
    EXPECT_EQ(judge(p, "172.16.0.2"), verdict::admitted);
    // IPv4 rules never match IPv6 clients other than mapped ones.
    EXPECT_EQ(judge(p, "::a00:1"), verdict::admitted);
}

TEST(AccessPolicy, Ipv6PrefixBoundariesAcrossBothHalves) {
    const access_policy p({}, blocks({"2001:db8::/32", "fd00::1:0/112", "::1"}));
    EXPECT_EQ(judge(p, "2001:db8::"), verdict::denied);
    EXPECT_EQ(judge(p, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), verdict::denied);
    EXPECT_EQ(judge(p, "2001:db9::"), verdict::admitted);
    EXPECT_EQ(judge(p, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"), verdict::admitted);
    // /112 ends in the low 64 bits.
    EXPECT_EQ(judge(p, "fd00::1:0"), verdict::denied);
    EXPECT_EQ(judge(p, "fd00::1:ffff"), verdict::denied);
    EXPECT_EQ(judge(p, "fd00::2:0"), verdict::admitted);
    EXPECT_EQ(judge(p, "fd00:0:0:1::1:0"), verdict::admitted); // differs in the high half
    EXPECT_EQ(judge(p, "::1"), verdict::denied);
    EXPECT_EQ(judge(p, "::2"), verdict::admitted);
    EXPECT_EQ(judge(p, "127.0.0.1"), verdict::admitted);
}

TEST(AccessPolicy, ZeroPrefixesMatchTheirWholeFamily) {
    const access_policy v4({}, blocks({"0.0.0.0/0"}));
    EXPECT_EQ(judge(v4, "1.2.3.4"), verdict::denied);
    EXPECT_EQ(judge(v4, "::1"), verdict::admitted);
    const access_policy v6({}, blocks({"::/0"}));
    EXPECT_EQ(judge(v6, "::1"), verdict::denied);
    EXPECT_EQ(judge(v6, "1.2.3.4"), verdict::admitted);
}

TEST(AccessPolicy, AllowListRefusesEveryoneElse) {
    const access_policy p(blocks({"10.0.0.0/8", "::1"}), {});
    EXPECT_EQ(judge(p, "10.9.8.7"), verdict::admitted);
    EXPECT_EQ(judge(p, "::1"), verdict::admitted);
    EXPECT_EQ(judge(p, "127.0.0.1"), verdict::not_allowed);
    EXPECT_EQ(judge(p, "::2"), verdict::not_allowed);
}

TEST(AccessPolicy, DenyWinsOverAllow) {
    const access_policy p(blocks({"10.0.0.0/8"}), blocks({"10.1.0.0/16"}));
    EXPECT_EQ(judge(p, "10.2.0.1"), verdict::admitted);
    EXPECT_EQ(judge(p, "10.1.0.1"), verdict::denied);
    EXPECT_EQ(judge(p, "11.0.0.1"), verdict::not_allowed);
    // The same block in both lists: denied.
    const access_policy same(blocks({"10.0.0.0/8"}), blocks({"10.0.0.0/8"}));
    EXPECT_EQ(judge(same, "10.0.0.1"), verdict::denied);
}

TEST(AccessPolicy, MappedClientsAreJudgedByIpv4Rules) {
    const access_policy p(blocks({"10.0.0.0/8"}), blocks({"10.1.0.0/16"}));
    EXPECT_EQ(judge(p, "::ffff:10.2.0.1"), verdict::admitted);
    EXPECT_EQ(judge(p, "::ffff:10.1.0.1"), verdict::denied);
    EXPECT_EQ(judge(p, "::ffff:11.0.0.1"), verdict::not_allowed);
    // A mapped rule names IPv4 addresses too, so it matches plain IPv4 clients.
    const access_policy mapped({}, blocks({"::ffff:192.0.2.0/120"}));
    EXPECT_EQ(judge(mapped, "192.0.2.7"), verdict::denied);
    EXPECT_EQ(judge(mapped, "::ffff:192.0.2.7"), verdict::denied);
    EXPECT_EQ(judge(mapped, "192.0.3.7"), verdict::admitted);
}

TEST(Unmapped, OnlyMappedAddressesChange) {
    EXPECT_EQ(unmapped(net::ip::make_address("::ffff:1.2.3.4")), net::ip::make_address("1.2.3.4"));
    EXPECT_EQ(unmapped(net::ip::make_address("1.2.3.4")), net::ip::make_address("1.2.3.4"));
    EXPECT_EQ(unmapped(net::ip::make_address("::1")), net::ip::make_address("::1"));
    // IPv4-compatible (deprecated) addresses are not mapped ones.
    EXPECT_TRUE(unmapped(net::ip::make_address("::1.2.3.4")).is_v6());
}

} // namespace
} // namespace funnel
