#include "funnel/config/parse.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

extern char** environ; // POSIX: the process environment

namespace funnel {
namespace {

namespace po = boost::program_options;

constexpr std::string_view size_hint = "(use bytes or a number with KiB, MiB or GiB)";
constexpr std::string_view seconds_hint = "(use seconds such as 1.5, or a number with ms or s)";
constexpr std::string_view host_port_hint = "(expected HOST:PORT, or [IPv6]:PORT)";
constexpr std::string_view backoff_hint = "(use MIN_MS:MAX_MS, e.g. 100:10000)";
constexpr std::string_view cidr_hint = "(expected ADDRESS or ADDRESS/PREFIX, e.g. 10.0.0.0/8)";
constexpr std::string_view env_prefix = "FUNNEL_";

// Longer than any sensible timeout or interval, so a bigger value is a typo; it also keeps the
// timers' integer nanoseconds far from overflow.
constexpr double max_seconds = 365.0 * 24 * 60 * 60;
// More processing threads than this is a typo, not tuning.
constexpr std::uint64_t max_workers = 1024;
// Message mode. A bigger message is a protocol mix-up rather than data; 1GiB also keeps a length
// prefix (u32) and its payload well inside any size arithmetic.
constexpr std::size_t max_message_size_limit = std::size_t{1} << 30;
// Each is a persistent connection to the target; more than this is a typo.
constexpr std::uint64_t max_upstream_connections = 1024;
constexpr std::size_t min_log_file_size = std::size_t{4} << 10;
constexpr std::uint64_t max_log_file_count = 100;
// An hour between reconnection attempts is already longer than anyone waits for.
constexpr std::uint64_t max_backoff_ms = 3600000;

[[noreturn]] void fail(std::string_view what, std::string_view detail) {
    throw config_error(std::string(what) + ": " + std::string(detail));
}

std::string quote(std::string_view s) {
    return "'" + std::string(s) + "'";
}

// Locale-free character classes: std::isdigit and friends depend on the C locale and take int.
bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char to_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
char to_upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), to_lower);
    return out;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

// Digits only (checked by the caller); nullopt when the number does not fit.
std::optional<std::uint64_t> to_u64(std::string_view digits) {
    std::uint64_t value = 0;
    const char* end = digits.data() + digits.size();
    const auto [ptr, ec] = std::from_chars(digits.data(), end, value);
    if (ec != std::errc{} || ptr != end) {
        return std::nullopt;
    }
    return value;
}

bool is_ipv4_literal(std::string_view host) {
    in_addr addr{};
    return inet_pton(AF_INET, std::string(host).c_str(), &addr) == 1;
}

// Accepts a zone after '%' ("fe80::1%eth0"): link-local addresses need one to be usable.
bool is_ipv6_literal(std::string_view host) {
    const auto percent = host.find('%');
    if (percent != std::string_view::npos) {
        const auto zone = host.substr(percent + 1);
        const auto zone_char = [](char c) {
            return is_alnum(c) || c == '-' || c == '_' || c == '.';
        };
        if (zone.empty() || !std::all_of(zone.begin(), zone.end(), zone_char)) {
            return false;
        }
    }
    in6_addr addr{};
    return inet_pton(AF_INET6, std::string(host.substr(0, percent)).c_str(), &addr) == 1;
}

// The shape of a DNS name (RFC 1123 labels, plus '_' which container networks use). Names are
// resolved later, asynchronously; this only catches typos early.
bool is_host_name(std::string_view host) {
    if (host.ends_with('.')) {
        host.remove_suffix(1); // fully qualified form
    }
    if (host.empty() || host.size() > 253) {
        return false;
    }
    const auto label_char = [](char c) {
        return is_alnum(c) || c == '-' || c == '_';
    };
    for (std::size_t start = 0;;) {
        const auto dot = host.find('.', start);
        const auto label = host.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
            !std::all_of(label.begin(), label.end(), label_char)) {
            return false;
        }
        if (dot == std::string_view::npos) {
            return true;
        }
        start = dot + 1;
    }
}

std::string env_name(std::string_view option) {
    std::string name(env_prefix);
    for (char c : option) {
        name += c == '-' ? '_' : to_upper(c);
    }
    return name;
}

// ---------------------------------------------------------------------------------------------
// The options, as program_options sees them. Every value is a plain string (listen: several) and
// is converted by the functions above, so that each error names the option and the value.

constexpr unsigned help_width = 100;
constexpr unsigned help_description_width = 58;

struct option_set {
    po::options_description general{"General", help_width, help_description_width};
    po::options_description endpoints{"Endpoints", help_width, help_description_width};
    po::options_description limits{"Limits and timeouts", help_width, help_description_width};
    po::options_description access{"Access control and overload", help_width,
                                   help_description_width};
    po::options_description message{
        "Message mode (used with --mode message only; with --mode stream these are checked, then "
        "ignored)",
        help_width, help_description_width};
    po::options_description logging{"Logging", help_width, help_description_width};
    po::options_description admin{"Metrics and health", help_width, help_description_width};
    po::options_description command_line{help_width, help_description_width};
    po::options_description file{help_width, help_description_width}; // settings only

