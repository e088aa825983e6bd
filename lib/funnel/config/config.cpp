#include "funnel/config/config.hpp"

#include <spdlog/fmt/fmt.h>

#include <arpa/inet.h>
#include <netinet/in.h>

namespace funnel {

std::string host_port::to_string() const {
    // Only IPv6 literals contain ':', and they need brackets so the port stays unambiguous.
    if (host.find(':') != std::string::npos) {
        return "[" + host + "]:" + std::to_string(port);
    }
    return host + ":" + std::to_string(port);
}

std::string cidr::to_string() const {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof text);
    return std::string(text) + "/" + std::to_string(prefix);
}

namespace {

std::string join(const std::vector<cidr>& blocks) {
    std::string out;
    for (const auto& b : blocks) {
        if (!out.empty())
            out += ',';
        out += b.to_string();
    }
    return out.empty() ? "-" : out;
}

} // namespace

std::string describe(const config& c) {
    std::string listen;
    for (const auto& l : c.listen) {
        if (!listen.empty())
            listen += ',';
        listen += l.to_string();
    }
    std::string message; // settings only message mode uses
    if (c.mode == relay_mode::message) {
        message = fmt::format(" framing={} max-message-size={} oversize={} upstream-connections={} "
                              "reconnect-backoff={}:{}ms",
                              to_string(c.message_framing), c.max_message_size,
                              to_string(c.oversize), c.upstream_connections,
                              c.reconnect_backoff_min.count(), c.reconnect_backoff_max.count());
        if (!c.spool_dir.empty())
            message += fmt::format(" spool-dir={} spool-mode={} spool-limit={} spool-sync={} "
                                   "spool-sync-interval={}s overflow={}",
                                   c.spool_dir, to_string(c.spool_use), c.spool_limit,
                                   to_string(c.spool_sync_mode), c.spool_sync_interval.count(),
                                   to_string(c.overflow));
    }
    const std::string log_file =
        c.log_file.empty() ? std::string{}
                           : fmt::format(" log-file={} log-file-size={} log-file-count={}",
                                         c.log_file, c.log_file_size, c.log_file_count);
    return fmt::format("mode={}{} listen={} target={} workers={} max-connections={} "
                       "max-connections-per-ip={} allow={} deny={} refuse-when-full={} "
                       "idle-timeout={}s buffer-limit={} client-buffer-limit={} "
                       "connect-timeout={}s drain-timeout={}s "
                       "stats-interval={}s log-level={} log-format={}{} metrics-listen={}",
                       to_string(c.mode), message, listen, c.target.to_string(), c.workers,
                       c.max_connections, c.max_connections_per_ip, join(c.allow), join(c.deny),
                       c.refuse_when_full, c.idle_timeout.count(), c.buffer_limit,
                       c.client_buffer_limit == 0 ? std::string("off")
                                                  : std::to_string(c.client_buffer_limit),
                       c.connect_timeout.count(), c.drain_timeout.count(), c.stats_interval.count(),
                       to_string(c.level), to_string(c.format), log_file,
                       c.metrics_listen ? c.metrics_listen->to_string() : "off");
}

const char* to_string(relay_mode m) {
    switch (m) {
    case relay_mode::stream:
        return "stream";
    case relay_mode::message:
        return "message";
    }
    return "unknown";
}

const char* to_string(log_level l) {
    switch (l) {
    case log_level::trace:
        return "trace";
    case log_level::debug:
        return "debug";
    case log_level::info:
        return "info";
    case log_level::warn:
        return "warn";
    case log_level::error:
        return "error";
    }
    return "unknown";
}

const char* to_string(log_format f) {
    switch (f) {
    case log_format::text:
        return "text";
    case log_format::json:
        return "json";
    }
    return "unknown";
}

const char* to_string(spool_mode m) {
    switch (m) {
    case spool_mode::overflow:
        return "overflow";
    case spool_mode::always:
        return "always";
    }
    return "unknown";
}

const char* to_string(spool_sync s) {
    switch (s) {
    case spool_sync::always:
        return "always";
    case spool_sync::interval:
        return "interval";
    case spool_sync::never:
        return "never";
    }
    return "unknown";
}

const char* to_string(overflow_policy p) {
    switch (p) {
    case overflow_policy::block:
        return "block";
    case overflow_policy::drop_newest:
        return "drop-newest";
    case overflow_policy::drop_oldest:
        return "drop-oldest";
    }
    return "unknown";
}

const char* to_string(framing f) {
    switch (f) {
    case framing::line:
        return "line";
    case framing::length:
        return "length";
    }
    return "unknown";
}

const char* to_string(oversize_policy p) {
    switch (p) {
    case oversize_policy::skip:
        return "skip";
    case oversize_policy::close:
        return "close";
    }
    return "unknown";
}

} // namespace funnel
