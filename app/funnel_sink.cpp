// funnel-sink: a target server for load tests. It accepts any number of connections, counts and
// verifies what arrives, and prints one JSON line when it stops.
// Exit status: 0 when the verdict is ok (expectations met), 1 otherwise or when it cannot run,
// 2 for a bad option.

#include "funnel/endpoint_text.hpp"
#include "funnel/loadtest/cli_values.hpp"
#include "funnel/loadtest/output_file.hpp"
#include "funnel/loadtest/probe_message.hpp"
#include "funnel/loadtest/sink_server.hpp"

#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

namespace {

namespace lt = funnel::loadtest;

constexpr const char* usage = R"(Usage: funnel-sink [options]

A target server for load tests: accepts any number of connections, counts and verifies what
arrives, and prints one JSON line on stdout when it stops. Exit status 0 when the verdict is ok
and the expectations were met, 1 otherwise, 2 for a bad option.

  --listen HOST:PORT        where to listen (default 127.0.0.1:0: a free port). Once listening it
                            prints "listening on ADDRESS:PORT" on stderr.
  --port-file PATH          also write the port number to PATH (atomically: temp file + rename)
  --mode MODE               count   count bytes only (any data; the fastest)
                            bulk    verify funnel-load's bulk streams (pattern, length)
                            line    verify funnel-load's probe messages, '\n'-terminated,
                                    plain or graphite-shaped (funnel-load --graphite), told
                                    apart by each line's end
                            length  verify funnel-load's probe messages, 4-byte length prefix
                            (default count)
  --threads N               io threads; connections are spread over them (default 1)
  --max-message-size SIZE   the largest message body in line/length mode (default 1MiB)

Stop conditions (any combination; the first that holds stops it):
  --expect-messages N       once N messages have arrived
  --expect-bytes SIZE       once SIZE bytes have arrived
  --expect-connections N    once N connections have ended with EOF
  --idle-exit SECONDS       after the first byte, once nothing arrived for SECONDS
  --timeout SECONDS         after SECONDS in any case
  SIGINT, SIGTERM

Faults, per connection (for tests of what sends to it):
  --no-read                 accept and never read
  --read-rate SIZE          read at most SIZE bytes per second
  --close-after SIZE        close after reading SIZE bytes
  --reset-after SIZE        reset (SO_LINGER 0, close) after reading SIZE bytes
  --restart-every SECONDS   restart like a target being redeployed: stop listening, close each
                            connection gracefully (FIN, then read until the sender closes, so
                            nothing it wrote is left unread), stay down --down-for SECONDS
                            (default 1) and until every connection has ended, listen again on
                            the same address; repeat

Output:
  --result-file PATH        also write the JSON line to PATH
  --help                    print this and exit

SIZE takes an optional B, KiB, MiB or GiB suffix; SECONDS take decimals (0.5) or ms.
JSON fields: tool mode stop connections connections_ended restarts bytes messages unique duplicated
reordered corrupted holes clients seconds messages_per_second megabytes_per_second
latency_us{p50,p90,p99,p999,max} (line/length) streams_complete streams_short (bulk) verdict.
)";

struct cli {
    lt::sink_config cfg;
    std::string port_file;
    std::string result_file;
    bool help = false;
};

std::chrono::nanoseconds to_duration(double seconds) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
}

std::uint64_t at_least_one(std::uint64_t v, const char* option) {
    if (v == 0)
        throw lt::usage_error(std::string(option) + ": must be at least 1");
    return v;
}