    option_set() {
        const auto text = [](const char* value_name) {
            return po::value<std::string>()->value_name(value_name);
        };
        general.add_options()                           //
            ("help,h", "show this help and exit")       //
            ("version,V", "print the version and exit") //
            ("check-config",
             "check the configuration (flags, FUNNEL_* variables, --config file), print the "
             "settings in effect and exit: 0 when valid, 2 when not; opens no socket") //
            ("health-check",
             "probe a running funnel: GET /healthz at the --metrics-listen address (0.0.0.0 and "
             ":: mean loopback) within 2s; exit 0 on 200, else 1. Needs no --listen or "
             "--target, for a container HEALTHCHECK") //
            ("config", text("FILE"),
             "read settings from FILE: one 'option = value' per line, option names as below "
             "without the dashes ('#' starts a comment)");

        endpoints.add_options() //
            ("listen", po::value<std::vector<std::string>>()->value_name("HOST:PORT"),
             "where to accept clients; repeat it or give a comma-separated list for several. "
             "IPv6 in brackets: [::1]:9000. Port 0 picks a free port. Required.") //
            ("target", text("HOST:PORT"),
             "where to relay to (port 1-65535); a host name is resolved when connecting. "
             "Required.") //
            ("mode", text("stream|message"),
             "stream: relay each client's bytes on its own target connection, as they come; "
             "message: cut each client's bytes into messages and relay them over a few shared "
             "target connections (see Message mode below) (default: stream)");

        const std::string workers_help =
            "processing threads; 0 processes on the io thread (default: the number of CPU "
            "cores, " +
            std::to_string(default_workers()) + " here)";
        limits.add_options()                             //
            ("workers", text("N"), workers_help.c_str()) //
            ("max-connections", text("N"),
             "most clients connected at once (default: 10000)") //
            ("idle-timeout", text("SECONDS"),
             "close a client connection idle for this long (message mode: also one whose current "
             "message has taken this long to arrive); 0 = never (default: 0)") //
            ("buffer-limit", text("BYTES"),
             "bytes held for the target, all clients together; at least 64KiB, the size of "
             "one read buffer (default: 64MiB)") //
            ("client-buffer-limit", text("BYTES"),
             "the most of --buffer-limit one client may hold: a client holding it has its "
             "reads paused alone while the others go on; 0 = off, else at least one read "
             "buffer and at most --buffer-limit (message mode: at least --max-message-size + "
             "128KiB) (default: 0)") //
            ("connect-timeout", text("SECONDS"),
             "give up one attempt to connect to the target after this long; more than 0 "
             "(default: 5)") //
            ("drain-timeout", text("SECONDS"),
             "on shutdown, how long to wait for held data to reach the target (default: 10)") //
            ("stats-interval", text("SECONDS"),
             "log a statistics summary this often; 0 = never (default: 60)");

        access.add_options() //
            ("allow", po::value<std::vector<std::string>>()->value_name("CIDR"),
             "admit only clients in these address blocks (10.0.0.0/8, 2001:db8::/32; a bare "
             "address is one host); repeat it or give a comma- or space-separated list "
             "(default: every client)") //
            ("deny", po::value<std::vector<std::string>>()->value_name("CIDR"),
             "refuse clients in these address blocks, even when --allow holds them; given like "
             "--allow (default: none)") //
            ("max-connections-per-ip", text("N"),
             "most connections one client address may hold at once; 0 = unlimited "
             "(default: 0)") //
            ("refuse-when-full",
             po::value<std::string>()->value_name("yes|no")->implicit_value("yes"),
             "while --buffer-limit is spent (client reads paused), stop accepting new "
             "connections, so that the kernel's backlog pushes back on senders; the flag alone "
             "means yes (default: no)");

        message.add_options() //
            ("framing", text("line|length"),
             "how messages are delimited. line: each ends with '\\n' (a '\\r' before it is "
             "data); length: a 4-byte big-endian length, then that many bytes (default: line)") //
            ("max-message-size", text("BYTES"),
             "largest message payload, framing bytes not counted; 1 byte to 1GiB "
             "(default: 1MiB)") //
            ("oversize", text("skip|close"),
             "a larger message from a client is dropped (skip) or closes that client (close) "
             "(default: skip)") //
            ("upstream-connections", text("N"),
             "persistent target connections the messages share, 1-1024; the messages of one "
             "client always use the same connection, so their order is kept (default: 4)") //
            ("reconnect-backoff", text("MIN_MS:MAX_MS"),
             "wait before reconnecting a lost target connection: exponential with jitter, from "
             "MIN_MS up to MAX_MS milliseconds (at most 3600000) (default: 100:10000)") //
            ("spool-dir", text("DIR"),
             "when the buffer (--buffer-limit) is full, write whole messages to a disk spool in "
             "DIR instead of pausing the clients; what it holds is delivered first at the next "
             "start (default: no spool)") //
            ("spool-mode", text("MODE"),
             "overflow: only what the buffer cannot hold goes to the spool; always: every "
             "message is written to the spool before it is sent (write-ahead: kill -9 loses "
             "nothing written, power loss what --spool-sync allows) (default: overflow)") //
            ("spool-limit", text("BYTES"),
             "most bytes the spool files take, shared equally by the upstream connections "
             "(default: 1GiB)") //
            ("spool-sync", text("always|interval|never"),
             "when spooled data is forced to disk: after every write, every "
             "--spool-sync-interval, or when the kernel decides (default: interval)") //
            ("spool-sync-interval", text("SECONDS"),
             "how often --spool-sync interval syncs; more than 0 (default: 1)") //
            ("overflow", text("POLICY"),
             "when the spool or its disk is full: pause the clients (block), drop the new "
             "messages (drop-newest) or the oldest spooled ones to make room (drop-oldest); "
             "drops are counted and logged (default: block)");

        logging.add_options()                                                                 //
            ("log-level", text("LEVEL"), "trace, debug, info, warn or error (default: info)") //
            ("log-format", text("FORMAT"), "text or json (default: text)")                    //
            ("log-file", text("PATH"),
             "write the log to this file instead of standard error, rotated by size") //
            ("log-file-size", text("BYTES"),
             "with --log-file: rotate once the file would grow past this; at least 4KiB "
             "(default: 100MiB)") //
            ("log-file-count", text("N"),
             "with --log-file: rotated files kept, 1-100: funnel.log rotates to funnel.1.log (the "
             "newest), funnel.2.log and so on; older ones are removed (default: 5)");

        admin.add_options() //
            ("metrics-listen", text("HOST:PORT"),
             "serve HTTP on this address: GET /metrics (Prometheus), /healthz, /readyz "
             "(default: off)");

        command_line.add(general)
            .add(endpoints)
            .add(limits)
            .add(access)
            .add(message)
            .add(logging)
            .add(admin);
        file.add(endpoints).add(limits).add(access).add(message).add(logging).add(admin);
    }

