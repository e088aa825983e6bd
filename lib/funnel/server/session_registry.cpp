#include "funnel/server/session_registry.hpp"

#include <boost/asio/post.hpp>

#include <vector>

namespace funnel {

void session_registry::add(std::uint64_t id, std::weak_ptr<registered_session> s) {
    sessions_.emplace(id, std::move(s));
}

void session_registry::close_all(std::string_view reason) {
    // Closing may destroy sessions and so change the map: work on a snapshot.
    std::vector<std::shared_ptr<registered_session>> alive;
    alive.reserve(sessions_.size());
    for (auto& [id, weak] : sessions_)
        if (auto s = weak.lock())
            alive.push_back(std::move(s));
    for (auto& s : alive)
        s->close(reason);
}

void session_registry::session_gone(std::uint64_t id) {
    net::post(io_ex_, [this, id] {
        sessions_.erase(id);
        if (sessions_.empty() && on_empty_)
            on_empty_();
    });
}

} // namespace funnel
