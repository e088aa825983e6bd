#include "funnel/config/parse.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using funnel::config;
using funnel::config_error;
using funnel::host_port;
using funnel::parse_result;
using namespace std::string_literals;
using namespace std::chrono_literals;

using args_t = std::vector<std::string>;
using env_t = std::vector<std::string>;

// Runs the parser the way main does, with "funnel" as argv[0].
parse_result parse(const args_t& args, const env_t& env = {}) {
    std::vector<const char*> argv{"funnel"};
    for (const auto& arg : args) {
        argv.push_back(arg.c_str());
    }
    return funnel::parse_command_line(static_cast<int>(argv.size()), argv.data(), env);
}

// The config_error message, or a test failure when the input was accepted.
std::string error_of(const args_t& args, const env_t& env = {}) {
    try {
        parse(args, env);
    } catch (const config_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "expected a config_error";
    return {};
}

// The smallest command line that parses, plus `extra`.
args_t with_minimal(const args_t& extra = {}) {
    args_t args{"--listen", "127.0.0.1:0", "--target", "127.0.0.1:9000"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

template <typename F> std::string error_from(F&& f) {
    try {
        f();
    } catch (const config_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "expected a config_error";
    return {};
}

// ---------------------------------------------------------------------------------------------

TEST(ConfigToString, HostPortBracketsOnlyIpv6) {
    EXPECT_EQ((host_port{"127.0.0.1", 9000}.to_string()), "127.0.0.1:9000");
    EXPECT_EQ((host_port{"example.com", 80}.to_string()), "example.com:80");
    EXPECT_EQ((host_port{"::1", 9000}.to_string()), "[::1]:9000");
    EXPECT_EQ((host_port{"fe80::1%eth0", 0}.to_string()), "[fe80::1%eth0]:0");
}

TEST(ConfigToString, Enums) {
    EXPECT_STREQ(funnel::to_string(funnel::relay_mode::stream), "stream");
    EXPECT_STREQ(funnel::to_string(funnel::relay_mode::message), "message");
    EXPECT_STREQ(funnel::to_string(funnel::log_level::trace), "trace");
    EXPECT_STREQ(funnel::to_string(funnel::log_level::debug), "debug");
    EXPECT_STREQ(funnel::to_string(funnel::log_level::info), "info");
    EXPECT_STREQ(funnel::to_string(funnel::log_level::warn), "warn");
    EXPECT_STREQ(funnel::to_string(funnel::log_level::error), "error");
    EXPECT_STREQ(funnel::to_string(funnel::log_format::text), "text");
    EXPECT_STREQ(funnel::to_string(funnel::log_format::json), "json");
    EXPECT_STREQ(funnel::to_string(funnel::framing::line), "line");
    EXPECT_STREQ(funnel::to_string(funnel::framing::length), "length");
    EXPECT_STREQ(funnel::to_string(funnel::oversize_policy::skip), "skip");
    EXPECT_STREQ(funnel::to_string(funnel::oversize_policy::close), "close");
}

// ---------------------------------------------------------------------------------------------

TEST(ParseDefaults, MinimalCommandLineGetsEveryDefault) {
    const parse_result r = parse(with_minimal());
    ASSERT_EQ(r.what, parse_result::action::run);
    EXPECT_TRUE(r.warnings.empty());
    const config& c = r.cfg;
    EXPECT_EQ(c.listen, (std::vector<host_port>{{"127.0.0.1", 0}}));
    EXPECT_EQ(c.target, (host_port{"127.0.0.1", 9000}));
    EXPECT_EQ(c.mode, funnel::relay_mode::stream);
    EXPECT_EQ(c.workers, std::max<std::size_t>(1, std::thread::hardware_concurrency()));
    EXPECT_EQ(c.max_connections, 10000u);
    EXPECT_TRUE(c.allow.empty());
    EXPECT_TRUE(c.deny.empty());
    EXPECT_EQ(c.max_connections_per_ip, 0u);
    EXPECT_FALSE(c.refuse_when_full);
    EXPECT_EQ(c.idle_timeout.count(), 0.0);
    EXPECT_EQ(c.buffer_limit, std::size_t{64} << 20);
    EXPECT_EQ(c.client_buffer_limit, 0u);
    EXPECT_EQ(c.connect_timeout.count(), 5.0);
    EXPECT_EQ(c.drain_timeout.count(), 10.0);
    EXPECT_EQ(c.stats_interval.count(), 60.0);
    EXPECT_EQ(c.message_framing, funnel::framing::line);
    EXPECT_EQ(c.max_message_size, std::size_t{1} << 20);
    EXPECT_EQ(c.oversize, funnel::oversize_policy::skip);
    EXPECT_EQ(c.upstream_connections, 4u);
    EXPECT_EQ(c.reconnect_backoff_min, 100ms);
    EXPECT_EQ(c.reconnect_backoff_max, 10000ms);
    EXPECT_EQ(c.level, funnel::log_level::info);
    EXPECT_EQ(c.format, funnel::log_format::text);
}

TEST(ParseFlags, EveryFlagIsApplied) {
    const config c = parse({"--listen",
                            "[::1]:9001",
                            "--target",
                            "backend.local:7000",
                            "--mode",
                            "stream",
                            "--workers",
                            "3",
                            "--max-connections",
                            "17",
                            "--idle-timeout",
                            "2.5",
                            "--buffer-limit",
                            "1MiB",
                            "--connect-timeout",
                            "250ms",
                            "--drain-timeout",
                            "0",
                            "--stats-interval",
                            "0",
                            "--log-level",
                            "debug",
                            "--log-format",
                            "json"})
                         .cfg;
    EXPECT_EQ(c.listen, (std::vector<host_port>{{"::1", 9001}}));
    EXPECT_EQ(c.target, (host_port{"backend.local", 7000}));
    EXPECT_EQ(c.mode, funnel::relay_mode::stream);
    EXPECT_EQ(c.workers, 3u);
    EXPECT_EQ(c.max_connections, 17u);
    EXPECT_DOUBLE_EQ(c.idle_timeout.count(), 2.5);
    EXPECT_EQ(c.buffer_limit, std::size_t{1} << 20);
    EXPECT_DOUBLE_EQ(c.connect_timeout.count(), 0.25);
    EXPECT_EQ(c.drain_timeout.count(), 0.0);
    EXPECT_EQ(c.stats_interval.count(), 0.0);
    EXPECT_EQ(c.level, funnel::log_level::debug);
    EXPECT_EQ(c.format, funnel::log_format::json);
}

TEST(ParseFlags, EqualsFormWorks) {
    const config c = parse({"--listen=127.0.0.1:1", "--target=t:2", "--workers=5"}).cfg;
    EXPECT_EQ(c.listen, (std::vector<host_port>{{"127.0.0.1", 1}}));
    EXPECT_EQ(c.target, (host_port{"t", 2}));
    EXPECT_EQ(c.workers, 5u);
}

TEST(ParseFlags, WorkersZeroMeansInline) {
    EXPECT_EQ(parse(with_minimal({"--workers", "0"})).cfg.workers, 0u);
}

TEST(ParseFlags, EveryLogLevelAndFormatIsAcceptedAnyCase) {
    const std::vector<std::pair<std::string, funnel::log_level>> levels{
        {"trace", funnel::log_level::trace},
        {"debug", funnel::log_level::debug},
        {"info", funnel::log_level::info},
        {"warn", funnel::log_level::warn},
        {"ERROR", funnel::log_level::error}};
    for (const auto& [text, level] : levels) {
        EXPECT_EQ(parse(with_minimal({"--log-level", text})).cfg.level, level) << text;
    }
    EXPECT_EQ(parse(with_minimal({"--log-format", "JSON"})).cfg.format, funnel::log_format::json);
    EXPECT_EQ(parse(with_minimal({"--log-format", "text"})).cfg.format, funnel::log_format::text);
}

TEST(ParseFlags, LogFileAndItsRotation) {
    const config defaults = parse(with_minimal()).cfg;
    EXPECT_EQ(defaults.log_file, "");
    EXPECT_EQ(defaults.log_file_size, std::size_t{100} << 20);
    EXPECT_EQ(defaults.log_file_count, 5u);

    const config c = parse(with_minimal({"--log-file", "/var/log/funnel.log", "--log-file-size",
                                         "4KiB", "--log-file-count", "100"}))
                         .cfg;
    EXPECT_EQ(c.log_file, "/var/log/funnel.log");
    EXPECT_EQ(c.log_file_size, 4096u);
    EXPECT_EQ(c.log_file_count, 100u);
    EXPECT_NE(funnel::describe(c).find(" log-file=/var/log/funnel.log log-file-size=4096 "
                                       "log-file-count=100"),
              std::string::npos)
        << funnel::describe(c);
    EXPECT_EQ(funnel::describe(defaults).find("log-file"), std::string::npos);

    EXPECT_EQ(parse(with_minimal(), {"FUNNEL_LOG_FILE=/tmp/f.log"}).cfg.log_file, "/tmp/f.log");
    EXPECT_EQ(error_of(with_minimal({"--log-file", " "})), "--log-file: the path is empty");
    EXPECT_EQ(error_of(with_minimal({"--log-file-size", "4095"})),
              "--log-file-size: '4095' is below the minimum of 4KiB");
    EXPECT_EQ(error_of(with_minimal({"--log-file-count", "0"})),
              "--log-file-count: '0' is out of range (1-100)");
    EXPECT_EQ(error_of(with_minimal({"--log-file-count", "101"})),
              "--log-file-count: '101' is out of range (1-100)");
}

TEST(ParseFlags, BufferLimitMinimumIsOneReadBuffer) {
    EXPECT_EQ(parse(with_minimal({"--buffer-limit", "64KiB"})).cfg.buffer_limit,
              config::min_read_size);
    const std::string error = error_of(with_minimal({"--buffer-limit", "65535"}));
    EXPECT_NE(error.find("--buffer-limit"), std::string::npos) << error;
    EXPECT_NE(error.find("64KiB"), std::string::npos) << error;
}

// --client-buffer-limit: 0 (off) or one read block up to --buffer-limit, from every source.
TEST(ParseFlags, ClientBufferLimitIsOffOrOneReadBlockUpToTheBufferLimit) {
    EXPECT_EQ(parse(with_minimal({"--client-buffer-limit", "0"})).cfg.client_buffer_limit, 0u);
    EXPECT_EQ(parse(with_minimal({"--client-buffer-limit", "8MiB"})).cfg.client_buffer_limit,
              std::size_t{8} << 20);
    EXPECT_EQ(parse(with_minimal(), {"FUNNEL_CLIENT_BUFFER_LIMIT=1MiB"}).cfg.client_buffer_limit,
              std::size_t{1} << 20);
    // The whole budget is allowed (the same as off, but said explicitly).
    EXPECT_EQ(parse(with_minimal({"--buffer-limit", "1MiB", "--client-buffer-limit", "1MiB"}))
                  .cfg.client_buffer_limit,
              std::size_t{1} << 20);
    // One read block: 64 KiB with a small budget, 256 KiB in stream mode with a large one.
    EXPECT_EQ(parse(with_minimal({"--buffer-limit", "1MiB", "--client-buffer-limit", "64KiB"}))
                  .cfg.client_buffer_limit,
              config::min_read_size);
    EXPECT_EQ(error_of(with_minimal({"--client-buffer-limit", "64KiB"})),
              "--client-buffer-limit: '64KiB' is below the minimum of one read buffer (256KiB "
              "here); 0 turns it off");
    EXPECT_EQ(error_of(with_minimal({"--buffer-limit", "1MiB", "--client-buffer-limit", "1000"})),
              "--client-buffer-limit: '1000' is below the minimum of one read buffer (64KiB "
              "here); 0 turns it off");
    EXPECT_EQ(error_of(with_minimal({"--buffer-limit", "1MiB", "--client-buffer-limit", "2MiB"})),
              "--client-buffer-limit: '2MiB' is more than --buffer-limit 1048576");
    EXPECT_EQ(error_of(with_minimal({"--client-buffer-limit", "-1"})),
              "--client-buffer-limit: '-1' is not a size (use bytes or a number with KiB, MiB or "
              "GiB)");
    // Shown by describe(), so by --check-config and the start line.
    EXPECT_NE(funnel::describe(parse(with_minimal()).cfg).find(" client-buffer-limit=off "),
              std::string::npos);
    EXPECT_NE(funnel::describe(parse(with_minimal({"--client-buffer-limit", "1MiB"})).cfg)
                  .find(" client-buffer-limit=1048576 "),
              std::string::npos);
}

TEST(ParseFlags, MissingTargetOrListen) {
    EXPECT_EQ(error_of({"--listen", "127.0.0.1:0"}), "--target is required");
    EXPECT_EQ(error_of({"--target", "127.0.0.1:1"}), "--listen is required");
}

TEST(ParseFlags, UnknownOptionIsAnError) {
    const std::string error = error_of(with_minimal({"--bogus"}));
    EXPECT_NE(error.find("unknown option '--bogus'"), std::string::npos) << error;
    // Abbreviations are not guessed: a typo must not silently pick another option.
    const std::string abbreviated = error_of(with_minimal({"--work", "2"}));
    EXPECT_NE(abbreviated.find("unknown option '--work'"), std::string::npos) << abbreviated;
}

TEST(ParseFlags, StrayArgumentIsAnError) {
    const std::string error = error_of(with_minimal({"stray"}));
    EXPECT_NE(error.find("unexpected argument 'stray'"), std::string::npos) << error;
}

TEST(ParseFlags, MissingValueAndRepeatedSingleOption) {
    EXPECT_EQ(error_of({"--listen", "127.0.0.1:0", "--target"}), "--target: missing value");
    const std::string twice = error_of(with_minimal({"--target", "127.0.0.1:2"}));
    EXPECT_NE(twice.find("--target"), std::string::npos) << twice;
    EXPECT_NE(twice.find("more than once"), std::string::npos) << twice;
}

TEST(ParseFlags, NegativeValueAfterSpaceReachesTheValueCheck) {
    EXPECT_EQ(error_of(with_minimal({"--buffer-limit", "-5"})),
              "--buffer-limit: '-5' is not a size (use bytes or a number with KiB, MiB or GiB)");
}

// ---------------------------------------------------------------------------------------------

TEST(ParseListen, RepeatedFlagAccumulates) {
    const config c =
        parse({"--listen", "127.0.0.1:9000", "--listen", "[::1]:9000", "--target", "t:1"}).cfg;
    EXPECT_EQ(c.listen, (std::vector<host_port>{{"127.0.0.1", 9000}, {"::1", 9000}}));
}

TEST(ParseListen, CommaListInFlagAndEnvironment) {
    const config from_flag =
        parse({"--listen", "127.0.0.1:9000, [::1]:9000,localhost:0", "--target", "t:1"}).cfg;
    EXPECT_EQ(from_flag.listen,
              (std::vector<host_port>{{"127.0.0.1", 9000}, {"::1", 9000}, {"localhost", 0}}));

    const config from_env =
        parse({"--target", "t:1"}, {"FUNNEL_LISTEN=127.0.0.1:9000,[::1]:9000"}).cfg;
    EXPECT_EQ(from_env.listen, (std::vector<host_port>{{"127.0.0.1", 9000}, {"::1", 9000}}));
}

TEST(ParseListen, EmptyEntryAndDuplicateAreErrors) {
    const std::string empty = error_of({"--listen", "127.0.0.1:1,,127.0.0.1:2", "--target", "t:1"});
    EXPECT_NE(empty.find("--listen: empty address"), std::string::npos) << empty;
    const std::string trailing = error_of({"--listen", "127.0.0.1:1,", "--target", "t:1"});
    EXPECT_NE(trailing.find("--listen: empty address"), std::string::npos) << trailing;

    const std::string twice =
        error_of({"--listen", "127.0.0.1:1", "--listen", "127.0.0.1:1", "--target", "t:1"});
    EXPECT_NE(twice.find("--listen: '127.0.0.1:1' is given more than once"), std::string::npos)
        << twice;
    // Port 0 binds a fresh ephemeral port each time, so repeating it is fine.
    EXPECT_EQ(parse({"--listen", "127.0.0.1:0,127.0.0.1:0", "--target", "t:1"}).cfg.listen.size(),
              2u);
}

TEST(ParseListen, FlagReplacesEnvironmentRatherThanAdding) {
    const config c = parse({"--listen", "127.0.0.1:1", "--target", "t:1"},
                           {"FUNNEL_LISTEN=127.0.0.1:2,127.0.0.1:3"})
                         .cfg;
    EXPECT_EQ(c.listen, (std::vector<host_port>{{"127.0.0.1", 1}}));
}

// ---------------------------------------------------------------------------------------------

TEST(ParseMessageMode, ModeMessageIsAcceptedFromFlagAndEnvironmentAnyCase) {
    EXPECT_EQ(parse(with_minimal({"--mode", "message"})).cfg.mode, funnel::relay_mode::message);
    EXPECT_EQ(parse(with_minimal({"--mode", "MESSAGE"})).cfg.mode, funnel::relay_mode::message);
    EXPECT_EQ(parse(with_minimal(), {"FUNNEL_MODE=message"}).cfg.mode, funnel::relay_mode::message);
}

TEST(ParseMessageMode, EveryMessageFlagIsApplied) {
    const config c =
        parse(with_minimal({"--mode", "message", "--framing", "length", "--max-message-size",
                            "64KiB", "--oversize", "close", "--upstream-connections", "16",
                            "--reconnect-backoff", "250:60000"}))
            .cfg;
    EXPECT_EQ(c.mode, funnel::relay_mode::message);
    EXPECT_EQ(c.message_framing, funnel::framing::length);
    EXPECT_EQ(c.max_message_size, std::size_t{64} << 10);
    EXPECT_EQ(c.oversize, funnel::oversize_policy::close);
    EXPECT_EQ(c.upstream_connections, 16u);
    EXPECT_EQ(c.reconnect_backoff_min, 250ms);
    EXPECT_EQ(c.reconnect_backoff_max, 60000ms);
}

TEST(ParseMessageMode, EnvironmentSetsMessageOptions) {
    const config c =
        parse(with_minimal(), {"FUNNEL_MODE=message", "FUNNEL_FRAMING=length",
                               "FUNNEL_MAX_MESSAGE_SIZE=2 MiB", "FUNNEL_OVERSIZE=close",
                               "FUNNEL_UPSTREAM_CONNECTIONS=1", "FUNNEL_RECONNECT_BACKOFF=5:5"})
            .cfg;
    EXPECT_EQ(c.mode, funnel::relay_mode::message);
    EXPECT_EQ(c.message_framing, funnel::framing::length);
    EXPECT_EQ(c.max_message_size, std::size_t{2} << 20);
    EXPECT_EQ(c.oversize, funnel::oversize_policy::close);
    EXPECT_EQ(c.upstream_connections, 1u);
    EXPECT_EQ(c.reconnect_backoff_min, 5ms);
    EXPECT_EQ(c.reconnect_backoff_max, 5ms);
}

TEST(ParseMessageMode, SpoolIsOffByDefaultAndEveryFlagIsApplied) {
    const config off = parse(with_minimal({"--mode", "message"})).cfg;
    EXPECT_TRUE(off.spool_dir.empty());
    EXPECT_EQ(off.spool_use, funnel::spool_mode::overflow);
    EXPECT_EQ(off.spool_sync_mode, funnel::spool_sync::interval);
    EXPECT_EQ(off.overflow, funnel::overflow_policy::block);
    EXPECT_EQ(funnel::describe(off).find("spool"), std::string::npos);

    const config c =
        parse(with_minimal({"--mode", "message", "--spool-dir", "/var/spool/funnel", "--spool-mode",
                            "always", "--spool-limit", "2GiB", "--spool-sync", "Always",
                            "--spool-sync-interval", "250ms", "--overflow", "drop-newest"}))
            .cfg;
    EXPECT_EQ(c.spool_dir, "/var/spool/funnel");
    EXPECT_EQ(c.spool_use, funnel::spool_mode::always);
    EXPECT_EQ(c.spool_limit, std::size_t{2} << 30);
    EXPECT_EQ(c.spool_sync_mode, funnel::spool_sync::always);
    EXPECT_EQ(c.spool_sync_interval, 0.25s);
    EXPECT_EQ(c.overflow, funnel::overflow_policy::drop_newest);
    EXPECT_NE(funnel::describe(c).find(
                  "spool-dir=/var/spool/funnel spool-mode=always spool-limit=2147483648 "
                  "spool-sync=always spool-sync-interval=0.25s "
                  "overflow=drop-newest"),
              std::string::npos)
        << funnel::describe(c);
    EXPECT_EQ(parse(with_minimal(), {"FUNNEL_SPOOL_DIR=/tmp/s", "FUNNEL_SPOOL_SYNC=never"})
                  .cfg.spool_sync_mode,
              funnel::spool_sync::never);
}

TEST(ParseMessageMode, BadSpoolValuesNameTheOption) {
    EXPECT_NE(error_of(with_minimal({"--spool-sync", "sometimes"}))
                  .find("--spool-sync: 'sometimes' is not one of always, interval or never"),
              std::string::npos);
    EXPECT_NE(error_of(with_minimal({"--overflow", "drop-all"}))
                  .find("--overflow: 'drop-all' is not one of block, drop-newest or drop-oldest"),
              std::string::npos);
    EXPECT_NE(error_of(with_minimal({"--spool-mode", "sometimes"}))
                  .find("--spool-mode: 'sometimes' is not one of overflow or always"),
              std::string::npos);
    EXPECT_EQ(parse(with_minimal({"--overflow", "Drop-Oldest"})).cfg.overflow,
              funnel::overflow_policy::drop_oldest);
    EXPECT_NE(error_of(with_minimal({"--spool-sync-interval", "0"})).find("--spool-sync-interval"),
              std::string::npos);
    EXPECT_NE(error_of(with_minimal({"--spool-dir", " "})).find("--spool-dir: empty value"),
              std::string::npos);
    EXPECT_NE(error_of(with_minimal({"--spool-limit", "lots"})).find("--spool-limit"),
              std::string::npos);
}

TEST(ParseMessageMode, SpoolLimitMustHoldTheLargestMessagePerConnection) {
    // 4 connections of 1MiB messages: each share needs 1MiB + 64KiB.
    const auto e = error_of(with_minimal({"--mode", "message", "--spool-dir", "/tmp/s",
                                          "--spool-limit", "4MiB", "--max-message-size", "1MiB"}));
    EXPECT_NE(e.find("--spool-limit 4194304 cannot hold one message of --max-message-size 1048576 "
                     "per upstream connection (needs at least 4456448 bytes)"),
              std::string::npos)
        << e;
    EXPECT_NO_THROW(parse(with_minimal({"--mode", "message", "--spool-dir", "/tmp/s",
                                        "--spool-limit", "5MiB", "--max-message-size", "1MiB"})));
}

TEST(ParseMessageMode, FramingAndOversizeAreAcceptedAnyCase) {
    EXPECT_EQ(parse(with_minimal({"--framing", "LINE"})).cfg.message_framing,
              funnel::framing::line);
    EXPECT_EQ(parse(with_minimal({"--framing", " Length "})).cfg.message_framing,
              funnel::framing::length);
    EXPECT_EQ(parse(with_minimal({"--oversize", "SKIP"})).cfg.oversize,
              funnel::oversize_policy::skip);
    EXPECT_EQ(parse(with_minimal({"--oversize", "Close"})).cfg.oversize,
              funnel::oversize_policy::close);
}

TEST(ParseMessageMode, BadFramingAndOversizeNameTheChoices) {
    EXPECT_EQ(error_of(with_minimal({"--framing", "bogus"})),
              "--framing: 'bogus' is not one of line or length");
    EXPECT_EQ(error_of(with_minimal(), {"FUNNEL_FRAMING=crlf"}),
              "FUNNEL_FRAMING: 'crlf' is not one of line or length");
    EXPECT_EQ(error_of(with_minimal({"--oversize", "bogus"})),
              "--oversize: 'bogus' is not one of skip or close");
}

TEST(ParseMessageMode, MaxMessageSizeIsOneByteToOneGiB) {
    EXPECT_EQ(parse(with_minimal({"--max-message-size", "1"})).cfg.max_message_size, 1u);
    EXPECT_EQ(parse(with_minimal({"--max-message-size", "1GiB"})).cfg.max_message_size,
              std::size_t{1} << 30);
    EXPECT_EQ(parse(with_minimal({"--max-message-size", "1073741824"})).cfg.max_message_size,
              std::size_t{1} << 30);

    EXPECT_EQ(error_of(with_minimal({"--max-message-size", "0"})),
              "--max-message-size: '0' is out of range (at least 1 byte)");
    EXPECT_EQ(error_of(with_minimal({"--max-message-size", "0KiB"})),
              "--max-message-size: '0KiB' is out of range (at least 1 byte)");
    EXPECT_EQ(error_of(with_minimal({"--max-message-size", "-1"})),
              "--max-message-size: '-1' is not a size (use bytes or a number with KiB, MiB or "
              "GiB)");
    EXPECT_EQ(error_of(with_minimal({"--max-message-size", "2GiB"})),
              "--max-message-size: '2GiB' is more than the maximum of 1GiB");
    EXPECT_EQ(error_of(with_minimal({"--max-message-size", "1073741825"})),
              "--max-message-size: '1073741825' is more than the maximum of 1GiB");
    EXPECT_EQ(error_of(with_minimal(), {"FUNNEL_MAX_MESSAGE_SIZE=0"}),
              "FUNNEL_MAX_MESSAGE_SIZE: '0' is out of range (at least 1 byte)");
}

TEST(ParseMessageMode, UpstreamConnectionsIsOneTo1024) {
    EXPECT_EQ(parse(with_minimal({"--upstream-connections", "1"})).cfg.upstream_connections, 1u);
    EXPECT_EQ(parse(with_minimal({"--upstream-connections", "1024"})).cfg.upstream_connections,
              1024u);

    EXPECT_EQ(error_of(with_minimal({"--upstream-connections", "0"})),
              "--upstream-connections: '0' is out of range (1-1024)");
    EXPECT_EQ(error_of(with_minimal({"--upstream-connections", "5000"})),
              "--upstream-connections: '5000' is out of range (1-1024)");
    EXPECT_EQ(error_of(with_minimal({"--upstream-connections", "1025"})),
              "--upstream-connections: '1025' is out of range (1-1024)");
    EXPECT_EQ(error_of(with_minimal({"--upstream-connections", "-1"})),
              "--upstream-connections: '-1' is not a whole number of 0 or more");
    EXPECT_EQ(error_of(with_minimal(), {"FUNNEL_UPSTREAM_CONNECTIONS=0"}),
              "FUNNEL_UPSTREAM_CONNECTIONS: '0' is out of range (1-1024)");
}

TEST(ParseMessageMode, ReconnectBackoffErrorsNameTheOptionAndTheProblem) {
    const std::string hint = " (use MIN_MS:MAX_MS, e.g. 100:10000)";
    const std::vector<std::pair<std::string, std::string>> cases{
        {"100", "'100' has no ':'"},
        {"a:b", "'a:b' has MIN 'a', not a whole number of milliseconds"},
        {"100:b", "'100:b' has MAX 'b', not a whole number of milliseconds"},
        {"0:10", "'0:10' has MIN below 1"},
        {"500:100", "'500:100' has MAX below MIN"},
        {"100:99999999", "'100:99999999' has MAX above 3600000 (one hour)"},
        {"1:99999999999999999999999", "'1:99999999999999999999999' has MAX above 3600000 (one "
                                      "hour)"},
        {"-1:10", "'-1:10' has MIN '-1', not a whole number of milliseconds"},
        {"1.5:10", "'1.5:10' has MIN '1.5', not a whole number of milliseconds"},
        {"100ms:1s", "'100ms:1s' has MIN '100ms', not a whole number of milliseconds"},
        {":10", "':10' has no MIN"},
        {"10:", "'10:' has no MAX"},
        {"1:2:3", "'1:2:3' has MAX '2:3', not a whole number of milliseconds"},
    };
    for (const auto& [text, problem] : cases) {
        EXPECT_EQ(error_of(with_minimal({"--reconnect-backoff", text})),
                  "--reconnect-backoff: " + problem + hint)
            << text;
    }
    EXPECT_EQ(error_of(with_minimal({"--reconnect-backoff", " "})),
              "--reconnect-backoff: empty value" + hint);
    EXPECT_EQ(error_of(with_minimal(), {"FUNNEL_RECONNECT_BACKOFF=500:100"}),
              "FUNNEL_RECONNECT_BACKOFF: '500:100' has MAX below MIN" + hint);
}

TEST(ParseMessageMode, StreamModeAcceptsMessageOptionsButStillChecksThem) {
    // A config file shared by stream and message instances may set them; they are ignored there.
    const config c = parse(with_minimal({"--mode", "stream", "--framing", "length",
                                         "--upstream-connections", "8"}))
                         .cfg;
    EXPECT_EQ(c.mode, funnel::relay_mode::stream);
    EXPECT_EQ(c.message_framing, funnel::framing::length);
    EXPECT_EQ(c.upstream_connections, 8u);
    // A typo is still a typo, whatever the mode.
    EXPECT_EQ(error_of(with_minimal({"--framing", "bogus"})),
              "--framing: 'bogus' is not one of line or length");
}

TEST(ParseBackoffRange, AcceptsWholeMillisecondsWithSpaces) {
    const std::vector<std::tuple<std::string, std::chrono::milliseconds, std::chrono::milliseconds>>
        good{
            {"1:1", 1ms, 1ms},
            {"100:10000", 100ms, 10000ms},
            {" 250 : 500 ", 250ms, 500ms},
            {"007:08", 7ms, 8ms},
            {"3600000:3600000", 3600000ms, 3600000ms},
        };
    for (const auto& [text, min, max] : good) {
        const auto [got_min, got_max] = funnel::parse_backoff_range(text, "--reconnect-backoff");
        EXPECT_EQ(got_min, min) << text;
        EXPECT_EQ(got_max, max) << text;
    }
}

TEST(ParseBackoffRange, RejectsBadFormsNamingTheOption) {
    for (const std::string text : {"", "100", "a:b", "0:10", "500:100", "100:3600001",
                                   "3600001:3600002", "+1:2", "1:+2", "1e2:1e3", "1;2", "1-2"}) {
        const std::string error =
            error_from([&] { funnel::parse_backoff_range(text, "--reconnect-backoff"); });
        EXPECT_EQ(error.rfind("--reconnect-backoff: ", 0), 0u) << text << " -> " << error;
        EXPECT_NE(error.find("MIN_MS:MAX_MS"), std::string::npos) << text << " -> " << error;
    }
}

// ---------------------------------------------------------------------------------------------

std::vector<std::string> texts(const std::vector<funnel::cidr>& blocks) {
    std::vector<std::string> out;
    for (const auto& b : blocks) {
        out.push_back(b.to_string());
    }
    return out;
}

using strings = std::vector<std::string>;

TEST(ParseCidr, BareAddressIsOneHost) {
    EXPECT_EQ(funnel::parse_cidr("10.1.2.3", "--allow").to_string(), "10.1.2.3/32");
    EXPECT_EQ(funnel::parse_cidr(" 2001:db8::7 ", "--allow").to_string(), "2001:db8::7/128");
    const funnel::cidr v4 = funnel::parse_cidr("192.168.0.0/16", "--allow");
    EXPECT_FALSE(v4.v6);
    EXPECT_EQ(v4.prefix, 16u);
    EXPECT_EQ(v4.bytes[0], 192);
    EXPECT_EQ(v4.bytes[1], 168);
    const funnel::cidr v6 = funnel::parse_cidr("fd00::/8", "--allow");
    EXPECT_TRUE(v6.v6);
    EXPECT_EQ(v6.prefix, 8u);
    EXPECT_EQ(v6.bytes[0], 0xfd);
}

TEST(ParseCidr, ZeroAndFullPrefixesAreAccepted) {
    EXPECT_EQ(funnel::parse_cidr("0.0.0.0/0", "--deny").to_string(), "0.0.0.0/0");
    EXPECT_EQ(funnel::parse_cidr("::/0", "--deny").to_string(), "::/0");
    EXPECT_EQ(funnel::parse_cidr("1.2.3.4/32", "--deny").to_string(), "1.2.3.4/32");
    EXPECT_EQ(funnel::parse_cidr("::1/128", "--deny").to_string(), "::1/128");
    // Host bits are checked within the prefix's last byte too.
    EXPECT_EQ(funnel::parse_cidr("10.0.0.128/25", "--deny").to_string(), "10.0.0.128/25");
    EXPECT_NE(error_from([] {
                  funnel::parse_cidr("10.0.0.192/25", "--deny");
              }).find("(the block is 10.0.0.128/25)"),
              std::string::npos);
}

TEST(ParseCidr, Ipv4MappedBlocksBecomeIpv4) {
    EXPECT_EQ(funnel::parse_cidr("::ffff:10.0.0.0/104", "--deny").to_string(), "10.0.0.0/8");
    EXPECT_EQ(funnel::parse_cidr("::ffff:10.1.2.3", "--deny").to_string(), "10.1.2.3/32");
    EXPECT_EQ(funnel::parse_cidr("::ffff:0.0.0.0/96", "--deny").to_string(), "0.0.0.0/0");
    // Shorter than /96, a mapped address has bits set after the prefix.
    EXPECT_NE(error_from([] {
                  funnel::parse_cidr("::ffff:0:0/95", "--deny");
              }).find("bits set after the prefix"),
              std::string::npos);
}

TEST(ParseAccess, FlagsRepeatAndTakeCommaOrSpaceLists) {
    const config c = parse(with_minimal({"--allow", "10.0.0.0/8, 192.168.0.0/16", "--allow", "::1",
                                         "--deny", "10.1.0.0/16 10.2.0.0/16",
                                         "--max-connections-per-ip", "3", "--refuse-when-full"}))
                         .cfg;
    EXPECT_EQ(texts(c.allow), (strings{"10.0.0.0/8", "192.168.0.0/16", "::1/128"}));
    EXPECT_EQ(texts(c.deny), (strings{"10.1.0.0/16", "10.2.0.0/16"}));
    EXPECT_EQ(c.max_connections_per_ip, 3u);
    EXPECT_TRUE(c.refuse_when_full);
}

TEST(ParseAccess, RefuseWhenFullTakesAnOptionalYesOrNo) {
    EXPECT_TRUE(parse(with_minimal({"--refuse-when-full=yes"})).cfg.refuse_when_full);
    EXPECT_TRUE(parse(with_minimal({"--refuse-when-full=TRUE"})).cfg.refuse_when_full);
    EXPECT_FALSE(parse(with_minimal({"--refuse-when-full=no"})).cfg.refuse_when_full);
    EXPECT_FALSE(parse(with_minimal({"--refuse-when-full=0"})).cfg.refuse_when_full);
    // The flag alone does not swallow the next argument.
    const config c =
        parse(with_minimal({"--refuse-when-full", "--max-connections-per-ip", "2"})).cfg;
    EXPECT_TRUE(c.refuse_when_full);
    EXPECT_EQ(c.max_connections_per_ip, 2u);
    EXPECT_FALSE(parse(with_minimal({"--refuse-when-full", "no"})).cfg.refuse_when_full);
}

TEST(ParseAccess, EnvironmentListsAndFlagsReplaceThem) {
    const env_t env{"FUNNEL_ALLOW=10.0.0.0/8,172.16.0.0/12  fd00::/8", "FUNNEL_DENY= 10.9.0.0/16 ",
                    "FUNNEL_MAX_CONNECTIONS_PER_IP=5", "FUNNEL_REFUSE_WHEN_FULL=on"};
    const config c = parse(with_minimal(), env).cfg;
    EXPECT_EQ(texts(c.allow), (strings{"10.0.0.0/8", "172.16.0.0/12", "fd00::/8"}));
    EXPECT_EQ(texts(c.deny), (strings{"10.9.0.0/16"}));
    EXPECT_EQ(c.max_connections_per_ip, 5u);
    EXPECT_TRUE(c.refuse_when_full);
    // Like --listen, a flag replaces the environment's list instead of adding to it.
    const config flags = parse(with_minimal({"--allow", "::1"}), env).cfg;
    EXPECT_EQ(texts(flags.allow), (strings{"::1/128"}));
    EXPECT_EQ(texts(flags.deny), (strings{"10.9.0.0/16"}));
}

// ---------------------------------------------------------------------------------------------

TEST(ParseEnvironment, VariablesSetOptions) {
    const config c =
        parse({}, {"FUNNEL_LISTEN=127.0.0.1:0", "FUNNEL_TARGET=t:9", "FUNNEL_BUFFER_LIMIT=128 KiB",
                   "FUNNEL_IDLE_TIMEOUT=1.5", "FUNNEL_MAX_CONNECTIONS=4", "FUNNEL_LOG_FORMAT=json"})
            .cfg;
    EXPECT_EQ(c.target, (host_port{"t", 9}));
    EXPECT_EQ(c.buffer_limit, std::size_t{128} << 10);
    EXPECT_DOUBLE_EQ(c.idle_timeout.count(), 1.5);
    EXPECT_EQ(c.max_connections, 4u);
    EXPECT_EQ(c.format, funnel::log_format::json);
}

TEST(ParseEnvironment, UnknownFunnelVariableIsAWarningNotAnError) {
    const parse_result r = parse(
        with_minimal(), {"FUNNEL_FOO=1", "FUNNEL_target=x", "PATH=/bin", "HOME", "FUNNEL_HELP=1"});
    ASSERT_EQ(r.what, parse_result::action::run);
    EXPECT_EQ(r.warnings,
              (std::vector<std::string>{"ignoring unknown environment variable FUNNEL_FOO",
                                        "ignoring unknown environment variable FUNNEL_target",
                                        "ignoring unknown environment variable FUNNEL_HELP"}));
}

TEST(ParseEnvironment, EmptyVariableCountsAsUnset) {
    const config c = parse(with_minimal(), {"FUNNEL_WORKERS=", "FUNNEL_LOG_LEVEL= "}).cfg;
    EXPECT_EQ(c.workers, std::max<std::size_t>(1, std::thread::hardware_concurrency()));
    EXPECT_EQ(c.level, funnel::log_level::info);
}

TEST(ParseEnvironment, ErrorsNameTheVariable) {
    EXPECT_EQ(error_of(with_minimal(), {"FUNNEL_BUFFER_LIMIT=-5"}),
              "FUNNEL_BUFFER_LIMIT: '-5' is not a size (use bytes or a number with KiB, MiB or "
              "GiB)");
    const std::string target = error_of({"--listen", "127.0.0.1:0"}, {"FUNNEL_TARGET=t:70000"});
    EXPECT_EQ(target, "FUNNEL_TARGET: port 70000 is out of range (1-65535)");
}

// ---------------------------------------------------------------------------------------------

// Each test gets its own directory under the system temp dir, removed afterwards.
class ParseConfigFile : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "funnel-parse-test-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::string write(const std::string& name, const std::string& content) {
        const std::filesystem::path path = dir_ / name;
        std::ofstream(path) << content;
        return path.string();
    }

    std::filesystem::path dir_;
};

TEST_F(ParseConfigFile, KeysSetOptionsAndListenMayRepeat) {
    const std::string path = write("funnel.ini", "# a comment\n"
                                                 "listen = 127.0.0.1:9000\n"
                                                 "listen = [::1]:9000, localhost:0\n"
                                                 "target = 127.0.0.1:7000\n"
                                                 "buffer-limit = 2 MiB\n"
                                                 "client-buffer-limit = 512 KiB\n"
                                                 "drain-timeout = 1.5s\n"
                                                 "log-level = warn\n");
    const parse_result r = parse({"--config", path});
    ASSERT_EQ(r.what, parse_result::action::run);
    EXPECT_EQ(r.cfg.listen,
              (std::vector<host_port>{{"127.0.0.1", 9000}, {"::1", 9000}, {"localhost", 0}}));
    EXPECT_EQ(r.cfg.target, (host_port{"127.0.0.1", 7000}));
    EXPECT_EQ(r.cfg.buffer_limit, std::size_t{2} << 20);
    EXPECT_EQ(r.cfg.client_buffer_limit, std::size_t{512} << 10);
    EXPECT_DOUBLE_EQ(r.cfg.drain_timeout.count(), 1.5);
    EXPECT_EQ(r.cfg.level, funnel::log_level::warn);
}

TEST_F(ParseConfigFile, AccessKeysMayRepeat) {
    const std::string path = write("funnel.ini", "listen = 127.0.0.1:0\n"
                                                 "target = 127.0.0.1:7000\n"
                                                 "allow = 10.0.0.0/8\n"
                                                 "allow = 2001:db8::/32, ::1\n"
                                                 "deny = 10.66.0.0/16\n"
                                                 "max-connections-per-ip = 8\n"
                                                 "refuse-when-full = yes\n");
    const config c = parse({"--config", path}).cfg;
    EXPECT_EQ(texts(c.allow), (strings{"10.0.0.0/8", "2001:db8::/32", "::1/128"}));
    EXPECT_EQ(texts(c.deny), (strings{"10.66.0.0/16"}));
    EXPECT_EQ(c.max_connections_per_ip, 8u);
    EXPECT_TRUE(c.refuse_when_full);

    const std::string bad = write("bad.ini", "listen = 127.0.0.1:0\n"
                                             "target = 127.0.0.1:7000\n"
                                             "deny = 10.0.0.1/8\n");
    EXPECT_EQ(error_of({"--config", bad}),
              "deny (config file '" + bad +
                  "'): '10.0.0.1/8' has bits set after the prefix (the block is 10.0.0.0/8)");
}

TEST_F(ParseConfigFile, FlagsBeatEnvironmentBeatFile) {
    const std::string path = write("funnel.ini", "listen = 127.0.0.1:1\n"
                                                 "target = file:1\n"
                                                 "buffer-limit = 1MiB\n"
                                                 "workers = 3\n"
                                                 "log-level = debug\n");
    const env_t env{"FUNNEL_CONFIG=" + path, "FUNNEL_TARGET=env:2", "FUNNEL_BUFFER_LIMIT=2MiB",
                    "FUNNEL_LISTEN=127.0.0.1:2"};

    const config flags = parse({"--target", "flag:3", "--listen", "127.0.0.1:3"}, env).cfg;
    EXPECT_EQ(flags.target, (host_port{"flag", 3}));
    EXPECT_EQ(flags.listen, (std::vector<host_port>{{"127.0.0.1", 3}}));
    EXPECT_EQ(flags.buffer_limit, std::size_t{2} << 20); // environment
    EXPECT_EQ(flags.workers, 3u);                        // file
    EXPECT_EQ(flags.level, funnel::log_level::debug);    // file

    const config env_only = parse({}, env).cfg;
    EXPECT_EQ(env_only.target, (host_port{"env", 2}));
    EXPECT_EQ(env_only.listen, (std::vector<host_port>{{"127.0.0.1", 2}}));

    const config file_only = parse({}, {"FUNNEL_CONFIG=" + path}).cfg;
    EXPECT_EQ(file_only.target, (host_port{"file", 1}));
    EXPECT_EQ(file_only.listen, (std::vector<host_port>{{"127.0.0.1", 1}}));
    EXPECT_EQ(file_only.buffer_limit, std::size_t{1} << 20);
}

TEST_F(ParseConfigFile, MessageModeKeysSetOptions) {
    const std::string path = write("funnel.ini", "listen = 127.0.0.1:0\n"
                                                 "target = t:1\n"
                                                 "mode = message\n"
                                                 "framing = length\n"
                                                 "max-message-size = 4 KiB\n"
                                                 "oversize = close\n"
                                                 "upstream-connections = 2\n"
                                                 "reconnect-backoff = 10:20\n");
    const config c = parse({"--config", path}).cfg;
    EXPECT_EQ(c.mode, funnel::relay_mode::message);
    EXPECT_EQ(c.message_framing, funnel::framing::length);
    EXPECT_EQ(c.max_message_size, std::size_t{4} << 10);
    EXPECT_EQ(c.oversize, funnel::oversize_policy::close);
    EXPECT_EQ(c.upstream_connections, 2u);
    EXPECT_EQ(c.reconnect_backoff_min, 10ms);
    EXPECT_EQ(c.reconnect_backoff_max, 20ms);
}

TEST_F(ParseConfigFile, MessageModeFlagsBeatEnvironmentBeatFile) {
    const std::string path = write("funnel.ini", "listen = 127.0.0.1:0\n"
                                                 "target = t:1\n"
                                                 "framing = length\n"
                                                 "upstream-connections = 2\n"
                                                 "reconnect-backoff = 10:20\n"
                                                 "oversize = close\n");
    const env_t env{"FUNNEL_CONFIG=" + path, "FUNNEL_UPSTREAM_CONNECTIONS=3",
                    "FUNNEL_RECONNECT_BACKOFF=30:40"};
    const config c = parse({"--reconnect-backoff", "50:60"}, env).cfg;
    EXPECT_EQ(c.reconnect_backoff_min, 50ms); // flag
    EXPECT_EQ(c.reconnect_backoff_max, 60ms);
    EXPECT_EQ(c.upstream_connections, 3u);                 // environment
    EXPECT_EQ(c.message_framing, funnel::framing::length); // file
    EXPECT_EQ(c.oversize, funnel::oversize_policy::close); // file
}

TEST_F(ParseConfigFile, BadMessageModeValueNamesKeyAndFile) {
    const std::string path = write("funnel.ini", "reconnect-backoff = 500:100\n");
    EXPECT_EQ(error_of(with_minimal({"--config", path})),
              "reconnect-backoff (config file '" + path +
                  "'): '500:100' has MAX below MIN (use MIN_MS:MAX_MS, e.g. 100:10000)");
}

TEST_F(ParseConfigFile, ConfigFlagBeatsFunnelConfig) {
    const std::string chosen = write("chosen.ini", "listen = 127.0.0.1:0\ntarget = chosen:1\n");
    const std::string ignored = write("ignored.ini", "listen = 127.0.0.1:0\ntarget = ignored:1\n");
    const config c = parse({"--config", chosen}, {"FUNNEL_CONFIG=" + ignored}).cfg;
    EXPECT_EQ(c.target, (host_port{"chosen", 1}));
}

TEST_F(ParseConfigFile, UnknownKeyIsAnError) {
    const std::string path = write("funnel.ini", "target = t:1\nbogus = 1\n");
    const std::string error = error_of(with_minimal({"--config", path}));
    EXPECT_NE(error.find("unknown key 'bogus'"), std::string::npos) << error;
    EXPECT_NE(error.find(path), std::string::npos) << error;
}

TEST_F(ParseConfigFile, MalformedLinesAndRepeatsAreErrors) {
    const std::string garbage = write("garbage.ini", "this is not a setting\n");
    const std::string garbage_error = error_of(with_minimal({"--config", garbage}));
    EXPECT_EQ(garbage_error, "config file '" + garbage +
                                 "': invalid line 'this is not a setting' (expected 'option = "
                                 "value')");

    const std::string twice = write("twice.ini", "target = a:1\ntarget = b:1\n");
    const std::string twice_error = error_of({"--listen", "127.0.0.1:0", "--config", twice});
    EXPECT_NE(twice_error.find("'target' is given more than once"), std::string::npos)
        << twice_error;

    // The file may not point at another file.
    const std::string nested = write("nested.ini", "config = other.ini\n");
    EXPECT_NE(error_of(with_minimal({"--config", nested})).find("unknown key 'config'"),
              std::string::npos);
}

TEST_F(ParseConfigFile, BadValueNamesKeyAndFile) {
    const std::string path = write("funnel.ini", "buffer-limit = -5\n");
    const std::string error = error_of(with_minimal({"--config", path}));
    EXPECT_EQ(error, "buffer-limit (config file '" + path +
                         "'): '-5' is not a size (use bytes or a number with KiB, MiB or GiB)");
}

TEST_F(ParseConfigFile, UnreadableFileIsAnError) {
    const std::string missing = (dir_ / "missing.ini").string();
    const std::string flag_error = error_of(with_minimal({"--config", missing}));
    EXPECT_NE(flag_error.find("--config: cannot read config file '" + missing + "'"),
              std::string::npos)
        << flag_error;
    EXPECT_NE(flag_error.find("No such file"), std::string::npos) << flag_error;

    const std::string env_error = error_of(with_minimal(), {"FUNNEL_CONFIG=" + missing});
    EXPECT_NE(env_error.find("FUNNEL_CONFIG: cannot read config file"), std::string::npos)
        << env_error;

    const std::string dir_error = error_of(with_minimal({"--config", dir_.string()}));
    EXPECT_NE(dir_error.find("is a directory"), std::string::npos) << dir_error;
}

// ---------------------------------------------------------------------------------------------

TEST(ParseCheckConfig, ReturnsTheWholeCheckedConfigurationWithoutRunningIt) {
    const parse_result r =
        parse(with_minimal({"--check-config", "--workers", "3"}), {"FUNNEL_IDLE_TIMEOUT=2.5"});
    EXPECT_EQ(r.what, parse_result::action::check);
    EXPECT_EQ(r.cfg.workers, 3u);
    EXPECT_EQ(r.cfg.idle_timeout.count(), 2.5); // the environment is checked too
    // Checking is the whole parse: a bad value anywhere fails it as it would fail a start.
    EXPECT_NE(error_of(with_minimal({"--check-config", "--buffer-limit", "5"})), "");
    EXPECT_NE(error_of(with_minimal({"--check-config"}), {"FUNNEL_WORKERS=many"}), "");
    // Only a flag asks for it: the environment and the config file cannot turn a start into a
    // check.
    EXPECT_EQ(parse(with_minimal(), {"FUNNEL_CHECK_CONFIG=1"}).what, parse_result::action::run);
}

TEST(ParseHelpAndVersion, HelpListsEveryOptionWithoutNeedingTheRest) {
    // No --target, a broken environment and a missing config file: --help must still work.
    const parse_result r =
        parse({"--help", "--config", "/nonexistent/funnel.ini"}, {"FUNNEL_BUFFER_LIMIT=-5"});
    ASSERT_EQ(r.what, parse_result::action::help);
    EXPECT_EQ(r.text.rfind("Usage: funnel --listen HOST:PORT --target HOST:PORT", 0), 0u);
    for (const char* option : {"--help",
                               "--version",
                               "--config",
                               "--listen",
                               "--target",
                               "--mode",
                               "--workers",
                               "--max-connections",
                               "--idle-timeout",
                               "--buffer-limit",
                               "--connect-timeout",
                               "--drain-timeout",
                               "--stats-interval",
                               "--log-level",
                               "--log-format",
                               "Message mode",
                               "--framing",
                               "--max-message-size",
                               "--oversize",
                               "--upstream-connections",
                               "--reconnect-backoff",
                               "--metrics-listen",
                               "--health-check",
                               "--allow",
                               "--deny",
                               "--max-connections-per-ip",
                               "--refuse-when-full",
                               "--spool-dir",
                               "--spool-mode",
                               "--spool-limit",
                               "--spool-sync",
                               "--spool-sync-interval",
                               "--overflow",
                               "default: 1GiB",
                               "default: block",
                               "default: line",
                               "default: 1MiB",
                               "default: skip",
                               "default: 4",
                               "default: 100:10000",
                               "FUNNEL_",
                               "KiB",
                               "default: 64MiB",
                               "default: 10000",
                               "default: 60",
                               "250ms"}) {
        EXPECT_NE(r.text.find(option), std::string::npos) << option;
    }
    EXPECT_NE(r.text.back(), '\n'); // like the version text: the caller adds one
    EXPECT_EQ(parse({"-h"}).what, parse_result::action::help);
}

TEST(ParseHelpAndVersion, VersionText) {
    const parse_result r = parse({"--version"});
    ASSERT_EQ(r.what, parse_result::action::version);
    EXPECT_EQ(r.text, "funnel "s + FUNNEL_VERSION);
    EXPECT_EQ(r.text, "funnel 0.1.0");
    EXPECT_EQ(parse({"-V"}).what, parse_result::action::version);
}

// ---------------------------------------------------------------------------------------------

TEST(ParseSize, AcceptsBytesAndBinarySuffixes) {
    const std::vector<std::pair<std::string, std::size_t>> good{
        {"0", 0},
        {"1", 1},
        {"1B", 1},
        {"1 b", 1},
        {" 5 ", 5},
        {"64KiB", std::size_t{64} << 10},
        {"64kib", std::size_t{64} << 10},
        {"64 KiB", std::size_t{64} << 10},
        {"64MiB", std::size_t{64} << 20},
        {"64 MiB", std::size_t{64} << 20},
        {"64mIb", std::size_t{64} << 20},
        {"1gib", std::size_t{1} << 30},
        {"3 GiB", std::size_t{3} << 30},
        {"18446744073709551615", std::numeric_limits<std::size_t>::max()},
        {"17179869183GiB", std::size_t{17179869183} << 30},
    };
    for (const auto& [text, bytes] : good) {
        EXPECT_EQ(funnel::parse_size(text, "--buffer-limit"), bytes) << text;
    }
}

TEST(ParseSize, RejectsBadFormsNamingTheOption) {
    for (const std::string text : {"", "  ", "-5", "+5", "1.5MiB", "64MB", "64K", "64 M", "64KB",
                                   "KiB", "abc", "64MiBs", "1 2", "0x10", "5 TiB", "1e6"}) {
        const std::string error = error_from([&] { funnel::parse_size(text, "--buffer-limit"); });
        EXPECT_EQ(error.rfind("--buffer-limit: ", 0), 0u) << text << " -> " << error;
        EXPECT_NE(error.find("KiB, MiB or GiB"), std::string::npos) << text << " -> " << error;
    }
    for (const std::string text :
         {"18446744073709551616", "17179869184GiB", "99999999999999999999999"}) {
        const std::string error = error_from([&] { funnel::parse_size(text, "--buffer-limit"); });
        EXPECT_EQ(error, "--buffer-limit: '" + text + "' is too large") << text;
    }
}

TEST(ParseSeconds, AcceptsDecimalsAndSuffixes) {
    const std::vector<std::pair<std::string, double>> good{
        {"0", 0.0},
        {"10", 10.0},
        {"1.5", 1.5},
        {"0.25", 0.25},
        {".5", 0.5},
        {"2.", 2.0},
        {"250ms", 0.25},
        {"250 ms", 0.25},
        {"1.5s", 1.5},
        {"2 s", 2.0},
        {"100MS", 0.1},
        {" 3 ", 3.0},
        {"31536000", 31536000.0},
    };
    for (const auto& [text, seconds] : good) {
        EXPECT_DOUBLE_EQ(funnel::parse_seconds(text, "--idle-timeout").count(), seconds) << text;
    }
}

TEST(ParseSeconds, RejectsBadFormsNamingTheOption) {
    for (const std::string text :
         {"", "-1", "+1", "-0.5", "nan", "inf", "NaN", "infinity", "1e3", "abc", "1.2.3", ".", "s",
          "ms", "10 minutes", "1h", "1m", "0x10", "1,5"}) {
        const std::string error =
            error_from([&] { funnel::parse_seconds(text, "--idle-timeout"); });
        EXPECT_EQ(error.rfind("--idle-timeout: ", 0), 0u) << text << " -> " << error;
    }
    for (const std::string& text : std::vector<std::string>{
             "31536001", "31536000001ms", "99999999999999999999999999999999999999",
             "1" + std::string(400, '0')}) {
        const std::string error =
            error_from([&] { funnel::parse_seconds(text, "--drain-timeout"); });
        EXPECT_EQ(error, "--drain-timeout: '" + text + "' is too large (at most one year)");
    }
}

TEST(ParseCount, AcceptsWholeNumbers) {
    EXPECT_EQ(funnel::parse_count("0", "--workers"), 0u);
    EXPECT_EQ(funnel::parse_count(" 42 ", "--workers"), 42u);
    EXPECT_EQ(funnel::parse_count("18446744073709551615", "--workers"),
              std::numeric_limits<std::uint64_t>::max());
}

TEST(ParseCount, RejectsBadFormsNamingTheOption) {
    for (const std::string text : {"", "-1", "+1", "1.5", "abc", "1e3", "0x10", "1 2"}) {
        const std::string error = error_from([&] { funnel::parse_count(text, "--workers"); });
        EXPECT_EQ(error.rfind("--workers: ", 0), 0u) << text << " -> " << error;
    }
    EXPECT_EQ(error_from([] { funnel::parse_count("18446744073709551616", "--workers"); }),
              "--workers: '18446744073709551616' is too large");
}

// ---------------------------------------------------------------------------------------------

TEST(ParseHostPort, AcceptsIpv4Ipv6AndNames) {
    const std::vector<std::pair<std::string, host_port>> good{
        {"127.0.0.1:9000", {"127.0.0.1", 9000}},
        {"0.0.0.0:1", {"0.0.0.0", 1}},
        {"[::1]:9000", {"::1", 9000}},
        {"[::]:65535", {"::", 65535}},
        {"[2001:db8::17]:80", {"2001:db8::17", 80}},
        {"[fe80::1%eth0]:80", {"fe80::1%eth0", 80}},
        {"localhost:80", {"localhost", 80}},
        {"example.com.:443", {"example.com.", 443}},
        {"my_service-2:8080", {"my_service-2", 8080}},
        {" host:01 ", {"host", 1}},
    };
    for (const auto& [text, expected] : good) {
        const host_port parsed = funnel::parse_host_port(text, "--target", false);
        EXPECT_EQ(parsed, expected) << text;
        // to_string() writes what parse_host_port() reads.
        EXPECT_EQ(funnel::parse_host_port(parsed.to_string(), "--target", false), parsed) << text;
    }
}

TEST(ParseHostPort, PortZeroOnlyWhereAllowed) {
    EXPECT_EQ(funnel::parse_host_port("127.0.0.1:0", "--listen", true),
              (host_port{"127.0.0.1", 0}));
    EXPECT_EQ(funnel::parse_host_port("[::1]:0", "--listen", true), (host_port{"::1", 0}));
    EXPECT_EQ(error_from([] { funnel::parse_host_port("127.0.0.1:0", "--target", false); }),
              "--target: port 0 is out of range (1-65535)");
    EXPECT_EQ(error_from([] { funnel::parse_host_port("127.0.0.1:70000", "--listen", true); }),
              "--listen: port 70000 is out of range (0-65535)");
}

TEST(ParseHostPort, RejectsBadFormsWithAReason) {
    struct bad {
        std::string text;
        std::string reason;
    };
    const std::vector<bad> cases{
        {"", "empty value"},
        {"127.0.0.1", "'127.0.0.1' has no port"},
        {"localhost", "'localhost' has no port"},
        {"host:", "'host:' has no port"},
        {":9000", "':9000' has no host"},
        {"[]:9000", "'[]:9000' has no host"},
        {"[::1:9000", "has no closing ']'"},
        {"[::1]9000", "needs ':' after ']'"},
        {"[::1]", "'[::1]' has no port"},
        {"[::1]:", "'[::1]:' has no port"},
        {"::1:9000", "without brackets"},
        {"::1]:9000", "without brackets"},
        {"[127.0.0.1]:80", "invalid IPv6 address '127.0.0.1'"},
        {"[fe80::1%]:80", "invalid IPv6 address"},
        {"host:70000", "port 70000 is out of range (1-65535)"},
        {"host:99999999999999999999999", "is out of range (1-65535)"},
        {"host:abc", "invalid port 'abc'"},
        {"host:-1", "invalid port '-1'"},
        {"host:+1", "invalid port '+1'"},
        {"300.1.1.1:80", "invalid host '300.1.1.1'"},
        {"1.2.3:80", "invalid host '1.2.3'"},
        {"bad host:80", "invalid host 'bad host'"},
        {"-bad:80", "invalid host '-bad'"},
        {"a..b:80", "invalid host 'a..b'"},
        {"a]:80", "invalid host 'a]'"},
        {std::string(64, 'a') + ":80", "invalid host"},
    };
    for (const auto& c : cases) {
        const std::string error =
            error_from([&] { funnel::parse_host_port(c.text, "--target", false); });
        EXPECT_EQ(error.rfind("--target: ", 0), 0u) << c.text << " -> " << error;
        EXPECT_NE(error.find(c.reason), std::string::npos) << c.text << " -> " << error;
    }
}

// ---------------------------------------------------------------------------------------------

// Every bad setting fails with one line that names the option (or variable) and the bad value.
TEST(ParseInvalid, ErrorsNameTheOptionAndTheValue) {
    struct bad {
        args_t args;
        env_t env;
        std::string expected; // a substring of what()
    };
    const std::vector<bad> cases{
        {{"--listen", "127.0.0.1", "--target", "t:1"}, {}, "--listen: '127.0.0.1' has no port"},
        {{"--listen", "[::1]:70000", "--target", "t:1"}, {}, "--listen: port 70000"},
        {{"--listen", "127.0.0.1:0", "--target", "t:70000"},
         {},
         "--target: port 70000 is out of range (1-65535)"},
        {{"--listen", "127.0.0.1:0", "--target", "t:0"}, {}, "--target: port 0"},
        {with_minimal({"--buffer-limit", "-5"}), {}, "--buffer-limit: '-5' is not a size"},
        {with_minimal({"--buffer-limit", "1000"}), {}, "--buffer-limit: '1000' is below"},
        {with_minimal({"--buffer-limit", ""}), {}, "--buffer-limit: empty value"},
        {with_minimal({"--client-buffer-limit", "x"}), {}, "--client-buffer-limit: 'x' is not"},
        {with_minimal({"--client-buffer-limit", "1GiB"}),
         {},
         "--client-buffer-limit: '1GiB' is more than --buffer-limit"},
        {with_minimal({"--workers", "-1"}), {}, "--workers: '-1'"},
        {with_minimal({"--workers", "abc"}), {}, "--workers: 'abc'"},
        {with_minimal({"--workers", "5000"}), {}, "--workers: '5000' is more than the maximum"},
        {with_minimal({"--max-connections", "0"}), {}, "--max-connections: '0' is out of range"},
        {with_minimal({"--max-connections", "-3"}), {}, "--max-connections: '-3'"},
        {with_minimal({"--idle-timeout", "-1"}), {}, "--idle-timeout: '-1' is not a duration"},
        {with_minimal({"--idle-timeout", "nan"}), {}, "--idle-timeout: 'nan'"},
        {with_minimal({"--connect-timeout", "0"}), {}, "--connect-timeout: '0' is out of range"},
        {with_minimal({"--connect-timeout", "0ms"}), {}, "--connect-timeout: '0ms'"},
        {with_minimal({"--drain-timeout", "inf"}), {}, "--drain-timeout: 'inf'"},
        {with_minimal({"--stats-interval", "2years"}), {}, "--stats-interval: '2years'"},
        {with_minimal({"--log-level", "verbose"}),
         {},
         "--log-level: 'verbose' is not one of trace, debug, info, warn or error"},
        {with_minimal({"--log-format", "xml"}),
         {},
         "--log-format: 'xml' is not one of text or json"},
        {with_minimal({"--mode", "bogus"}), {}, "--mode: 'bogus' is not one of stream or message"},
        {with_minimal({"--framing", "bogus"}),
         {},
         "--framing: 'bogus' is not one of line or length"},
        {with_minimal({"--max-message-size", "0"}), {}, "--max-message-size: '0' is out of range"},
        {with_minimal({"--max-message-size", "-1"}), {}, "--max-message-size: '-1' is not a size"},
        {with_minimal({"--max-message-size", "2GiB"}),
         {},
         "--max-message-size: '2GiB' is more than the maximum of 1GiB"},
        {with_minimal({"--oversize", "bogus"}),
         {},
         "--oversize: 'bogus' is not one of skip or close"},
        {with_minimal({"--upstream-connections", "0"}),
         {},
         "--upstream-connections: '0' is out of range (1-1024)"},
        {with_minimal({"--upstream-connections", "5000"}),
         {},
         "--upstream-connections: '5000' is out of range (1-1024)"},
        {with_minimal({"--reconnect-backoff", "100"}), {}, "--reconnect-backoff: '100' has no ':'"},
        {with_minimal({"--reconnect-backoff", "a:b"}),
         {},
         "--reconnect-backoff: 'a:b' has MIN 'a'"},
        {with_minimal({"--reconnect-backoff", "0:10"}),
         {},
         "--reconnect-backoff: '0:10' has MIN below 1"},
        {with_minimal({"--reconnect-backoff", "500:100"}),
         {},
         "--reconnect-backoff: '500:100' has MAX below MIN (use MIN_MS:MAX_MS, e.g. 100:10000)"},
        {with_minimal({"--reconnect-backoff", "100:99999999"}),
         {},
         "--reconnect-backoff: '100:99999999' has MAX above 3600000"},
        {with_minimal(), {"FUNNEL_OVERSIZE=drop"}, "FUNNEL_OVERSIZE: 'drop' is not one of"},
        {with_minimal(), {"FUNNEL_WORKERS=abc"}, "FUNNEL_WORKERS: 'abc'"},
        {with_minimal(), {"FUNNEL_CONNECT_TIMEOUT=-1"}, "FUNNEL_CONNECT_TIMEOUT: '-1'"},
        {{"--listen", "127.0.0.1:0"}, {"FUNNEL_TARGET=t"}, "FUNNEL_TARGET: 't' has no port"},
        {{"--target", "t:1"}, {"FUNNEL_LISTEN=127.0.0.1:1,,"}, "FUNNEL_LISTEN: empty address"},
        {with_minimal({"--help=yes"}), {}, "--help"},
        {with_minimal({"--config", ""}), {}, "--config: empty value"},
        {with_minimal({"--allow", "10.0.0.0/33"}),
         {},
         "--allow: '10.0.0.0/33' has a prefix length above 32"},
        {with_minimal({"--deny", "::/129"}), {}, "--deny: '::/129' has a prefix length above 128"},
        {with_minimal({"--deny", "10.1.2.3/8"}),
         {},
         "--deny: '10.1.2.3/8' has bits set after the prefix (the block is 10.0.0.0/8)"},
        {with_minimal({"--allow", "10.0.0/8"}), {}, "--allow: '10.0.0/8' has an invalid address"},
        {with_minimal({"--allow", "localhost"}), {}, "--allow: 'localhost' has an invalid address"},
        {with_minimal({"--allow", "fe80::1%eth0"}), {}, "--allow: 'fe80::1%eth0' has an invalid"},
        {with_minimal({"--allow", "10.0.0.0/"}),
         {},
         "--allow: '10.0.0.0/' has an invalid prefix length ''"},
        {with_minimal({"--allow", "10.0.0.0/-8"}), {}, "--allow: '10.0.0.0/-8' has an invalid"},
        {with_minimal({"--allow", "10.0.0.0/8/8"}), {}, "--allow: '10.0.0.0/8/8' has an invalid"},
        {with_minimal({"--allow", " , "}), {}, "--allow: empty value"},
        {with_minimal(), {"FUNNEL_DENY=10.0.0.0/8 300.0.0.0/8"}, "FUNNEL_DENY: '300.0.0.0/8'"},
        {with_minimal({"--max-connections-per-ip", "-1"}), {}, "--max-connections-per-ip: '-1'"},
        {with_minimal({"--max-connections-per-ip", "x"}), {}, "--max-connections-per-ip: 'x'"},
        {with_minimal({"--refuse-when-full=maybe"}),
         {},
         "--refuse-when-full: 'maybe' is not one of yes or no"},
        {with_minimal(), {"FUNNEL_REFUSE_WHEN_FULL=2"}, "FUNNEL_REFUSE_WHEN_FULL: '2'"},
    };
    for (const auto& c : cases) {
        const std::string error = error_of(c.args, c.env);
        EXPECT_NE(error.find(c.expected), std::string::npos)
            << "expected '" << c.expected << "' in: " << error;
        EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    }
}

// A newline or other control character in a flag, a value or a variable (found by the
// config_parse fuzz target) is written as an escape: the error stays one line.
TEST(ParseInvalid, ControlCharactersInTheInputAreEscapedInTheError) {
    struct bad {
        args_t args;
        env_t env;
        std::string expected;
    };
    const std::vector<bad> cases{
        {{"--listen\n7.0.0.1:9000"}, {}, "unknown option '--listen\\n7.0.0.1:9000'"},
        {{"--listen", "127.0.0.1:0", "--target", "t:1\r\nx"},
         {},
         "--target: 't:1\\r\\nx' has an invalid port '1\\r\\nx'"},
        {with_minimal(), {"FUNNEL_MODE=a\nb\x01"}, "FUNNEL_MODE: 'a\\nb\\x01' is not one of"},
        {{"--listen", "127.0.0.1:0", "--target", "\x1b[31mt:1"}, {}, "'\\x1b[31mt:1'"},
    };
    for (const auto& c : cases) {
        const std::string error = error_of(c.args, c.env);
        EXPECT_NE(error.find(c.expected), std::string::npos)
            << "expected '" << c.expected << "' in: " << error;
        EXPECT_TRUE(std::none_of(error.begin(), error.end(), [](char ch) {
            return ch >= 0 && ch < 0x20;
        })) << error;
    }
}

} // namespace

namespace funnel {
namespace {

TEST(ParseMessageModeLimits, BufferLimitMustHoldTheLargestMessage) {
    const char* argv[] = {"funnel",      "--listen",       "127.0.0.1:0", "--target",
                          "127.0.0.1:9", "--mode",         "message",     "--max-message-size",
                          "1MiB",        "--buffer-limit", "1MiB"};
    try {
        parse_command_line(static_cast<int>(std::size(argv)), argv, {});
        FAIL() << "accepted a buffer limit that cannot hold one message";
    } catch (const config_error& e) {
        EXPECT_NE(std::string(e.what()).find("--max-message-size"), std::string::npos) << e.what();
    }
    const char* stream_argv[] = {"funnel",   "--listen",       "127.0.0.1:0",
                                 "--target", "127.0.0.1:9",    "--max-message-size",
                                 "1MiB",     "--buffer-limit", "1MiB"};
    EXPECT_NO_THROW(parse_command_line(static_cast<int>(std::size(stream_argv)), stream_argv, {}));
}

// A client paused while it holds part of a message could never complete it.
TEST(ParseMessageModeLimits, ClientBufferLimitMustHoldTheLargestMessage) {
    const char* argv[] = {
        "funnel", "--listen", "127.0.0.1:0",        "--target", "127.0.0.1:9",
        "--mode", "message",  "--max-message-size", "1MiB",     "--client-buffer-limit",
        "1MiB"};
    try {
        parse_command_line(static_cast<int>(std::size(argv)), argv, {});
        FAIL() << "accepted a client buffer limit that cannot hold one message";
    } catch (const config_error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "--client-buffer-limit 1048576 cannot hold one message of --max-message-size "
                  "1048576 (needs at least 1179648 bytes)");
    }
    argv[std::size(argv) - 1] = "1152KiB";
    EXPECT_EQ(
        parse_command_line(static_cast<int>(std::size(argv)), argv, {}).cfg.client_buffer_limit,
        std::size_t{1152} << 10);
}

} // namespace
} // namespace funnel

