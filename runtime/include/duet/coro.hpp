// coro<T>: what a duet coroutine function returns (Python's coroutine object). Lazy: it
// runs only when awaited (inline, by symmetric transfer, no trip through the loop) or
// wrapped in a task.
#pragma once

#include <concepts>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <duet/coroutine.hpp>
#include <duet/detail/debug.hpp>
#include <duet/detail/pool.hpp>
#include <duet/futures.hpp>

namespace duet {

template <class T = void>
class coro;

namespace detail {

class task_core;

// The task the running loop is executing, or null.
task_core* current_task_core() noexcept;
// Called by awaiters when their coroutine suspends: the current task will be resumed at
// `h` once `f` is done. Throws (into the coroutine) when there is no current task, when
// the future belongs to another loop, or when a task awaits itself.
task_core* suspend_current_task_on(future_core& f, co::coroutine_handle<> h);
// The current task resumes at `h` on the next loop iteration (asyncio's bare yield).
task_core* suspend_current_task_yield(co::coroutine_handle<> h);
// Throws cancelled_error if the task's wake-up carries a cancellation.
void throw_if_cancel_injected(task_core* t);

// An awaiter that wakes its task itself, with no future in between (a lock's or event's
// waiter, a sleep's timer): the task remembers it while suspended so that cancel() can
// reach it, and tells it through `on_signal`:
// - cancel: stop waiting (unlink, disarm) and return false: the task then wakes with the
//   cancellation. Returning true keeps the task suspended on this wait instead (a
//   condition re-acquiring its lock holds a cancellation back until it has the lock); the
//   wait then wakes the task itself.
// - recheck, recheck_cancelling (only after a wake-up asked for it): the task is about to
//   resume (with a cancellation due, for the second); returning true keeps it suspended
//   on this wait (the awaiter queued itself again). This is asyncio's `while not ready:
//   await waiter` loop (a queue's get and put) without a frame.
struct direct_wait {
    enum class signal : std::uint8_t { cancel, recheck, recheck_cancelling };
    bool (*on_signal)(direct_wait* self, signal s) noexcept;
};
// The current task will be resumed at `h` when `w`'s owner calls wake_direct_waiter(w)
// (or when the task is cancelled). Throws like suspend_current_task_on.
task_core* suspend_current_task_direct(direct_wait* w, co::coroutine_handle<> h);
// Wakes `t` (one ready-queue hop) if it is still suspended on `w`. With `recheck`, `w` is
// asked (signal::recheck) when the task is about to run, unless a cancellation is due.
void wake_direct_waiter(task_core* t, direct_wait* w, bool recheck = false) noexcept;

// The coroutine the running task's trampoline resumes next. Awaiting a coro (and a coro
// finishing) hands control over through this slot instead of a nested resume(): symmetric
// transfer only keeps the stack flat where the compiler emits a tail call, which g++ does
// not at -O0 and wasm (no tail calls in Emscripten 3.1.6) cannot.
inline thread_local co::coroutine_handle<> next_to_resume;

// Resumes `h`, then whatever it hands over to, until nothing is handed over.
inline void resume_trampoline(co::coroutine_handle<> h) {
    h.resume();
    while (auto n = next_to_resume) {
        next_to_resume = nullptr;
        n.resume();
    }
}

// Marks a type as a duet awaitable that cooperates with tasks (it suspends only through
// suspend_current_task_*), so coroutines may co_await it.
struct awaiter_tag {};

template <class A>
concept duet_awaiter = std::is_base_of_v<awaiter_tag, std::remove_cvref_t<A>>;

// A frameless awaitable (sleep(), event::wait()) that also stands for a coroutine: a
// coroutine co_awaits its awaiter() directly, with no frame of its own; everything that
// takes a coro<T> (create_task, gather, wait_for, shield, timeout, run_until_complete,
// run) takes it too, through as_coro(). Its coro_type names that coroutine. It is kept
// pointer-sized and the awaiter holds the state: the frame stores both.
template <class A>
concept lazy_awaitable = requires(std::remove_cvref_t<A>&& a, const std::remove_cvref_t<A>& c) {
    typename std::remove_cvref_t<A>::coro_type;
    { std::move(a).as_coro() } -> std::same_as<typename std::remove_cvref_t<A>::coro_type>;
    { c.awaiter() } -> duet_awaiter;
};
template <class A>
using lazy_coro_t = typename std::remove_cvref_t<A>::coro_type;

template <class T>
class future_awaiter : public awaiter_tag {
public:
    explicit future_awaiter(future<T> f) noexcept : f_(std::move(f)) {}
    bool await_ready() const noexcept { return f_.done(); }
    void await_suspend(co::coroutine_handle<> h) { task_ = suspend_current_task_on(*f_.core(), h); }
    T await_resume() {
        if (task_) throw_if_cancel_injected(task_);
        if constexpr (std::is_void_v<T> || std::is_reference_v<T> || !copyable_result_v<T>)
            return f_.take_result();
        else
            return f_.result();
    }

private:
    future<T> f_;
    task_core* task_ = nullptr;
};

struct yield_awaiter : awaiter_tag {
    task_core* task_ = nullptr;
    bool await_ready() const noexcept { return false; }
    void await_suspend(co::coroutine_handle<> h) { task_ = suspend_current_task_yield(h); }
    void await_resume() const { throw_if_cancel_injected(task_); }
};

struct coro_promise_base {
    co::coroutine_handle<> continuation_;
    std::exception_ptr exception_;

