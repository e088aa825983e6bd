#pragma once
// Turns the command line, FUNNEL_* environment variables and an INI config file into one checked
// funnel::config. Flags win over the environment, which wins over the config file.
//
// Thread-safety: plain functions with no shared state; main calls them before any thread starts.

#include "funnel/config/config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace funnel {

// A bad flag, value, environment variable or config file. what() is one line that names where
// the value came from (--flag, FUNNEL_VARIABLE or the config file) and the bad value, so main can
// print it as it is and exit. Control characters the input brought into the message (a newline
// in a flag or a variable) are written as escapes (\n, \x01), so it stays one line.
class config_error : public std::runtime_error {
public:
    explicit config_error(const std::string& message);
};

struct parse_result {
    // check: --check-config, the configuration is valid and must not be run.
    // health_check: --health-check; only cfg.metrics_listen is set (the probe needs nothing else).
    enum class action { run, check, health_check, help, version };
    action what = action::run;
    config cfg;                        // valid only when what == run or check
    std::string text;                  // help text or "funnel <version>", without a final newline
    std::vector<std::string> warnings; // for main to log once the logger exists
};

// environment: "KEY=VALUE" strings; main passes current_environment(), tests their own list.
// Throws config_error. --help and --version return before the environment or the config file is
// read, so they work even when those are broken.
parse_result parse_command_line(int argc, const char* const* argv,
                                const std::vector<std::string>& environment);

// This process's environment as "KEY=VALUE" strings, for parse_command_line().
std::vector<std::string> current_environment();

// Building blocks, exposed for tests. Each ignores surrounding whitespace and throws config_error
// naming `what` (the option) on bad input.

// Bytes, optionally with a B, KiB, MiB or GiB suffix (any case, a space allowed before it).
std::size_t parse_size(std::string_view text, std::string_view what);

// "host:port", "[v6]:port" or "[v6%zone]:port". Host names are checked for shape only, never
// resolved. Port 0 is accepted only when allow_port_zero is set (listen addresses in tests).
host_port parse_host_port(std::string_view text, std::string_view what, bool allow_port_zero);

// Decimal seconds ("1.5"), or with an "s" or "ms" suffix ("250ms"); 0 up to one year.
config::seconds parse_seconds(std::string_view text, std::string_view what);

// A non-negative whole number.
std::uint64_t parse_count(std::string_view text, std::string_view what);

// "ADDRESS/PREFIX" or a bare ADDRESS (one host: /32 or /128), IPv4 or IPv6 without a zone. A
// prefix above 32 (128) or bits set after the prefix ("10.1.2.3/8") are errors; IPv4-mapped IPv6
// blocks come back as IPv4 (see cidr).
cidr parse_cidr(std::string_view text, std::string_view what);

// "MIN_MS:MAX_MS", whole milliseconds with 1 <= MIN <= MAX <= 3600000 (one hour); spaces are
// allowed around either number.
std::pair<std::chrono::milliseconds, std::chrono::milliseconds>
parse_backoff_range(std::string_view text, std::string_view what);

} // namespace funnel
