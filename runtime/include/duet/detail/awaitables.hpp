// Helpers shared by the combinators (gather, shield, wait, timeouts, task_group): what an
// argument is (coroutine, typed future or task), and awaiting a future for its result.
// (A result of any type, or its exception or cancellation, is a duet::outcome<T>.)
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>

#include <duet/coro.hpp>
#include <duet/futures.hpp>
#include <duet/outcome.hpp>

namespace duet {

// A timeout in seconds, or none (Python's `timeout: float | None`). Converts from a number
// of seconds, a std::chrono duration, or std::nullopt (the default: no timeout).
class optional_seconds {
public:
    constexpr optional_seconds() noexcept = default;
    constexpr optional_seconds(std::nullopt_t) noexcept {}
    template <class N>
    requires std::is_arithmetic_v<N>
    constexpr optional_seconds(N seconds) noexcept : v_(static_cast<double>(seconds)) {}
    template <class Rep, class Period>
    constexpr optional_seconds(std::chrono::duration<Rep, Period> d) noexcept
        : v_(std::chrono::duration<double>(d).count()) {}

    constexpr bool has_value() const noexcept { return v_.has_value(); }
    constexpr explicit operator bool() const noexcept { return v_.has_value(); }
    constexpr double operator*() const noexcept { return *v_; }
    constexpr const std::optional<double>& get() const noexcept { return v_; }

private:
    std::optional<double> v_;
};

namespace detail {

// A coroutine argument of any value category (the combinators refuse lvalues with a
// message of their own).
template <class A>
inline constexpr bool is_coro_v = is_coro<std::remove_cvref_t<A>>::value || lazy_awaitable<A>;

// A future<T> or anything derived from it (task<T>); basic_future alone has no type.
template <class A>
concept typed_future = std::is_base_of_v<basic_future, std::remove_cvref_t<A>> && requires {
    typename std::remove_cvref_t<A>::value_type;
};

// What a combinator can take: a coroutine (wrapped in a task) or a typed future/task.
template <class A>
concept awaitable_arg = is_coro_v<A> || typed_future<A>;

template <class A>
struct result_of_arg;
template <class T>
struct result_of_arg<coro<T>> {
    using type = T;
};
template <class A>
requires typed_future<A>
struct result_of_arg<A> {
    using type = typename A::value_type;
};
template <class A>
requires lazy_awaitable<A>
struct result_of_arg<A> {
    using type = typename lazy_coro_t<A>::value_type;
};
template <class A>
using result_of_arg_t = typename result_of_arg<std::remove_cvref_t<A>>::type;

template <class R>
using range_elem_t = std::remove_cvref_t<std::ranges::range_reference_t<R>>;

// The same future seen as a future<void>: awaiting it waits for completion and rethrows
// its exception (or cancellation) without touching the value.
inline future<void> completion_of(const basic_future& f) {
    return future<void>(intrusive_ptr<future_core>(f.core()));
}

// Awaits a future or task and takes its result (see outcome_of).
template <class T>
coro<T> await_future(future<T> f, bool owned) {
    co_await completion_of(f);
    co_return result_from(f, owned);
}

}  // namespace detail
}  // namespace duet