    static std::size_t default_workers() {
        return std::max<std::size_t>(1, std::thread::hardware_concurrency());
    }

    // The options the environment may set: the file's, plus where to find the file.
    std::set<std::string, std::less<>> environment_names() const {
        std::set<std::string, std::less<>> names{"config"};
        for (const auto& option : file.options()) {
            names.insert(option->long_name());
        }
        return names;
    }

    std::string help_text() const {
        std::ostringstream out;
        out << "Usage: funnel --listen HOST:PORT --target HOST:PORT [options]\n"
            << "Relays TCP clients accepted on the --listen addresses to the --target.\n"
            << command_line << "\n"
            << "Each option can also come from an environment variable FUNNEL_<OPTION> (upper\n"
               "case, dashes as underscores: FUNNEL_TARGET, FUNNEL_BUFFER_LIMIT, FUNNEL_CONFIG)\n"
               "or from the --config file. Flags win over the environment, which wins over the\n"
               "file; --listen values are taken from one of them only, never combined.\n"
               "SECONDS take decimals (0.25) and an optional ms or s suffix (250ms).\n"
               "BYTES take an optional B, KiB, MiB or GiB suffix (512KiB, 64 MiB, 1gib).";
        return out.str();
    }
};

// One source's raw strings before conversion, and how to name them in messages.
struct source {
    enum class kind { command_line, environment, file };
    kind from = kind::command_line;
    std::string file_name;
    std::map<std::string, std::vector<std::string>, std::less<>> values;

    std::string name_of(std::string_view option) const {
        switch (from) {
        case kind::command_line:
            break;
        case kind::environment:
            return env_name(option);
        case kind::file:
            return std::string(option) + " (config file " + quote(file_name) + ")";
        }
        return "--" + std::string(option);
    }

    void take(const po::variables_map& vm) {
        for (const auto& [name, value] : vm) {
            const boost::any& any = value.value();
            if (const auto* one = boost::any_cast<std::string>(&any)) {
                values[name] = {*one};
            } else if (const auto* many = boost::any_cast<std::vector<std::string>>(&any)) {
                values[name] = *many;
            } else {
                values[name] = {}; // a switch such as --help
            }
        }
    }
};

constexpr int command_line_style =
    // No abbreviations: "--work 4" guessing --workers would hide typos in scripts.
    po::command_line_style::default_style & ~po::command_line_style::allow_guessing;

source read_command_line(const std::vector<std::string>& args, const option_set& options) {
    source src;
    try {
        const po::parsed_options parsed = po::command_line_parser(args)
                                              .options(options.command_line)
                                              .style(command_line_style)
                                              .run();
        for (const auto& option : parsed.options) {
            // Without a positional description, program_options keeps stray words unnamed.
            if (option.string_key.empty()) {
                const std::string word =
                    option.original_tokens.empty() ? "" : option.original_tokens.front();
                throw config_error("unexpected argument " + quote(word) +
                                   " (options start with --)");
            }
        }
        po::variables_map vm;
        po::store(parsed, vm);
        src.take(vm);
    } catch (const po::unknown_option& e) {
        throw config_error("unknown option " + quote(e.get_option_name()));
    } catch (const po::multiple_occurrences& e) {
        throw config_error(e.get_option_name() + " is given more than once");
    } catch (const po::invalid_command_line_syntax& e) {
        switch (e.kind()) {
        case po::invalid_syntax::missing_parameter:
            throw config_error(e.get_option_name() + ": missing value");
        case po::invalid_syntax::extra_parameter:
            throw config_error(e.get_option_name() + " takes no value");
        default:
            throw config_error(e.what());
        }
    } catch (const po::error& e) {
        throw config_error(e.what());
    }
    return src;
}

