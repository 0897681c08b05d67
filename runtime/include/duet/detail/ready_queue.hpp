// The ready queue: a growable ring of (function, argument) pairs. A coroutine wake-up is
// two words; nothing is allocated per entry once the ring has grown to its working size.
#pragma once

#include <cstddef>
#include <duet/detail/pool.hpp>
#include <new>
#include <utility>

namespace duet::detail {

struct ready_entry {
    void (*fn)(void*, bool run) noexcept;  // run=false: drop without running
    void* arg;
};

class ready_queue {
public:
    ready_queue() = default;
    ready_queue(const ready_queue&) = delete;
    ready_queue& operator=(const ready_queue&) = delete;
    ~ready_queue() { free_buffer(buf_, cap_ * sizeof(ready_entry)); }

    bool empty() const noexcept { return head_ == tail_; }
    std::size_t size() const noexcept { return tail_ - head_; }
    void push(void (*fn)(void*, bool) noexcept, void* arg) {
        if (tail_ - head_ == cap_) grow();
        buf_[tail_++ & (cap_ - 1)] = {fn, arg};
    }
    ready_entry pop() noexcept { return buf_[head_++ & (cap_ - 1)]; }
    // Calls f(entry) for each queued entry, oldest first (all_tasks looks for new tasks).
    template <class F>
    void for_each(F&& f) const {
        for (std::size_t i = head_; i != tail_; ++i) f(buf_[i & (cap_ - 1)]);
    }

    // A batch: the entries queued when it began (asyncio's fairness rule), which can be
    // cut short after the entry running now (a base-tier exception stops the loop there).
    void begin_batch() noexcept { batch_end_ = tail_; }
    bool in_batch() const noexcept { return head_ != batch_end_; }
    void end_batch_here() noexcept { batch_end_ = head_; }

    // After a burst (a million tasks created at once, say) the ring keeps the size it grew
    // to; once the burst has drained to a few entries, they move to the front and the
    // pages past the first trim_keep bytes go back to the system (a no-op where the ring is
    // not a mapping of its own). Outside a batch; costs one comparison when the ring is small.
    void trim_after_burst() noexcept {
        if (cap_ <= trim_keep_entries || tail_ <= trim_keep_entries || size() > trim_max_live) return;
        const std::size_t n = size();
        for (std::size_t i = 0; i < n; ++i) buf_[i] = buf_[(head_ + i) & (cap_ - 1)];
        head_ = batch_end_ = 0;
        tail_ = n;
        release_buffer_pages(buf_, trim_keep_entries * sizeof(ready_entry), cap_ * sizeof(ready_entry));
    }

private:
    static constexpr std::size_t trim_keep_entries = 16384;  // 256 KiB
    static constexpr std::size_t trim_max_live = 64;
    void grow() {
        std::size_t ncap = cap_ ? cap_ * 2 : 256;
        auto* nb = static_cast<ready_entry*>(allocate_buffer(ncap * sizeof(ready_entry)));
        if (!nb) throw std::bad_alloc();
        std::size_t n = tail_ - head_;
        for (std::size_t i = 0; i < n; ++i) nb[i] = buf_[(head_ + i) & (cap_ - 1)];
        free_buffer(buf_, cap_ * sizeof(ready_entry));
        batch_end_ -= head_;  // wraps harmlessly outside a batch (begin_batch resets it)
        buf_ = nb;
        cap_ = ncap;
        head_ = 0;
        tail_ = n;
    }
    ready_entry* buf_ = nullptr;
    std::size_t cap_ = 0;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
    std::size_t batch_end_ = 0;
};

}  // namespace duet::detail
