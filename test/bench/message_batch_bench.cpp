// Message mode between the decoder and the socket: building message_batch from decoded
// messages of 64 KiB chunks, turning pending batches into an upstream_link's gather write, and
// message_batch::drop_acknowledged after a broken connection.
//
//   batch_build          what message_session does on its link's strand with each chunk: frame
//                        it, collect the whole messages as spans of shared_ptr<const chunk>
//                        (coalesced when contiguous), carry a short unfinished message, enqueue
//                        the batch; then the batches die, as when the target acknowledged them.
//                        Per message (items/s) and per batch (per_batch).
//     _baseline          frame_decoder alone over the same chunks (a handler that only counts):
//                        the ratio is what batching adds to framing.
//   gather               upstream_link::do_write's gather of pending batches into at most 64
//                        const_buffers, and on_write's move of the written batches to unacked,
//                        then their release once acknowledged. Per batch and per buffer.
//     _baseline          copying the same number of {pointer, length} pairs into the vector.
//   drop_acknowledged    one 64 KiB batch of a chunk, half of it acknowledged: copy the batch,
//                        drop its acknowledged messages. Bytes/s over the acknowledged bytes.
//     _baseline          the same copy, plus finding the same message boundaries the fast way
//                        (memchr, or a prefix walk) over the same bytes in one piece.

#include "funnel/buffer/buffer_pool.hpp"
#include "funnel/framing/frame_decoder.hpp"
#include "funnel/message/message_batch.hpp"
#include "funnel/message/message_framer.hpp"

#include <algorithm>
#include <benchmark/benchmark.h>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "bench_streams.hpp"

namespace funnel::bench {
namespace {

constexpr std::size_t max_gather = 64; // upstream_link::max_gather
constexpr std::size_t max_message = 1024 * 1024;
constexpr std::byte newline{'\n'};

const std::byte* bytes_of(const chunk& c) {
    return static_cast<const std::byte*>(c.data().data());
}

// message_session's link-strand half: the framer, each chunk's batch handed to `enqueue`.
class session_mirror {
public:
    explicit session_mirror(framing f) : framer_(f, max_message, oversize_policy::skip) {}

