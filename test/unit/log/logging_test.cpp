#include "funnel/log/json_formatter.hpp"
#include "funnel/log/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/sink.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"

namespace funnel {
namespace {

using namespace std::chrono_literals;

// Generous: these waits end as soon as the condition holds; the deadline only turns a bug into
// a failure instead of a hung test run.
constexpr auto deadline = 30s;

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

struct captured_log {
    std::ostringstream out;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink =
        std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
};

// 2026-11-26T07:00:00.123Z
spdlog::log_clock::time_point fixed_time() {
    using namespace std::chrono;
    return sys_days{year{2026} / November / 26} + 7h + 123ms;
}

std::string format_with(spdlog::formatter& formatter, spdlog::level::level_enum level,
                        std::string_view text, std::string_view logger_name = "funnel") {
    const spdlog::details::log_msg msg(
        fixed_time(), spdlog::source_loc{},
        spdlog::string_view_t(logger_name.data(), logger_name.size()), level,
        spdlog::string_view_t(text.data(), text.size()));
    spdlog::memory_buf_t buf;
    formatter.format(msg, buf);
    return std::string(buf.data(), buf.size());
}

std::string escaped(std::string_view text) {
    spdlog::memory_buf_t buf;
    append_json_escaped(text, buf);
    return std::string(buf.data(), buf.size());
}

void append_utf8(std::string& out, std::uint32_t cp) {
    auto byte = [](std::uint32_t v) {
        return static_cast<char>(static_cast<unsigned char>(v));
    };
    if (cp < 0x80) {
        out += byte(cp);
    } else if (cp < 0x800) {
        out += byte(0xC0 | (cp >> 6));
        out += byte(0x80 | (cp & 0x3F));
    } else {
        out += byte(0xE0 | (cp >> 12));
        out += byte(0x80 | ((cp >> 6) & 0x3F));
        out += byte(0x80 | (cp & 0x3F));
    }
}

// A strict reader for the only JSON shape the formatter writes: one flat object whose values are
// all strings. Returns nothing on anything a JSON parser would reject (raw control characters,
// unknown escapes, trailing bytes...).
class flat_json_reader {
public:
    explicit flat_json_reader(std::string_view text) : s_(text) {}

    std::optional<std::map<std::string, std::string>> read() {
        std::map<std::string, std::string> fields;
        if (!eat('{')) {
            return std::nullopt;
        }
        do {
            auto key = string();
            if (!key || !eat(':')) {
                return std::nullopt;
            }
            auto value = string();
            if (!value) {
                return std::nullopt;
            }
            fields[*key] = *value;
        } while (eat(','));
        if (!eat('}') || pos_ != s_.size()) {
            return std::nullopt;
        }
        return fields;
    }

private:
    bool eat(char c) {
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    std::optional<std::string> string() {
        if (!eat('"')) {
            return std::nullopt;
        }
        std::string out;
        while (pos_ < s_.size()) {
            const char c = s_[pos_++];
            if (c == '"') {
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                return std::nullopt;
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= s_.size()) {
                return std::nullopt;
            }
            switch (s_[pos_++]) {
            case '"':
                out += '"';
                break;
            case '\\':
                out += '\\';
                break;
            case '/':
                out += '/';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'u': {
                if (pos_ + 4 > s_.size()) {
                    return std::nullopt;
                }
                std::uint32_t cp = 0;
                for (int i = 0; i < 4; ++i) {
                    const char h = s_[pos_++];
                    cp <<= 4U;
                    if (h >= '0' && h <= '9') {
                        cp |= static_cast<std::uint32_t>(h - '0');
                    } else if (h >= 'a' && h <= 'f') {
                        cp |= static_cast<std::uint32_t>(h - 'a' + 10);
                    } else if (h >= 'A' && h <= 'F') {
                        cp |= static_cast<std::uint32_t>(h - 'A' + 10);
                    } else {
                        return std::nullopt;
                    }
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) {
                    return std::nullopt; // the formatter never needs surrogate pairs
                }
                append_utf8(out, cp);
                break;
            }
            default:
                return std::nullopt;
            }
        }
        return std::nullopt;
    }

    std::string_view s_;
    std::size_t pos_ = 0;
};

std::optional<std::map<std::string, std::string>> parse_line(std::string_view line) {
    return flat_json_reader(line).read();
}

// A sink that holds the worker inside log() until the test lets it go, to make the queue fill
// up deterministically. Waits are on a condition variable, never on sleeps.
class gated_sink final : public spdlog::sinks::sink {
public:
    void log(const spdlog::details::log_msg& msg) override {
        std::unique_lock lock(mutex_);
        ++entered_;
        cv_.notify_all();
        cv_.wait(lock, [&] { return open_ || permits_ > 0; });
        if (!open_) {
            --permits_;
        }
        lines_.emplace_back(msg.payload.data(), msg.payload.size());
    }
    void flush() override {}
    void set_pattern(const std::string&) override {}
    void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