cli parse(int argc, char** argv) {
    const lt::command_line args(argc, argv, {"help,h", "no-read"},
                                {"listen", "port-file", "mode", "threads", "max-message-size",
                                 "expect-messages", "expect-bytes", "expect-connections",
                                 "idle-exit", "timeout", "read-rate", "close-after", "reset-after",
                                 "restart-every", "down-for", "result-file"});
    cli c;
    if (args.has("help")) {
        c.help = true;
        return c;
    }
    const auto text = [&args](const char* name) {
        return args.value(name);
    };
    auto& cfg = c.cfg;
    if (const auto* v = text("listen")) {
        const auto hp = lt::parse_host_port(*v, "--listen", true);
        cfg.listen_host = hp.host;
        cfg.listen_port = hp.port;
    }
    if (const auto* v = text("mode")) {
        if (*v == "count")
            cfg.mode = lt::sink_mode::count;
        else if (*v == "bulk")
            cfg.mode = lt::sink_mode::bulk;
        else if (*v == "line")
            cfg.mode = lt::sink_mode::line;
        else if (*v == "length")
            cfg.mode = lt::sink_mode::length;
        else
            throw lt::usage_error("--mode: '" + *v + "' is not count, bulk, line or length");
    }
    if (const auto* v = text("threads")) {
        const auto n = at_least_one(lt::parse_count(*v, "--threads"), "--threads");
        if (n > 1024)
            throw lt::usage_error("--threads: '" + *v + "' is more than 1024");
        cfg.threads = static_cast<std::size_t>(n);
    }
    if (const auto* v = text("max-message-size")) {
        const auto n = at_least_one(lt::parse_size(*v, "--max-message-size"), "--max-message-size");
        if (n > (std::uint64_t{1} << 30))
            throw lt::usage_error("--max-message-size: '" + *v + "' is more than 1GiB");
        cfg.max_message_size = static_cast<std::size_t>(n);
    }
    if (const auto* v = text("expect-messages"))
        cfg.expect_messages =
            at_least_one(lt::parse_count(*v, "--expect-messages"), "--expect-messages");
    if (const auto* v = text("expect-bytes"))
        cfg.expect_bytes = at_least_one(lt::parse_size(*v, "--expect-bytes"), "--expect-bytes");
    if (const auto* v = text("expect-connections"))
        cfg.expect_connections =
            at_least_one(lt::parse_count(*v, "--expect-connections"), "--expect-connections");
    if (const auto* v = text("idle-exit")) {
        const double s = lt::parse_seconds(*v, "--idle-exit");
        if (s <= 0)
            throw lt::usage_error("--idle-exit: must be more than 0");
        cfg.idle_exit = to_duration(s);
    }
    if (const auto* v = text("timeout")) {
        const double s = lt::parse_seconds(*v, "--timeout");
        if (s <= 0)
            throw lt::usage_error("--timeout: must be more than 0");
        cfg.timeout = to_duration(s);
    }
    cfg.no_read = args.has("no-read");
    if (const auto* v = text("read-rate"))
        cfg.read_rate = at_least_one(lt::parse_size(*v, "--read-rate"), "--read-rate");
    if (const auto* v = text("close-after"))
        cfg.close_after = lt::parse_size(*v, "--close-after");
    if (const auto* v = text("reset-after"))
        cfg.reset_after = lt::parse_size(*v, "--reset-after");
    if (const auto* v = text("restart-every")) {
        const double s = lt::parse_seconds(*v, "--restart-every");
        if (s <= 0)
            throw lt::usage_error("--restart-every: must be more than 0");
        cfg.restart_every = to_duration(s);
    }
    if (const auto* v = text("down-for"))
        cfg.down_for = to_duration(lt::parse_seconds(*v, "--down-for"));
    if (const auto* v = text("port-file"))
        c.port_file = *v;
    if (const auto* v = text("result-file"))
        c.result_file = *v;
    return c;
}

} // namespace

int main(int argc, char** argv) {
    cli c;
    try {
        c = parse(argc, argv);
    } catch (const lt::usage_error& e) {
        std::cerr << "funnel-sink: error: " << e.what() << "\n";
        return 2;
    }
    if (c.help) {
        std::cout << usage;
        return 0;
    }
    std::optional<lt::sink_server> sink;
    try {
        sink.emplace(c.cfg);
    } catch (const std::exception& e) {
        std::cerr << "funnel-sink: error: cannot listen on "
                  << lt::to_string(lt::host_port{c.cfg.listen_host, c.cfg.listen_port}) << ": "
                  << e.what() << "\n";
        return 1;
    }
    try {
        const auto ep = sink->local_endpoint();
        std::cerr << "listening on " << funnel::to_text(ep) << std::endl;
        if (!c.port_file.empty())
            lt::write_file_atomically(c.port_file, std::to_string(ep.port()) + "\n");
        const lt::sink_result r = sink->run();
        const std::string json = r.to_json();
        std::cout << json << std::endl;
        if (!c.result_file.empty())
            lt::write_file_atomically(c.result_file, json + "\n");
        return r.ok() ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "funnel-sink: error: " << e.what() << "\n";
        return 1;
    }
}
