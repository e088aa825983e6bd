// funnel-load and funnel-sink as child processes: straight into each other in every mode, through
// a real funnel in message mode, the sink's verdicts on damaged input, its faults (close, reset,
// no read, slow read), its files and its command line. Loopback only; every wait has a deadline.

#include "funnel/loadtest/bulk_pattern.hpp"
#include "funnel/loadtest/probe_message.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/funnel_process.hpp"
#include "support/json_fields.hpp"
#include "support/loopback.hpp"
#include "support/temp_dir.hpp"

namespace funnel::test {
namespace {

const std::string funnel_binary = FUNNEL_BINARY;
const std::string load_binary = FUNNEL_LOAD_BINARY;
const std::string sink_binary = FUNNEL_SINK_BINARY;

process_options with_args(std::vector<std::string> args) {
    process_options o;
    o.args = std::move(args);
    return o;
}

std::string last_line(const std::string& text) {
    std::string line;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (!l.empty())
            line = l;
    return line;
}

// The port of the first "listening on HOST:PORT" line of `p`; 0 when none came in time.
std::uint16_t listening_port(funnel_process& p) {
    const auto line = p.wait_for_stderr("listening on ");
    if (!line)
        return 0;
    const auto colon = line->rfind(':');
    return static_cast<std::uint16_t>(std::stoul(line->substr(colon + 1)));
}

// A funnel-sink child process on an ephemeral port. A generous --timeout keeps a broken test
// from waiting forever even without the destructor's SIGKILL.
class sink_process {
public:
    explicit sink_process(std::vector<std::string> args) : p_(sink_binary, make(std::move(args))) {
        port_ = listening_port(p_);
        if (port_ == 0)
            throw std::runtime_error("funnel-sink did not listen: " + p_.stderr_text());
    }
    std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
    tcp::endpoint endpoint() const {
        return tcp::endpoint(net::ip::make_address("127.0.0.1"), port_);
    }
    funnel_process& process() { return p_; }

