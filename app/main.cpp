// funnel: parse the configuration, start the logger and the service, wait, exit.
// Exit status: 0 after a clean stop, 1 when the service cannot run, 2 for a bad configuration.

#include "funnel/config/parse.hpp"
#include "funnel/log/logging.hpp"
#include "funnel/service.hpp"

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {

void log_effective_config(spdlog::logger& log, const funnel::config& c) {
    std::string listen;
    for (const auto& l : c.listen) {
        if (!listen.empty())
            listen += ',';
        listen += l.to_string();
    }
    std::string message; // settings only message mode uses
    if (c.mode == funnel::relay_mode::message) {
        message = " framing=" + std::string(funnel::to_string(c.message_framing)) +
                  " max-message-size=" + std::to_string(c.max_message_size) +
                  " oversize=" + funnel::to_string(c.oversize) +
                  " upstream-connections=" + std::to_string(c.upstream_connections) +
                  " reconnect-backoff=" + std::to_string(c.reconnect_backoff_min.count()) + ":" +
                  std::to_string(c.reconnect_backoff_max.count()) + "ms";
    }
    log.info("funnel {} starting: mode={}{} listen={} target={} workers={} max-connections={} "
             "idle-timeout={}s buffer-limit={} connect-timeout={}s drain-timeout={}s "
             "stats-interval={}s log-level={} log-format={}",
             FUNNEL_VERSION, funnel::to_string(c.mode), message, listen, c.target.to_string(),
             c.workers, c.max_connections, c.idle_timeout.count(), c.buffer_limit,
             c.connect_timeout.count(), c.drain_timeout.count(), c.stats_interval.count(),
             funnel::to_string(c.level), funnel::to_string(c.format));
}

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
    if (parsed.what != funnel::parse_result::action::run) {
        std::cout << parsed.text << '\n';
        return 0;
    }

    funnel::log_service logging(parsed.cfg.level, parsed.cfg.format);
    auto& log = *logging.logger();
    for (const auto& w : parsed.warnings)
        log.warn("{}", w);
    log_effective_config(log, parsed.cfg);

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
