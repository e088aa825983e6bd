#pragma once
// health_check: the client side of /healthz, for `funnel --health-check` (a container
// HEALTHCHECK needs no curl or wget in the image).
//
// It runs on its own io_context in the calling thread, before and without any service, and is
// bounded by one total deadline covering resolve, connect, request and reply.
//
// Thread-safety: plain functions; each call owns everything it uses.

#include "funnel/config/config.hpp"

#include <chrono>
#include <string>

namespace funnel {

struct health_result {
    bool healthy = false;
    std::string reason; // one line: why not healthy, or "200 ok"
};

// The address to probe for a --metrics-listen value: a wildcard (0.0.0.0, ::) means the
// loopback of its family; any other address or name is probed as it is.
host_port probe_address(const host_port& metrics_listen);

// GET /healthz at probe_address(metrics_listen), all within `timeout`. Healthy on status 200.
health_result check_health(const host_port& metrics_listen, std::chrono::milliseconds timeout);

} // namespace funnel
