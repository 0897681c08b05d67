// asyncio's queues: queue (FIFO), priority_queue (smallest first), lifo_queue, with
// join/task_done and Python 3.13's shutdown(). Not thread-safe: use them from one loop.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <duet/events.hpp>
#include <duet/locks.hpp>

namespace duet {

// get_nowait() on an empty queue (asyncio.QueueEmpty).
class queue_empty : public std::runtime_error {
public:
    queue_empty() : std::runtime_error("queue is empty") {}
};
// put_nowait() on a full queue (asyncio.QueueFull).
class queue_full : public std::runtime_error {
public:
    queue_full() : std::runtime_error("queue is full") {}
};
// put on a shut-down queue, or get on one that is shut down and empty (asyncio.QueueShutDown).
class queue_shut_down : public std::runtime_error {
public:
    queue_shut_down() : std::runtime_error("queue is shut down") {}
};

namespace detail {

template <class T>
struct fifo_store {
    std::deque<T> items;
    void push(T v) { items.push_back(std::move(v)); }
    T pop() {
        T v = std::move(items.front());
        items.pop_front();
        return v;
    }
    std::size_t size() const noexcept { return items.size(); }
};

template <class T>
struct lifo_store {
    std::vector<T> items;
    void push(T v) { items.push_back(std::move(v)); }
    T pop() {
        T v = std::move(items.back());
        items.pop_back();
        return v;
    }
    std::size_t size() const noexcept { return items.size(); }
};

// Smallest first, with heapq's own sift steps (Python's PriorityQueue is a heapq heap):
// items that compare equal come out in asyncio's order, the same on every target
// (std::push_heap/pop_heap leave that order to the standard library, and libc++'s differs).
template <class T, class Compare = std::less<T>>
struct priority_store {
    std::vector<T> items;
    static bool less(const T& a, const T& b) { return Compare{}(a, b); }
    void push(T v) {  // heapq.heappush
        items.push_back(std::move(v));
        sift_down(0, items.size() - 1);
    }
    T pop() {  // heapq.heappop
        T last = std::move(items.back());
        items.pop_back();
        if (items.empty()) return last;
        T v = std::move(items.front());
        items.front() = std::move(last);
        sift_up(0);
        return v;
    }
    std::size_t size() const noexcept { return items.size(); }

private:
    // heapq._siftdown: the item at pos moves up while it is smaller than its parent.
    void sift_down(std::size_t start, std::size_t pos) {
        T item = std::move(items[pos]);
        while (pos > start) {
            const std::size_t parent = (pos - 1) / 2;
            if (!less(item, items[parent])) break;
            items[pos] = std::move(items[parent]);
            pos = parent;
        }
        items[pos] = std::move(item);
    }
    // heapq._siftup: the path of smaller children (the right one on a tie) moves up one
    // level, down to a leaf; then the item moves up from that leaf.
    void sift_up(std::size_t pos) {
        const std::size_t end = items.size();
        const std::size_t start = pos;
        T item = std::move(items[pos]);
        std::size_t child = 2 * pos + 1;
        while (child < end) {
            if (child + 1 < end && !less(items[child], items[child + 1])) ++child;
            items[pos] = std::move(items[child]);
            pos = child;
            child = 2 * pos + 1;
        }
        items[pos] = std::move(item);
        sift_down(start, pos);
    }
};

// co_await q.get() / q.put(v): no coroutine frame. A queue with an item (or with room) is
// served in await_ready without suspending; otherwise the waiter lives in the awaiting
// frame. asyncio's `while q.empty(): await getter` loop runs as a recheck when the woken
// task is about to resume: if another caller took the item (or the room) meanwhile, the
// waiter queues itself again at the back and the task stays suspended.
// What a getter and a putter share: the side of the queue each waits on (getters while it
// is empty, putters while it is full), queuing there, the recheck, and passing a wake-up on
// when cancelled after it.
template <class Q, bool Put>
class queue_side_wait : public awaiter_tag, private waiter {
public:
    // Ready when not blocked, or shut down (await_resume then raises queue_shut_down).
    bool await_ready() const noexcept { return !blocked() || q_->is_shut_down(); }
    void await_suspend(co::coroutine_handle<> h) {
        wait().await_suspend(h);  // throws outside a task, before anything is queued
        enqueue(side());
    }

protected:
    explicit queue_side_wait(Q& q) noexcept : waiter(&on_signal), q_(&q) {}
    // A copy is not queued (only the awaiter that suspends queues itself).
    queue_side_wait(const queue_side_wait& o) noexcept : awaiter_tag(o), waiter(&on_signal), q_(o.q_) {}
    queue_side_wait& operator=(const queue_side_wait&) = delete;

