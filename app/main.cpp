// funnel: parse the configuration, start the logger and the service, wait, exit.
// Exit status: 0 after a clean stop, 1 when the service cannot run, 2 for a bad configuration.
// --check-config stops after the parse: 0 and the settings in effect, or 2 and the error.
// --health-check GETs /healthz of a running funnel (--metrics-listen): 0 on 200, else 1.

#include "funnel/admin/health_check.hpp"
#include "funnel/config/parse.hpp"
#include "funnel/log/logging.hpp"
#include "funnel/service.hpp"

#include <chrono>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace {
// A HEALTHCHECK probe must answer well within the container runtime's own timeout.
constexpr std::chrono::milliseconds health_check_timeout{2000};
} // namespace

int main(int argc, char** argv) {
    funnel::parse_result parsed;
    try {
        parsed = funnel::parse_command_line(argc, argv, funnel::current_environment());
    } catch (const funnel::config_error& e) {
        std::cerr << "funnel: error: " << e.what() << "\n"
                  << "hint: run 'funnel --help' for the options\n";
        return 2;
    }
    if (parsed.what == funnel::parse_result::action::check) {
        for (const auto& w : parsed.warnings)
            std::cerr << "funnel: warning: " << w << '\n';
        std::cout << "funnel " FUNNEL_VERSION ": configuration ok\n"
                  << funnel::describe(parsed.cfg) << '\n';
        return 0;
    }
    if (parsed.what == funnel::parse_result::action::health_check) {
        const auto health = funnel::check_health(*parsed.cfg.metrics_listen, health_check_timeout);
        if (health.healthy)
            return 0;
        std::cerr << "funnel: unhealthy: " << health.reason << '\n';
        return 1;
    }
    if (parsed.what != funnel::parse_result::action::run) {
        std::cout << parsed.text << '\n';
        return 0;
    }

    spdlog::sink_ptr sink;
    try {
        sink = funnel::make_log_sink(parsed.cfg);
    } catch (const std::exception& e) {
        std::cerr << "funnel: error: cannot open the log file: " << e.what() << '\n';
        return 1;
    }
    funnel::log_service logging(parsed.cfg.level, parsed.cfg.format, std::move(sink));
    auto& log = *logging.logger();
    for (const auto& w : parsed.warnings)
        log.warn("{}", w);
    log.info("funnel {} starting: {}", FUNNEL_VERSION, funnel::describe(parsed.cfg));

    try {
        funnel::service svc(parsed.cfg, logging.logger());
        svc.handle_signals([&logging] {
            logging.flush();
            std::_Exit(1);
        });
        svc.start();
        svc.wait();
    } catch (const std::exception& e) {
        log.critical("{}", e.what());
        return 1;
    }
    return 0;
}
