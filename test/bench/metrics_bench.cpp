// What counting costs on the hot path: a histogram observation against the plain relaxed
// fetch_add every counter of `metrics` already does.
//
//   histogram_observe            metrics::forward_latency_ns.observe(value): the bucket scan
//                                (18 bounds) and two relaxed fetch_adds, values spread over the
//                                buckets as a busy relay's would be
//     _baseline                  one relaxed fetch_add on a counter of its own cache line
//   histogram_observe_contended  the same from two threads at once, on one histogram (two links
//                                writing at the same moment)
//     _baseline                  two threads on one counter
// Per observation; the relay observes once per write, not per message.

#include "funnel/metrics/metrics.hpp"

#include <array>
#include <benchmark/benchmark.h>
#include <cstdint>

namespace funnel::bench {
namespace {

// Latencies from 20 µs to 20 ms, a spread over a dozen buckets.
constexpr std::array<std::uint64_t, 8> latencies{20'000,  80'000,    150'000,   400'000,
                                                 900'000, 3'000'000, 7'000'000, 20'000'000};

metrics shared_stats; // for the contended pair: both threads use the same one

void histogram_observe_baseline(benchmark::State& state) {
    metrics stats;
    std::size_t i = 0;
    for (auto _ : state) {
        metrics::add(stats.bytes_to_targets, latencies[i++ % latencies.size()]);
    }
    benchmark::DoNotOptimize(metrics::get(stats.bytes_to_targets));
    state.SetItemsProcessed(state.iterations());
}

void histogram_observe(benchmark::State& state) {
    metrics stats;
    std::size_t i = 0;
    for (auto _ : state) {
        stats.forward_latency_ns.observe(latencies[i++ % latencies.size()]);
    }
    if (stats.forward_latency_ns.read().count != static_cast<std::uint64_t>(state.iterations()))
        state.SkipWithError("observations lost");
    state.SetItemsProcessed(state.iterations());
}

void histogram_observe_contended_baseline(benchmark::State& state) {
    std::size_t i = 0;
    for (auto _ : state) {
        metrics::add(shared_stats.bytes_to_targets, latencies[i++ % latencies.size()]);
    }
    state.SetItemsProcessed(state.iterations());
}

void histogram_observe_contended(benchmark::State& state) {
    std::size_t i = 0;
    for (auto _ : state) {
        shared_stats.forward_latency_ns.observe(latencies[i++ % latencies.size()]);
    }
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK(histogram_observe_baseline);
BENCHMARK(histogram_observe);
BENCHMARK(histogram_observe_contended_baseline)->Threads(2)->UseRealTime();
BENCHMARK(histogram_observe_contended)->Threads(2)->UseRealTime();

} // namespace
} // namespace funnel::bench
