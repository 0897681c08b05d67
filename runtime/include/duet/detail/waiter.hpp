// A task's place in a synchronization primitive's queue (lock, event, condition,
// semaphore). asyncio queues a future per waiter; duet embeds the waiter in the waiting
// coroutine's frame and lets it wake its task directly, so a suspended waiter costs no
// allocation at all. `done()`, `cancelled()` and `set_result()` keep the future's
// vocabulary, so the primitives read as asyncio's do.
#pragma once

#include <cstddef>
#include <cstdint>

#include <duet/coro.hpp>

namespace duet::detail {

struct waiter_link {
    waiter_link* prev;
    waiter_link* next;
};

class waiter_list;

class waiter : private waiter_link, private direct_wait {
public:
    // Queues itself at the back of `list`; leaves it when destroyed, at the latest.
    explicit waiter(waiter_list& list) noexcept;
    // Not queued yet, for a frameless awaiter that queues it when it suspends (and may
    // be copied before that).
    waiter() noexcept : waiter_link{this, this}, direct_wait{&on_signal} {}
    void enqueue(waiter_list& list) noexcept;
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;
    ~waiter() { unlink(); }

    // Woken or cancelled (asyncio: the waiter future is done).
    bool done() const noexcept { return state_ != state::waiting; }
    // The waiting task was cancelled while it waited here.
    bool cancelled() const noexcept { return state_ == state::cancelled; }
    // Wakes the waiting task; no-op once done (asyncio: fut.set_result(True)).
    void set_result() noexcept {
        if (state_ != state::waiting) return;
        state_ = state::woken;
        if (task_) wake_direct_waiter(task_, this, recheck_);
    }
    // Leaves the queue (idempotent).
    void unlink() noexcept {
        prev->next = next;
        next->prev = prev;
        prev = next = this;
    }

    // `co_await w.wait()` suspends until woken; throws cancelled_error if the task was
    // cancelled meanwhile. (A separate awaiter: g++ 12 copies an lvalue awaiter.)
    struct awaiter : awaiter_tag {
        waiter* w;
        bool await_ready() const noexcept { return w->state_ != state::waiting; }
        void await_suspend(co::coroutine_handle<> h) { w->task_ = suspend_current_task_direct(w, h); }
        void await_resume() const { throw_if_cancel_injected(w->task_); }
    };
    awaiter wait() noexcept { return {{}, this}; }

protected:
    // For an awaiter that waits in a loop (a queue's get or put): its own `on_signal`
    // answers signal::recheck when the woken task is about to resume (true: rewait() was
    // called, keep waiting) and passes signal::cancel on to waiter::on_signal.
    explicit waiter(bool (*signal_fn)(direct_wait*, direct_wait::signal) noexcept) noexcept
        : waiter_link{this, this}, direct_wait{signal_fn}, recheck_(true) {}
    static waiter* of(direct_wait* d) noexcept { return static_cast<waiter*>(d); }
    static bool on_signal(direct_wait* self, signal s) noexcept {
        if (s == signal::cancel) static_cast<waiter*>(self)->state_ = state::cancelled;
        return false;
    }
    // Leaves whatever queue it is in and wakes its task (with a recheck): for an awaiter
    // that keeps its task on cancel and still has to make it run.
    void wake_self() noexcept {
        unlink();
        state_ = state::waiting;
        set_result();
    }
    // Woken, but waits again: back to waiting, at the back of `list` (asyncio appends a
    // fresh future).
    void rewait(waiter_list& list) noexcept;

private:
    friend class waiter_list;
    enum class state : std::uint8_t { waiting, woken, cancelled };
    static waiter* from(waiter_link* l) noexcept { return static_cast<waiter*>(l); }

    task_core* task_ = nullptr;
    state state_ = state::waiting;
    bool recheck_ = false;  // wake with a recheck (see the protected constructor)
};

// FIFO of waiters: an intrusive circular list around a sentinel, so a waiter leaves it in
// O(1) without knowing the list, and a list destroyed first just lets its waiters go.
class waiter_list {
public:
    waiter_list() noexcept { head_.prev = head_.next = &head_; }
    waiter_list(const waiter_list&) = delete;
    waiter_list& operator=(const waiter_list&) = delete;
    ~waiter_list() {
        while (!empty()) waiter::from(head_.next)->unlink();
    }

    bool empty() const noexcept { return head_.next == &head_; }
    // The oldest waiter; null when empty.
    waiter* front() noexcept { return empty() ? nullptr : waiter::from(head_.next); }
    // Wakes the oldest waiter not done yet; false if there is none.
    bool wake_first() noexcept;
    // Wakes up to n waiters that are not done yet, oldest first; returns how many.
    std::size_t wake(std::size_t n) noexcept;
    bool any_not_cancelled() const noexcept;

private:
    friend class waiter;
    void push_back(waiter_link* l) noexcept {
        l->prev = head_.prev;
        l->next = &head_;
        head_.prev->next = l;
        head_.prev = l;
    }
    waiter_link head_;
};

inline waiter::waiter(waiter_list& list) noexcept : waiter() {
    enqueue(list);
}
inline void waiter::enqueue(waiter_list& list) noexcept {
    list.push_back(this);
}
inline void waiter::rewait(waiter_list& list) noexcept {
    unlink();
    state_ = state::waiting;
    list.push_back(this);
}

}  // namespace duet::detail
