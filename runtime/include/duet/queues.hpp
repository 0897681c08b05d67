// asyncio's queues: queue (FIFO), priority_queue (smallest first), lifo_queue, with
// join/task_done and Python 3.13's shutdown(). Not thread-safe: use them from one loop.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <stdexcept>
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

// Smallest first, like Python's heapq-based PriorityQueue.
template <class T, class Compare = std::less<T>>
struct priority_store {
    std::vector<T> items;
    static bool later(const T& a, const T& b) { return Compare{}(b, a); }
    void push(T v) {
        items.push_back(std::move(v));
        std::push_heap(items.begin(), items.end(), later);
    }
    T pop() {
        std::pop_heap(items.begin(), items.end(), later);
        T v = std::move(items.back());
        items.pop_back();
        return v;
    }
    std::size_t size() const noexcept { return items.size(); }
};

}  // namespace detail

template <class T, class Store>
class basic_queue {
public:
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

    // Waits while the queue is full; queue_shut_down once shut down.
    coro<void> put(T item) {
        co_await wait_until(putters_, [this] { return !full(); });
        put_nowait(std::move(item));
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
    coro<T> get() {
        co_await wait_until(getters_, [this] { return !empty(); });
        co_return get_nowait();
    }
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
    // Waits until every item put has been marked task_done().
    coro<void> join() {
        if (unfinished_ > 0) co_await finished_.wait();
    }

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
    // Waits in FIFO order with the other waiters until ready(). A waiter woken and then
    // cancelled before it could act hands its wake-up to the next one.
    template <class Ready>
    coro<void> wait_until(detail::waiter_list& waiters, Ready ready) {
        while (!ready()) {
            if (shutdown_) throw queue_shut_down();
            detail::waiter w(waiters);
            try {
                co_await w.wait();
            } catch (...) {
                w.unlink();
                if (ready() && w.done() && !w.cancelled()) waiters.wake_first();
                throw;
            }
        }
    }

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
