// funnel-load: a load generator for funnel and its peers. N connections from several threads send
// probe messages (line or length framing) or verifiable bulk streams, as fast as possible or
// paced, and one JSON line is printed at the end.
// Exit status: 0 when every connection succeeded, 1 otherwise or when it cannot run, 2 for a bad
// option.

#include "funnel/loadtest/bulk_pattern.hpp"
#include "funnel/loadtest/cli_values.hpp"
#include "funnel/loadtest/load_generator.hpp"
#include "funnel/loadtest/output_file.hpp"
#include "funnel/loadtest/probe_message.hpp"

#include <cstdio>
#include <exception>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <unistd.h>

namespace {

namespace lt = funnel::loadtest;

constexpr const char* usage = R"(Usage: funnel-load --target HOST:PORT [options]

A load generator: N connections, each one client, send probe messages or bulk streams that
funnel-sink verifies, and one JSON line is printed on stdout at the end. Exit status 0 when every
connection succeeded, 1 otherwise, 2 for a bad option.

  --target HOST:PORT        where to connect (required)
  --mode MODE               line    probe messages ending in '\n' (default)
                            length  probe messages after a 4-byte big-endian length
                            bulk    one verifiable byte stream per connection
  --graphite                line: write each probe line as a graphite plaintext line,
                            "METRIC 1 1700000000", the probe (header and filler) being the
                            metric name (hex digits and letters only), so that graphite relays
                            such as carbon-c-relay forward it; funnel-sink takes either shape
  --connections N           connections, one client each (default 16)
  --threads T               threads, each with its own event loop (default: the smaller of N
                            and the number of cores)
  --messages M              messages per connection (line, length)
  --message-size SIZE       bytes per message including the framing (default 100). A message
                            holds a 56-byte header (client id, sequence number, send time,
                            length, check), so the minimum is 57 for line, 60 for length,
                            70 for line --graphite (13 more for " 1 1700000000").
  --bytes SIZE              bulk: bytes per connection, its 32-byte header included
  --duration SECONDS        stop after SECONDS (with --messages or --bytes: whichever is first)
  --rate R                  total rate over all connections: messages per second (line,
                            length) or bytes per second (bulk, SIZE suffixes allowed). Open
                            loop: each message is stamped with the time it was due, so a stall
                            shows up as latency. 0 = as fast as possible (default).
  --tick SECONDS            paced: how often each thread writes what has become due (default
                            0.0002). A message may wait that long in the generator, which the
                            sink counts as latency; shorter means more and smaller writes.
  --client-id-base N        client id of the first connection (default 0); the others follow.
                            Gives several load processes feeding one sink distinct clients.
  --connect-timeout SECONDS (default 5)
  --progress auto|on|off    a live line on stderr (msgs/s, MB/s, elapsed); auto: only when
                            stderr is a terminal (default auto)
  --result-file PATH        also write the JSON line to PATH
  --help                    print this and exit

Line and length mode need --messages or --duration; bulk needs --bytes or --duration (a stream
of unknown length is complete at EOF). At the end each connection shuts down its sending side
and waits (up to 2 s) for the peer to close. SIZE takes an optional B, KiB, MiB or GiB suffix;
SECONDS take decimals (0.5) or ms.
JSON fields: tool mode connections threads messages bytes seconds messages_per_second
megabytes_per_second errors.
)";

enum class progress_mode { automatic, on, off };

struct cli {
    lt::load_config cfg;
    progress_mode progress = progress_mode::automatic;
    std::string result_file;
    bool help = false;
};

std::chrono::nanoseconds to_duration(double seconds) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
}