    // The end of the wait (if it suspended): raises a cancellation, first passing the
    // wake-up on if this waiter was woken and then cancelled before it could use it.
    void end_wait() {
        try {
            wait().await_resume();
        } catch (...) {
            unlink();
            if (!blocked() && done() && !cancelled()) side().wake_first();
            throw;
        }
        unlink();
    }
    Q* q_;

private:
    bool blocked() const noexcept {
        if constexpr (Put)
            return q_->full();
        else
            return q_->empty();
    }
    waiter_list& side() const noexcept {
        if constexpr (Put)
            return q_->putters_;
        else
            return q_->getters_;
    }
    static bool on_signal(detail::direct_wait* self, detail::direct_wait::signal s) noexcept {
        if (s == detail::direct_wait::signal::cancel) return waiter::on_signal(self, s);
        if (s == detail::direct_wait::signal::recheck_cancelling) return false;  // the cancellation wins
        auto* a = static_cast<queue_side_wait*>(waiter::of(self));
        if (!a->blocked() || a->q_->is_shut_down()) return false;
        a->rewait(a->side());
        return true;
    }
};

template <class Q>
class queue_get_awaiter : public queue_side_wait<Q, false> {
public:
    explicit queue_get_awaiter(Q& q) noexcept : queue_side_wait<Q, false>(q) {}
    typename Q::value_type await_resume() {
        this->end_wait();
        return this->q_->get_nowait();
    }
};

template <class Q>
class queue_put_awaiter : public queue_side_wait<Q, true> {
public:
    using value_type = typename Q::value_type;
    queue_put_awaiter(Q& q, value_type&& item) noexcept(std::is_nothrow_move_constructible_v<value_type>)
        : queue_side_wait<Q, true>(q), item_(std::move(item)) {}
    queue_put_awaiter(const queue_put_awaiter& o) noexcept(
        std::is_nothrow_copy_constructible_v<value_type>) requires std::is_copy_constructible_v<value_type>
        : queue_side_wait<Q, true>(o), item_(o.item_) {}
    queue_put_awaiter(queue_put_awaiter&& o) noexcept(std::is_nothrow_move_constructible_v<value_type>)
        : queue_side_wait<Q, true>(o), item_(std::move(o.item_)) {}
    queue_put_awaiter& operator=(const queue_put_awaiter&) = delete;
    void await_resume() {
        this->end_wait();
        this->q_->put_nowait(std::move(item_));
    }

private:
    value_type item_;
};

}  // namespace detail

// What a queue's get() returns: `co_await` it (no frame), or pass it wherever a coro<T>
// goes (create_task, wait_for, gather...; it converts to one).
template <class Q>
class [[nodiscard]] queue_get {
public:
    using coro_type = coro<typename Q::value_type>;
    explicit queue_get(Q& q) noexcept : q_(&q) {}
    detail::queue_get_awaiter<Q> awaiter() const noexcept { return detail::queue_get_awaiter<Q>(*q_); }
    coro_type as_coro() && { return run(*q_); }
    operator coro_type() && { return std::move(*this).as_coro(); }

private:
    static coro_type run(Q& q) { co_return co_await detail::queue_get_awaiter<Q>(q); }
    Q* q_;
};

// What a queue's put(item) returns; it holds the item until awaited. Single use: awaiting
// it (or as_coro()) moves the item out.
template <class Q>
class [[nodiscard]] queue_put {
public:
    using coro_type = coro<void>;
    using value_type = typename Q::value_type;
    queue_put(Q& q, value_type item) noexcept(std::is_nothrow_move_constructible_v<value_type>)
        : q_(&q), item_(std::move(item)) {}
    // const, as every frameless awaitable's (the item is mutable: taking it is the one use).
    detail::queue_put_awaiter<Q> awaiter() const { return detail::queue_put_awaiter<Q>(*q_, std::move(item_)); }
    coro<void> as_coro() && { return run(*q_, std::move(item_)); }
    operator coro<void>() && { return std::move(*this).as_coro(); }

private:
    static coro<void> run(Q& q, value_type item) { co_await detail::queue_put_awaiter<Q>(q, std::move(item)); }
    Q* q_;
    mutable value_type item_;
};

template <class T, class Store>
class basic_queue {
public:
    using value_type = T;

