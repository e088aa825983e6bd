#include "funnel/loadtest/cli_values.hpp"

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/parsers.hpp>

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <system_error>

namespace funnel::loadtest {
namespace {

constexpr double max_seconds = 365.0 * 24 * 60 * 60;

[[noreturn]] void fail(std::string_view option, std::string_view text, std::string_view why) {
    throw usage_error(std::string(option) + ": '" + std::string(text) + "' " + std::string(why));
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_space(s.back()))
        s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::optional<std::uint64_t> to_u64(std::string_view digits) {
    if (digits.empty())
        return std::nullopt;
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || end != digits.data() + digits.size())
        return std::nullopt;
    return v;
}

// Digits with at most one '.', nothing else ("1", "1.5", ".5"); no sign, no exponent.
std::optional<double> to_decimal(std::string_view text) {
    bool dot = false;
    bool digit = false;
    for (char c : text) {
        if (c == '.' && !dot)
            dot = true;
        else if (is_digit(c))
            digit = true;
        else
            return std::nullopt;
    }
    if (!digit)
        return std::nullopt;
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
        return std::nullopt;
    return v;
}

std::size_t digits_end(std::string_view t) {
    std::size_t i = 0;
    while (i < t.size() && (is_digit(t[i]) || t[i] == '.'))
        ++i;
    return i;
}

} // namespace

std::uint64_t parse_size(std::string_view text, std::string_view option) {
    const std::string_view t = trim(text);
    const std::size_t split = digits_end(t);
    const auto n = to_u64(t.substr(0, split));
    const std::string suffix = lower(trim(t.substr(split)));
    std::uint64_t unit = 0;
    if (suffix.empty() || suffix == "b")
        unit = 1;
    else if (suffix == "kib")
        unit = std::uint64_t{1} << 10;
    else if (suffix == "mib")
        unit = std::uint64_t{1} << 20;
    else if (suffix == "gib")
        unit = std::uint64_t{1} << 30;
    if (!n || unit == 0)
        fail(option, text, "is not a size (use bytes or a number with KiB, MiB or GiB)");
    if (*n > std::numeric_limits<std::uint64_t>::max() / unit)
        fail(option, text, "is too large");
    return *n * unit;
}

double parse_seconds(std::string_view text, std::string_view option) {
    const std::string_view t = trim(text);
    const std::size_t split = digits_end(t);
    const auto v = to_decimal(t.substr(0, split));
    const std::string suffix = lower(trim(t.substr(split)));
    double scale = 0;
    if (suffix.empty() || suffix == "s")
        scale = 1;
    else if (suffix == "ms")
        scale = 1e-3;
    if (!v || scale == 0)
        fail(option, text, "is not a duration (use seconds such as 1.5, or a number with ms or s)");
    const double seconds = *v * scale;
    if (seconds > max_seconds)
        fail(option, text, "is longer than a year");
    return seconds;
}

std::uint64_t parse_count(std::string_view text, std::string_view option) {
    const auto v = to_u64(trim(text));
    if (!v)
        fail(option, text, "is not a whole number");
    return *v;
}

double parse_number(std::string_view text, std::string_view option) {
    const auto v = to_decimal(trim(text));
    if (!v)
        fail(option, text, "is not a number");
    return *v;
}

host_port parse_host_port(std::string_view text, std::string_view option, bool allow_port_zero) {
    const std::string_view t = trim(text);
    std::string_view host;
    std::string_view port;
    if (!t.empty() && t.front() == '[') {
        const auto close = t.find("]:");
        if (close == std::string_view::npos)
            fail(option, text, "is not HOST:PORT or [IPv6]:PORT");
        host = t.substr(1, close - 1);
        port = t.substr(close + 2);
    } else {
        const auto colon = t.rfind(':');
        if (colon == std::string_view::npos || t.find(':') != colon)
            fail(option, text, "is not HOST:PORT or [IPv6]:PORT");
        host = t.substr(0, colon);
        port = t.substr(colon + 1);
    }
    if (host.empty())
        fail(option, text, "has no host");
    const auto p = to_u64(port);
    if (!p || *p > 65535)
        fail(option, text, "has no port from 0 to 65535");
    if (*p == 0 && !allow_port_zero)
        fail(option, text, "needs a port other than 0");
    return host_port{std::string(host), static_cast<std::uint16_t>(*p)};
}

std::string to_string(const host_port& hp) {
    if (hp.host.find(':') != std::string::npos)
        return "[" + hp.host + "]:" + std::to_string(hp.port);
    return hp.host + ":" + std::to_string(hp.port);
}

command_line::command_line(int argc, char** argv, std::initializer_list<const char*> switches,
                           std::initializer_list<const char*> values) {
    namespace po = boost::program_options;
    po::options_description desc;
    for (const char* name : switches)
        desc.add_options()(name, "");
    for (const char* name : values)
        desc.add_options()(name, po::value<std::string>(), "");
    try {
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm_);
    } catch (const po::error& e) {
        throw usage_error(e.what());
    }
}

} // namespace funnel::loadtest