    // Lets `n` more messages through.
    void grant(std::size_t n) {
        const std::lock_guard lock(mutex_);
        permits_ += n;
        cv_.notify_all();
    }
    void open() {
        const std::lock_guard lock(mutex_);
        open_ = true;
        cv_.notify_all();
    }
    // Waits until the worker has entered log() `n` times in all.
    bool wait_entered(std::size_t n) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, deadline, [&] { return entered_ >= n; });
    }
    std::vector<std::string> lines() {
        const std::lock_guard lock(mutex_);
        return lines_;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::size_t entered_ = 0;
    std::size_t permits_ = 0;
    bool open_ = false;
    std::vector<std::string> lines_;
};

// "2026-11-26T07:00:00.123Z" in shape. (Not std::regex: GCC 12 warns inside <regex> under the
// sanitizer builds, and -Werror turns that into a broken build.)
bool is_iso_utc_millis(std::string_view ts) {
    constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (ts.size() != shape.size()) {
        return false;
    }
    for (std::size_t i = 0; i < shape.size(); ++i) {
        const bool ok = shape[i] == 'd' ? (ts[i] >= '0' && ts[i] <= '9') : ts[i] == shape[i];
        if (!ok) {
            return false;
        }
    }
    return true;
}

template <typename Pred> bool poll_until(Pred pred) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::yield();
    }
    return true;
}

// ---------------------------------------------------------------------------------------------

TEST(LogLevel, MapsOntoSpdlogLevels) {
    EXPECT_EQ(to_spdlog_level(log_level::trace), spdlog::level::trace);
    EXPECT_EQ(to_spdlog_level(log_level::debug), spdlog::level::debug);
    EXPECT_EQ(to_spdlog_level(log_level::info), spdlog::level::info);
    EXPECT_EQ(to_spdlog_level(log_level::warn), spdlog::level::warn);
    EXPECT_EQ(to_spdlog_level(log_level::error), spdlog::level::err);
    EXPECT_EQ(level_name(spdlog::level::warn), "warn");
    EXPECT_EQ(level_name(spdlog::level::err), "error");
}

TEST(LogService, FlushDeliversLinesToSink) {
    captured_log cap;
    log_service service(log_level::info, log_format::text, cap.sink);
    EXPECT_EQ(service.logger()->name(), "funnel");
    service.logger()->info("hello {}", 42);
    service.flush();
    const auto lines = split_lines(cap.out.str());
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_NE(lines[0].find("hello 42"), std::string::npos) << lines[0];
}

TEST(LogService, FiltersBelowConfiguredLevel) {
    captured_log cap;
    log_service service(log_level::warn, log_format::text, cap.sink);
    const auto& log = service.logger();
    log->trace("t");
    log->debug("d");
    log->info("i");
    log->warn("w");
    log->error("e");
    service.flush();
    const auto lines = split_lines(cap.out.str());
    ASSERT_EQ(lines.size(), 2U) << cap.out.str();
    EXPECT_TRUE(lines[0].ends_with(" warn  w")) << lines[0];
    EXPECT_TRUE(lines[1].ends_with(" error e")) << lines[1];
}

TEST(LogService, TraceLevelPassesEverything) {
    captured_log cap;
    log_service service(log_level::trace, log_format::text, cap.sink);
    service.logger()->trace("t");
    service.logger()->debug("d");
    service.flush();
    EXPECT_EQ(split_lines(cap.out.str()).size(), 2U);
}