source read_environment(const std::vector<std::string>& environment,
                        const std::set<std::string, std::less<>>& known,
                        std::vector<std::string>& warnings) {
    source src;
    src.from = source::kind::environment;
    for (const std::string& entry : environment) {
        const auto equals = entry.find('=');
        const std::string_view key = std::string_view(entry).substr(0, equals);
        if (!key.starts_with(env_prefix)) {
            continue;
        }
        std::string option = lower(key.substr(env_prefix.size()));
        std::replace(option.begin(), option.end(), '_', '-');
        // Not an error: FUNNEL_* variables may be meant for a newer funnel, or for a wrapper.
        if (!known.contains(option) || env_name(option) != key) {
            warnings.push_back("ignoring unknown environment variable " + std::string(key));
            continue;
        }
        const std::string_view value = equals == std::string::npos
                                           ? std::string_view{}
                                           : std::string_view(entry).substr(equals + 1);
        // Empty counts as unset: shells and container tools often define variables as empty.
        if (trim(value).empty()) {
            continue;
        }
        src.values.try_emplace(option, std::vector<std::string>{std::string(value)});
    }
    return src;
}

source read_config_file(const std::string& path, const std::string& named_by,
                        const option_set& options) {
    const std::string cannot_read = "cannot read config file " + quote(path) + ": ";
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        fail(named_by, cannot_read + "it is a directory");
    }
    std::ifstream in(path);
    if (!in) {
        fail(named_by, cannot_read + std::generic_category().message(errno));
    }
    source src;
    src.from = source::kind::file;
    src.file_name = path;
    const std::string in_file = "config file " + quote(path) + ": ";
    try {
        po::variables_map vm;
        po::store(po::parse_config_file(in, options.file, false), vm);
        src.take(vm);
    } catch (const po::unknown_option& e) {
        throw config_error(in_file + "unknown key " + quote(e.get_option_name()));
    } catch (const po::multiple_occurrences& e) {
        throw config_error(in_file + quote(e.get_option_name()) + " is given more than once");
    } catch (const po::invalid_config_file_syntax& e) {
        throw config_error(in_file + "invalid line " + quote(e.tokens()) +
                           " (expected 'option = value')");
    } catch (const po::error& e) {
        throw config_error(in_file + e.what());
    }
    if (in.bad()) {
        fail(named_by, cannot_read + "read error");
    }
    return src;
}

// One option's raw values from the source that decides it, and how to name them.
struct given {
    std::vector<std::string> values;
    std::string where;

    const std::string& value() const { return values.front(); }
};

// The first source that has `option` decides it alone: values are never combined across
// sources, so "--listen a" on the command line replaces FUNNEL_LISTEN rather than adding to it.
std::optional<given> pick(const std::vector<source>& sources, std::string_view option) {
    for (const source& src : sources) {
        if (const auto found = src.values.find(option);
            found != src.values.end() && !found->second.empty()) {
            return given{found->second, src.name_of(option)};
        }
    }
    return std::nullopt;
}

template <typename Enum, std::size_t N>
Enum parse_choice(const given& g, const std::array<Enum, N>& choices) {
    const std::string wanted = lower(trim(g.value()));
    std::string names;
    for (std::size_t i = 0; i < N; ++i) {
        if (wanted == to_string(choices[i])) {
            return choices[i];
        }
        names += i == 0 ? "" : (i + 1 == N ? " or " : ", ");
        names += to_string(choices[i]);
    }
    fail(g.where, quote(trim(g.value())) + " is not one of " + names);
}

// Every value may hold several blocks, separated by commas or spaces (FUNNEL_ALLOW="a, b").
std::vector<cidr> parse_cidr_list(const given& g) {
    std::vector<cidr> out;
    for (const std::string& value : g.values) {
        std::string_view rest = value;
        while (!rest.empty()) {
            const auto is_separator = [](char c) {
                return c == ',' || is_space(c);
            };
            const auto end = static_cast<std::size_t>(
                std::find_if(rest.begin(), rest.end(), is_separator) - rest.begin());
            if (end > 0)
                out.push_back(parse_cidr(rest.substr(0, end), g.where));
            rest.remove_prefix(std::min(end + 1, rest.size()));
        }
    }
    if (out.empty()) {
        fail(g.where, "empty value " + std::string(cidr_hint));
    }
    return out;
}

bool parse_yes_no(const given& g) {
    const std::string v = lower(trim(g.value()));
    if (v == "yes" || v == "true" || v == "on" || v == "1") {
        return true;
    }
    if (v == "no" || v == "false" || v == "off" || v == "0") {
        return false;
    }
    fail(g.where, quote(trim(g.value())) + " is not one of yes or no");
}

