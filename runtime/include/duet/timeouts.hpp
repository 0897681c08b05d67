// asyncio.timeout / asyncio.timeout_at / asyncio.Timeout.
//
// C++ has no `async with`, so a scope is entered and left by run(), which awaits the body
// inside it; the scope cannot be left open by mistake:
//
//     // async with asyncio.timeout(1.5): r = await fetch()
//     int r = co_await duet::timeout(1.5).run(fetch());
//
//     // a body that looks at or moves its own deadline
//     int r = co_await duet::with_timeout(10, [&](duet::timeout_scope& t) -> duet::coro<int> {
//         int first = co_await fetch();
//         t.reschedule(*t.when() + 5);            // give the rest more time
//         co_return first + co_await fetch();
//     });
//
//     // keep the scope to ask expired() afterwards
//     auto t = duet::timeout_at(loop.time() + 2);
//     try { co_await t.run(work()); } catch (const duet::timeout_error&) { assert(t.expired()); }
//
// When the deadline passes, the task running the body is cancelled; the body unwinds (its
// cleanup runs) and the cancellation becomes duet::timeout_error at the scope, carrying
// the cancellation as its std::nested_exception (Python's __cause__: std::rethrow_if_nested
// on the timeout_error rethrows the cancelled_error). A scope converts only the cancellation it caused (it compares the
// task's cancelling() count, as asyncio.Timeout does): with nested scopes expiring together only the outer one raises
// timeout_error, and a cancellation from outside stays a cancelled_error. A body that
// swallows the cancellation ends the scope normally (expired() is still true).
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <duet/detail/awaitables.hpp>
#include <duet/events.hpp>
#include <duet/exceptions.hpp>

namespace duet {

namespace detail {
template <class F, class S>
decltype(auto) invoke_body(F& f, S& scope) {
    if constexpr (std::is_invocable_v<F&, S&>)
        return f(scope);
    else
        return f();
}
template <class F, class S>
using body_coro_t = std::remove_cvref_t<decltype(invoke_body(std::declval<F&>(), std::declval<S&>()))>;
template <class F, class S>
using body_result_t = typename body_coro_t<F, S>::value_type;
}  // namespace detail

class timeout_scope {
public:
    // asyncio's _State, with its names: created, active, expiring, expired, finished.
    enum class state : std::uint8_t { created, entered, expiring, expired, exited };

    // A scope with an absolute deadline in loop time (nullopt: none).
    explicit timeout_scope(std::optional<double> when) noexcept : when_(when) {}
    timeout_scope(const timeout_scope&) = delete;
    timeout_scope& operator=(const timeout_scope&) = delete;
    ~timeout_scope();

    // The deadline (loop time), or nullopt.
    std::optional<double> when() const noexcept { return when_; }
    // Moves the deadline (nullopt: none; a time already past expires on the next loop
    // iteration). Only inside the scope: std::runtime_error "Timeout has not been
    // entered" before, "Cannot change state of <expiring|expired|finished> Timeout" after.
    void reschedule(std::optional<double> when);
    // True once the deadline has passed while the scope was active.
    bool expired() const noexcept { return state_ == state::expiring || state_ == state::expired; }
    state get_state() const noexcept { return state_; }
    // "created", "active", "expiring", "expired" or "finished".
    static const char* state_name(state s) noexcept;

    // Runs `body` inline inside the scope and returns its result. std::runtime_error if
    // the scope was already entered ("Timeout has already been entered") or when not
    // called from a task. On an rvalue scope (`co_await timeout(1).run(body())`) the
    // returned coroutine takes the scope along, so it may be stored and awaited later.
    // The body is a coroutine argument: a coro<T>, or a frameless awaitable such as
    // `ev.wait()` or `sleep(1)`.
    template <coroutine_arg C>
    coro<coroutine_result_t<C>> run(C&& body) & {
        return run_body(detail::to_coro(std::forward<C>(body)));
    }
    template <coroutine_arg C>
    coro<coroutine_result_t<C>> run(C&& body) && {
        check_movable();
        return run_owned(std::move(*this), detail::to_coro(std::forward<C>(body)));
    }
    // The same for a future or task: `co_await timeout(5).run(gather(a(), b()))`.
    template <class T>
    coro<T> run(future<T> f) & {
        return run(detail::await_future(std::move(f), false));
    }
    template <class T>
    coro<T> run(future<T> f) && {
        check_movable();
        return run_owned(std::move(*this), detail::await_future(std::move(f), false));
    }
    // The same with a callable returning the body: f(scope) or f(). The callable is kept
    // alive until the body ends, so a capturing lambda temporary is fine here.
    template <class F>
    requires std::is_invocable_v<F&, timeout_scope&> || std::is_invocable_v<F&>
    auto run(F f) &;
    template <class F>
    requires std::is_invocable_v<F&, timeout_scope&> || std::is_invocable_v<F&>
    auto run(F f) &&;

private:
    // Only a scope that was never entered moves (into the coroutine of run() &&).
    timeout_scope(timeout_scope&& o) noexcept : when_(o.when_) {}
    void check_movable() const;
    template <class T>
    static coro<T> run_owned(timeout_scope self, coro<T> body) {
        co_return co_await self.run(std::move(body));
    }
    template <class F>
    static coro<detail::body_result_t<F, timeout_scope>> run_owned_callable(timeout_scope self, F f) {
        co_return co_await self.run(std::move(f));
    }