TEST(LogService, TextLinesHaveIsoTimestampLevelAndMessage) {
    captured_log cap;
    log_service service(log_level::info, log_format::text, cap.sink);
    service.logger()->info("starting up");
    service.logger()->warn("careful");
    service.flush();
    const auto lines = split_lines(cap.out.str());
    ASSERT_EQ(lines.size(), 2U);
    constexpr std::size_t ts_size = 24; // "2026-11-26T07:00:00.123Z"
    for (const auto& line : lines) {
        ASSERT_GT(line.size(), ts_size) << line;
        EXPECT_TRUE(is_iso_utc_millis(std::string_view(line).substr(0, ts_size))) << line;
    }
    EXPECT_EQ(lines[0].substr(ts_size), " info  starting up");
    EXPECT_EQ(lines[1].substr(ts_size), " warn  careful");
}

TEST(LogFormat, TextIsUtcWithMilliseconds) {
    auto formatter = make_formatter(log_format::text);
    EXPECT_EQ(format_with(*formatter, spdlog::level::info, "message"),
              "2026-11-26T07:00:00.123Z info  message\n");
    EXPECT_EQ(format_with(*formatter, spdlog::level::err, "x"),
              "2026-11-26T07:00:00.123Z error x\n");
    // Clones (one per sink) format the same.
    auto clone = formatter->clone();
    EXPECT_EQ(format_with(*clone, spdlog::level::debug, "y"), "2026-11-26T07:00:00.123Z debug y\n");
}

TEST(JsonFormatter, WritesOneObjectPerLine) {
    json_formatter formatter;
    EXPECT_EQ(format_with(formatter, spdlog::level::info, "hello"),
              R"({"ts":"2026-11-26T07:00:00.123Z","level":"info","logger":"funnel",)"
              R"("msg":"hello"})"
              "\n");
    EXPECT_EQ(format_with(formatter, spdlog::level::warn, R"(say "hi" \ bye)"),
              R"({"ts":"2026-11-26T07:00:00.123Z","level":"warn","logger":"funnel",)"
              R"("msg":"say \"hi\" \\ bye"})"
              "\n");
}