// ---------------------------------------------------------------------------------------------

TEST(ParseMetricsListen, OffByDefaultAndSetByFlagEnvironmentOrFile) {
    EXPECT_EQ(parse(with_minimal()).cfg.metrics_listen, std::nullopt);
    EXPECT_EQ(parse(with_minimal({"--metrics-listen", "127.0.0.1:9100"})).cfg.metrics_listen,
              (host_port{"127.0.0.1", 9100}));
    EXPECT_EQ(parse(with_minimal(), {"FUNNEL_METRICS_LISTEN=[::]:0"}).cfg.metrics_listen,
              (host_port{"::", 0}));
    EXPECT_EQ(parse(with_minimal({"--metrics-listen", "localhost:9100"}),
                    {"FUNNEL_METRICS_LISTEN=127.0.0.1:1"})
                  .cfg.metrics_listen,
              (host_port{"localhost", 9100})); // the flag wins
}

TEST(ParseMetricsListen, BadValuesNameTheOption) {
    EXPECT_EQ(error_of(with_minimal({"--metrics-listen", "9100"})),
              "--metrics-listen: '9100' has no port (expected HOST:PORT, or [IPv6]:PORT)");
    EXPECT_EQ(error_of(with_minimal({"--metrics-listen", "127.0.0.1:70000"})),
              "--metrics-listen: port 70000 is out of range (0-65535)");
    EXPECT_EQ(error_of(with_minimal({"--metrics-listen", "127.0.0.1:1,127.0.0.1:2"})),
              "--metrics-listen: '127.0.0.1:1,127.0.0.1:2' is a list; give one HOST:PORT");
    EXPECT_EQ(error_of(with_minimal(), {"FUNNEL_METRICS_LISTEN=::1:9100"})
                  .rfind("FUNNEL_METRICS_LISTEN: '::1:9100' looks like an IPv6 address", 0),
              0u);
}