cli parse(int argc, char** argv) {
    const lt::command_line args(argc, argv, {"help,h", "graphite"},
                                {"target", "mode", "connections", "threads", "messages",
                                 "message-size", "bytes", "duration", "rate", "tick",
                                 "client-id-base", "connect-timeout", "progress", "result-file"});
    cli c;
    if (args.has("help")) {
        c.help = true;
        return c;
    }
    const auto text = [&args](const char* name) {
        return args.value(name);
    };
    auto& cfg = c.cfg;
    const auto* target = text("target");
    if (target == nullptr)
        throw lt::usage_error("--target is required");
    const auto hp = lt::parse_host_port(*target, "--target", false);
    cfg.host = hp.host;
    cfg.port = hp.port;

    if (const auto* v = text("mode")) {
        if (*v == "line")
            cfg.mode = lt::load_mode::line;
        else if (*v == "length")
            cfg.mode = lt::load_mode::length;
        else if (*v == "bulk")
            cfg.mode = lt::load_mode::bulk;
        else
            throw lt::usage_error("--mode: '" + *v + "' is not line, length or bulk");
    }
    const bool bulk = cfg.mode == lt::load_mode::bulk;
    if (args.has("graphite")) {
        if (cfg.mode != lt::load_mode::line)
            throw lt::usage_error("--graphite: applies to line mode only");
        cfg.shape = lt::probe_shape::graphite;
    }
    if (const auto* v = text("connections")) {
        const auto n = lt::parse_count(*v, "--connections");
        if (n < 1 || n > 1000000)
            throw lt::usage_error("--connections: '" + *v + "' is not from 1 to 1000000");
        cfg.connections = static_cast<std::size_t>(n);
    }
    if (const auto* v = text("threads")) {
        const auto n = lt::parse_count(*v, "--threads");
        if (n < 1 || n > 1024)
            throw lt::usage_error("--threads: '" + *v + "' is not from 1 to 1024");
        cfg.threads = static_cast<std::size_t>(n);
    }
    if (const auto* v = text("messages")) {
        if (bulk)
            throw lt::usage_error("--messages: applies to line and length mode; bulk uses --bytes");
        cfg.messages = lt::parse_count(*v, "--messages");
    }
    if (const auto* v = text("message-size")) {
        if (bulk)
            throw lt::usage_error("--message-size: applies to line and length mode");
        const auto n = lt::parse_size(*v, "--message-size");
        const auto f = cfg.mode == lt::load_mode::line ? lt::framing::line : lt::framing::length;
        const auto min = lt::min_message_size(f, cfg.shape);
        if (n < min)
            throw lt::usage_error(
                "--message-size: '" + *v + "' is less than " + std::to_string(min) +
                " (the probe header" +
                (cfg.shape == lt::probe_shape::graphite ? ", the graphite suffix" : "") +
                " and the framing)");
        if (n > (std::uint64_t{1} << 30))
            throw lt::usage_error("--message-size: '" + *v + "' is more than 1GiB");
        cfg.message_size = static_cast<std::size_t>(n);
    }
    if (const auto* v = text("bytes")) {
        if (!bulk)
            throw lt::usage_error("--bytes: applies to bulk mode; line and length use --messages");
        const auto n = lt::parse_size(*v, "--bytes");
        if (n < lt::bulk_header_size)
            throw lt::usage_error("--bytes: '" + *v + "' is less than " +
                                  std::to_string(lt::bulk_header_size) + " (the stream header)");
        cfg.bytes = n;
    }
    if (const auto* v = text("duration")) {
        const double s = lt::parse_seconds(*v, "--duration");
        if (s <= 0)
            throw lt::usage_error("--duration: must be more than 0");
        cfg.duration = to_duration(s);
    }
    if (const auto* v = text("rate")) {
        // Bulk: bytes per second, as a plain number or with a size suffix ("100MiB").
        const bool suffix = bulk && v->find_first_not_of("0123456789. ") != std::string::npos;
        cfg.rate = suffix ? static_cast<double>(lt::parse_size(*v, "--rate"))
                          : lt::parse_number(*v, "--rate");
    }
    if (const auto* v = text("tick")) {
        const double s = lt::parse_seconds(*v, "--tick");
        if (s < 1e-5 || s > 1)
            throw lt::usage_error("--tick: '" + *v + "' is not from 0.00001 to 1 second");
        cfg.tick = to_duration(s);
    }
    if (const auto* v = text("client-id-base")) {
        const auto n = lt::parse_count(*v, "--client-id-base");
        if (n + cfg.connections - 1 > std::numeric_limits<std::uint32_t>::max())
            throw lt::usage_error("--client-id-base: '" + *v +
                                  "' leaves no room for the connections' ids (32 bits)");
        cfg.client_id_base = static_cast<std::uint32_t>(n);
    }
    if (const auto* v = text("connect-timeout")) {
        const double s = lt::parse_seconds(*v, "--connect-timeout");
        if (s <= 0)
            throw lt::usage_error("--connect-timeout: must be more than 0");
        cfg.connect_timeout = to_duration(s);
    }
    if (const auto* v = text("progress")) {
        if (*v == "auto")
            c.progress = progress_mode::automatic;
        else if (*v == "on")
            c.progress = progress_mode::on;
        else if (*v == "off")
            c.progress = progress_mode::off;
        else
            throw lt::usage_error("--progress: '" + *v + "' is not auto, on or off");
    }
    if (const auto* v = text("result-file"))
        c.result_file = *v;

    if (bulk && !cfg.bytes && !cfg.duration)
        throw lt::usage_error("bulk mode needs --bytes or --duration");
    if (!bulk && !cfg.messages && !cfg.duration)
        throw lt::usage_error(std::string(lt::to_string(cfg.mode)) +
                              " mode needs --messages or --duration");
    return c;
}

// The live line: rates over the last interval, and the time since sending began.
class progress_line {
public:
    void update(const lt::load_progress& p) {
        const double dt = p.elapsed - last_.elapsed;
        if (dt <= 0)
            return;
        const double msgs = static_cast<double>(p.messages - last_.messages) / dt;
        const double mb = static_cast<double>(p.bytes - last_.bytes) / 1e6 / dt;
        std::fprintf(stderr, "\r%10.3f M msgs/s %10.1f MB/s %8.1f s elapsed   ", msgs / 1e6, mb,
                     p.elapsed);
        std::fflush(stderr);
        shown_ = true;
        last_ = p;
    }
    void end() {
        if (shown_)
            std::fputc('\n', stderr);
    }

private:
    lt::load_progress last_;
    bool shown_ = false;
};

} // namespace

int main(int argc, char** argv) {
    cli c;
    try {
        c = parse(argc, argv);
    } catch (const lt::usage_error& e) {
        std::cerr << "funnel-load: error: " << e.what() << "\n";
        return 2;
    }
    if (c.help) {
        std::cout << usage;
        return 0;
    }
    const bool show = c.progress == progress_mode::on ||
                      (c.progress == progress_mode::automatic && ::isatty(STDERR_FILENO) == 1);
    try {
        lt::load_generator load(c.cfg);
        progress_line line;
        std::function<void(const lt::load_progress&)> on_progress;
        if (show)
            on_progress = [&line](const lt::load_progress& p) {
                line.update(p);
            };
        const lt::load_result r = load.run(on_progress);
        line.end();
        const std::string json = r.to_json();
        std::cout << json << std::endl;
        if (!c.result_file.empty())
            lt::write_file_atomically(c.result_file, json + "\n");
        return r.errors == 0 ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "funnel-load: error: " << e.what() << "\n";
        return 1;
    }
}