    coro_promise_base(const char* fn, const char* file, int line) {
        if (debug_tracking()) record_site(this, {fn, file, line});
    }
    ~coro_promise_base() {
        if (debug_tracking()) forget_site(this, nullptr);
    }
    coro_promise_base(const coro_promise_base&) = delete;
    coro_promise_base& operator=(const coro_promise_base&) = delete;

    // Stateless, so it takes no room in the frame: debug mode marks a coroutine started
    // when it is awaited instead (coro::await_suspend).
    co::suspend_always initial_suspend() const noexcept { return {}; }
    struct final_awaiter {
        bool await_ready() const noexcept { return false; }
        template <class P>
        void await_suspend(co::coroutine_handle<P> h) const noexcept {
            next_to_resume = h.promise().continuation_;
        }
        void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { exception_ = std::current_exception(); }

    static void* operator new(std::size_t n) { return allocate_frame(n); }
    static void operator delete(void* p, std::size_t n) noexcept { deallocate_frame(p, n); }

    // What a duet coroutine may co_await: coroutines, futures and tasks, and duet's own
    // awaiters. Anything else could suspend without telling the task, which would then
    // never be resumed, so it is refused at compile time.
    template <class U>
    decltype(auto) await_transform(coro<U>&& c) noexcept {
        return std::move(c);
    }
    template <class U>
    decltype(auto) await_transform(coro<U>& c) noexcept {
        return std::move(c);
    }
    template <class F>
    requires std::is_base_of_v<basic_future, std::remove_cvref_t<F>>
    auto await_transform(F&& f) {
        using T = typename std::remove_cvref_t<F>::value_type;
        if constexpr (std::is_convertible_v<F&&, future<T>>) {
            return future_awaiter<T>(future<T>(f));
        } else {
            // An untyped task (basic_task, what current_task() and all_tasks() return):
            // waits for it and rethrows its exception or cancellation.
            if (!f.core()) throw std::invalid_argument("co_await: not a duet task (null, or a third-party task)");
            return future_awaiter<void>(future<void>(intrusive_ptr<future_core>(f.core())));
        }
    }
    // A frameless awaitable: its awaiter, made in the awaiting frame.
    template <lazy_awaitable A>
    auto await_transform(A&& a) noexcept(noexcept(a.awaiter())) {
        return a.awaiter();
    }
    // By value: g++ 12 copies an awaiter returned by reference into the frame, so
    // returning a reference would cost the frame both copies.
    template <duet_awaiter A>
    std::remove_cvref_t<A> await_transform(A&& a) noexcept(
        std::is_nothrow_constructible_v<std::remove_cvref_t<A>, A&&>) {
        return std::forward<A>(a);
    }
};

// Where a coroutine's return value waits until its awaiter or task takes it (its
// exception is the promise's exception_, set by the untyped unhandled_exception).
template <class T>
struct return_slot {
    std::optional<T> value;
};
template <class T>
struct return_slot<T&> {
    T* value = nullptr;
};
template <>
struct return_slot<void> {};

// The default arguments of the promise constructors are evaluated in the coroutine
// function itself, so they name it and where it is defined (for debug mode).
#define DUET_PROMISE_SITE \
    const char *fn = __builtin_FUNCTION(), const char *file = __builtin_FILE(), int line = __builtin_LINE()

template <class T>
struct coro_promise : coro_promise_base {
    explicit coro_promise(DUET_PROMISE_SITE) : coro_promise_base(fn, file, line) {}
    return_slot<T> result;
    coro<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& v) {
        if constexpr (std::is_reference_v<T>)
            result.value = &v;
        else
            result.value.emplace(std::forward<U>(v));
    }
};
template <>
struct coro_promise<void> : coro_promise_base {
    explicit coro_promise(DUET_PROMISE_SITE) : coro_promise_base(fn, file, line) {}
    [[no_unique_address]] return_slot<void> result;  // empty: no room in the frame
    coro<void> get_return_object() noexcept;
    void return_void() noexcept {}
};
#undef DUET_PROMISE_SITE

}  // namespace detail

template <class T>
class [[nodiscard]] coro {
public:
    using promise_type = detail::coro_promise<T>;
    using handle_type = co::coroutine_handle<promise_type>;
    using value_type = T;

