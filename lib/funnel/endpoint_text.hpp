#pragma once
// How funnel writes an endpoint in its log lines: "127.0.0.1:9000", "[::1]:9000".

#include "funnel/net.hpp"

#include <string>

namespace funnel {

inline std::string to_text(const tcp::endpoint& ep) {
    const auto port = std::to_string(ep.port());
    if (ep.address().is_v6())
        return "[" + ep.address().to_string() + "]:" + port;
    return ep.address().to_string() + ":" + port;
}

// The peer of a connected socket, or "(unknown peer)" once it is gone.
inline std::string remote_text(const tcp::socket& s) {
    error_code ec;
    const auto ep = s.remote_endpoint(ec);
    return ec ? std::string("(unknown peer)") : to_text(ep);
}

} // namespace funnel
