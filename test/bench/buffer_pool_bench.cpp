// buffer_pool: what a read's block costs, on one thread and across two.
//
//   pool_acquire_release         try_acquire() and give the chunk back, on one thread (the
//                                uncontended mutex, twice).
//     _baseline                  new/delete of a 64 KiB block instead.
//   pool_cross_thread            as in funnel: one thread acquires (the io thread, for its reads),
//                                another gives the chunk back (a pool thread, once the target
//                                acknowledged it), handed over through a bounded single-producer
//                                single-consumer ring. Both threads take the pool's one mutex.
//     _baseline                  new on one thread, delete on the other, through the same ring.
//     _queue_only                the same ring passing a pointer to one preallocated block: what
//                                the handover itself costs, without any allocator.
// Real time: two threads are at work.

#include "funnel/buffer/buffer_pool.hpp"

#include <array>
#include <atomic>
#include <benchmark/benchmark.h>
#include <memory>
#include <new>
#include <thread>
#include <utility>

#include "bench_streams.hpp"

namespace funnel::bench {
namespace {

void pool_acquire_release_baseline(benchmark::State& state) {
    for (auto _ : state) {
        auto* block = new std::byte[read_size];
        benchmark::DoNotOptimize(block);
        delete[] block;
    }
    state.SetItemsProcessed(state.iterations());
}

void pool_acquire_release(benchmark::State& state) {
    buffer_pool pool(read_size, 64 * read_size);
    for (auto _ : state) {
        chunk c = pool.try_acquire();
        benchmark::DoNotOptimize(c);
        if (!c) {
            state.SkipWithError("pool exhausted");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
}

// A bounded single-producer single-consumer ring. Each side spins, then yields, while it waits:
// on a machine with two cores that is both of them.
template <class T, std::size_t Size> class spsc_ring {
public:
    void push(T&& v) {
        const std::size_t t = tail_.load(std::memory_order_relaxed);
        for (int spins = 0; t - head_.load(std::memory_order_acquire) == Size;)
            wait(spins);
        slots_[t % Size] = std::move(v);
        tail_.store(t + 1, std::memory_order_release);
    }
    // False once the ring is empty and `done` is set.
    bool pop(T& out, const std::atomic<bool>& done) {
        const std::size_t h = head_.load(std::memory_order_relaxed);
        for (int spins = 0; tail_.load(std::memory_order_acquire) == h; wait(spins))
            if (done.load(std::memory_order_acquire) && tail_.load(std::memory_order_acquire) == h)
                return false;
        out = std::move(slots_[h % Size]);
        head_.store(h + 1, std::memory_order_release);
        return true;
    }

private:
    static void wait(int& spins) {
        if (++spins > 64)
            std::this_thread::yield();
    }
    alignas(64) std::atomic<std::size_t> head_{0};
    alignas(64) std::atomic<std::size_t> tail_{0};
    alignas(64) std::array<T, Size> slots_{};
};

constexpr std::size_t ring_size = 64;

// Runs `make` on this thread and `dispose` on another, one item per iteration, through a ring.
template <class T, class Make, class Dispose>
void across_threads(benchmark::State& state, Make&& make, Dispose&& dispose) {
    spsc_ring<T, ring_size> ring;
    std::atomic<bool> done{false};
    std::thread consumer([&] {
        T item{};
        while (ring.pop(item, done))
            dispose(item);
    });
    for (auto _ : state) {
        T item = make();
        if (!item) {
            state.SkipWithError("nothing to hand over");
            break;
        }
        ring.push(std::move(item));
    }
    done.store(true, std::memory_order_release);
    consumer.join();
    state.SetItemsProcessed(state.iterations());
}

void pool_cross_thread_baseline(benchmark::State& state) {
    across_threads<std::byte*>(
        state,
        [] {
            auto* block = new std::byte[read_size];
            benchmark::DoNotOptimize(block);
            return block;
        },
        [](std::byte*& block) { delete[] std::exchange(block, nullptr); });
}

void pool_cross_thread(benchmark::State& state) {
    // Room for everything the ring and both threads can hold: try_acquire never fails.
    buffer_pool pool(read_size, (ring_size + 4) * read_size);
    across_threads<chunk>(
        state, [&] { return pool.try_acquire(); }, [](chunk& c) { c.reset(); });
}

void pool_cross_thread_queue_only(benchmark::State& state) {
    auto block = std::make_unique<std::byte[]>(read_size);
    across_threads<std::byte*>(
        state, [&] { return block.get(); }, [](std::byte*& p) { benchmark::DoNotOptimize(p); });
}

BENCHMARK(pool_acquire_release_baseline);
BENCHMARK(pool_acquire_release);
BENCHMARK(pool_cross_thread_baseline)->UseRealTime();
BENCHMARK(pool_cross_thread)->UseRealTime();
BENCHMARK(pool_cross_thread_queue_only)->UseRealTime();

} // namespace
} // namespace funnel::bench