    coro() noexcept = default;
    explicit coro(handle_type h) noexcept : h_(h) {}
    coro(coro&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    coro& operator=(coro&& o) noexcept {
        if (this != &o) {
            if (h_) destroy_frame();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    ~coro() {
        if (h_) destroy_frame();
    }

    explicit operator bool() const noexcept { return static_cast<bool>(h_); }
    // Gives the frame to a new owner (a task).
    handle_type release() noexcept { return std::exchange(h_, {}); }

    // `co_await c` runs the coroutine inline (through the task's trampoline, never the
    // loop) and returns its result.
    bool await_ready() const {
        if (!h_ || h_.done()) throw std::runtime_error("cannot reuse already awaited coroutine");
        return false;
    }
    void await_suspend(co::coroutine_handle<> parent) noexcept {
        if (detail::debug_tracking())
            detail::mark_started(static_cast<const detail::coro_promise_base*>(&h_.promise()));
        h_.promise().continuation_ = parent;
        detail::next_to_resume = h_;
    }
    T await_resume() {
        auto& p = h_.promise();
        if (p.exception_) std::rethrow_exception(p.exception_);
        if constexpr (std::is_reference_v<T>)
            return static_cast<T>(*p.result.value);
        else if constexpr (!std::is_void_v<T>)
            return std::move(*p.result.value);
    }

private:
    void destroy_frame() noexcept {
        if (detail::debug_tracking()) {
            detail::source_site site{};
            const void* key = static_cast<const detail::coro_promise_base*>(&h_.promise());
            if (detail::forget_site(key, &site)) detail::report_never_awaited(site);
        }
        h_.destroy();
    }
    handle_type h_;
};

// What every entry point that starts a coroutine takes (create_task, run,
// run_until_complete, timeout(..).run, task groups, run_coroutine_threadsafe): a coro<T>,
// or a frameless awaitable standing for one (sleep(), event::wait()), as an rvalue.
namespace detail {
template <class T>
struct is_coro : std::false_type {};
template <class T>
struct is_coro<coro<T>> : std::true_type {};
}  // namespace detail
template <class C>
concept coroutine_arg =
    !std::is_lvalue_reference_v<C> && (detail::is_coro<std::remove_cvref_t<C>>::value || detail::lazy_awaitable<C>);

namespace detail {
// The coro<T> a coroutine argument stands for.
template <class C>
decltype(auto) to_coro(C&& c) {
    if constexpr (lazy_awaitable<C>)
        return std::forward<C>(c).as_coro();
    else
        return std::forward<C>(c);
}
template <class C>
using coro_of_t = std::remove_cvref_t<decltype(to_coro(std::declval<C>()))>;
}  // namespace detail
// The result type of a coroutine argument.
template <class C>
using coroutine_result_t = typename detail::coro_of_t<C>::value_type;

// Where a call was made: a defaulted `call_site site = {}` parameter records its caller's
// file and line (the defaults of this constructor are evaluated there), so an entry point
// captures it once and passes it on. (No `<source_location>`: Emscripten's libc++ 13 lacks it.)
struct call_site {
    const char* file;
    int line;
    constexpr call_site(const char* f = __builtin_FILE(), int l = __builtin_LINE()) noexcept : file(f), line(l) {}
};

template <class T>
coro<T> detail::coro_promise<T>::get_return_object() noexcept {
    return coro<T>(coro<T>::handle_type::from_promise(*this));
}
inline coro<void> detail::coro_promise<void>::get_return_object() noexcept {
    return coro<void>(coro<void>::handle_type::from_promise(*this));
}

}  // namespace duet
