#pragma once
// message_sink: a target for message mode. Accepts any number of connections on 127.0.0.1 and
// reads each into its own buffer, from background threads, until stop().

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/loopback.hpp"

namespace funnel::test {

class message_sink {
public:
    // receive_buffer > 0 fixes SO_RCVBUF, which bounds what a stop() can lose.
    explicit message_sink(std::uint16_t port = 0, int receive_buffer = 0);
    ~message_sink() { stop(); }

    tcp::endpoint endpoint() const { return endpoint_; }
    // Everything each connection sent so far, one string per connection.
    std::vector<std::string> streams();
    std::size_t connections();
    std::uint64_t bytes() const { return bytes_.load(); }
    // Connections accepted and not yet ended by their peer.
    std::size_t open_connections() const { return open_.load(); }
    // Stops accepting, resets every connection (unread data is lost, as in a crash), joins.
    void stop();

private:
    void accept_loop();
    void read_loop(std::size_t index, std::shared_ptr<conn> c);

    target_server server_;
    tcp::endpoint endpoint_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> bytes_{0};
    std::atomic<std::size_t> open_{0};
    std::mutex mutex_;
    std::vector<std::string> data_;
    std::vector<std::shared_ptr<conn>> conns_;
    std::vector<std::thread> readers_;
    std::thread acceptor_;
};

// Splits `stream` into '\n'-terminated lines (a cut last line is returned in `rest`).
std::vector<std::string> split_lines(const std::string& stream, std::string* rest = nullptr);
// Splits `stream` into length-prefixed frames.
std::vector<std::string> split_frames(const std::string& stream, std::string* rest = nullptr);

// Checks "c<client> s<seq>" lines delivered at least once. `streams` are taken in the order
// given (a cut last line of each is ignored); a client's sequence may go back (a replay after a
// break or a stop) but never skip ahead. Returns the first problem, or what is still missing;
// empty when every client of `clients` got s0 to s<per_client - 1>.
std::string at_least_once_problem(const std::vector<std::string>& streams, std::size_t clients,
                                  std::size_t per_client);

} // namespace funnel::test
