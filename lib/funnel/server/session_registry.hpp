#pragma once
// session_registry: the live sessions, so that --max-connections and --max-connections-per-ip
// can be enforced and a shutdown can reach every one of them.
//
// Thread affinity: io thread only, except session_gone(), which only posts.
// Lifetime: holds weak references; a session keeps itself alive through its handlers and
// reports its destruction with session_gone(). A session counts for its client address from
// add() until its session_gone() has run on the io thread, so the count never drops early.

#include "funnel/net.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>

namespace funnel {

// What the registry can ask of a session.
class registered_session {
public:
    virtual ~registered_session() = default;
    // Closes the session at once (both ends), giving `reason` in its close log line.
    virtual void close(std::string_view reason) = 0;
};

class session_registry {
public:
    explicit session_registry(net::any_io_executor io_ex) : io_ex_(std::move(io_ex)) {}

    std::uint64_t next_id() { return ++last_id_; }
    // `client`: the address the session counts for (see unmapped() in access_policy.hpp).
    void add(std::uint64_t id, std::weak_ptr<registered_session> s, const net::ip::address& client);
    std::size_t size() const { return sessions_.size(); }
    std::size_t sessions_from(const net::ip::address& client) const;
    void close_all(std::string_view reason);

    // From any thread, from a session's destructor.
    void session_gone(std::uint64_t id);
    // Runs on the io thread each time the registry becomes empty.
    void on_empty(std::function<void()> f) { on_empty_ = std::move(f); }

private:
    net::any_io_executor io_ex_;
    std::uint64_t last_id_ = 0;
    struct entry {
        std::weak_ptr<registered_session> session;
        net::ip::address client;
    };
    std::unordered_map<std::uint64_t, entry> sessions_;
    std::unordered_map<net::ip::address, std::size_t> per_client_; // no zero counts kept
    std::function<void()> on_empty_;
};

} // namespace funnel
