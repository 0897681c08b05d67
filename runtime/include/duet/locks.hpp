// asyncio's synchronization primitives: lock, event, condition, semaphore,
// bounded_semaphore, barrier. Not thread-safe (like asyncio's): use them from one loop.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <duet/detail/waiter.hpp>
#include <duet/events.hpp>

namespace duet {

// Raised by barrier waits when the barrier is broken or aborted (asyncio.BrokenBarrierError).
class broken_barrier_error : public std::runtime_error {
public:
    broken_barrier_error() : std::runtime_error("the barrier is broken") {}
    using std::runtime_error::runtime_error;
};

// Releases what it holds when it goes out of scope: `auto held = co_await l.scoped();`
// is C++'s `async with l:`.
template <class L>
class [[nodiscard]] scoped_hold {
public:
    explicit scoped_hold(L& l) noexcept : l_(&l) {}
    scoped_hold(scoped_hold&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    scoped_hold& operator=(scoped_hold&&) = delete;
    ~scoped_hold() {
        if (l_) l_->release();
    }
    // Releases early; the destructor then does nothing.
    void release() {
        if (auto* l = std::exchange(l_, nullptr)) l->release();
    }

private:
    L* l_;
};

class lock;
class semaphore;

namespace detail {
class condition_awaiter;

// co_await l.acquire() / s.acquire(): no coroutine frame. A free lock (or a semaphore with
// room and nobody queued) is taken in await_ready without suspending; otherwise the waiter
// lives in the awaiting frame, is queued on suspension, and the rest (taking the lock,
// passing a wake-up on when cancelled) happens in await_resume, which each primitive's
// awaiter defines with await_ready.
template <class Primitive>
class queued_acquire : public awaiter_tag {
public:
    explicit queued_acquire(Primitive& p) noexcept : p_(&p) {}
    // A copy is not queued (only the awaiter that suspends queues itself).
    queued_acquire(const queued_acquire& o) noexcept : awaiter_tag(o), p_(o.p_) {}
    queued_acquire& operator=(const queued_acquire&) = delete;

    void await_suspend(co::coroutine_handle<> h) {
        w_.wait().await_suspend(h);  // throws outside a task, before anything is queued
        w_.enqueue(p_->waiters_);
    }

protected:
    Primitive* p_;
    waiter w_;
    bool taken_ = false;  // taken in await_ready
};

class lock_awaiter : public queued_acquire<lock> {
public:
    using queued_acquire<lock>::queued_acquire;
    bool await_ready() noexcept;
    void await_resume();
};

class semaphore_awaiter : public queued_acquire<semaphore> {
public:
    using queued_acquire<semaphore>::queued_acquire;
    bool await_ready() noexcept;
    void await_resume();
};
}  // namespace detail

// What lock::acquire(), semaphore::acquire() and condition::wait() return: `co_await` it
// (no frame), or pass it wherever a coro<void> goes (create_task, wait_for, gather...; it
// converts to one).
template <class Primitive, class Awaiter>
class [[nodiscard]] acquire_op {
public:
    using coro_type = coro<void>;
    explicit acquire_op(Primitive& p) noexcept : p_(&p) {}
    Awaiter awaiter() const noexcept { return Awaiter(*p_); }
    coro<void> as_coro() && { return run(*p_); }
    operator coro<void>() && { return std::move(*this).as_coro(); }

private:
    static coro<void> run(Primitive& p) { co_await Awaiter(p); }
    Primitive* p_;
};
using lock_acquire = acquire_op<lock, detail::lock_awaiter>;
using semaphore_acquire = acquire_op<semaphore, detail::semaphore_awaiter>;

// A mutual-exclusion lock; FIFO: a later acquirer never overtakes a waiter.
class lock {
public:
    lock() = default;
    lock(const lock&) = delete;
    lock& operator=(const lock&) = delete;

    lock_acquire acquire() noexcept { return lock_acquire(*this); }
    // std::runtime_error("Lock is not acquired.") when not locked.
    void release();
    bool locked() const noexcept { return locked_; }
    coro<scoped_hold<lock>> scoped();

private:
    friend class detail::queued_acquire<lock>;
    friend class detail::lock_awaiter;
    friend class detail::condition_awaiter;
    void wake_first();
    detail::waiter_list waiters_;
    bool locked_ = false;
};

class event;

namespace detail {
// co_await ev.wait(): the waiter lives in the awaiting frame and is queued on suspension.
class event_awaiter : public awaiter_tag {
public:
    explicit event_awaiter(event& ev) noexcept : ev_(&ev) {}
    // A copy is not queued (only the awaiter that suspends queues itself).
    event_awaiter(const event_awaiter& o) noexcept : ev_(o.ev_) {}
    event_awaiter& operator=(const event_awaiter&) = delete;

    inline bool await_ready() const noexcept;
    inline void await_suspend(co::coroutine_handle<> h);
    void await_resume() { w_.wait().await_resume(); }

private:
    event* ev_;
    waiter w_;
};
}  // namespace detail

// What event::wait() returns. `co_await ev.wait()` waits with no coroutine frame of its
// own; create_task(ev.wait()), gather, wait_for and the like take it as the coroutine it
// stands for.
class [[nodiscard]] event_wait {
public:
    using coro_type = coro<void>;
    explicit event_wait(event& ev) noexcept : ev_(&ev) {}
    detail::event_awaiter awaiter() const noexcept { return detail::event_awaiter(*ev_); }
    coro<void> as_coro() &&;
    operator coro<void>() && { return std::move(*this).as_coro(); }

private:
    event* ev_;
};

class event {
public:
    event() = default;
    event(const event&) = delete;
    event& operator=(const event&) = delete;

