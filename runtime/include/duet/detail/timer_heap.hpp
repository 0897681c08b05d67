// Timers ordered by deadline, ties in scheduling order. Cancelled timers stay in the heap
// until they reach the top or until they are the majority, when the heap is compacted, so
// cancel-heavy loads keep memory bounded.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include <duet/handles.hpp>

namespace duet::detail {

class timer_heap {
public:
    struct entry {
        double when;
        std::uint64_t seq;
        handle_node* node;  // one reference owned by the heap
    };

    ~timer_heap() { clear(); }
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    std::size_t cancelled_count() const noexcept { return cancelled_; }

    void push(handle_node* n) {
        n->add_ref();
        n->in_heap_ = true;
        heap_.push_back({n->when_, seq_++, n});
        std::push_heap(heap_.begin(), heap_.end(), later);
    }
    // Drops cancelled timers from the top; returns the earliest live deadline or +inf.
    double next_deadline() noexcept {
        while (!heap_.empty() && heap_.front().node->cancelled()) drop_top();
        return heap_.empty() ? __builtin_inf() : heap_.front().when;
    }
    // Removes and returns the top node (reference passes to the caller).
    handle_node* pop() noexcept {
        std::pop_heap(heap_.begin(), heap_.end(), later);
        handle_node* n = heap_.back().node;
        heap_.pop_back();
        n->in_heap_ = false;
        return n;
    }
    void note_cancelled() noexcept {
        ++cancelled_;
        if (cancelled_ > 64 && cancelled_ * 2 > heap_.size()) compact();
    }
    void clear() noexcept {
        for (auto& e : heap_) {
            e.node->in_heap_ = false;
            e.node->release();
        }
        heap_.clear();
        cancelled_ = 0;
    }

private:
    static bool later(const entry& a, const entry& b) noexcept {
        return a.when > b.when || (a.when == b.when && a.seq > b.seq);
    }
    void drop_top() noexcept {
        handle_node* n = pop();
        if (cancelled_) --cancelled_;
        n->release();
    }
    void compact() noexcept {
        auto keep = std::remove_if(heap_.begin(), heap_.end(), [](const entry& e) {
            if (!e.node->cancelled()) return false;
            e.node->in_heap_ = false;
            e.node->release();
            return true;
        });
        heap_.erase(keep, heap_.end());
        std::make_heap(heap_.begin(), heap_.end(), later);
        cancelled_ = 0;
    }

    std::vector<entry> heap_;
    std::uint64_t seq_ = 0;
    std::size_t cancelled_ = 0;
};

}  // namespace duet::detail
