#pragma once
// session_registry: the live sessions, so that --max-connections can be enforced and a
// shutdown can reach every one of them.
//
// Thread affinity: io thread only, except session_gone(), which only posts.
// Lifetime: holds weak references; a session keeps itself alive through its handlers and
// reports its destruction with session_gone().

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
    void add(std::uint64_t id, std::weak_ptr<registered_session> s);
    std::size_t size() const { return sessions_.size(); }
    void close_all(std::string_view reason);

    // From any thread, from a session's destructor.
    void session_gone(std::uint64_t id);
    // Runs on the io thread each time the registry becomes empty.
    void on_empty(std::function<void()> f) { on_empty_ = std::move(f); }

private:
    net::any_io_executor io_ex_;
    std::uint64_t last_id_ = 0;
    std::unordered_map<std::uint64_t, std::weak_ptr<registered_session>> sessions_;
    std::function<void()> on_empty_;
};

} // namespace funnel
