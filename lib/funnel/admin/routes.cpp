#include "funnel/admin/routes.hpp"

#include "funnel/admin/exposition.hpp"

namespace funnel {

admin_reply route(std::string_view method, std::string_view target, const admin_routes& routes) {
    const std::string_view path = target.substr(0, target.find('?'));
    const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz";
    if (!known)
        return {404, "text/plain; charset=utf-8", "not found\n"};
    if (method != "GET")
        return {405, "text/plain; charset=utf-8", "method not allowed (only GET)\n"};
    if (path == "/metrics")
        return {200, std::string(exposition_content_type), routes.metrics()};
    if (path == "/healthz")
        return {200, "text/plain; charset=utf-8", "ok\n"};
    if (auto why = routes.not_ready())
        return {503, "text/plain; charset=utf-8", *why + "\n"};
    return {200, "text/plain; charset=utf-8", "ready\n"};
}

std::optional<std::string> not_ready_reason(const readiness_input& in) {
    if (in.draining)
        return "draining: not accepting clients";
    if (!in.listening)
        return "not listening";
    if (in.mode == relay_mode::message) {
        if (in.upstream_connections_up > 0 || in.buffer_has_room)
            return std::nullopt;
        return "no target connection is up and --buffer-limit is full";
    }
    if (in.last_connect_failed)
        return "the last connection attempt to the target failed";
    return std::nullopt;
}

} // namespace funnel
