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

// A fault the sink plays on its first `times` connections, each once it has read `after_bytes`
// of it; later connections are read normally.
struct sink_fault {
    enum class kind {
        none,
        reset, // SO_LINGER 0 and close: a reset; what the kernel took and nobody read is lost
        close, // FIN (shutdown), then go on reading until the peer closes too
    };
    kind what = kind::none;
    std::uint64_t after_bytes = 0;
    std::size_t times = 0;
};

class message_sink {
public:
    // receive_buffer > 0 fixes SO_RCVBUF, which bounds what a stop() or a reset can lose.
    explicit message_sink(std::uint16_t port = 0, int receive_buffer = 0, sink_fault fault = {});
    ~message_sink() { stop(); }

    tcp::endpoint endpoint() const { return endpoint_; }
    // Everything each connection sent so far, one string per connection.
    std::vector<std::string> streams();
    std::size_t connections();
    std::uint64_t bytes() const { return bytes_.load(); }
    // Connections accepted and not yet ended by their peer.
    std::size_t open_connections() const { return open_.load(); }
    // How many connections the fault was played on so far.
    std::size_t faults() const { return faults_.load(); }
    // Stops accepting, resets every connection (unread data is lost, as in a crash), joins.
    void stop();

private:
    void accept_loop();
    void read_loop(std::size_t index, std::shared_ptr<conn> c, bool faulty);

    target_server server_;
    tcp::endpoint endpoint_;
    const sink_fault fault_;
    std::atomic<std::size_t> faults_{0};
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
