// frame_decoder on 64 KiB reads: line framing (100-byte and 1 KiB messages) and length framing
// (1 KiB), in bytes/s and messages/s.
//
// Baselines, the machine's limit for the same bytes:
//   line_framing_baseline    memchr over the same reads, counting '\n' (what the decoder's own
//                            scan costs with nothing around it)
//   length_framing_baseline  a walk from prefix to prefix over the same stream in one piece
//                            (touches only the prefixes, keeps no state across reads)

#include "funnel/framing/frame_decoder.hpp"

#include <benchmark/benchmark.h>
#include <cstring>

#include "bench_streams.hpp"

namespace funnel::bench {
namespace {

// What a decoder's user does at the least: notes each segment and each message end.
struct counting_handler {
    std::size_t payload_bytes = 0;
    std::size_t messages = 0;
    void on_payload(frame_segment s) { payload_bytes += s.length; }
    void on_message_end(std::size_t) { ++messages; }
    void on_oversize(std::size_t) {}
};

void report(benchmark::State& state, std::size_t stream_bytes, std::size_t messages) {
    const auto n = static_cast<std::int64_t>(state.iterations());
    state.SetBytesProcessed(n * static_cast<std::int64_t>(stream_bytes));
    state.SetItemsProcessed(n * static_cast<std::int64_t>(messages));
}

void check_count(benchmark::State& state, std::size_t counted, std::size_t per_pass) {
    if (counted != static_cast<std::size_t>(state.iterations()) * per_pass)
        state.SkipWithError("wrong message count");
}

void line_framing_baseline(benchmark::State& state) {
    const auto payload = static_cast<std::size_t>(state.range(0));
    const auto stream = make_stream(framing::line, payload);
    const auto reads = cut_into_reads(stream);
    std::size_t lines = 0;
    for (auto _ : state) {
        for (const auto read : reads) {
            const std::byte* p = read.data();
            benchmark::DoNotOptimize(p); // the bytes may have changed: no hoisting the scan
            const std::byte* const end = p + read.size();
            while ((p = static_cast<const std::byte*>(
                        std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) != nullptr) {
                ++lines;
                ++p;
            }
        }
    }
    benchmark::DoNotOptimize(lines);
    check_count(state, lines, stream_messages(framing::line, payload));
    report(state, stream.size(), stream_messages(framing::line, payload));
}

void decode(benchmark::State& state, framing f) {
    const auto payload = static_cast<std::size_t>(state.range(0));
    const auto stream = make_stream(f, payload);
    const auto reads = cut_into_reads(stream);
    frame_decoder decoder(f, 1024 * 1024, oversize_policy::skip);
    counting_handler h;
    for (auto _ : state) {
        for (const auto read : reads) {
            auto data = read;
            benchmark::DoNotOptimize(data);
            bool open = decoder.feed(data, h);
            benchmark::DoNotOptimize(open);
        }
    }
    benchmark::DoNotOptimize(h.payload_bytes);
    check_count(state, h.messages, stream_messages(f, payload));
    report(state, stream.size(), stream_messages(f, payload));
}

void line_framing(benchmark::State& state) {
    decode(state, framing::line);
}

void length_framing_baseline(benchmark::State& state) {
    const auto payload = static_cast<std::size_t>(state.range(0));
    const auto stream = make_stream(framing::length, payload);
    std::size_t frames = 0;
    for (auto _ : state) {
        const std::byte* p = stream.data();
        benchmark::DoNotOptimize(p);
        const std::byte* const end = p + stream.size();
        while (p < end) {
            const std::size_t n = (std::to_integer<std::size_t>(p[0]) << 24) |
                                  (std::to_integer<std::size_t>(p[1]) << 16) |
                                  (std::to_integer<std::size_t>(p[2]) << 8) |
                                  std::to_integer<std::size_t>(p[3]);
            p += 4 + n;
            ++frames;
        }
    }
    benchmark::DoNotOptimize(frames);
    check_count(state, frames, stream_messages(framing::length, payload));
    report(state, stream.size(), stream_messages(framing::length, payload));
}

void length_framing(benchmark::State& state) {
    decode(state, framing::length);
}

BENCHMARK(line_framing_baseline)->ArgName("msg_bytes")->Arg(100)->Arg(1024);
BENCHMARK(line_framing)->ArgName("msg_bytes")->Arg(100)->Arg(1024);
BENCHMARK(length_framing_baseline)->ArgName("msg_bytes")->Arg(1024);
BENCHMARK(length_framing)->ArgName("msg_bytes")->Arg(1024);

} // namespace
} // namespace funnel::bench
