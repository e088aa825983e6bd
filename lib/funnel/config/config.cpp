#include "funnel/config/config.hpp"

namespace funnel {

std::string host_port::to_string() const {
    // Only IPv6 literals contain ':', and they need brackets so the port stays unambiguous.
    if (host.find(':') != std::string::npos) {
        return "[" + host + "]:" + std::to_string(port);
    }
    return host + ":" + std::to_string(port);
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
