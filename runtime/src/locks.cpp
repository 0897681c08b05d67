#include <utility>

#include <duet/locks.hpp>

namespace duet {

namespace detail {

bool waiter_list::wake_first() noexcept {
    return wake(1) == 1;
}

std::size_t waiter_list::wake(std::size_t n) noexcept {
    std::size_t woken = 0;
    for (waiter_link* l = head_.next; l != &head_ && woken < n; l = l->next) {
        waiter* w = waiter::from(l);
        if (!w->done()) {
            w->set_result();
            ++woken;
        }
    }
    return woken;
}

bool waiter_list::any_not_cancelled() const noexcept {
    for (const waiter_link* l = head_.next; l != &head_; l = l->next)
        if (!waiter::from(const_cast<waiter_link*>(l))->cancelled()) return true;
    return false;
}

}  // namespace detail

// ---- lock

bool detail::lock_awaiter::await_ready() noexcept {
    // Free and nobody queued (ignoring cancelled waiters): take it without suspending.
    if (!p_->locked_ && !p_->waiters_.any_not_cancelled()) {
        p_->locked_ = true;
        taken_ = true;
    }
    return taken_;
}

void detail::lock_awaiter::await_resume() {
    if (taken_) return;
    try {
        w_.wait().await_resume();
    } catch (const cancelled_error&) {
        w_.unlink();
        // We may have been woken and then cancelled: pass the wake-up on.
        if (!p_->locked_) p_->wake_first();
        throw;
    }
    w_.unlink();
    p_->locked_ = true;
}

void lock::release() {
    if (!locked_) throw std::runtime_error("Lock is not acquired.");
    locked_ = false;
    wake_first();
}

void lock::wake_first() {
    if (auto* w = waiters_.front()) w->set_result();
}

coro<scoped_hold<lock>> lock::scoped() {
    co_await acquire();
    co_return scoped_hold<lock>(*this);
}

// ---- event

void event::set() {
    if (set_) return;
    set_ = true;
    waiters_.wake(static_cast<std::size_t>(-1));
}

namespace {
coro<void> wait_for_event(event& ev) {
    co_await detail::event_awaiter(ev);
}
}  // namespace

coro<void> event_wait::as_coro() && {
    return wait_for_event(*ev_);
}

// ---- condition

coro<scoped_hold<condition>> condition::scoped() {
    co_await acquire();
    co_return scoped_hold<condition>(*this);
}

bool detail::condition_awaiter::await_ready() const {
    if (!c_->locked()) throw std::runtime_error("cannot wait on un-acquired lock");
    return false;
}

void detail::condition_awaiter::await_suspend(co::coroutine_handle<> h) {
    wait().await_suspend(h);  // throws outside a task, before anything is released or queued
    c_->release();
    enqueue(c_->waiters_);
}

bool detail::condition_awaiter::reacquire() noexcept {
    lock& l = *c_->lock_;
    unlink();
    if (!l.locked_ && !l.waiters_.any_not_cancelled()) {
        l.locked_ = true;
        in_lock_queue_ = false;
        return false;
    }
    in_lock_queue_ = true;
    rewait(l.waiters_);
    return true;
}

bool detail::condition_awaiter::on_signal(detail::direct_wait* self, detail::direct_wait::signal s) noexcept {
    auto* a = static_cast<condition_awaiter*>(waiter::of(self));
    if (s == detail::direct_wait::signal::cancel) {
        // Keep the task: it wakes (one hop, as asyncio's task does to handle the
        // cancellation), then re-acquires the lock before the cancellation propagates.
        a->self_woken_ = true;
        a->wake_self();
        return true;
    }
    const bool cancelling = s == detail::direct_wait::signal::recheck_cancelling;
    if (std::exchange(a->self_woken_, false)) {
        a->holding_cancel_ = true;
        return a->reacquire();
    }
    if (!a->in_lock_queue_) {
        a->notified_ = true;
        if (cancelling) a->holding_cancel_ = true;
        return a->reacquire();
    }
    // The lock's release woke it: the lock is its, unless a cancellation came in between
    // (none held back before): then, as asyncio's acquire(), it passes the wake-up on and
    // tries again, at the back.
    lock& l = *a->c_->lock_;
    a->unlink();
    if (!cancelling || a->holding_cancel_) {
        a->in_lock_queue_ = false;
        l.locked_ = true;
        return false;
    }
    a->holding_cancel_ = true;
    if (!l.locked_) l.wake_first();
    return a->reacquire();
}

void detail::condition_awaiter::await_resume() {
    // The lock is held again here.
    try {
        wait().await_resume();
    } catch (...) {
        unlink();
        // Notified and then cancelled: the notification goes to another waiter.
        if (notified_) c_->notify(1);
        throw;
    }
    unlink();
}

void condition::notify(std::size_t n) {
    if (!locked()) throw std::runtime_error("cannot notify on un-acquired lock");
    waiters_.wake(n);
}

// ---- semaphore

semaphore::semaphore(long value) : value_(value) {
    if (value < 0) throw std::invalid_argument("Semaphore initial value must be >= 0");
}

bool semaphore::wake_next() {
    if (!waiters_.wake_first()) return false;
    --value_;
    return true;
}

bool detail::semaphore_awaiter::await_ready() noexcept {
    if (!p_->locked()) {
        --p_->value_;
        taken_ = true;
    }
    return taken_;
}

void detail::semaphore_awaiter::await_resume() {
    if (taken_) return;
    std::exception_ptr failure;
    try {
        w_.wait().await_resume();
    } catch (const cancelled_error&) {
        failure = std::current_exception();
    }
    const bool woken = w_.done() && !w_.cancelled();
    w_.unlink();
    // Woken (and counted) but cancelled before running: give the slot back.
    if (failure && woken) ++p_->value_;
    // Waiters that arrived meanwhile may fit now.
    while (p_->value_ > 0 && p_->wake_next()) {
    }
    if (failure) std::rethrow_exception(failure);
}

void semaphore::release() {
    ++value_;
    wake_next();
}

coro<scoped_hold<semaphore>> semaphore::scoped() {
    co_await acquire();
    co_return scoped_hold<semaphore>(*this);
}

void bounded_semaphore::release() {
    if (value_ >= bound_) throw std::invalid_argument("BoundedSemaphore released too many times");
    semaphore::release();
}

// ---- barrier

barrier::barrier(std::size_t parties) : parties_(parties) {
    if (parties < 1) throw std::invalid_argument("parties must be > 0");
}

coro<std::size_t> barrier::wait() {
    auto held = co_await cond_.scoped();
    co_await block();  // wait while the previous cycle drains or resets
    std::size_t index = count_++;
    try {
        if (index + 1 == parties_) {
            release_all();
        } else {
            while (state_ == state::filling) co_await cond_.wait();
            if (state_ == state::broken || state_ == state::resetting) throw broken_barrier_error();
        }
    } catch (...) {
        --count_;
        if (count_ == 0 && state_ == state::resetting) state_ = state::filling;
        if (count_ == 0 && state_ == state::draining) state_ = state::filling;
        cond_.notify_all();
        throw;
    }
    --count_;
    // The last one out of the draining barrier refills it.
    if (count_ == 0 && (state_ == state::draining || state_ == state::resetting)) state_ = state::filling;
    cond_.notify_all();
    co_return index;
}

coro<void> barrier::block() {
    while (state_ == state::draining || state_ == state::resetting) co_await cond_.wait();
    if (state_ == state::broken) throw broken_barrier_error();
}

void barrier::release_all() {
    state_ = state::draining;
    cond_.notify_all();
}

coro<void> barrier::abort() {
    auto held = co_await cond_.scoped();
    state_ = state::broken;
    cond_.notify_all();
}

coro<void> barrier::reset() {
    auto held = co_await cond_.scoped();
    if (count_ > 0) {
        if (state_ != state::resetting) state_ = state::resetting;
    } else {
        state_ = state::filling;
    }
    cond_.notify_all();
}

}  // namespace duet