    template <class Enqueue>
    void frame(const std::shared_ptr<const chunk>& block, Enqueue&& enqueue) {
        auto out = framer_.feed(block);
        if (!out.batch.empty())
            enqueue(std::move(out.batch));
    }
    std::uint64_t messages() const { return framer_.messages(); }

private:
    message_framer framer_;
};

// The stream's reads, each in a chunk of a pool, as chunk_reader hands them over.
struct chunked_stream {
    chunked_stream(framing f, std::size_t payload)
        : stream(make_stream(f, payload)), messages(stream_messages(f, payload)),
          pool(read_size, read_size * (stream_reads + 1)) {
        for (const auto read : cut_into_reads(stream)) {
            chunk c = pool.try_acquire();
            std::memcpy(c.writable().data(), read.data(), read.size());
            c.set_size(read.size());
            chunks.push_back(std::move(c));
        }
    }
    std::vector<std::byte> stream;
    std::size_t messages;
    buffer_pool pool; // before chunks: they go back to it
    std::vector<chunk> chunks;
};

// The chunks as message_session holds them, one shared_ptr per read, and back.
std::vector<std::shared_ptr<chunk>> share(chunked_stream& s) {
    std::vector<std::shared_ptr<chunk>> shared;
    for (chunk& c : s.chunks)
        shared.push_back(std::make_shared<chunk>(std::move(c)));
    return shared;
}
// Once nothing else refers to them.
bool unshare(chunked_stream& s, std::vector<std::shared_ptr<chunk>>& shared) {
    for (std::size_t i = 0; i < shared.size(); ++i) {
        if (shared[i].use_count() != 1)
            return false;
        s.chunks[i] = std::move(*std::exchange(shared[i], nullptr));
    }
    return true;
}

// The batches one pass over the chunks makes.
std::vector<message_batch> batches_of(framing f,
                                      const std::vector<std::shared_ptr<chunk>>& chunks) {
    session_mirror session(f);
    std::vector<message_batch> out;
    for (const auto& c : chunks)
        session.frame(c, [&](message_batch&& b) { out.push_back(std::move(b)); });
    return out;
}

std::string contents(const std::vector<message_batch>& batches) {
    std::string out;
    for (const auto& b : batches)
        for (const auto& s : b.spans)
            out.append(reinterpret_cast<const char*>(s.data), s.length);
    return out;
}

// Iterations done, at least 1 (a benchmark that stopped on an error may have none).
std::size_t passes(const benchmark::State& state) {
    return std::max<std::size_t>(1, static_cast<std::size_t>(state.iterations()));
}

void per_unit(benchmark::State& state, const char* name, std::size_t per_iteration) {
    state.counters[name] = benchmark::Counter(static_cast<double>(per_iteration),
                                              benchmark::Counter::kIsIterationInvariantRate |
                                                  benchmark::Counter::kInvert);
}

// ---- batch_build -------------------------------------------------------------------------

struct counting_handler {
    std::size_t messages = 0;
    void on_payload(frame_segment) {}
    void on_message_end(std::size_t) { ++messages; }
    void on_oversize(std::size_t) {}
};

void batch_build_baseline(benchmark::State& state, framing f) {
    chunked_stream s(f, static_cast<std::size_t>(state.range(0)));
    frame_decoder decoder(f, max_message, oversize_policy::skip);
    counting_handler h;
    for (auto _ : state)
        for (const chunk& c : s.chunks) {
            auto data = std::span<const std::byte>(bytes_of(c), c.size());
            benchmark::DoNotOptimize(data);
            bool open = decoder.feed(data, h);
            benchmark::DoNotOptimize(open);
        }
    if (h.messages != static_cast<std::size_t>(state.iterations()) * s.messages)
        state.SkipWithError("wrong message count");
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.stream.size()));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.messages));
    per_unit(state, "per_batch", s.chunks.size());
}

void batch_build(benchmark::State& state, framing f) {
    chunked_stream s(f, static_cast<std::size_t>(state.range(0)));
    auto shared = share(s);
    const bool whole = contents(batches_of(f, shared)) ==
                       std::string(reinterpret_cast<const char*>(s.stream.data()), s.stream.size());
    if (!unshare(s, shared) || !whole) {
        state.SkipWithError("the batches do not hold the stream");
        return;
    }
    session_mirror session(f);
    std::deque<message_batch> pending; // upstream_link::pending_
    std::vector<std::shared_ptr<chunk>> blocks(s.chunks.size());
    std::size_t batches = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < s.chunks.size(); ++i) {
            // As message_session::on_chunk: the chunk moves into a shared_ptr, one per read.
            blocks[i] = std::make_shared<chunk>(std::move(s.chunks[i]));
            session.frame(blocks[i], [&](message_batch&& b) { pending.push_back(std::move(b)); });
        }
        batches += pending.size();
        pending.clear(); // acknowledged: the batches and their references go
        if (!unshare(s, blocks)) {
            state.SkipWithError("a chunk is still referenced after its batches went");
            break;
        }
    }
    if (session.messages() != static_cast<std::size_t>(state.iterations()) * s.messages)
        state.SkipWithError("wrong message count");
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.stream.size()));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.messages));
    per_unit(state, "per_batch", batches / passes(state));
}

// ---- gather ------------------------------------------------------------------------------

// Batches of `spans` spans of 100 bytes each (many clients' small reads: one to a few spans per
// batch), `gathered` of them fit in one write of at most 64 buffers.
struct gather_setup {
    explicit gather_setup(std::size_t spans_per_batch)
        : spans(spans_per_batch), gathered(std::max<std::size_t>(1, max_gather / spans)),
          pool(read_size, read_size) {
        chunk c = pool.try_acquire();
        c.set_size(read_size);
        block = std::make_shared<const chunk>(std::move(c));
    }
    std::size_t spans;
    std::size_t gathered;
    buffer_pool pool;
    std::shared_ptr<const chunk> block;
    static constexpr std::size_t span_bytes = 100;
};

