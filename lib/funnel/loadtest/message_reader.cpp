#include "funnel/loadtest/message_reader.hpp"

#include <cstring>
#include <mutex>
#include <string_view>

namespace funnel::loadtest {

namespace {

// One consume() call: where messages are recorded, and the client whose stripe lock is held.
struct run_state {
    client_table& clients;
    receive_totals& totals;
    std::uint64_t now_ns;
    std::unique_lock<std::mutex> lock;
    std::uint32_t client = 0;
    sequence_tracker* tracker = nullptr;
};

void on_body(run_state& r, const char* body, std::size_t size) {
    ++r.totals.messages;
    probe p;
    if (!parse_body(std::string_view(body, size), p)) {
        ++r.totals.corrupted;
        return;
    }
    if (r.tracker == nullptr || p.client != r.client) {
        std::mutex& m = r.clients.mutex_for(p.client);
        if (r.lock.mutex() != &m) {
            // Never hold two stripes at once: release first, then take the other.
            if (r.lock.owns_lock())
                r.lock.unlock();
            r.lock = std::unique_lock<std::mutex>(m);
        }
        r.tracker = &r.clients.find_or_add(p.client);
        r.client = p.client;
    }
    r.tracker->record(p.seq);
    r.totals.latency.record(r.now_ns > p.sent_ns ? r.now_ns - p.sent_ns : 0);
}

} // namespace

std::size_t message_reader::consume(const char* data, std::size_t size, std::uint64_t now_ns,
                                    client_table& clients, receive_totals& totals) {
    if (unframeable_)
        return 0;
    run_state run{clients, totals, now_ns, {}, 0, nullptr};
    const char* p = data;
    const char* const end = data + size;
    std::size_t keep = 0;

    if (framing_ == framing::line) {
        if (skipping_) {
            const auto* nl = static_cast<const char*>(std::memchr(p, '\n', size));
            if (nl == nullptr)
                return 0;
            skipping_ = false;
            p = nl + 1;
        }
        while (p < end) {
            const auto* nl =
                static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            if (nl == nullptr)
                break;
            on_body(run, p, static_cast<std::size_t>(nl - p));
            p = nl + 1;
        }
        keep = static_cast<std::size_t>(end - p);
        if (keep > max_body_) {
            // An oversize line: count it once, drop it up to its end.
            ++totals.messages;
            ++totals.corrupted;
            skipping_ = true;
            keep = 0;
        }
    } else {
        while (end - p >= 4) {
            const auto* u = reinterpret_cast<const unsigned char*>(p);
            const std::size_t length = (std::size_t{u[0]} << 24) | (std::size_t{u[1]} << 16) |
                                       (std::size_t{u[2]} << 8) | std::size_t{u[3]};
            if (length > max_body_) {
                ++totals.messages;
                ++totals.corrupted;
                unframeable_ = true;
                return 0;
            }
            if (static_cast<std::size_t>(end - p) - 4 < length)
                break;
            on_body(run, p + 4, length);
            p += 4 + length;
        }
        keep = static_cast<std::size_t>(end - p);
    }
    return keep;
}

void message_reader::end_of_stream(std::size_t unfinished, receive_totals& totals) const {
    if (unfinished > 0) { // an oversize line being skipped was counted when it was found
        ++totals.messages;
        ++totals.corrupted;
    }
}

} // namespace funnel::loadtest