    template <class T>
    coro<T> run_body(coro<T> body);
    void enter();
    // Leaves the scope. Returns the exception to propagate: timeout_error in place of
    // the cancellation this scope caused, else `body_error` unchanged.
    std::exception_ptr exit(std::exception_ptr body_error) noexcept;
    void on_timeout() noexcept;

    std::optional<double> when_;
    basic_task task_;
    handle handle_;
    int cancelling_ = 0;
    state state_ = state::created;
};

// A scope whose deadline is `delay` seconds from now (std::nullopt: no deadline). Needs a
// running loop (its time is read now).
timeout_scope timeout(optional_seconds delay);
// A scope with an absolute deadline in loop time (std::nullopt: no deadline).
timeout_scope timeout_at(std::optional<double> when);

// `co_await with_timeout(d, f)`: runs the coroutine f(scope) (or f()) inside
// timeout(d); timeout_error if the deadline passes first.
template <class F>
auto with_timeout(optional_seconds delay, F f);
// The same with an absolute deadline.
template <class F>
auto with_timeout_at(std::optional<double> when, F f);

// ---- implementation

template <class T>
coro<T> timeout_scope::run_body(coro<T> body) {
    enter();
    std::exception_ptr error;
    outcome<T> result;
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(body);
            result.set_value();
        } else {
            result.set_value(co_await std::move(body));
        }
    } catch (...) {
        error = std::current_exception();
    }
    if (auto e = exit(std::move(error))) std::rethrow_exception(e);
    co_return result.take();
}

namespace detail {

std::optional<double> deadline_from_now(optional_seconds delay);
// A timeout_error carrying `cause` (the cancellation that expired the deadline) as its
// std::nested_exception: std::rethrow_if_nested on it rethrows the cancelled_error.
std::exception_ptr timeout_caused_by(const std::exception_ptr& cause) noexcept;

template <class F>
coro<body_result_t<F, timeout_scope>> run_callable_in(timeout_scope& scope, F f) {
    co_return co_await scope.run(invoke_body(f, scope));
}
template <class F>
coro<body_result_t<F, timeout_scope>> run_with_deadline(std::optional<double> when, F f) {
    timeout_scope scope(when);
    co_return co_await scope.run(invoke_body(f, scope));
}
template <class F>
coro<body_result_t<F, timeout_scope>> run_with_delay(optional_seconds delay, F f) {
    // The deadline is read when the coroutine starts, i.e. when it is awaited.
    timeout_scope scope(deadline_from_now(delay));
    co_return co_await scope.run(invoke_body(f, scope));
}
template <class F>
constexpr void check_body_callable() {
    static_assert(is_coro_v<body_coro_t<F, timeout_scope>>, "the callable must return a duet::coro<T>");
}
}  // namespace detail

template <class F>
requires std::is_invocable_v<F&, timeout_scope&> || std::is_invocable_v<F&>
auto timeout_scope::run(F f) & {
    detail::check_body_callable<F>();
    return detail::run_callable_in(*this, std::move(f));
}

template <class F>
requires std::is_invocable_v<F&, timeout_scope&> || std::is_invocable_v<F&>
auto timeout_scope::run(F f) && {
    detail::check_body_callable<F>();
    check_movable();
    return run_owned_callable(std::move(*this), std::move(f));
}

template <class F>
auto with_timeout_at(std::optional<double> when, F f) {
    detail::check_body_callable<F>();
    return detail::run_with_deadline(when, std::move(f));
}

template <class F>
auto with_timeout(optional_seconds delay, F f) {
    detail::check_body_callable<F>();
    return detail::run_with_delay(delay, std::move(f));
}

}  // namespace duet