void gather_baseline(benchmark::State& state) {
    gather_setup g(static_cast<std::size_t>(state.range(0)));
    struct flat {
        const std::byte* data;
        std::size_t length;
    };
    std::vector<flat> ready;
    for (std::size_t i = 0; i < g.gathered * g.spans; ++i)
        ready.push_back({bytes_of(*g.block) + (i * 128) % (read_size - 128), g.span_bytes});
    std::vector<net::const_buffer> buffers;
    buffers.reserve(max_gather);
    for (auto _ : state) {
        buffers.clear();
        for (const flat& r : ready)
            buffers.push_back(net::buffer(r.data, r.length));
        auto* to_write = buffers.data(); // the write would take them from here
        benchmark::DoNotOptimize(to_write);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g.gathered));
    per_unit(state, "per_batch", g.gathered);
    per_unit(state, "per_buffer", g.gathered * g.spans);
}

void gather(benchmark::State& state) {
    gather_setup g(static_cast<std::size_t>(state.range(0)));
    struct sent {
        message_batch batch;
        std::uint64_t end;
    };
    std::deque<message_batch> pending; // upstream_link::pending_
    std::deque<sent> unacked;          // upstream_link::unacked_
    for (std::size_t b = 0; b < 4 * g.gathered; ++b) {
        message_batch batch;
        for (std::size_t i = 0; i < g.spans; ++i)
            batch.spans.push_back(
                {g.block, bytes_of(*g.block) + (i * 128) % (read_size - 128), g.span_bytes});
        batch.bytes = g.spans * g.span_bytes;
        batch.messages = g.spans;
        pending.push_back(std::move(batch));
    }
    std::vector<net::const_buffer> buffers;
    buffers.reserve(max_gather);
    std::uint64_t written = 0;
    std::size_t batches_written = 0, buffers_written = 0;
    for (auto _ : state) {
        // do_write: whole batches, the first even when it alone is over max_gather.
        buffers.clear();
        std::size_t batches = 0;
        for (const message_batch& b : pending) {
            if (batches > 0 && buffers.size() + b.spans.size() > max_gather)
                break;
            for (const auto& s : b.spans)
                buffers.push_back(net::buffer(s.data, s.length));
            ++batches;
        }
        auto* to_write = buffers.data(); // the write would take them from here
        benchmark::DoNotOptimize(to_write);
        benchmark::ClobberMemory();
        buffers_written += buffers.size();
        batches_written += batches;
        // on_write: the written batches wait for their acknowledgement.
        for (std::size_t i = 0; i < batches; ++i) {
            written += pending.front().bytes;
            unacked.push_back({std::move(pending.front()), written});
            pending.pop_front();
        }
        // release_acknowledged: all of them; each comes back as new work from a session.
        while (!unacked.empty() && unacked.front().end <= written) {
            pending.push_back(std::move(unacked.front().batch));
            unacked.pop_front();
        }
    }
    const auto per_iteration = batches_written / passes(state);
    if (per_iteration != g.gathered)
        state.SkipWithError("unexpected batches per write");
    state.SetItemsProcessed(static_cast<std::int64_t>(batches_written));
    per_unit(state, "per_batch", per_iteration);
    per_unit(state, "per_buffer", buffers_written / passes(state));
}

// ---- drop_acknowledged -------------------------------------------------------------------

// The batch of the stream's second read (it starts with a carried message) and half of its
// bytes acknowledged.
struct drop_setup {
    drop_setup(framing f, std::size_t payload) : s(f, payload), shared(share(s)) {
        auto all = batches_of(f, shared);
        source = std::move(all.at(1));
        acknowledged = source.bytes / 2;
        for (const auto& span : source.spans)
            flat.insert(flat.end(), span.data, span.data + span.length);
        // What drop_acknowledged must find: the messages wholly within `acknowledged`.
        std::size_t at = 0;
        while (at < flat.size()) {
            std::size_t end = 0;
            if (f == framing::line) {
                end = static_cast<std::size_t>(
                          std::find(flat.begin() + static_cast<std::ptrdiff_t>(at), flat.end(),
                                    newline) -
                          flat.begin()) +
                      1;
            } else {
                end = at + frame_size(framing::length, payload);
            }
            if (end > acknowledged)
                break;
            ++whole;
            at = end;
        }
    }
    // The working copy, as the link's unacked_ batch (reuses its vector's capacity).
    void copy_into(message_batch& b) const {
        b.spans = source.spans;
        b.bytes = source.bytes;
        b.messages = source.messages;
    }
    chunked_stream s;
    std::vector<std::shared_ptr<chunk>> shared; // before source: it refers to them
    message_batch source;
    std::vector<std::byte> flat;
    std::size_t acknowledged = 0;
    std::size_t whole = 0;
};

