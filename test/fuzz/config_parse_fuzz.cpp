// Fuzz target: parse_command_line, over the command line and an INI config file.
//
// Input: the command line's words separated by NUL; after the first two NULs in a row, the
// text of a config file, which the target writes to a temporary file and names in
// FUNNEL_CONFIG (no other environment). Words starting with "--config" are left out, so that
// the fuzzer cannot name a file of its own choosing (/dev/zero would never end).
// Invariants: it returns a result or throws config_error, nothing else (no crash, no other
// exception); the error is one non-empty line; a configuration it returns is valid (what
// build_config promises main: a listen address, a target port, limits in range) and describe()
// prints it on one line; help and version have text.

#include "funnel/config/parse.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include "fuzz_check.hpp"

namespace {

// The config file of one input, removed when the input is done. One per input rather than one
// per run: libFuzzer ends a run with _Exit, which runs no destructor.
class config_file {
public:
    explicit config_file(std::string_view text) {
        path_ = (std::filesystem::temp_directory_path() / "funnel-fuzz-config-XXXXXX").string();
        const int fd = ::mkstemp(path_.data());
        FUZZ_CHECK(fd >= 0);
        ::close(fd);
        std::ofstream(path_, std::ios::binary | std::ios::trunc) << text;
    }
    ~config_file() { std::remove(path_.c_str()); }
    config_file(const config_file&) = delete;
    config_file& operator=(const config_file&) = delete;

    const std::string& path() const { return path_; }

private:
    std::string path_;
};

bool one_line(std::string_view s) {
    return !s.empty() && s.find('\n') == std::string_view::npos;
}

void check_valid(const funnel::config& c) {
    FUZZ_CHECK(!c.listen.empty());
    for (const auto& l : c.listen)
        FUZZ_CHECK(!l.host.empty());
    FUZZ_CHECK(!c.target.host.empty() && c.target.port != 0);
    FUZZ_CHECK(c.max_connections >= 1);
    FUZZ_CHECK(c.buffer_limit >= funnel::config::min_read_size);
    FUZZ_CHECK(c.connect_timeout.count() > 0);
    FUZZ_CHECK(c.idle_timeout.count() >= 0 && c.drain_timeout.count() >= 0 &&
               c.stats_interval.count() >= 0);
    FUZZ_CHECK(c.max_message_size >= 1 && c.max_message_size <= (std::size_t{1} << 30));
    FUZZ_CHECK(c.upstream_connections >= 1 && c.upstream_connections <= 1024);
    FUZZ_CHECK(c.reconnect_backoff_min.count() >= 1 &&
               c.reconnect_backoff_min <= c.reconnect_backoff_max);
    FUZZ_CHECK(c.mode != funnel::relay_mode::message ||
               c.buffer_limit >= c.max_message_size + 2 * funnel::config::min_read_size);
    FUZZ_CHECK(one_line(funnel::describe(c)));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t split = input.find(std::string_view("\0\0", 2));
    const std::string_view words = input.substr(0, split);

    std::vector<std::string> args{"funnel"};
    for (std::size_t from = 0; from <= words.size();) {
        const std::size_t nul = std::min(words.find('\0', from), words.size());
        const std::string_view word = words.substr(from, nul - from);
        if (!word.starts_with("--config") && !(word.empty() && nul == words.size()))
            args.emplace_back(word);
        from = nul + 1;
    }
    std::vector<const char*> argv;
    for (const std::string& a : args)
        argv.push_back(a.c_str());
    argv.push_back(nullptr);

    std::optional<config_file> file;
    std::vector<std::string> environment;
    if (split != std::string_view::npos) {
        file.emplace(input.substr(split + 2));
        environment.push_back("FUNNEL_CONFIG=" + file->path());
    }

    try {
        const auto r =
            funnel::parse_command_line(static_cast<int>(args.size()), argv.data(), environment);
        switch (r.what) {
        case funnel::parse_result::action::run:
        case funnel::parse_result::action::check:
            check_valid(r.cfg);
            break;
        case funnel::parse_result::action::health_check:
            // The probe needs nothing else, but it must know where to probe.
            FUZZ_CHECK(r.cfg.metrics_listen.has_value());
            break;
        case funnel::parse_result::action::help:
        case funnel::parse_result::action::version:
            FUZZ_CHECK(!r.text.empty());
            break;
        }
    } catch (const funnel::config_error& e) {
        if (!one_line(e.what()))
            std::fprintf(stderr, "config_error: [%s]\n", e.what());
        FUZZ_CHECK(one_line(e.what()));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "parse_command_line threw %s\n", e.what());
        funnel::fuzz::invariant_failed("only config_error escapes", __FILE__, __LINE__);
    }
    return 0;
}