void parse_listen(const given& g, config& cfg) {
    for (const std::string& value : g.values) {
        std::string_view rest = value;
        for (;;) {
            const auto comma = rest.find(',');
            const std::string_view item = rest.substr(0, comma);
            if (trim(item).empty()) {
                fail(g.where, "empty address in " + quote(value));
            }
            host_port address = parse_host_port(item, g.where, true);
            // Two listeners on one fixed port would fail to bind; port 0 picks a fresh one each.
            if (address.port != 0 &&
                std::find(cfg.listen.begin(), cfg.listen.end(), address) != cfg.listen.end()) {
                fail(g.where, quote(address.to_string()) + " is given more than once");
            }
            cfg.listen.push_back(std::move(address));
            if (comma == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(comma + 1);
        }
    }
}

// One address (a list would need one admin server each); port 0 picks a free port (tests).
std::optional<host_port> parse_metrics_listen(const std::vector<source>& sources) {
    const auto g = pick(sources, "metrics-listen");
    if (!g) {
        return std::nullopt;
    }
    if (g->value().find(',') != std::string::npos) {
        fail(g->where, quote(trim(g->value())) + " is a list; give one HOST:PORT");
    }
    return parse_host_port(g->value(), g->where, true);
}

config build_config(const std::vector<source>& sources) {
    config cfg;

    const auto listen = pick(sources, "listen");
    if (!listen) {
        throw config_error("--listen is required");
    }
    parse_listen(*listen, cfg);

    const auto target = pick(sources, "target");
    if (!target) {
        throw config_error("--target is required");
    }
    cfg.target = parse_host_port(target->value(), target->where, false);

    if (const auto g = pick(sources, "mode")) {
        cfg.mode = parse_choice(*g, std::array{relay_mode::stream, relay_mode::message});
    }

    cfg.workers = option_set::default_workers();
    if (const auto g = pick(sources, "workers")) {
        const std::uint64_t n = parse_count(g->value(), g->where);
        if (n > max_workers) {
            fail(g->where, quote(trim(g->value())) + " is more than the maximum of " +
                               std::to_string(max_workers));
        }
        cfg.workers = static_cast<std::size_t>(n);
    }

    if (const auto g = pick(sources, "max-connections")) {
        const std::uint64_t n = parse_count(g->value(), g->where);
        if (n == 0) {
            fail(g->where, "'0' is out of range (at least 1)");
        }
        static_assert(sizeof(std::size_t) >= sizeof(std::uint64_t));
        cfg.max_connections = static_cast<std::size_t>(n);
    }

    if (const auto g = pick(sources, "allow")) {
        cfg.allow = parse_cidr_list(*g);
    }

    if (const auto g = pick(sources, "deny")) {
        cfg.deny = parse_cidr_list(*g);
    }

    if (const auto g = pick(sources, "max-connections-per-ip")) {
        cfg.max_connections_per_ip = static_cast<std::size_t>(parse_count(g->value(), g->where));
    }

    if (const auto g = pick(sources, "refuse-when-full")) {
        cfg.refuse_when_full = parse_yes_no(*g);
    }

    if (const auto g = pick(sources, "idle-timeout")) {
        cfg.idle_timeout = parse_seconds(g->value(), g->where);
    }

    if (const auto g = pick(sources, "buffer-limit")) {
        cfg.buffer_limit = parse_size(g->value(), g->where);
        if (cfg.buffer_limit < config::min_read_size) {
            fail(g->where, quote(trim(g->value())) +
                               " is below the minimum of 64KiB (one read buffer is 64KiB)");
        }
    }

    if (const auto g = pick(sources, "client-buffer-limit")) {
        cfg.client_buffer_limit = parse_size(g->value(), g->where);
        const std::size_t block = cfg.read_size();
        if (cfg.client_buffer_limit != 0 && cfg.client_buffer_limit < block) {
            fail(g->where, quote(trim(g->value())) + " is below the minimum of one read buffer (" +
                               std::to_string(block >> 10) + "KiB here); 0 turns it off");
        }
        if (cfg.client_buffer_limit > cfg.buffer_limit) {
            fail(g->where, quote(trim(g->value())) + " is more than --buffer-limit " +
                               std::to_string(cfg.buffer_limit));
        }
    }

    if (const auto g = pick(sources, "connect-timeout")) {
        cfg.connect_timeout = parse_seconds(g->value(), g->where);
        if (cfg.connect_timeout.count() <= 0) {
            fail(g->where, quote(trim(g->value())) + " is out of range (must be more than 0)");
        }
    }

    if (const auto g = pick(sources, "drain-timeout")) {
        cfg.drain_timeout = parse_seconds(g->value(), g->where);
    }

    if (const auto g = pick(sources, "stats-interval")) {
        cfg.stats_interval = parse_seconds(g->value(), g->where);
    }

    // Message mode. Checked whatever the mode, so a typo in a config file shared by stream and
    // message instances shows up everywhere; only message mode uses them.
    if (const auto g = pick(sources, "framing")) {
        cfg.message_framing = parse_choice(*g, std::array{framing::line, framing::length});
    }

    if (const auto g = pick(sources, "max-message-size")) {
        cfg.max_message_size = parse_size(g->value(), g->where);
        if (cfg.max_message_size == 0) {
            fail(g->where, quote(trim(g->value())) + " is out of range (at least 1 byte)");
        }
        if (cfg.max_message_size > max_message_size_limit) {
            fail(g->where, quote(trim(g->value())) + " is more than the maximum of 1GiB");
        }
    }

    if (const auto g = pick(sources, "oversize")) {
        cfg.oversize = parse_choice(*g, std::array{oversize_policy::skip, oversize_policy::close});
    }

    if (const auto g = pick(sources, "upstream-connections")) {
        const std::uint64_t n = parse_count(g->value(), g->where);
        if (n == 0 || n > max_upstream_connections) {
            fail(g->where, quote(trim(g->value())) + " is out of range (1-" +
                               std::to_string(max_upstream_connections) + ")");
        }
        cfg.upstream_connections = static_cast<std::size_t>(n);
    }

    if (const auto g = pick(sources, "reconnect-backoff")) {
        std::tie(cfg.reconnect_backoff_min, cfg.reconnect_backoff_max) =
            parse_backoff_range(g->value(), g->where);
    }

    if (const auto g = pick(sources, "spool-dir")) {
        cfg.spool_dir = std::string(trim(g->value()));
        if (cfg.spool_dir.empty()) {
            fail(g->where, "empty value (expected a directory)");
        }
    }

    if (const auto g = pick(sources, "spool-mode")) {
        cfg.spool_use = parse_choice(*g, std::array{spool_mode::overflow, spool_mode::always});
    }

    if (const auto g = pick(sources, "spool-limit")) {
        cfg.spool_limit = parse_size(g->value(), g->where);
    }

    if (const auto g = pick(sources, "spool-sync")) {
        cfg.spool_sync_mode = parse_choice(
            *g, std::array{spool_sync::always, spool_sync::interval, spool_sync::never});
    }

    if (const auto g = pick(sources, "spool-sync-interval")) {
        cfg.spool_sync_interval = parse_seconds(g->value(), g->where);
        if (cfg.spool_sync_interval.count() <= 0) {
            fail(g->where, quote(trim(g->value())) + " is out of range (must be more than 0)");
        }
    }

    if (const auto g = pick(sources, "overflow")) {
        cfg.overflow =
            parse_choice(*g, std::array{overflow_policy::block, overflow_policy::drop_newest,
                                        overflow_policy::drop_oldest});
    }

    if (const auto g = pick(sources, "log-level")) {
        cfg.level = parse_choice(*g, std::array{log_level::trace, log_level::debug, log_level::info,
                                                log_level::warn, log_level::error});
    }

    if (const auto g = pick(sources, "log-format")) {
        cfg.format = parse_choice(*g, std::array{log_format::text, log_format::json});
    }

    if (const auto g = pick(sources, "log-file")) {
        cfg.log_file = std::string(trim(g->value()));
        if (cfg.log_file.empty()) {
            fail(g->where, "the path is empty");
        }
    }

    if (const auto g = pick(sources, "log-file-size")) {
        cfg.log_file_size = parse_size(g->value(), g->where);
        if (cfg.log_file_size < min_log_file_size) {
            fail(g->where, quote(trim(g->value())) + " is below the minimum of 4KiB");
        }
    }

    if (const auto g = pick(sources, "log-file-count")) {
        const std::uint64_t n = parse_count(g->value(), g->where);
        if (n == 0 || n > max_log_file_count) {
            fail(g->where, quote(trim(g->value())) + " is out of range (1-" +
                               std::to_string(max_log_file_count) + ")");
        }
        cfg.log_file_count = static_cast<std::size_t>(n);
    }
    cfg.metrics_listen = parse_metrics_listen(sources);

    // A message is held whole until its last byte arrives, in read buffers from the budget (and
    // from its client's share of it): one that cannot fit there could never be completed.
    const std::size_t largest_message_held = cfg.max_message_size + 2 * config::min_read_size;
    const auto check_holds_a_message = [&](std::string_view flag, std::size_t limit) {
        if (cfg.mode == relay_mode::message && limit != 0 && limit < largest_message_held) {
            throw config_error(std::string(flag) + " " + std::to_string(limit) +
                               " cannot hold one message of --max-message-size " +
                               std::to_string(cfg.max_message_size) + " (needs at least " +
                               std::to_string(largest_message_held) + " bytes)");
        }
    };
    check_holds_a_message("--buffer-limit", cfg.buffer_limit);
    check_holds_a_message("--client-buffer-limit", cfg.client_buffer_limit);
    // Each link's share of the spool must hold the largest message as one record (its framing
    // and the record and segment headers included).
    const std::size_t spool_share_needed = cfg.max_message_size + config::min_read_size;
    if (cfg.mode == relay_mode::message && !cfg.spool_dir.empty() &&
        cfg.spool_limit / cfg.upstream_connections < spool_share_needed) {
        throw config_error("--spool-limit " + std::to_string(cfg.spool_limit) +
                           " cannot hold one message of --max-message-size " +
                           std::to_string(cfg.max_message_size) +
                           " per upstream connection "
                           "(needs at least " +
                           std::to_string(spool_share_needed * cfg.upstream_connections) +
                           " bytes)");
    }
    return cfg;
}

// Control characters as C escapes; every other byte (UTF-8 included) as it is.
std::string escape_control(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u != 0x7f) {
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else {
            constexpr std::string_view hex = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 0xf];
        }
    }
    return out;
}

} // namespace

