#pragma once
// funnel-sink's reader of probe messages on one connection: frames them (line or length), checks
// each one (probe_message.hpp), and records it in the client table and the latency histogram.
//
// It works on whole reads: the connection passes its unfinished message from the last read
// followed by the new bytes, and keeps the unfinished rest that consume() reports. There is no
// allocation and no system call per message, and the clock is read once per read (`now_ns`).
//
// A line longer than the largest message is counted as corrupted and skipped up to its '\n'; a
// length prefix above it cannot be framed past, so the rest of that connection is only counted.
//
// Thread-safety: belongs to one connection, on its io thread. The client table is shared: a
// stripe's lock is taken once per run of messages of one client and released before consume()
// returns.

#include "funnel/loadtest/latency_histogram.hpp"
#include "funnel/loadtest/probe_message.hpp"
#include "funnel/loadtest/sequence_tracker.hpp"

#include <cstddef>
#include <cstdint>

namespace funnel::loadtest {

// What the connections of one io thread add up to.
struct receive_totals {
    std::uint64_t messages = 0;  // framed messages, corrupted ones included
    std::uint64_t corrupted = 0; // framed but not an intact probe, or truncated at EOF
    latency_histogram latency;   // send to receive, nanoseconds
};

class message_reader {
public:
    message_reader(framing f, std::size_t max_body) : framing_(f), max_body_(max_body) {}

    // `data` holds the unfinished message the previous call reported, then the new bytes. Returns
    // how many bytes at the end of `data` are an unfinished message to pass again next time (at
    // most max_body + the framing overhead).
    std::size_t consume(const char* data, std::size_t size, std::uint64_t now_ns,
                        client_table& clients, receive_totals& totals);

    // The stream ended (EOF) with `unfinished` bytes left over: a truncated message.
    void end_of_stream(std::size_t unfinished, receive_totals& totals) const;

private:
    framing framing_;
    std::size_t max_body_;
    bool skipping_ = false;    // line framing: inside an oversize line, dropped up to its '\n'
    bool unframeable_ = false; // length framing: a prefix above max_body_ was seen
};

} // namespace funnel::loadtest