TEST(JsonFormatter, EscapesQuotesBackslashesAndControlCharacters) {
    EXPECT_EQ(escaped("plain text"), "plain text");
    EXPECT_EQ(escaped(R"(a"b)"), R"(a\"b)");
    EXPECT_EQ(escaped(R"(a\b)"), R"(a\\b)");
    EXPECT_EQ(escaped("line1\nline2\r\n"), R"(line1\nline2\r\n)");
    EXPECT_EQ(escaped("tab\there\b\f"), R"(tab\there\b\f)");
    EXPECT_EQ(escaped(std::string_view("\x01\x1f\0end", 6)), R"(\u0001\u001f\u0000end)");
    EXPECT_EQ(escaped("\x7f"), "\x7f"); // DEL needs no escape in JSON
    EXPECT_EQ(escaped(""), "");
}

TEST(JsonFormatter, PassesValidUtf8Through) {
    const std::string text = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xef\xbf\xbf";
    EXPECT_EQ(escaped(text), text);
}

TEST(JsonFormatter, ReplacesInvalidUtf8) {
    EXPECT_EQ(escaped("a\xff"
                      "b"),
              R"(a\ufffdb)");
    EXPECT_EQ(escaped("\x80"), R"(\ufffd)");                     // stray continuation byte
    EXPECT_EQ(escaped("end\xc3"), R"(end\ufffd)");               // truncated sequence
    EXPECT_EQ(escaped("\xc0\xaf"), R"(\ufffd\ufffd)");           // overlong '/'
    EXPECT_EQ(escaped("\xe0\x80\x80"), R"(\ufffd\ufffd\ufffd)"); // overlong NUL
    EXPECT_EQ(escaped("\xed\xa0\x80"), R"(\ufffd\ufffd\ufffd)"); // surrogate U+D800
    EXPECT_EQ(escaped("\xf4\x90\x80\x80"), R"(\ufffd\ufffd\ufffd\ufffd)"); // above U+10FFFF
    EXPECT_EQ(escaped("\xe2\x82"
                      "x"),
              R"(\ufffd\ufffdx)"); // sequence cut short by an ASCII byte
}

TEST(JsonFormatter, EveryAsciiByteRoundTrips) {
    std::string text;
    for (int c = 0; c < 0x80; ++c) {
        text += static_cast<char>(c);
    }
    text += "caf\xc3\xa9 \xf0\x9f\x98\x80";
    json_formatter formatter;
    const auto line = format_with(formatter, spdlog::level::info, text);
    ASSERT_TRUE(line.ends_with("\n"));
    const auto fields = parse_line(std::string_view(line).substr(0, line.size() - 1));
    ASSERT_TRUE(fields.has_value()) << line;
    EXPECT_EQ(fields->at("msg"), text);
    EXPECT_EQ(fields->at("level"), "info");
    EXPECT_EQ(fields->at("logger"), "funnel");
    EXPECT_EQ(fields->at("ts"), "2026-11-26T07:00:00.123Z");
}

TEST(JsonFormatter, EscapesLoggerName) {
    json_formatter formatter;
    const auto line = format_with(formatter, spdlog::level::info, "m", "od\"d");
    const auto fields = parse_line(std::string_view(line).substr(0, line.size() - 1));
    ASSERT_TRUE(fields.has_value()) << line;
    EXPECT_EQ(fields->at("logger"), "od\"d");
}

TEST(LogService, JsonFormatProducesParseableLines) {
    captured_log cap;
    log_service service(log_level::debug, log_format::json, cap.sink);
    service.logger()->debug("peer said \"{}\"", "GET /\r\n\x01");
    service.logger()->warn("C:\\path");
    service.flush();
    const auto lines = split_lines(cap.out.str());
    ASSERT_EQ(lines.size(), 2U) << cap.out.str();

    const auto first = parse_line(lines[0]);
    ASSERT_TRUE(first.has_value()) << lines[0];
    EXPECT_EQ(first->at("msg"), "peer said \"GET /\r\n\x01\"");
    EXPECT_EQ(first->at("level"), "debug");
    EXPECT_EQ(first->at("logger"), "funnel");
    EXPECT_TRUE(is_iso_utc_millis(first->at("ts"))) << first->at("ts");

    const auto second = parse_line(lines[1]);
    ASSERT_TRUE(second.has_value()) << lines[1];
    EXPECT_EQ(second->at("msg"), "C:\\path");
    EXPECT_EQ(second->at("level"), "warn");
}

TEST(LogService, DestructorDeliversEverythingQueued) {
    captured_log cap;
    {
        log_service service(log_level::info, log_format::text, cap.sink);
        for (int i = 0; i < 1000; ++i) {
            service.logger()->info("line {}", i);
        }
    }
    const auto lines = split_lines(cap.out.str());
    ASSERT_EQ(lines.size(), 1000U);
    EXPECT_TRUE(lines.back().ends_with("line 999"));
}

TEST(LogService, FlushCoversMessagesFromOtherThreads) {
    captured_log cap;
    log_service service(log_level::info, log_format::text, cap.sink);
    constexpr int threads = 4;
    constexpr int per_thread = 1000; // 4000 < queue_capacity: nothing may be dropped
    {
        std::vector<std::jthread> workers;
        for (int t = 0; t < threads; ++t) {
            workers.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i) {
                    service.logger()->info("thread {} line {}", t, i);
                }
                service.flush(); // concurrent flushes must not disturb one another
            });
        }
    }
    service.flush();
    EXPECT_EQ(split_lines(cap.out.str()).size(), std::size_t{threads} * per_thread);
    EXPECT_EQ(service.dropped(), 0U);
}

TEST(LogService, FullQueueOverwritesOldestInsteadOfBlocking) {
    auto sink = std::make_shared<gated_sink>();
    log_service service(log_level::info, log_format::text, sink);
    const auto& log = service.logger();

    log->info("first");
    ASSERT_TRUE(sink->wait_entered(1)); // the worker is now stuck writing "first"

    // With a blocking policy this loop would hang on the stuck sink.
    constexpr std::size_t storm = 100000;
    for (std::size_t i = 0; i < storm; ++i) {
        log->info("storm {}", i);
    }
    EXPECT_EQ(service.queued(), log_service::queue_capacity);
    EXPECT_EQ(service.dropped(), storm - log_service::queue_capacity);

    sink->open();
    service.flush();
    const auto lines = sink->lines();
    ASSERT_EQ(lines.size(), 1 + log_service::queue_capacity);
    EXPECT_EQ(lines.front(), "first");
    // The newest lines survive.
    EXPECT_EQ(lines[1], "storm " + std::to_string(storm - log_service::queue_capacity));
    EXPECT_EQ(lines.back(), "storm " + std::to_string(storm - 1));
}