TEST(ParseMetricsListen, DescribeShowsIt) {
    EXPECT_NE(funnel::describe(parse(with_minimal()).cfg).find(" metrics-listen=off"),
              std::string::npos);
    EXPECT_NE(funnel::describe(parse(with_minimal({"--metrics-listen", "[::1]:9100"})).cfg)
                  .find(" metrics-listen=[::1]:9100"),
              std::string::npos);
}

TEST(ParseHealthCheck, NeedsOnlyTheMetricsAddress) {
    // In a container the main process has --listen and --target as its arguments; the probe
    // has only what the environment gives it.
    const parse_result r = parse({"--health-check"}, {"FUNNEL_METRICS_LISTEN=0.0.0.0:9100"});
    EXPECT_EQ(r.what, parse_result::action::health_check);
    EXPECT_EQ(r.cfg.metrics_listen, (host_port{"0.0.0.0", 9100}));
    EXPECT_EQ(parse(with_minimal({"--health-check", "--metrics-listen", "127.0.0.1:1"})).what,
              parse_result::action::health_check);
    // A broken setting the probe does not use does not fail it.
    EXPECT_EQ(
        parse({"--health-check", "--metrics-listen", "127.0.0.1:1"}, {"FUNNEL_BUFFER_LIMIT=5"})
            .what,
        parse_result::action::health_check);
}

TEST(ParseHealthCheck, WithoutMetricsListenIsAnError) {
    EXPECT_EQ(error_of({"--health-check"}).rfind("--health-check needs --metrics-listen", 0), 0u);
    EXPECT_EQ(error_of({"--health-check"}, {"FUNNEL_METRICS_LISTEN=nope"}),
              "FUNNEL_METRICS_LISTEN: 'nope' has no port (expected HOST:PORT, or [IPv6]:PORT)");
    // Only a flag asks for it.
    EXPECT_EQ(parse(with_minimal(), {"FUNNEL_HEALTH_CHECK=1"}).what, parse_result::action::run);
}
