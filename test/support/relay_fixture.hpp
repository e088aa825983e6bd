#pragma once
// An in-process funnel on 127.0.0.1 (ephemeral port) in front of a test target, with its log
// captured. The service runs its real threads: the io thread and the pool.

#include "funnel/log/logging.hpp"
#include "funnel/service.hpp"

#include <memory>
#include <optional>

#include "support/log_capture.hpp"
#include "support/loopback.hpp"

namespace funnel::test {

inline config relay_config(const tcp::endpoint& target) {
    config c;
    c.listen = {host_port{"127.0.0.1", 0}};
    c.target = host_port{target.address().to_string(), target.port()};
    c.workers = 4;
    c.stats_interval = config::seconds(0);
    c.drain_timeout = config::seconds(5);
    c.level = log_level::debug;
    return c;
}

class relay {
public:
    explicit relay(const config& c)
        : capture_(std::make_shared<log_capture>()), logging_(c.level, c.format, capture_),
          service_(c, logging_.logger()) {
        service_.start();
    }
    ~relay() { stop(); }

    tcp::endpoint endpoint() const { return service_.local_endpoints().front(); }
    conn connect() const { return conn::connect(endpoint()); }
    funnel::service& service() { return service_; }
    const metrics& stats() const { return service_.stats(); }
    void stop() {
        if (!stopped_) {
            stopped_ = true;
            service_.stop();
            service_.wait();
        }
    }
    // Whether a logged line contains `text` (after flushing what was logged so far).
    bool logged(std::string_view text) {
        logging_.flush();
        return capture_->contains(text);
    }
    std::string log_text() {
        logging_.flush();
        return capture_->all();
    }

private:
    std::shared_ptr<log_capture> capture_;
    log_service logging_;
    funnel::service service_;
    bool stopped_ = false;
};

} // namespace funnel::test