TEST(LogService, FlushReturnsWhenItsMarkerIsOverwritten) {
    auto sink = std::make_shared<gated_sink>();
    log_service service(log_level::info, log_format::text, sink);
    const auto& log = service.logger();
    constexpr std::size_t capacity = log_service::queue_capacity;

    log->info("first");
    ASSERT_TRUE(sink->wait_entered(1));
    for (std::size_t i = 0; i < capacity; ++i) {
        log->info("fill {}", i);
    }
    ASSERT_EQ(service.queued(), capacity); // full, nothing dropped yet

    std::jthread flusher([&] { service.flush(); });
    // Let "first" finish: the worker takes "fill 0", which frees the slot the marker waits for.
    sink->grant(1);
    ASSERT_TRUE(sink->wait_entered(2));
    ASSERT_TRUE(poll_until([&] { return service.queued() == capacity; })); // marker queued

    // Overwrite the whole queue, marker included.
    for (std::size_t i = 0; i < capacity; ++i) {
        log->info("flood {}", i);
    }
    EXPECT_EQ(service.dropped(), capacity);

    sink->open();
    flusher.join(); // would hang if flush() waited for the lost marker
    const auto lines = sink->lines();
    ASSERT_EQ(lines.size(), 2 + capacity);
    EXPECT_EQ(lines[0], "first");
    EXPECT_EQ(lines[1], "fill 0");
    EXPECT_EQ(lines[2], "flood 0");
    EXPECT_EQ(lines[1 + capacity], "flood " + std::to_string(capacity - 1));
}

std::string file_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(LogFile, RotatesBySizeAndKeepsTheNewestFiles) {
    const test::temp_dir dir;
    config cfg;
    cfg.log_file = dir.file("funnel.log");
    cfg.log_file_size = 4096;
    cfg.log_file_count = 2;
    constexpr int lines_logged = 500; // about 35 KiB: many rotations
    {
        log_service service(log_level::info, log_format::text, make_log_sink(cfg));
        for (int i = 0; i < lines_logged; ++i)
            service.logger()->info("line {:03}", i);
        service.flush();
    }
    EXPECT_FALSE(std::filesystem::exists(dir.file("funnel.3.log")));
    // Oldest first: what is kept is the newest lines, consecutive, across the three files.
    std::vector<std::string> kept;
    for (const char* name : {"funnel.2.log", "funnel.1.log", "funnel.log"}) {
        const std::filesystem::path path = dir.file(name);
        ASSERT_TRUE(std::filesystem::exists(path)) << name;
        EXPECT_LE(std::filesystem::file_size(path), cfg.log_file_size) << name;
        for (const auto& line : split_lines(file_text(path)))
            kept.push_back(line);
    }
    ASSERT_GT(kept.size(), 100u); // three files of about 4 KiB of 38-byte lines
    for (std::size_t i = 0; i < kept.size(); ++i) {
        const int expected = lines_logged - static_cast<int>(kept.size() - i);
        EXPECT_TRUE(kept[i].ends_with(fmt::format(" info  line {:03}", expected))) << kept[i];
    }
}

TEST(LogFile, AFileThatCannotBeOpenedThrowsNamingIt) {
    const test::temp_dir dir;
    config cfg;
    cfg.log_file = dir.write("not-a-directory", "") + "/funnel.log";
    try {
        make_log_sink(cfg);
        ADD_FAILURE() << "expected spdlog_ex";
    } catch (const spdlog::spdlog_ex& e) {
        EXPECT_NE(std::string(e.what()).find(cfg.log_file), std::string::npos) << e.what();
    }
}

} // namespace
} // namespace funnel
