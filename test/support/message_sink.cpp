#include "support/message_sink.hpp"

#include <algorithm>

namespace funnel::test {

message_sink::message_sink(std::uint16_t port, int receive_buffer, sink_fault fault)
    : server_(1024, receive_buffer, port), endpoint_(server_.endpoint()), fault_(fault),
      acceptor_([this] { accept_loop(); }) {}

void message_sink::accept_loop() {
    while (!stopping_) {
        if (!server_.pending(20ms))
            continue;
        auto c = std::make_shared<conn>(server_.accept(1s));
        std::lock_guard lock(mutex_);
        const std::size_t index = data_.size();
        data_.emplace_back();
        conns_.push_back(c);
        ++open_;
        const bool faulty = fault_.what != sink_fault::kind::none && index < fault_.times;
        readers_.emplace_back([this, index, c, faulty] { read_loop(index, c, faulty); });
    }
}

void message_sink::read_loop(std::size_t index, std::shared_ptr<conn> c, bool faulty) {
    struct closed_on_exit {
        std::atomic<std::size_t>& open;
        ~closed_on_exit() { --open; }
    } on_exit{open_};
    std::string piece;
    std::uint64_t read = 0;
    while (!stopping_) {
        if (faulty && read == fault_.after_bytes) {
            faulty = false;
            ++faults_;
            error_code ignored; // the peer may be gone already
            if (fault_.what == sink_fault::kind::reset) {
                c->socket().set_option(net::socket_base::linger(true, 0), ignored);
                c->socket().close(ignored);
                return;
            }
            c->socket().shutdown(tcp::socket::shutdown_send, ignored); // and read on
        }
        piece.clear();
        try {
            const auto max = static_cast<std::size_t>(faulty ? fault_.after_bytes - read : 65536);
            const auto r = c->read_available(piece, 20ms, max);
            if (r == conn::outcome::eof || r == conn::outcome::reset)
                return;
        } catch (const std::exception&) {
            return;
        }
        if (piece.empty())
            continue;
        read += piece.size();
        std::lock_guard lock(mutex_);
        data_[index] += piece;
        bytes_ += piece.size(); // after the data: bytes() never runs ahead of streams()
    }
}

std::vector<std::string> message_sink::streams() {
    std::lock_guard lock(mutex_);
    return data_;
}

std::size_t message_sink::connections() {
    std::lock_guard lock(mutex_);
    return data_.size();
}

void message_sink::stop() {
    if (stopping_.exchange(true))
        return;
    acceptor_.join();
    server_.close();
    std::vector<std::thread> readers;
    {
        std::lock_guard lock(mutex_);
        readers.swap(readers_);
    }
    for (auto& t : readers)
        t.join();
    for (auto& c : conns_)
        if (c->socket().is_open()) // not reset by a fault already
            c->reset();
}

std::vector<std::string> split_lines(const std::string& stream, std::string* rest) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t nl = stream.find('\n'); nl != std::string::npos;
         start = nl + 1, nl = stream.find('\n', start))
        out.push_back(stream.substr(start, nl - start));
    if (rest)
        *rest = stream.substr(start);
    return out;
}

std::string at_least_once_problem(const std::vector<std::string>& streams, std::size_t clients,
                                  std::size_t per_client) {
    std::vector<std::size_t> next(clients, 0);
    std::string rest;
    for (const auto& stream : streams) {
        for (const auto& m : split_lines(stream, &rest)) {
            const auto space = m.find(' ');
            if (m.size() < 4 || m[0] != 'c' || space == std::string::npos || m[space + 1] != 's')
                return "not a message: '" + m + "'";
            const std::size_t client = std::stoul(m.substr(1, space - 1));
            const std::size_t seq = std::stoul(m.substr(space + 2));
            if (client >= clients || seq >= per_client)
                return "no such message: '" + m + "'";
            if (seq > next[client])
                return "client " + std::to_string(client) + " skipped from s" +
                       std::to_string(next[client]) + " to s" + std::to_string(seq);
            next[client] = std::max(next[client], seq + 1);
        }
    }
    for (std::size_t c = 0; c < clients; ++c)
        if (next[c] < per_client)
            return "client " + std::to_string(c) + " got up to s" + std::to_string(next[c]) +
                   " of " + std::to_string(per_client);
    return {};
}

std::vector<std::string> split_frames(const std::string& stream, std::string* rest) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (stream.size() - pos >= 4) {
        const auto* p = reinterpret_cast<const unsigned char*>(stream.data() + pos);
        const std::size_t n = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) |
                              (std::size_t{p[2]} << 8) | std::size_t{p[3]};
        if (stream.size() - pos - 4 < n)
            break;
        out.push_back(stream.substr(pos + 4, n));
        pos += 4 + n;
    }
    if (rest)
        *rest = stream.substr(pos);
    return out;
}

} // namespace funnel::test
