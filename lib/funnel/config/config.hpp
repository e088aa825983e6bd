#pragma once
// funnel's configuration: a plain struct with defaults, filled in by parse_command_line()
// (flags, FUNNEL_* environment variables, an INI config file) and checked once there.
//
// Thread-safety: built before any thread starts, read-only afterwards.

#include "funnel/framing/framing.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace funnel {

// A "HOST:PORT" or "[V6]:PORT" pair as the user wrote it. The host may be a name: it is
// resolved asynchronously when it is used, never while parsing.
struct host_port {
    std::string host;
    std::uint16_t port = 0;

    std::string to_string() const; // "[::1]:9000" for IPv6 literals, "host:port" otherwise
    friend bool operator==(const host_port&, const host_port&) = default;
};

// An address block for --allow and --deny, checked when parsed: IPv4 (the first 4 bytes) or IPv6,
// in network byte order, with every bit after the prefix zero. An IPv4-mapped IPv6 block
// (::ffff:a.b.c.d/96 and longer) is stored as the IPv4 block it names, since a client's mapped
// address is judged as the IPv4 address it carries.
struct cidr {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};
    unsigned prefix = 0; // 0-32 for IPv4, 0-128 for IPv6

    std::string to_string() const; // "10.0.0.0/8", "2001:db8::/32"
    friend bool operator==(const cidr&, const cidr&) = default;
};

enum class relay_mode { stream, message };
enum class log_level { trace, debug, info, warn, error };
enum class log_format { text, json };
// Message mode's disk spool (docs/spool.md).
enum class spool_mode { overflow, always }; // spill what memory cannot hold, or write ahead
enum class spool_sync { always, interval, never };
enum class overflow_policy { block, drop_newest, drop_oldest }; // the spool or its disk is full

struct config {
    using seconds = std::chrono::duration<double>;

    // The smallest read buffer, and so the smallest budget: buffer_limit holds at least one.
    static constexpr std::size_t min_read_size = std::size_t{64} << 10;
    static constexpr std::size_t stream_read_size = std::size_t{256} << 10;

    // What one read fills at most: a block of the buffer pools. Stream mode only passes bytes
    // through, so a larger read means fewer system calls and fewer hand-offs between the io
    // thread and the pool per byte (a quarter less CPU per GB: docs/benchmarks.md), as long as
    // the budget holds many of them. Message mode keeps small blocks, so that thousands of
    // clients' unfinished messages share the budget finely.
    std::size_t read_size() const {
        return mode == relay_mode::stream && buffer_limit >= 16 * stream_read_size
                   ? stream_read_size
                   : min_read_size;
    }

    std::vector<host_port> listen; // at least one; port 0 = ephemeral (tests)
    host_port target;              // required
    relay_mode mode = relay_mode::stream;
    std::size_t workers = 0; // 0 after parsing only if the user asked for 0; default: cores
    std::size_t max_connections = 10000;
    // Access control and overload (server/access_policy.hpp, service.cpp).
    std::vector<cidr> allow;                // when not empty, only these clients are admitted
    std::vector<cidr> deny;                 // refused even when an allow block holds them
    std::size_t max_connections_per_ip = 0; // 0 = unlimited
    bool refuse_when_full = false;          // stop accepting while --buffer-limit is spent
    seconds idle_timeout{0};                // 0 = off
    std::size_t buffer_limit = std::size_t{64} << 20; // bytes held for targets, all clients
    // The most of buffer_limit one client may hold; 0 = off (one client may take all of it).
    // Checked: at least read_size(), at most buffer_limit (message mode: also one whole message).
    std::size_t client_buffer_limit = 0;
    seconds connect_timeout{5};
    seconds drain_timeout{10};
    seconds stats_interval{60}; // 0 = off
    // Message mode.
    framing message_framing = framing::line;
    std::size_t max_message_size = std::size_t{1} << 20; // payload, without framing bytes
    oversize_policy oversize = oversize_policy::skip;
    std::size_t upstream_connections = 4; // persistent connections the messages share
    std::chrono::milliseconds reconnect_backoff_min{100};
    std::chrono::milliseconds reconnect_backoff_max{10000};
    // The disk spool (message mode): off while spool_dir is empty. The limit is shared equally
    // by the links.
    std::string spool_dir;
    std::size_t spool_limit = std::size_t{1} << 30;
    spool_mode spool_use = spool_mode::overflow;
    spool_sync spool_sync_mode = spool_sync::interval;
    seconds spool_sync_interval{1};
    overflow_policy overflow = overflow_policy::block;
    log_level level = log_level::info;
    log_format format = log_format::text;
    // Empty: standard error, as containers expect. Otherwise this file, rotated once it would grow
    // past log_file_size: funnel.log becomes funnel.1.log, funnel.1.log funnel.2.log, and so on.
    std::string log_file;
    std::size_t log_file_size = std::size_t{100} << 20;
    std::size_t log_file_count = 5; // rotated files kept besides the current one
    // Where the HTTP admin endpoint (/metrics, /healthz, /readyz) listens; off when empty.
    std::optional<host_port> metrics_listen;
};

// The settings in effect, one line of "name=value" pairs: logged at start, printed by
// --check-config.
std::string describe(const config& c);

const char* to_string(relay_mode m);
const char* to_string(log_level l);
const char* to_string(log_format f);
const char* to_string(spool_mode m);
const char* to_string(spool_sync s);
const char* to_string(overflow_policy p);

} // namespace funnel