config_error::config_error(const std::string& message)
    : std::runtime_error(escape_control(message)) {}

parse_result parse_command_line(int argc, const char* const* argv,
                                const std::vector<std::string>& environment) {
    const option_set options;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        if (argv[i] != nullptr) {
            args.emplace_back(argv[i]);
        }
    }

    parse_result result;
    std::vector<source> sources; // in order of precedence
    sources.push_back(read_command_line(args, options));
    if (sources.front().values.contains("help")) {
        result.what = parse_result::action::help;
        result.text = options.help_text();
        return result;
    }
    if (sources.front().values.contains("version")) {
        result.what = parse_result::action::version;
        result.text = "funnel " FUNNEL_VERSION;
        return result;
    }

    sources.push_back(read_environment(environment, options.environment_names(), result.warnings));
    if (const auto file = pick(sources, "config")) {
        const std::string_view path = trim(file->value());
        if (path.empty()) {
            fail(file->where, "empty value (expected a file name)");
        }
        sources.push_back(read_config_file(std::string(path), file->where, options));
    }

    if (sources.front().values.contains("health-check")) {
        // The probe runs beside the main process (a container's HEALTHCHECK), which got
        // --listen and --target as its own arguments: only the admin address matters here.
        result.what = parse_result::action::health_check;
        result.cfg.metrics_listen = parse_metrics_listen(sources);
        if (!result.cfg.metrics_listen) {
            throw config_error(
                "--health-check needs --metrics-listen (or FUNNEL_METRICS_LISTEN, or the config "
                "file) to know where funnel serves /healthz");
        }
        return result;
    }
    result.cfg = build_config(sources);
    if (sources.front().values.contains("check-config")) {
        result.what = parse_result::action::check;
    }
    return result;
}