    // Waits for the sink to exit and returns its exit status and JSON line.
    std::pair<exit_status, std::string> result(duration timeout = default_timeout) {
        const auto status = p_.wait_for_exit(timeout);
        if (!status)
            return {exit_status{}, "(still running) " + p_.stderr_text()};
        return {*status, last_line(p_.stdout_text())};
    }

private:
    static process_options make(std::vector<std::string> args) {
        args.insert(args.end(), {"--listen", "127.0.0.1:0", "--timeout", "60"});
        return with_args(std::move(args));
    }
    funnel_process p_;
    std::uint16_t port_ = 0;
};

// Runs funnel-load to the end; returns its exit status and JSON line.
std::pair<exit_status, std::string> run_load(std::vector<std::string> args) {
    args.insert(args.end(), {"--connect-timeout", "5"});
    funnel_process load(load_binary, with_args(std::move(args)));
    const auto status = load.wait_for_exit(std::chrono::seconds(60));
    if (!status)
        return {exit_status{}, "(still running) " + load.stderr_text()};
    return {*status, last_line(load.stdout_text())};
}

// Everything the sink counts in a message mode, checked against `messages` from `clients`.
void expect_exact_messages(const std::string& json, std::uint64_t messages, std::uint64_t clients) {
    EXPECT_EQ(json_text(json, "verdict"), "ok") << json;
    EXPECT_EQ(json_u64(json, "messages"), messages) << json;
    EXPECT_EQ(json_u64(json, "unique"), messages) << json;
    EXPECT_EQ(json_u64(json, "clients"), clients) << json;
    EXPECT_EQ(json_u64(json, "duplicated"), 0U) << json;
    EXPECT_EQ(json_u64(json, "reordered"), 0U) << json;
    EXPECT_EQ(json_u64(json, "corrupted"), 0U) << json;
    EXPECT_EQ(json_u64(json, "holes"), 0U) << json;
    EXPECT_GT(json_double(json, "p99"), 0.0) << json;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// ---- load straight into the sink ------------------------------------------------------------

TEST(ToolsDirect, LineMessagesArriveExactlyOnce) {
    sink_process sink({"--mode", "line", "--threads", "2", "--expect-messages", "20000"});
    const auto [load_status, load] = run_load(
        {"--target", sink.target(), "--mode", "line", "--connections", "4", "--messages", "5000"});
    EXPECT_EQ(load_status, exit_status::exited(0)) << load;
    EXPECT_EQ(json_text(load, "tool"), "funnel-load");
    EXPECT_EQ(json_u64(load, "messages"), 20000U) << load;
    EXPECT_EQ(json_u64(load, "bytes"), 20000U * 100) << load;
    EXPECT_EQ(json_u64(load, "errors"), 0U) << load;

    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    EXPECT_EQ(json_text(json, "tool"), "funnel-sink");
    EXPECT_EQ(json_text(json, "stop"), "expect-messages");
    EXPECT_EQ(json_u64(json, "bytes"), 20000U * 100) << json;
    EXPECT_EQ(json_u64(json, "connections"), 4U) << json;
    expect_exact_messages(json, 20000, 4);
}

TEST(ToolsDirect, LengthFramedKilobyteMessagesArriveExactlyOnce) {
    sink_process sink({"--mode", "length", "--expect-messages", "6000"});
    const auto [load_status, load] =
        run_load({"--target", sink.target(), "--mode", "length", "--connections", "3", "--messages",
                  "2000", "--message-size", "1KiB", "--threads", "2"});
    EXPECT_EQ(load_status, exit_status::exited(0)) << load;
    EXPECT_EQ(json_u64(load, "bytes"), 6000U * 1024) << load;
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    EXPECT_EQ(json_u64(json, "bytes"), 6000U * 1024) << json;
    expect_exact_messages(json, 6000, 3);
}

TEST(ToolsDirect, BulkStreamsArriveWholeAndVerified) {
    const std::uint64_t bytes = (5 << 20) + 7; // not a multiple of anything
    sink_process sink({"--mode", "bulk", "--expect-connections", "3"});
    const auto [load_status, load] =
        run_load({"--target", sink.target(), "--mode", "bulk", "--connections", "3", "--bytes",
                  std::to_string(bytes)});
    EXPECT_EQ(load_status, exit_status::exited(0)) << load;
    EXPECT_EQ(json_u64(load, "bytes"), 3 * bytes) << load;
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    EXPECT_EQ(json_text(json, "verdict"), "ok") << json;
    EXPECT_EQ(json_u64(json, "bytes"), 3 * bytes) << json;
    EXPECT_EQ(json_u64(json, "streams_complete"), 3U) << json;
    EXPECT_EQ(json_u64(json, "streams_short"), 0U) << json;
    EXPECT_EQ(json_u64(json, "corrupted"), 0U) << json;
    EXPECT_EQ(json_u64(json, "clients"), 3U) << json;
}

TEST(ToolsDirect, GraphiteShapedLinesArriveExactlyOnce) {
    sink_process sink({"--mode", "line", "--expect-messages", "6000"});
    const auto [load_status, load] =
        run_load({"--target", sink.target(), "--mode", "line", "--graphite", "--connections", "3",
                  "--messages", "2000", "--message-size", "70"});
    EXPECT_EQ(load_status, exit_status::exited(0)) << load;
    EXPECT_EQ(json_u64(load, "bytes"), 6000U * 70) << load;
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    EXPECT_EQ(json_u64(json, "bytes"), 6000U * 70) << json;
    expect_exact_messages(json, 6000, 3);
}

TEST(ToolsDirect, TwoLoadsWithDistinctClientIdsFeedOneSink) {
    sink_process sink({"--mode", "line", "--expect-messages", "8000"});
    for (const char* base : {"0", "1000"}) {
        const auto [load_status, load] = run_load({"--target", sink.target(), "--connections", "4",
                                                   "--messages", "1000", "--client-id-base", base});
        EXPECT_EQ(load_status, exit_status::exited(0)) << load;
    }
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    expect_exact_messages(json, 8000, 8);
}

TEST(ToolsDirect, PacedLoadSendsAtItsRateUntilTheDuration) {
    // 4000 messages/s for 0.5 s: about 2000 messages, never more than the schedule allows.
    sink_process sink({"--mode", "line", "--idle-exit", "0.3"});
    const auto [load_status, load] = run_load(
        {"--target", sink.target(), "--connections", "4", "--rate", "4000", "--duration", "0.5"});
    EXPECT_EQ(load_status, exit_status::exited(0)) << load;
    const std::uint64_t sent = json_u64(load, "messages");
    EXPECT_LE(sent, 2004U) << load;
    EXPECT_GE(sent, 1000U) << load; // a loaded machine may lag behind the schedule
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    EXPECT_EQ(json_text(json, "stop"), "idle");
    expect_exact_messages(json, sent, 4);
}

// ---- through funnel -------------------------------------------------------------------------

TEST(ToolsThroughFunnel, MessagesFanInWithoutLossDuplicationOrReordering) {
    for (const std::string framing : {"line", "length"}) {
        SCOPED_TRACE(framing);
        constexpr std::uint64_t connections = 8;
        constexpr std::uint64_t per_connection = 3000;
        sink_process sink(
            {"--mode", framing, "--expect-messages", std::to_string(connections * per_connection)});
        funnel_process relay(funnel_binary,
                             with_args({"--listen", "127.0.0.1:0", "--target", sink.target(),
                                        "--mode", "message", "--framing", framing,
                                        "--upstream-connections", "2", "--stats-interval", "0"}));
        const auto ep = relay.wait_for_listening();
        ASSERT_TRUE(ep) << relay.stderr_text();
        const auto [load_status, load] =
            run_load({"--target", "127.0.0.1:" + std::to_string(ep->port()), "--mode", framing,
                      "--connections", std::to_string(connections), "--messages",
                      std::to_string(per_connection), "--message-size", "200"});
        EXPECT_EQ(load_status, exit_status::exited(0)) << load;

        const auto [status, json] = sink.result();
        EXPECT_EQ(status, exit_status::exited(0)) << json << relay.stderr_text();
        expect_exact_messages(json, connections * per_connection, connections);
        EXPECT_EQ(json_u64(json, "connections"), 2U) << json; // funnel's upstream connections

        relay.send_signal(SIGTERM);
        EXPECT_EQ(relay.wait_for_exit(), exit_status::exited(0)) << relay.stderr_text();
    }
}

// A target that restarts gracefully (FIN, then it reads everything until funnel closes) several
// times mid-run: nothing is lost, nothing reordered, and every message the target sees twice is
// one funnel counted as sent again. Writes in flight when the connection broke count too: part of
// such a write may have reached the target before funnel noticed. No connection ends in the middle
// of a message either (the sink counts such a fragment as corrupted): funnel finishes the write in
// flight before it gives up a connection the target closed.
TEST(ToolsThroughFunnel, TargetRestartsLoseNothingAndEveryDuplicateIsCountedAsResent) {
    constexpr std::uint64_t connections = 8;
    constexpr std::uint64_t per_connection = 20000;
    constexpr std::uint64_t total = connections * per_connection;
    // Not --expect-messages, which counts duplicates too: the sink stops once the flow has ended.
    sink_process sink(
        {"--mode", "line", "--idle-exit", "2", "--restart-every", "0.3", "--down-for", "0.1"});
    funnel_process relay(
        funnel_binary,
        with_args({"--listen", "127.0.0.1:0", "--target", sink.target(), "--mode", "message",
                   "--reconnect-backoff", "10:50", "--stats-interval", "0"}));
    const auto ep = relay.wait_for_listening();
    ASSERT_TRUE(ep) << relay.stderr_text();
    // Paced over about 1.6 s, so that the restarts fall in the middle of the flow.
    const auto [load_status, load] =
        run_load({"--target", "127.0.0.1:" + std::to_string(ep->port()), "--connections",
                  std::to_string(connections), "--messages", std::to_string(per_connection),
                  "--rate", "100000"});
    EXPECT_EQ(load_status, exit_status::exited(0)) << load;

    const auto [status, json] = sink.result();
    EXPECT_GE(json_u64(json, "restarts"), 2U) << json;
    EXPECT_EQ(json_u64(json, "unique"), total) << json;
    EXPECT_EQ(json_u64(json, "holes"), 0U) << json;
    EXPECT_EQ(json_u64(json, "reordered"), 0U) << json;
    EXPECT_EQ(json_u64(json, "corrupted"), 0U) << json;

    relay.send_signal(SIGTERM);
    EXPECT_EQ(relay.wait_for_exit(), exit_status::exited(0)) << relay.stderr_text();
    const auto stats = relay.wait_for_stderr(" resent=");
    ASSERT_TRUE(stats) << relay.stderr_text();
    const auto at = stats->find(" resent=") + 8;
    const std::uint64_t resent = std::stoull(stats->substr(at, stats->find(' ', at) - at));
    EXPECT_LE(json_u64(json, "duplicated"), resent) << json << "\n" << *stats;
}

// ---- the sink's verdicts --------------------------------------------------------------------

TEST(ToolsSink, ReportsLostDuplicatedReorderedAndCorruptedMessages) {
    sink_process sink({"--mode", "line", "--expect-connections", "1"});
    const auto message = [](std::uint32_t client, std::uint64_t seq) {
        std::string m(100, '\0');
        loadtest::encode_message(loadtest::framing::line, {client, seq, 1}, m.size(), m.data());
        return m;
    };
    std::string corrupt = message(1, 7);
    corrupt[60] = '!';
    // Client 1: 0 1 3 3 2 (7 corrupted) 5 -> 4 missing, 3 twice, 2 late. Client 2: 0.
    const std::string data = message(1, 0) + message(1, 1) + message(1, 3) + message(1, 3) +
                             message(1, 2) + corrupt + message(1, 5) + message(2, 0);
    conn c = conn::connect(sink.endpoint());
    c.write_all(data);
    c.shutdown_send();
    EXPECT_EQ(c.wait_for_end(), conn::outcome::eof);

    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(1)) << json;
    EXPECT_EQ(json_u64(json, "messages"), 8U) << json;
    EXPECT_EQ(json_u64(json, "unique"), 6U) << json;
    EXPECT_EQ(json_u64(json, "duplicated"), 1U) << json;
    EXPECT_EQ(json_u64(json, "reordered"), 1U) << json;
    EXPECT_EQ(json_u64(json, "corrupted"), 1U) << json;
    EXPECT_EQ(json_u64(json, "holes"), 1U) << json;
    EXPECT_EQ(json_u64(json, "clients"), 2U) << json;
    const std::string verdict = json_text(json, "verdict");
    EXPECT_TRUE(verdict.starts_with("fail: ")) << verdict;
    for (const char* reason : {"1 corrupted", "1 duplicated", "1 reordered", "1 holes"})
        EXPECT_NE(verdict.find(reason), std::string::npos) << verdict;
}

TEST(ToolsSink, ShortOrDamagedBulkStreamsFailTheVerdict) {
    sink_process sink({"--mode", "bulk", "--expect-connections", "2"});
    // One stream declares 1 MiB but ends after its header and 1000 bytes of its pattern; the
    // other is no stream at all.
    std::string short_stream(loadtest::bulk_header_size, '\0');
    loadtest::encode_bulk_header({1, 1 << 20}, short_stream.data());
    short_stream.append(loadtest::bulk_pattern::get().at(1, 0), 1000);
    for (const std::string& data : {short_stream, std::string(100, 'x')}) {
        conn c = conn::connect(sink.endpoint());
        c.write_all(data);
        c.shutdown_send();
        EXPECT_EQ(c.wait_for_end(), conn::outcome::eof);
    }
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(1)) << json;
    EXPECT_EQ(json_u64(json, "streams_complete"), 0U) << json;
    EXPECT_EQ(json_u64(json, "streams_short"), 1U) << json;
    EXPECT_EQ(json_u64(json, "corrupted"), 1U) << json;
    const std::string verdict = json_text(json, "verdict");
    EXPECT_NE(verdict.find("1 short streams"), std::string::npos) << verdict;
    EXPECT_NE(verdict.find("1 corrupted streams"), std::string::npos) << verdict;
}

TEST(ToolsSink, UnmetExpectationsAtTheTimeoutFail) {
    funnel_process sink(
        sink_binary, with_args({"--mode", "line", "--expect-messages", "10", "--timeout", "0.2"}));
    EXPECT_EQ(sink.wait_for_exit(), exit_status::exited(1)) << sink.stderr_text();
    const std::string json = last_line(sink.stdout_text());
    EXPECT_EQ(json_text(json, "stop"), "timeout") << json;
    EXPECT_NE(json_text(json, "verdict").find("expected 10 messages, got 0"), std::string::npos)
        << json;
}

TEST(ToolsSink, WritesItsPortFileAndResultFile) {
    temp_dir dir;
    const std::string port_file = dir.file("port");
    const std::string result_file = dir.file("result.json");
    sink_process sink({"--port-file", port_file, "--result-file", result_file});
    ASSERT_TRUE(poll_until([&] { return std::filesystem::exists(port_file); }));
    EXPECT_EQ(read_file(port_file), std::to_string(sink.endpoint().port()) + "\n");
    sink.process().send_signal(SIGTERM);
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    EXPECT_EQ(json_text(json, "stop"), "signal") << json;
    EXPECT_EQ(json_text(json, "mode"), "count") << json;
    EXPECT_EQ(read_file(result_file), json + "\n");
}

// ---- the sink's faults ----------------------------------------------------------------------

TEST(ToolsSinkFaults, CloseAfterEndsTheConnectionCleanly) {
    sink_process sink({"--close-after", "1000"});
    conn c = conn::connect(sink.endpoint());
    c.write_all(std::string(1000, 'a'));
    EXPECT_EQ(c.wait_for_end(), conn::outcome::eof);
    sink.process().send_signal(SIGTERM);
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    EXPECT_EQ(json_u64(json, "bytes"), 1000U) << json;
}

TEST(ToolsSinkFaults, ResetAfterResetsTheConnection) {
    sink_process sink({"--reset-after", "1000"});
    conn c = conn::connect(sink.endpoint());
    c.write_all(std::string(1000, 'a'));
    EXPECT_EQ(c.wait_for_end(), conn::outcome::reset);
    sink.process().send_signal(SIGTERM);
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    EXPECT_EQ(json_u64(json, "bytes"), 1000U) << json;
}

TEST(ToolsSinkFaults, TheLoadCountsAConnectionTheSinkClosed) {
    sink_process sink({"--close-after", "64KiB"});
    const auto [load_status, load] = run_load(
        {"--target", sink.target(), "--mode", "bulk", "--connections", "1", "--bytes", "256MiB"});
    EXPECT_EQ(load_status, exit_status::exited(1)) << load;
    EXPECT_EQ(json_u64(load, "errors"), 1U) << load;
    sink.process().send_signal(SIGTERM);
    const auto [status, json] = sink.result();
    EXPECT_EQ(json_u64(json, "bytes"), 65536U) << json;
}

TEST(ToolsSinkFaults, NoReadTakesNothingAndTheSenderStalls) {
    sink_process sink({"--no-read"});
    conn c = conn::connect(sink.endpoint());
    c.socket().non_blocking(true);
    const std::string block(65536, 'z');
    std::uint64_t written = 0;
    error_code ec;
    // Until the kernel's buffers on both sides are full: the write would block.
    while (written < (std::uint64_t{256} << 20)) {
        const std::size_t n = c.socket().write_some(net::buffer(block), ec);
        if (ec)
            break;
        written += n;
    }
    EXPECT_EQ(ec, net::error::would_block) << ec.message() << " after " << written;
    sink.process().send_signal(SIGTERM);
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    EXPECT_EQ(json_u64(json, "connections"), 1U) << json;
    EXPECT_EQ(json_u64(json, "bytes"), 0U) << json;
}

TEST(ToolsSinkFaults, ReadRateSpreadsTheBytesOverTime) {
    // 100000 bytes at 200000 bytes/s, read 10000 at a time: the last read comes >= 0.45 s after
    // the first, however fast the machine.
    sink_process sink({"--read-rate", "200000", "--expect-bytes", "100000"});
    conn c = conn::connect(sink.endpoint());
    c.write_all(std::string(100000, 'r'));
    const auto [status, json] = sink.result();
    EXPECT_EQ(status, exit_status::exited(0)) << json;
    EXPECT_EQ(json_u64(json, "bytes"), 100000U) << json;
    EXPECT_GE(json_double(json, "seconds"), 0.4) << json;
}

// ---- command lines --------------------------------------------------------------------------

TEST(ToolsCli, BadValuesExitWith2AndOneErrorLine) {
    struct bad_case {
        const std::string* binary;
        std::vector<std::string> args;
        std::string mentions;
    };
    const std::vector<bad_case> cases{
        {&sink_binary, {"--threads", "0"}, "--threads"},
        {&sink_binary, {"--mode", "nope"}, "--mode"},
        {&sink_binary, {"--expect-bytes", "12XB"}, "'12XB'"},
        {&sink_binary, {"--timeout", "-1"}, "--timeout"},
        {&sink_binary, {"--restart-every", "0"}, "--restart-every"},
        {&sink_binary, {"--listen", "localhost"}, "--listen"},
        {&sink_binary, {"--no-such-flag"}, "no-such-flag"},
        {&load_binary, {"--messages", "10"}, "--target is required"},
        {&load_binary,
         {"--target", "127.0.0.1:9", "--message-size", "10", "--messages", "1"},
         "--message-size"},
        {&load_binary, {"--target", "127.0.0.1:9"}, "--messages or --duration"},
        {&load_binary,
         {"--target", "127.0.0.1:9", "--mode", "length", "--graphite", "--messages", "1"},
         "--graphite"},
        {&load_binary,
         {"--target", "127.0.0.1:9", "--graphite", "--message-size", "69", "--messages", "1"},
         "--message-size"},
        {&load_binary, {"--target", "127.0.0.1:9", "--bytes", "1MiB"}, "--bytes"},
        {&load_binary, {"--target", "127.0.0.1:9", "--mode", "bulk", "--bytes", "8"}, "--bytes"},
        {&load_binary, {"--target", "127.0.0.1:9", "--duration", "1", "--rate", "fast"}, "--rate"},
        {&load_binary, {"--target", "127.0.0.1:0", "--messages", "1"}, "--target"},
    };
    for (const auto& c : cases) {
        const std::string tool = c.binary == &sink_binary ? "funnel-sink" : "funnel-load";
        SCOPED_TRACE(tool + " " + c.args.front());
        funnel_process p(*c.binary, with_args(c.args));
        EXPECT_EQ(p.wait_for_exit(), exit_status::exited(2)) << p.stderr_text();
        const auto lines = p.stderr_lines();
        ASSERT_EQ(lines.size(), 1U) << p.stderr_text();
        EXPECT_TRUE(lines[0].starts_with(tool + ": error: ")) << lines[0];
        EXPECT_NE(lines[0].find(c.mentions), std::string::npos) << lines[0];
        EXPECT_EQ(p.stdout_text(), "");
    }
}

TEST(ToolsCli, HelpDescribesEveryOption) {
    for (const auto* binary : {&sink_binary, &load_binary}) {
        funnel_process p(*binary, with_args({"--help"}));
        EXPECT_EQ(p.wait_for_exit(), exit_status::exited(0)) << p.stderr_text();
        EXPECT_TRUE(p.stdout_text().starts_with("Usage: funnel-")) << p.stdout_text();
    }
}

TEST(ToolsCli, ALoadThatCannotConnectReportsErrors) {
    const tcp::endpoint nobody = [] {
        tcp::acceptor a(test_io(), tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        return a.local_endpoint(); // closed again: nothing listens there
    }();
    const auto [status, load] = run_load({"--target", "127.0.0.1:" + std::to_string(nobody.port()),
                                          "--connections", "2", "--messages", "10"});
    EXPECT_EQ(status, exit_status::exited(1)) << load;
    EXPECT_EQ(json_u64(load, "errors"), 2U) << load;
    EXPECT_EQ(json_u64(load, "messages"), 0U) << load;
}

TEST(ToolsCli, ProgressLineOnlyWhenAskedOrOnATerminal) {
    // No --idle-exit: on a busy machine the second load may start later than any short idle
    // time, and find no sink. The sink is killed at the end of the test.
    sink_process sink({"--mode", "line"});
    for (const std::string mode : {"on", "auto"}) {
        funnel_process load(load_binary,
                            with_args({"--target", sink.target(), "--connections", "2", "--rate",
                                       "2000", "--duration", "0.7", "--progress", mode}));
        EXPECT_EQ(load.wait_for_exit(), exit_status::exited(0)) << load.stderr_text();
        if (mode == "on")
            EXPECT_NE(load.stderr_text().find("msgs/s"), std::string::npos) << load.stderr_text();
        else // the test's stderr is a pipe, not a terminal
            EXPECT_EQ(load.stderr_text(), "");
    }
}

} // namespace
} // namespace funnel::test
