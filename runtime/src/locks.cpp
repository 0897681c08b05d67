#include <duet/locks.hpp>

namespace duet {

namespace detail {

waiter_list::iterator waiter_list::add() {
    waiters_.push_back(get_running_loop().create_future<void>());
    return std::prev(waiters_.end());
}

bool waiter_list::wake_first() {
    for (auto& f : waiters_) {
        if (!f.done()) {
            f.set_result();
            return true;
        }
    }
    return false;
}

std::size_t waiter_list::wake(std::size_t n) {
    std::size_t woken = 0;
    for (auto& f : waiters_) {
        if (woken >= n) break;
        if (!f.done()) {
            f.set_result();
            ++woken;
        }
    }
    return woken;
}

bool waiter_list::any_not_cancelled() const noexcept {
    for (auto& f : waiters_)
        if (!f.cancelled()) return true;
    return false;
}

}  // namespace detail

// ---- lock

coro<void> lock::acquire() {
    // Free and nobody queued (ignoring cancelled waiters): take it without suspending.
    if (!locked_ && !waiters_.any_not_cancelled()) {
        locked_ = true;
        co_return;
    }
    auto it = waiters_.add();
    auto fut = *it;
    try {
        co_await fut;
    } catch (const cancelled_error&) {
        waiters_.remove(it);
        // We may have been woken and then cancelled: pass the wake-up on.
        if (!locked_) wake_first();
        throw;
    }
    waiters_.remove(it);
    locked_ = true;
}

void lock::release() {
    if (!locked_) throw std::runtime_error("Lock is not acquired.");
    locked_ = false;
    wake_first();
}

void lock::wake_first() {
    if (!waiters_.empty()) {
        auto& f = waiters_.items().front();
        if (!f.done()) f.set_result();
    }
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

coro<void> event::wait() {
    if (set_) co_return;
    auto it = waiters_.add();
    auto fut = *it;
    try {
        co_await fut;
    } catch (...) {
        waiters_.remove(it);
        throw;
    }
    waiters_.remove(it);
}

// ---- condition

coro<scoped_hold<condition>> condition::scoped() {
    co_await acquire();
    co_return scoped_hold<condition>(*this);
}

coro<void> condition::wait() {
    if (!locked()) throw std::runtime_error("cannot wait on un-acquired lock");
    release();
    std::exception_ptr failure;
    auto it = waiters_.add();
    auto fut = *it;
    try {
        co_await fut;
    } catch (...) {
        failure = std::current_exception();
    }
    bool was_notified = fut.done() && !fut.cancelled();
    waiters_.remove(it);
    // Re-acquire before anything propagates, even if cancelled meanwhile.
    for (;;) {
        try {
            co_await lock_->acquire();
            break;
        } catch (const cancelled_error&) {
            failure = std::current_exception();
        }
    }
    if (failure) {
        // Notified and then cancelled: the notification goes to another waiter.
        if (was_notified) notify(1);
        std::rethrow_exception(failure);
    }
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
    for (auto& f : waiters_.items()) {
        if (!f.done()) {
            --value_;
            f.set_result();
            return true;
        }
    }
    return false;
}

coro<void> semaphore::acquire() {
    if (!locked()) {
        --value_;
        co_return;
    }
    auto it = waiters_.add();
    auto fut = *it;
    std::exception_ptr failure;
    try {
        co_await fut;
    } catch (const cancelled_error&) {
        failure = std::current_exception();
    }
    waiters_.remove(it);
    // Woken (and counted) but cancelled before running: give the slot back.
    if (failure && fut.done() && !fut.cancelled()) ++value_;
    // Waiters that arrived meanwhile may fit now.
    while (value_ > 0 && wake_next()) {
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
