#pragma once
// How funnel writes an endpoint in its log lines: "127.0.0.1:9000", "[::1]:9000".

#include "funnel/net.hpp"

#include <string>

namespace funnel {

inline std::string to_text(const tcp::endpoint& ep) {
    // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, wrongly) on "[" + a + "]:" + b.
    const bool v6 = ep.address().is_v6();
    std::string out;
    if (v6)
        out += '[';
    out += ep.address().to_string();
    if (v6)
        out += ']';
    out += ':';
    out += std::to_string(ep.port());
    return out;
}

// The peer of a connected socket, or "(unknown peer)" once it is gone.
inline std::string remote_text(const tcp::socket& s) {
    error_code ec;
    const auto ep = s.remote_endpoint(ec);
    return ec ? std::string("(unknown peer)") : to_text(ep);
}

} // namespace funnel