std::vector<std::string> current_environment() {
    std::vector<std::string> out;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        out.emplace_back(*entry);
    }
    return out;
}

std::size_t parse_size(std::string_view text, std::string_view what) {
    const std::string_view t = trim(text);
    if (t.empty()) {
        fail(what, "empty value " + std::string(size_hint));
    }
    const auto digits_end =
        static_cast<std::size_t>(std::find_if_not(t.begin(), t.end(), is_digit) - t.begin());
    const std::string_view digits = t.substr(0, digits_end);
    const std::string suffix = lower(trim(t.substr(digits_end)));

    std::uint64_t unit = 0;
    if (suffix.empty() || suffix == "b") {
        unit = 1;
    } else if (suffix == "kib") {
        unit = std::uint64_t{1} << 10;
    } else if (suffix == "mib") {
        unit = std::uint64_t{1} << 20;
    } else if (suffix == "gib") {
        unit = std::uint64_t{1} << 30;
    }
    if (digits.empty() || unit == 0) {
        fail(what, quote(t) + " is not a size " + std::string(size_hint));
    }
    const auto n = to_u64(digits);
    constexpr std::uint64_t max = std::numeric_limits<std::size_t>::max();
    if (!n || *n > max / unit) {
        fail(what, quote(t) + " is too large");
    }
    return static_cast<std::size_t>(*n * unit);
}

host_port parse_host_port(std::string_view text, std::string_view what, bool allow_port_zero) {
    const std::string_view t = trim(text);
    const std::string hint(host_port_hint);
    if (t.empty()) {
        fail(what, "empty value " + hint);
    }

    std::string_view host;
    std::string_view port;
    if (t.front() == '[') {
        const auto close = t.find(']');
        if (close == std::string_view::npos) {
            fail(what, quote(t) + " has no closing ']' " + hint);
        }
        host = t.substr(1, close - 1);
        const std::string_view rest = t.substr(close + 1);
        if (rest.empty()) {
            fail(what, quote(t) + " has no port " + hint);
        }
        if (rest.front() != ':') {
            fail(what, quote(t) + " needs ':' after ']' " + hint);
        }
        port = rest.substr(1);
        if (host.empty()) {
            fail(what, quote(t) + " has no host " + hint);
        }
        if (!is_ipv6_literal(host)) {
            fail(what, quote(t) + " has an invalid IPv6 address " + quote(host));
        }
    } else {
        const auto colon = t.rfind(':');
        if (colon == std::string_view::npos) {
            fail(what, quote(t) + " has no port " + hint);
        }
        host = t.substr(0, colon);
        port = t.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            fail(what, quote(t) + " looks like an IPv6 address without brackets; write it as " +
                           "[ADDRESS]:PORT, e.g. [::1]:9000");
        }
        if (host.empty()) {
            fail(what, quote(t) + " has no host " + hint);
        }
        // All digits and dots can only be meant as IPv4, so "300.1.1.1" is not a name.
        const bool numeric =
            std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
        if (numeric ? !is_ipv4_literal(host) : !is_host_name(host)) {
            fail(what, quote(t) + " has an invalid host " + quote(host));
        }
    }

    if (port.empty()) {
        fail(what, quote(t) + " has no port " + hint);
    }
    if (!all_digits(port)) {
        fail(what, quote(t) + " has an invalid port " + quote(port));
    }
    const std::uint64_t lowest = allow_port_zero ? 0 : 1;
    const auto n = to_u64(port);
    if (!n || *n < lowest || *n > 65535) {
        fail(what, "port " + std::string(port) + " is out of range (" + std::to_string(lowest) +
                       "-65535)");
    }
    return host_port{std::string(host), static_cast<std::uint16_t>(*n)};
}

