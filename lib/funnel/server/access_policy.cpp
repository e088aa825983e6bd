#include "funnel/server/access_policy.hpp"

#include <algorithm>
#include <array>

namespace funnel {

namespace {

// Big-endian bytes [from, from + n) as an unsigned integer.
template <class T, std::size_t N>
T load_be(const std::array<std::uint8_t, N>& bytes, std::size_t from) {
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
        v = static_cast<T>((v << 8) | bytes[from + i]);
    return v;
}

// The first `bits` bits set, of a `width`-bit integer (bits may be 0 or width).
template <class T> T leading_ones(unsigned bits) {
    constexpr unsigned width = sizeof(T) * 8;
    if (bits == 0)
        return 0;
    return static_cast<T>(~T{0} << (width - std::min(bits, width)));
}

} // namespace

net::ip::address unmapped(const net::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
    return a;
}

access_policy::block_list::block_list(const std::vector<cidr>& blocks) {
    for (const cidr& b : blocks) {
        if (!b.v6) {
            v4.push_back(
                {load_be<std::uint32_t>(b.bytes, 0), leading_ones<std::uint32_t>(b.prefix)});
            continue;
        }
        const unsigned high_bits = std::min(b.prefix, 64u);
        const unsigned low_bits = b.prefix - high_bits;
        v6.push_back(
            {{load_be<std::uint64_t>(b.bytes, 0), load_be<std::uint64_t>(b.bytes, 8)},
             {leading_ones<std::uint64_t>(high_bits), leading_ones<std::uint64_t>(low_bits)}});
    }
}

bool access_policy::block_list::contains(const net::ip::address& a) const {
    if (a.is_v4()) {
        const std::uint32_t x = a.to_v4().to_uint();
        return std::any_of(v4.begin(), v4.end(),
                           [x](const v4_block& b) { return (x & b.mask) == b.network; });
    }
    const auto bytes = a.to_v6().to_bytes();
    const std::uint64_t high = load_be<std::uint64_t>(bytes, 0);
    const std::uint64_t low = load_be<std::uint64_t>(bytes, 8);
    return std::any_of(v6.begin(), v6.end(), [high, low](const v6_block& b) {
        return (high & b.mask[0]) == b.network[0] && (low & b.mask[1]) == b.network[1];
    });
}

access_policy::access_policy(const std::vector<cidr>& allow, const std::vector<cidr>& deny)
    : allow_(allow), deny_(deny) {}

access_policy::verdict access_policy::judge(const net::ip::address& client) const {
    const net::ip::address a = unmapped(client);
    if (deny_.contains(a))
        return verdict::denied;
    if (!allow_.empty() && !allow_.contains(a))
        return verdict::not_allowed;
    return verdict::admitted;
}

} // namespace funnel
