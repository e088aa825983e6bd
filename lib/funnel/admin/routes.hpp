#pragma once
// What the admin endpoint answers, without any socket: the routing of a request line to a
// reply, and the readiness decision. http_server carries requests in and replies out.
//
//   GET /metrics  200, the Prometheus exposition
//   GET /healthz  200 "ok": answering at all proves the io thread runs
//   GET /readyz   200 "ready", or 503 and a one-line reason
//   other paths 404; other methods on a known path 405 (with Allow: GET)
//
// Thread-safety: plain functions; the callbacks run where route() is called (the io thread).

#include "funnel/config/config.hpp"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace funnel {

struct admin_reply {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

struct admin_routes {
    std::function<std::string()> metrics;                  // the exposition text
    std::function<std::optional<std::string>()> not_ready; // nullopt when ready
};

// `target` is the request target; a query string is ignored.
admin_reply route(std::string_view method, std::string_view target, const admin_routes& routes);

// What /readyz looks at, read on the io thread.
struct readiness_input {
    relay_mode mode = relay_mode::stream;
    bool listening = false;
    bool draining = false;
    std::size_t upstream_connections_up = 0;
    bool last_connect_failed = false;
    bool buffer_has_room = false; // a whole read block still fits in --buffer-limit
};

// nullopt when funnel can take data now; else why not, one line. Message mode can take data
// while at least one link is up, or while the budget has room to hold it until one is: that is
// what message mode promises. Stream mode holds nothing for a target it cannot reach (its
// clients are reset), so only the last connect counts there.
std::optional<std::string> not_ready_reason(const readiness_input& in);

} // namespace funnel