void drop_acknowledged_baseline(benchmark::State& state, framing f) {
    drop_setup d(f, static_cast<std::size_t>(state.range(0)));
    message_batch work;
    std::size_t found = 0;
    for (auto _ : state) {
        d.copy_into(work);
        const std::byte* p = d.flat.data();
        benchmark::DoNotOptimize(p);
        const std::byte* const end = p + d.acknowledged;
        std::size_t whole = 0;
        if (f == framing::line) {
            while ((p = static_cast<const std::byte*>(
                        std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) != nullptr) {
                ++whole;
                ++p;
            }
        } else {
            while (end - p >= 4) {
                const std::size_t n = (std::to_integer<std::size_t>(p[0]) << 24) |
                                      (std::to_integer<std::size_t>(p[1]) << 16) |
                                      (std::to_integer<std::size_t>(p[2]) << 8) |
                                      std::to_integer<std::size_t>(p[3]);
                if (static_cast<std::size_t>(end - p) < 4 + n)
                    break;
                p += 4 + n;
                ++whole;
            }
        }
        found = whole;
        benchmark::DoNotOptimize(found);
        auto* kept = work.spans.data();
        benchmark::DoNotOptimize(kept);
    }
    if (found != d.whole)
        state.SkipWithError("wrong message count");
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(d.acknowledged));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(d.whole));
}

void drop_acknowledged(benchmark::State& state, framing f) {
    drop_setup d(f, static_cast<std::size_t>(state.range(0)));
    message_batch work;
    std::size_t dropped = 0;
    for (auto _ : state) {
        d.copy_into(work);
        dropped = work.drop_acknowledged(d.acknowledged, f);
        benchmark::DoNotOptimize(dropped);
        auto* kept = work.spans.data();
        benchmark::DoNotOptimize(kept);
    }
    if (dropped != d.whole)
        state.SkipWithError("wrong message count");
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(d.acknowledged));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(d.whole));
}

BENCHMARK_CAPTURE(batch_build_baseline, line, framing::line)
    ->ArgName("msg_bytes")
    ->Arg(100)
    ->Arg(1024);
BENCHMARK_CAPTURE(batch_build, line, framing::line)->ArgName("msg_bytes")->Arg(100)->Arg(1024);
BENCHMARK_CAPTURE(batch_build_baseline, length, framing::length)->ArgName("msg_bytes")->Arg(1024);
BENCHMARK_CAPTURE(batch_build, length, framing::length)->ArgName("msg_bytes")->Arg(1024);

BENCHMARK(gather_baseline)->ArgName("spans_per_batch")->Arg(1)->Arg(2)->Arg(8);
BENCHMARK(gather)->ArgName("spans_per_batch")->Arg(1)->Arg(2)->Arg(8);

BENCHMARK_CAPTURE(drop_acknowledged_baseline, line, framing::line)->ArgName("msg_bytes")->Arg(100);
BENCHMARK_CAPTURE(drop_acknowledged, line, framing::line)->ArgName("msg_bytes")->Arg(100);
BENCHMARK_CAPTURE(drop_acknowledged_baseline, length, framing::length)
    ->ArgName("msg_bytes")
    ->Arg(1024);
BENCHMARK_CAPTURE(drop_acknowledged, length, framing::length)->ArgName("msg_bytes")->Arg(1024);

} // namespace
} // namespace funnel::bench
