// Handles returned by call_soon / call_later (asyncio.Handle, asyncio.TimerHandle).
#pragma once

#include <atomic>
#include <compare>
#include <cstdint>
#include <exception>

#include <duet/contextvars.hpp>
#include <duet/detail/intrusive.hpp>
#include <duet/detail/small_callable.hpp>

namespace duet {

class base_event_loop;

// The callable a loop runs; small lambdas are stored inline.
using callback = detail::small_callable<void(), 40>;

namespace detail {

// One scheduled callback. Pooled; reference counted (atomically only for handles that
// crossed threads through call_soon_threadsafe).
class handle_node {
public:
    // The callable is constructed in place (a callback, or any callable that converts).
    // The callback will run in a copy of the context current here (asyncio's Handle): it
    // sees the values set by whoever scheduled it, and what it sets stays its own.
    template <class F>
    handle_node(base_event_loop* loop, F&& fn, bool threadsafe)
        : loop_(loop), fn_(std::forward<F>(fn)), ctx_(capture_context()), threadsafe_(threadsafe) {}

    void add_ref() noexcept {
        if (threadsafe_)
            __atomic_fetch_add(&refs_, 1, __ATOMIC_RELAXED);
        else
            ++refs_;
    }
    void release() noexcept {
        if (threadsafe_ ? __atomic_sub_fetch(&refs_, 1, __ATOMIC_ACQ_REL) == 0 : --refs_ == 0) delete this;
    }

    bool cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }
    void cancel() noexcept;
    // Runs the callback unless cancelled; exceptions go to the loop's exception handler
    // (a base-tier one stops the loop and leaves its run: see exceptions.hpp).
    void run();

    static void* operator new(std::size_t);
    static void operator delete(void*) noexcept;

private:
    [[gnu::noinline, gnu::cold]] void failed(std::exception_ptr e) noexcept;
    void invoke() noexcept;

public:
    base_event_loop* loop_;
    callback fn_;
    // Null until something is set in it (or the scheduler's context had values).
    context_slot ctx_;
    double when_ = 0;
    std::uint32_t refs_ = 1;
    std::atomic<bool> cancelled_{false};
    bool threadsafe_;
    bool is_timer_ = false;
    bool in_heap_ = false;
    std::uint32_t seq_ = 0;  // a timer's scheduling order (see timer_heap)
};

}  // namespace detail

class handle {
public:
    handle() = default;
    explicit handle(detail::intrusive_ptr<detail::handle_node> n) noexcept : n_(std::move(n)) {}
    // Cancels the callback; a no-op if it already ran or was cancelled.
    void cancel() noexcept {
        if (n_) n_->cancel();
    }
    bool cancelled() const noexcept { return n_ && n_->cancelled(); }
    explicit operator bool() const noexcept { return static_cast<bool>(n_); }
    friend bool operator==(const handle& a, const handle& b) noexcept { return a.n_ == b.n_; }

protected:
    detail::intrusive_ptr<detail::handle_node> n_;
};

class timer_handle : public handle {
public:
    using handle::handle;
    // The absolute loop time the callback is scheduled for.
    double when() const noexcept { return n_ ? n_->when_ : 0.0; }
    // Ordered by when(), as asyncio's TimerHandle (<, <=, >, >=); == stays identity (the
    // same scheduled callback), so two timers with equal deadlines are equivalent, not equal.
    friend std::partial_ordering operator<=>(const timer_handle& a, const timer_handle& b) noexcept {
        return a.when() <=> b.when();
    }
};

}  // namespace duet
