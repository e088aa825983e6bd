#pragma once
// access_policy: whether a client address may connect, by --allow and --deny.
//
// A --deny block wins over an --allow block; when any --allow is given, a client in none of
// them is refused. An IPv4-mapped IPv6 client (::ffff:a.b.c.d) is judged as the IPv4 address it
// carries, so IPv4 rules hold for it whichever socket accepted it.
//
// Judging runs on every accept: the blocks are compiled into masks once, and judge() only
// compares integers (no allocation, no text). The lists are scanned in order, which is cheap for
// the few dozen blocks an access list holds.
//
// Thread-safety: immutable after construction; judge() may be called from any thread.

#include "funnel/config/config.hpp"
#include "funnel/net.hpp"

#include <cstdint>
#include <vector>

namespace funnel {

// The address a client is judged and counted by: IPv4-mapped IPv6 as plain IPv4.
net::ip::address unmapped(const net::ip::address& a);

class access_policy {
public:
    enum class verdict {
        admitted,
        denied,     // in a --deny block
        not_allowed // --allow given, and in none of its blocks
    };

    access_policy(const std::vector<cidr>& allow, const std::vector<cidr>& deny);

    verdict judge(const net::ip::address& client) const;

private:
    struct v4_block {
        std::uint32_t network;
        std::uint32_t mask;
    };
    struct v6_block {
        std::uint64_t network[2]; // high, low 64 bits
        std::uint64_t mask[2];
    };
    struct block_list {
        std::vector<v4_block> v4;
        std::vector<v6_block> v6;

        explicit block_list(const std::vector<cidr>& blocks);
        bool empty() const { return v4.empty() && v6.empty(); }
        bool contains(const net::ip::address& a) const; // `a` already unmapped
    };

    block_list allow_;
    block_list deny_;
};

} // namespace funnel
