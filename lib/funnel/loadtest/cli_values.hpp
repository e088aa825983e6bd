#pragma once
// Command-line values of funnel-load and funnel-sink: sizes, seconds, counts, rates and
// HOST:PORT, each checked once, with one-line errors that name the option and the bad value.
//
// Thread-safety: plain functions with no shared state.

#include <boost/program_options/variables_map.hpp>

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

namespace funnel::loadtest {

// A bad option or value. what() is one line, e.g. "--threads: '0' must be at least 1", which the
// tools print after "funnel-sink: error: " before exiting with status 2.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct host_port {
    std::string host; // a name, an IPv4 address, or an IPv6 address without its brackets
    std::uint16_t port = 0;
};

// Bytes, optionally with a B, KiB, MiB or GiB suffix (any case): "1048576", "64KiB", "2 GiB".
std::uint64_t parse_size(std::string_view text, std::string_view option);

// Seconds with decimals ("1.5", "0.25"), optionally with an "s" or "ms" suffix; 0 up to a year.
double parse_seconds(std::string_view text, std::string_view option);

// A non-negative whole number.
std::uint64_t parse_count(std::string_view text, std::string_view option);

// A non-negative number that may have decimals ("2500000", "0.5"); for rates.
double parse_number(std::string_view text, std::string_view option);

// "host:port" or "[v6]:port". Port 0 only when allow_port_zero (a listen address).
host_port parse_host_port(std::string_view text, std::string_view option, bool allow_port_zero);

// The command line as given: each option in `switches` is a flag ("help,h" adds -h), each in
// `values` takes one value; an unknown option or a missing value is a usage_error.
class command_line {
public:
    command_line(int argc, char** argv, std::initializer_list<const char*> switches,
                 std::initializer_list<const char*> values);
    bool has(const char* name) const { return vm_.count(name) != 0; }
    // The option's value, or null when it was not given.
    const std::string* value(const char* name) const {
        return has(name) ? &vm_[name].as<std::string>() : nullptr;
    }

private:
    boost::program_options::variables_map vm_;
};

// "host:port", or "[v6]:port" when the host holds a ':'.
std::string to_string(const host_port& hp);

} // namespace funnel::loadtest