    bool is_set() const noexcept { return set_; }
    // Wakes every waiter; later waits return at once until clear().
    void set();
    void clear() noexcept { set_ = false; }
    event_wait wait() noexcept { return event_wait(*this); }

private:
    friend class detail::event_awaiter;
    detail::waiter_list waiters_;
    bool set_ = false;
};

bool detail::event_awaiter::await_ready() const noexcept {
    return ev_->set_;
}
void detail::event_awaiter::await_suspend(co::coroutine_handle<> h) {
    w_.wait().await_suspend(h);  // throws outside a task, before anything is queued
    w_.enqueue(ev_->waiters_);
}

class condition;

namespace detail {
// co_await cv.wait(): no coroutine frame. It releases the lock and queues its waiter on the
// condition; once notified it re-acquires the lock as a recheck just before the task
// resumes (taking it if free, else queueing on the lock). A cancellation is held back
// until the lock is held again (asyncio's `finally: await self.acquire()` loop): the task
// wakes, re-acquires (at the back of the lock's queue), then raises.
class condition_awaiter : public awaiter_tag, private waiter {
public:
    explicit condition_awaiter(condition& c) noexcept : waiter(&on_signal), c_(&c) {}
    condition_awaiter(const condition_awaiter& o) noexcept : awaiter_tag(o), waiter(&on_signal), c_(o.c_) {}
    condition_awaiter& operator=(const condition_awaiter&) = delete;

    // std::runtime_error without the lock.
    bool await_ready() const;
    void await_suspend(co::coroutine_handle<> h);
    void await_resume();

private:
    static bool on_signal(detail::direct_wait* self, detail::direct_wait::signal s) noexcept;
    // Takes the lock if it is free and nobody waits for it; else queues for it.
    bool reacquire() noexcept;
    condition* c_;
    bool in_lock_queue_ = false;   // waiting for the lock (not for a notification)
    bool self_woken_ = false;      // woken by its own cancel handling, not by notify or the lock
    bool holding_cancel_ = false;  // a cancellation waits for the lock to be held again
    bool notified_ = false;
};
}  // namespace detail

using condition_wait = acquire_op<condition, detail::condition_awaiter>;

// A condition variable bound to a lock (its own, or one passed in).
class condition {
public:
    condition() : own_(std::make_unique<lock>()), lock_(own_.get()) {}
    explicit condition(lock& l) : lock_(&l) {}
    condition(const condition&) = delete;
    condition& operator=(const condition&) = delete;

    lock_acquire acquire() noexcept { return lock_->acquire(); }
    void release() { lock_->release(); }
    bool locked() const noexcept { return lock_->locked(); }
    coro<scoped_hold<condition>> scoped();

    // Releases the lock, waits for a notify, re-acquires the lock (even when cancelled,
    // before the cancellation propagates). std::runtime_error without the lock. No frame:
    // see condition_wait.
    condition_wait wait() noexcept { return condition_wait(*this); }
    // Waits (lock held, as wait()) until pred() is truthy and returns its last value, as
    // asyncio does: a count, a pointer or an optional comes back as it was tested.
    template <class Pred>
    coro<std::decay_t<std::invoke_result_t<Pred&>>> wait_for(Pred pred) {
        auto r = pred();
        while (!r) {
            co_await wait();
            r = pred();
        }
        co_return r;
    }
    void notify(std::size_t n = 1);
    void notify_all() { notify(static_cast<std::size_t>(-1)); }

private:
    friend class detail::condition_awaiter;
    std::unique_ptr<lock> own_;
    lock* lock_;
    detail::waiter_list waiters_;
};

class semaphore {
public:
    // std::invalid_argument for a negative value.
    explicit semaphore(long value = 1);
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;
    virtual ~semaphore() = default;

    semaphore_acquire acquire() noexcept { return semaphore_acquire(*this); }
    virtual void release();
    // True when acquire() would have to wait.
    bool locked() const noexcept { return value_ == 0 || waiters_.any_not_cancelled(); }
    long value() const noexcept { return value_; }
    coro<scoped_hold<semaphore>> scoped();

protected:
    bool wake_next();
    detail::waiter_list waiters_;
    long value_;

private:
    friend class detail::queued_acquire<semaphore>;
    friend class detail::semaphore_awaiter;
};

class bounded_semaphore : public semaphore {
public:
    explicit bounded_semaphore(long value = 1) : semaphore(value), bound_(value) {}
    // std::invalid_argument("BoundedSemaphore released too many times") past the bound.
    void release() override;

private:
    long bound_;
};

// Lets `parties` tasks wait until all of them have arrived (asyncio.Barrier).
class barrier {
public:
    // std::invalid_argument for parties < 1.
    explicit barrier(std::size_t parties);
    barrier(const barrier&) = delete;
    barrier& operator=(const barrier&) = delete;

    // Returns this task's arrival index, 0 .. parties-1 (distinct within a cycle).
    // broken_barrier_error if the barrier is or becomes broken.
    coro<std::size_t> wait();
    // Breaks the barrier: current and future waits raise broken_barrier_error.
    coro<void> abort();
    // Back to the empty state; current waiters get broken_barrier_error.
    coro<void> reset();
    std::size_t parties() const noexcept { return parties_; }
    std::size_t n_waiting() const noexcept { return state_ == state::filling ? count_ : 0; }
    bool broken() const noexcept { return state_ == state::broken; }

private:
    enum class state { filling, draining, resetting, broken };
    coro<void> block();
    void release_all();
    condition cond_;
    std::size_t parties_;
    std::size_t count_ = 0;
    state state_ = state::filling;
};

}  // namespace duet
