// Timers ordered by deadline, ties in scheduling order. Two kinds of entry:
// - call_later's handles: reference counted; a cancelled one stays in the heap until it
//   reaches the top or until cancelled ones are the majority, when the heap is compacted,
//   so cancel-heavy loads keep memory bounded;
// - timer_entry, a timer embedded in its owner (sleep's awaiter, in the coroutine frame):
//   no allocation and no reference count; the heap keeps its position up to date, so the
//   owner takes it out at once when it stops waiting.
#pragma once

#include <algorithm>
#include <cstdint>

#include <duet/detail/ready_queue.hpp>
#include <duet/detail/trivial_vector.hpp>
#include <duet/handles.hpp>

namespace duet::detail {

// A timer living inside its owner. When due, the loop queues fire(this, true) in the
// ready queue, where a call_later callback would have been queued; fire(p, false) (a
// closing loop dropping its queue) must not touch p, whose owner may be gone by then.
struct timer_entry {
    static constexpr std::uint32_t not_queued = ~std::uint32_t{0};
    void (*fire)(void* self, bool run) noexcept = nullptr;
    double when = 0;
    std::uint32_t index = not_queued;  // position in the heap, or not_queued
    std::uint32_t seq = 0;             // scheduling order among equal deadlines (set by the heap)
    bool in_heap() const noexcept { return index != not_queued; }
};

class timer_heap {
public:
    ~timer_heap() { clear(); }
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    std::size_t cancelled_count() const noexcept { return cancelled_; }

    void push(handle_node* n) {
        n->seq_ = seq_++;
        heap_.push_back({n->when_, reinterpret_cast<std::uintptr_t>(n)});
        n->add_ref();
        n->in_heap_ = true;
        sift_up(heap_.size() - 1);
    }
    void push(timer_entry* t) {
        t->seq = seq_++;
        heap_.push_back({t->when, reinterpret_cast<std::uintptr_t>(t) | 1});
        sift_up(heap_.size() - 1);
    }
    // Takes an embedded timer out (it is in the heap).
    void remove(timer_entry* t) noexcept {
        const std::size_t i = t->index;
        t->index = timer_entry::not_queued;
        erase_at(i);
    }
    // Drops cancelled timers from the top; returns the earliest live deadline or +inf.
    double next_deadline() noexcept {
        while (!heap_.empty() && is_cancelled(heap_.front())) drop_top();
        return heap_.empty() ? __builtin_inf() : heap_.front().when;
    }
    // Removes the top timer and returns what the ready queue runs for it: a handle
    // (whose heap reference passes to the caller) through `handle_fn`, or an embedded
    // timer's fire function.
    ready_entry pop(void (*handle_fn)(void*, bool) noexcept) noexcept {
        const entry top = heap_.front();
        erase_at(0);
        if (top.p & 1) {
            auto* t = embedded(top);
            t->index = timer_entry::not_queued;
            return {t->fire, t};
        }
        auto* n = node(top);
        n->in_heap_ = false;
        return {handle_fn, n};
    }
    void note_cancelled() noexcept {
        ++cancelled_;
        if (cancelled_ > 64 && cancelled_ * 2 > heap_.size()) compact();
    }
    void clear() noexcept {
        for (auto& e : heap_) forget(e);
        heap_.clear();
        cancelled_ = 0;
    }

private:
    struct entry {
        double when;
        std::uintptr_t p;  // a handle_node*, or (low bit set) a timer_entry*
    };
    // NOLINTBEGIN(performance-no-int-to-ptr): the word is a tagged pointer
    static handle_node* node(const entry& e) noexcept { return reinterpret_cast<handle_node*>(e.p); }
    static timer_entry* embedded(const entry& e) noexcept {
        return reinterpret_cast<timer_entry*>(e.p & ~std::uintptr_t{1});
    }
    // The order lives with the timer, not in the entry: 16 bytes per entry instead of 24
    // (an entry per sleeping task), read only to break a tie.
    static std::uint32_t seq(const entry& e) noexcept { return (e.p & 1) ? embedded(e)->seq : node(e)->seq_; }
    // NOLINTEND(performance-no-int-to-ptr)
    static bool is_cancelled(const entry& e) noexcept { return !(e.p & 1) && node(e)->cancelled(); }
    static bool later(const entry& a, const entry& b) noexcept {
        return a.when > b.when || (a.when == b.when && static_cast<std::int32_t>(seq(a) - seq(b)) > 0);
    }
    // Out of the heap for good: a handle's reference dropped, an embedded timer told.
    static void forget(const entry& e) noexcept {
        if (e.p & 1) {
            embedded(e)->index = timer_entry::not_queued;
        } else {
            node(e)->in_heap_ = false;
            node(e)->release();
        }
    }
    void place(std::size_t i, const entry& e) noexcept {
        heap_[i] = e;
        if (e.p & 1) embedded(e)->index = static_cast<std::uint32_t>(i);
    }
    void sift_up(std::size_t i) noexcept {
        const entry e = heap_[i];
        while (i > 0) {
            const std::size_t parent = (i - 1) / 2;
            if (!later(heap_[parent], e)) break;
            place(i, heap_[parent]);
            i = parent;
        }
        place(i, e);
    }
    void sift_down(std::size_t i) noexcept {
        const entry e = heap_[i];
        const std::size_t n = heap_.size();
        for (;;) {
            std::size_t c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && later(heap_[c], heap_[c + 1])) ++c;
            if (!later(e, heap_[c])) break;
            place(i, heap_[c]);
            i = c;
        }
        place(i, e);
    }
    // Removes the entry at i (its owner already told), keeping the heap ordered.
    void erase_at(std::size_t i) noexcept {
        const entry last = heap_.back();
        heap_.pop_back();
        if (i == heap_.size()) return;
        heap_[i] = last;
        if (i > 0 && later(heap_[(i - 1) / 2], last))
            sift_up(i);
        else
            sift_down(i);
    }
    void drop_top() noexcept {
        const entry top = heap_.front();
        erase_at(0);
        if (cancelled_) --cancelled_;
        forget(top);
    }
    void compact() noexcept {
        auto keep = std::remove_if(heap_.begin(), heap_.end(), [](const entry& e) {
            if (!is_cancelled(e)) return false;
            forget(e);
            return true;
        });
        heap_.erase(keep, heap_.end());
        std::make_heap(heap_.begin(), heap_.end(), later);
        for (std::size_t i = 0; i < heap_.size(); ++i)
            if (heap_[i].p & 1) embedded(heap_[i])->index = static_cast<std::uint32_t>(i);
        cancelled_ = 0;
    }

    trivial_vector<entry> heap_;
    std::uint32_t seq_ = 0;  // wraps: equal deadlines compare by difference
    std::size_t cancelled_ = 0;
};

}  // namespace duet::detail
