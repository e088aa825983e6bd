#pragma once
// client_budget: the part of a buffer_pool's budget one client may hold (--client-buffer-limit).
//
// chunk_reader charges every block it takes for its client here, and the chunk keeps a reference,
// so that whichever thread drops the chunk (a link strand once the target acknowledged it, a
// stream session's strand once written) gives the block back here too. A client whose next block
// would take it over its limit is full(): its reader issues no read until a release brings it
// back under. That release calls `on_room`, which wakes the reader (chunk_reader::wake: the same
// sequentially consistent pair as its credit, so that a reader that saw the budget full is always
// woken). The limit counts whole blocks: a client holds limit / block_size of them, and more only
// while the reader lets it (chunk_reader does when only more input can free what the client
// holds: message mode's unfinished message); a release wakes the reader as held drops below it.
//
// Thread-safety: charge() and full() on the reader's executor; release() from any thread. The
// count is one sequentially consistent atomic; on_room is called on the releasing thread and must
// only post.
// Lifetime: shared by its reader and every chunk charged to it, so that a chunk outliving its
// session (message mode: held until the target acknowledged it) still has one to come back to;
// `on_room` must therefore not hold its reader's owner (a weak reference does).

#include <atomic>
#include <cstddef>
#include <functional>

namespace funnel {

class client_budget {
public:
    client_budget(std::size_t limit, std::size_t block_size, std::function<void()> on_room);
    client_budget(const client_budget&) = delete;
    client_budget& operator=(const client_budget&) = delete;

    // Reader's executor: one more block held (past the limit too, if the reader lets it).
    void charge();
    // Any thread: one block given back; calls on_room when that takes held below the limit.
    void release();
    // Another block would take the client over its limit.
    bool full() const { return held_.load(std::memory_order_seq_cst) >= most_; }

    std::size_t held() const { return held_.load(std::memory_order_relaxed); }
    std::size_t most() const { return most_; }

private:
    const std::size_t block_size_;
    const std::size_t most_; // the limit, rounded down to whole blocks (at least one)
    std::atomic<std::size_t> held_{0};
    const std::function<void()> on_room_;
};

} // namespace funnel
