#pragma once
// session_context: what every session shares, owned by the service and outliving all sessions.

#include "funnel/buffer/buffer_pool.hpp"
#include "funnel/config/config.hpp"
#include "funnel/log/rate_limiter.hpp"
#include "funnel/metrics/metrics.hpp"
#include "funnel/net.hpp"
#include "funnel/server/session_registry.hpp"

#include <spdlog/logger.h>

#include <memory>

namespace funnel {

struct session_context {
    const config& cfg;
    buffer_pool& to_targets; // client bytes on their way to a target: the --buffer-limit budget
    buffer_pool& to_clients; // target bytes on their way back to a client (stream mode)
    metrics& stats;
    std::shared_ptr<spdlog::logger> log;
    rate_limiter& warnings; // shared by the warnings a failure storm could repeat
    session_registry& registry;
    net::any_io_executor io_ex;
};

} // namespace funnel