    // maxsize <= 0 means unbounded.
    explicit basic_queue(long maxsize = 0) : maxsize_(maxsize > 0 ? static_cast<std::size_t>(maxsize) : 0) {
        finished_.set();
    }
    basic_queue(const basic_queue&) = delete;
    basic_queue& operator=(const basic_queue&) = delete;

    std::size_t qsize() const noexcept { return store_.size(); }
    std::size_t maxsize() const noexcept { return maxsize_; }
    bool empty() const noexcept { return store_.size() == 0; }
    bool full() const noexcept { return maxsize_ > 0 && store_.size() >= maxsize_; }

    // Waits while the queue is full; queue_shut_down once shut down. No frame: see queue_put.
    queue_put<basic_queue> put(T item) noexcept(std::is_nothrow_move_constructible_v<T>) {
        return queue_put<basic_queue>(*this, std::move(item));
    }
    void put_nowait(T item) {
        if (shutdown_) throw queue_shut_down();
        if (full()) throw queue_full();
        store_.push(std::move(item));
        ++unfinished_;
        finished_.clear();
        getters_.wake_first();
    }

    // Waits while the queue is empty; queue_shut_down once shut down and empty. A
    // cancelled get never loses an item: items stay in the queue until a get takes them.
    // No frame: see queue_get.
    queue_get<basic_queue> get() noexcept { return queue_get<basic_queue>(*this); }
    T get_nowait() {
        if (empty()) {
            if (shutdown_) throw queue_shut_down();
            throw queue_empty();
        }
        T v = store_.pop();
        putters_.wake_first();
        return v;
    }

    // One consumed item is fully processed; std::invalid_argument if called more times
    // than items were put.
    void task_done() {
        if (unfinished_ == 0) throw std::invalid_argument("task_done() called too many times");
        if (--unfinished_ == 0) finished_.set();
    }
    // Waits until every item put has been marked task_done() (no frame: the event that
    // is set exactly when nothing is unfinished).
    event_wait join() noexcept { return finished_.wait(); }

    // Puts now raise queue_shut_down; gets drain what is left, then raise it. immediate:
    // drop what is left too (counting it as done). Blocked callers are woken to re-check.
    void shutdown(bool immediate = false) {
        shutdown_ = true;
        if (immediate) {
            while (!empty()) {
                (void)store_.pop();
                if (unfinished_ > 0) --unfinished_;
            }
            if (unfinished_ == 0) finished_.set();
        }
        getters_.wake(static_cast<std::size_t>(-1));
        putters_.wake(static_cast<std::size_t>(-1));
    }
    bool is_shut_down() const noexcept { return shutdown_; }

private:
    friend class detail::queue_side_wait<basic_queue, false>;
    friend class detail::queue_side_wait<basic_queue, true>;

    Store store_;
    std::size_t maxsize_;
    std::size_t unfinished_ = 0;
    bool shutdown_ = false;
    detail::waiter_list getters_;
    detail::waiter_list putters_;
    event finished_;
};

template <class T>
using queue = basic_queue<T, detail::fifo_store<T>>;
template <class T>
using lifo_queue = basic_queue<T, detail::lifo_store<T>>;
template <class T, class Compare = std::less<T>>
using priority_queue = basic_queue<T, detail::priority_store<T, Compare>>;

}  // namespace duet
