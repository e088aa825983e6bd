#include "funnel/server/session_registry.hpp"

#include <boost/asio/post.hpp>

#include <vector>

namespace funnel {

void session_registry::add(std::uint64_t id, std::weak_ptr<registered_session> s,
                           const net::ip::address& client) {
    sessions_.emplace(id, entry{std::move(s), client});
    ++per_client_[client];
}

std::size_t session_registry::sessions_from(const net::ip::address& client) const {
    const auto found = per_client_.find(client);
    return found == per_client_.end() ? 0 : found->second;
}

void session_registry::close_all(std::string_view reason) {
    // Closing may destroy sessions and so change the map: work on a snapshot.
    std::vector<std::shared_ptr<registered_session>> alive;
    alive.reserve(sessions_.size());
    for (auto& [id, e] : sessions_)
        if (auto s = e.session.lock())
            alive.push_back(std::move(s));
    for (auto& s : alive)
        s->close(reason);
}

void session_registry::session_gone(std::uint64_t id) {
    net::post(io_ex_, [this, id] {
        if (const auto found = sessions_.find(id); found != sessions_.end()) {
            const auto count = per_client_.find(found->second.client);
            if (--count->second == 0)
                per_client_.erase(count);
            sessions_.erase(found);
        }
        if (sessions_.empty() && on_empty_)
            on_empty_();
    });
}

} // namespace funnel