config::seconds parse_seconds(std::string_view text, std::string_view what) {
    const std::string_view t = trim(text);
    if (t.empty()) {
        fail(what, "empty value " + std::string(seconds_hint));
    }
    std::string_view number = t;
    double scale = 1.0;
    const std::string lowered = lower(t);
    if (lowered.ends_with("ms")) {
        number.remove_suffix(2);
        scale = 0.001;
    } else if (lowered.ends_with('s')) {
        number.remove_suffix(1);
    }
    number = trim(number);

    // Plain decimals only: from_chars alone would also take "-1", "1e9", "inf" and "nan".
    const bool has_digit = std::any_of(number.begin(), number.end(), is_digit);
    const bool plain =
        std::all_of(number.begin(), number.end(), [](char c) { return is_digit(c) || c == '.'; }) &&
        std::count(number.begin(), number.end(), '.') <= 1;
    if (!has_digit || !plain) {
        fail(what, quote(t) + " is not a duration " + std::string(seconds_hint));
    }
    double value = 0;
    const char* end = number.data() + number.size();
    const auto [ptr, ec] = std::from_chars(number.data(), end, value);
    if (ec == std::errc::result_out_of_range) {
        fail(what, quote(t) + " is too large (at most one year)");
    }
    if (ec != std::errc{} || ptr != end) {
        fail(what, quote(t) + " is not a duration " + std::string(seconds_hint));
    }
    value *= scale;
    if (value > max_seconds) {
        fail(what, quote(t) + " is too large (at most one year)");
    }
    return config::seconds{value};
}

std::uint64_t parse_count(std::string_view text, std::string_view what) {
    const std::string_view t = trim(text);
    if (t.empty()) {
        fail(what, "empty value (expected a whole number)");
    }
    if (!all_digits(t)) {
        fail(what, quote(t) + " is not a whole number of 0 or more");
    }
    const auto n = to_u64(t);
    if (!n) {
        fail(what, quote(t) + " is too large");
    }
    return *n;
}

cidr parse_cidr(std::string_view text, std::string_view what) {
    const std::string_view t = trim(text);
    const std::string hint(cidr_hint);
    if (t.empty()) {
        fail(what, "empty value " + hint);
    }
    const auto slash = t.find('/');
    const std::string address(t.substr(0, slash));
    cidr c;
    unsigned longest = 32;
    if (inet_pton(AF_INET, address.c_str(), c.bytes.data()) != 1) {
        if (inet_pton(AF_INET6, address.c_str(), c.bytes.data()) != 1) {
            fail(what, quote(t) + " has an invalid address " + quote(address) + " " + hint);
        }
        c.v6 = true;
        longest = 128;
    }
    c.prefix = longest;
    if (slash != std::string_view::npos) {
        const std::string_view prefix = t.substr(slash + 1);
        if (!all_digits(prefix)) {
            fail(what, quote(t) + " has an invalid prefix length " + quote(prefix) + " " + hint);
        }
        const auto n = to_u64(prefix);
        if (!n || *n > longest) {
            fail(what, quote(t) + " has a prefix length above " + std::to_string(longest));
        }
        c.prefix = static_cast<unsigned>(*n);
    }

    // Host bits set are rejected, as a likely typo ("10.1.2.3/8" for "10.1.2.3/32", or for
    // "10.0.0.0/8"?): the message shows the block the value would otherwise have meant.
    cidr network = c;
    for (unsigned bit = c.prefix; bit < longest; ++bit) {
        network.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    }
    if (network.bytes != c.bytes) {
        fail(what, quote(t) + " has bits set after the prefix (the block is " +
                       network.to_string() + ")");
    }

    // ::ffff:a.b.c.d/N, N >= 96, names IPv4 addresses: stored as a.b.c.d/(N - 96).
    constexpr std::array<std::uint8_t, 12> v4_mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (c.v6 && c.prefix >= 96 && std::equal(v4_mapped.begin(), v4_mapped.end(), c.bytes.begin())) {
        cidr v4;
        std::copy_n(c.bytes.begin() + 12, 4, v4.bytes.begin());
        v4.prefix = c.prefix - 96;
        return v4;
    }
    return c;
}

std::pair<std::chrono::milliseconds, std::chrono::milliseconds>
parse_backoff_range(std::string_view text, std::string_view what) {
    const std::string_view t = trim(text);
    const std::string hint(backoff_hint);
    if (t.empty()) {
        fail(what, "empty value " + hint);
    }
    const auto colon = t.find(':');
    if (colon == std::string_view::npos) {
        fail(what, quote(t) + " has no ':' " + hint);
    }
    // Milliseconds; a number too long for 64 bits is simply above the maximum.
    const auto millis = [&](std::string_view part, const char* name) {
        part = trim(part);
        if (part.empty()) {
            fail(what, quote(t) + " has no " + name + " " + hint);
        }
        if (!all_digits(part)) {
            fail(what, quote(t) + " has " + name + " " + quote(part) +
                           ", not a whole number of milliseconds " + hint);
        }
        return to_u64(part).value_or(std::numeric_limits<std::uint64_t>::max());
    };
    const std::uint64_t min = millis(t.substr(0, colon), "MIN");
    const std::uint64_t max = millis(t.substr(colon + 1), "MAX");
    if (min == 0) {
        fail(what, quote(t) + " has MIN below 1 " + hint);
    }
    if (max > max_backoff_ms) {
        fail(what,
             quote(t) + " has MAX above " + std::to_string(max_backoff_ms) + " (one hour) " + hint);
    }
    if (max < min) {
        fail(what, quote(t) + " has MAX below MIN " + hint);
    }
    using ms = std::chrono::milliseconds;
    return {ms{static_cast<ms::rep>(min)}, ms{static_cast<ms::rep>(max)}};
}

} // namespace funnel
