// asyncio.wait, asyncio.wait_for and asyncio.as_completed.
//
//     // wait: (done, pending), nothing cancelled, the inputs returned as they are
//     auto [done, pending] = co_await duet::wait(tasks, duet::return_when::first_completed, 5.0);
//
//     // wait_for: the result, or timeout_error once the inner has been cancelled and has
//     // finished unwinding
//     int r = co_await duet::wait_for(fetch(), 1.5);
//
//     // as_completed: results in completion order
//     auto ac = duet::as_completed(std::move(coros_or_tasks), 10.0);
//     while (auto f = co_await ac.next()) {    // nullopt once every one was handed out
//         use(f->result());                    // f is done: result() never waits
//     }
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <duet/base_events.hpp>
#include <duet/detail/awaitables.hpp>
#include <duet/events.hpp>
#include <duet/timeouts.hpp>

namespace duet {

// When wait() returns (asyncio.FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED).
enum class return_when { first_completed, first_exception, all_completed };

// What wait() returns: the inputs (without duplicates, in input order) split by done().
template <class F>
struct wait_result {
    std::vector<F> done;
    std::vector<F> pending;
};

namespace detail {

// std::invalid_argument "Invalid return_when value: N" unless `rw` is one of the enum's.
void check_return_when(return_when rw);

// Suspends until `rw` is met among `fs` or `timeout` seconds pass; cancels nothing.
coro<void> wait_impl(const std::vector<future_core*>& fs, return_when rw, std::optional<double> timeout);

template <class F>
coro<wait_result<F>> wait_typed(std::vector<F> fs, return_when rw, std::optional<double> timeout) {
    if (fs.empty()) throw std::invalid_argument("Set of Tasks/Futures is empty.");
    check_return_when(rw);
    std::vector<future_core*> cores;
    cores.reserve(fs.size());
    for (auto& f : fs) cores.push_back(f.core());
    co_await wait_impl(cores, rw, timeout);
    wait_result<F> r;
    for (auto& f : fs) (f.done() ? r.done : r.pending).push_back(std::move(f));
    co_return r;
}

// Copies the futures of a range, without duplicates, in order.
template <class F, class R>
std::vector<F> unique_futures(R&& range) {
    std::vector<F> out;
    std::vector<future_core*> marked;
    if constexpr (std::ranges::sized_range<R>) {
        out.reserve(std::ranges::size(range));
        marked.reserve(std::ranges::size(range));
    }
    dedup_marks unmark(marked);
    for (const auto& f : range) {
        if (!f) throw std::invalid_argument("a null future");
        if (f.core()->marked()) continue;
        marked.push_back(f.core());
        f.core()->set_mark(true);
        out.push_back(F(f));
    }
    return out;
}

coro<void> cancel_and_wait(future_core& f);

// asyncio 3.12's wait_for with a timeout <= 0: the result if already done, else cancel,
// wait for the end, and timeout_error unless the inner produced a result anyway.
template <class T>
coro<T> wait_for_expired(future<T> f, bool owned) {
    if (!f.done()) {
        co_await cancel_and_wait(*f.core());
        // The timeout_error carries the inner's cancellation as its cause (nested).
        if (f.cancelled())
            std::rethrow_exception(timeout_caused_by(std::make_exception_ptr(f.core()->make_cancelled_error())));
        if (auto e = f.exception(); e && is_cancelled_error(e)) std::rethrow_exception(timeout_caused_by(e));
    }
    co_return result_from(f, owned);
}

template <class T>
coro<T> wait_for_future(future<T> f, bool owned, optional_seconds timeout) {
    if (!timeout) co_return co_await await_future(std::move(f), owned);
    if (*timeout <= 0) co_return co_await wait_for_expired(std::move(f), owned);
    timeout_scope scope(deadline_from_now(timeout));
    bool raced = false;
    outcome<T> v;
    try {
        if constexpr (std::is_void_v<T>) {
            co_await scope.run(await_future(f, owned));
            v.set_value();
        } else {
            v.set_value(co_await scope.run(await_future(f, owned)));
        }
    } catch (const timeout_error&) {
        // The inner finished in the same loop iteration as the deadline, before the
        // cancellation reached it: its outcome wins (no spurious timeout).
        if (!scope.expired() || !f.done() || f.cancelled()) throw;
        raced = true;
    }
    if (raced) co_return result_from(f, owned);
    co_return v.take();
}

template <class T>
coro<T> wait_for_coro(coro<T> c, optional_seconds timeout) {
    if (!timeout) co_return co_await std::move(c);
    if (*timeout <= 0) {
        // The deadline has passed already: the coroutine is never started.
        co_return co_await wait_for_expired<T>(get_running_loop().create_task(std::move(c)), true);
    }
    timeout_scope scope(deadline_from_now(timeout));
    co_return co_await scope.run(std::move(c));
}

// ---- as_completed

class as_completed_state : public std::enable_shared_from_this<as_completed_state> {
public:
    as_completed_state() = default;
    as_completed_state(const as_completed_state&) = delete;
    as_completed_state& operator=(const as_completed_state&) = delete;
    ~as_completed_state();

    // Subscribes to the items and starts the timeout.
    void start(abstract_event_loop& loop, std::vector<future_core*> items, std::optional<double> timeout);
    // The iterator went away: stop listening, wake anyone still waiting.
    void detach() noexcept;
    std::size_t remaining() const noexcept { return total_ - handed_; }

    // The index of the next item to complete; nullopt when all were handed out;
    // timeout_error for each item not done by the deadline.
    static coro<std::optional<std::size_t>> next(std::shared_ptr<as_completed_state> st);

    void wake_one() noexcept;

private:
    void on_done(std::size_t i) noexcept;
    void on_timeout() noexcept;
    void unsubscribe() noexcept;

    abstract_event_loop* loop_ = nullptr;
    std::vector<intrusive_ptr<future_core>> items_;
    std::vector<std::uint32_t> ids_;
    std::vector<bool> subscribed_;
    std::deque<std::size_t> ready_;
    std::vector<future<void>> waiters_;
    timer_handle timer_;
    std::size_t total_ = 0;
    std::size_t todo_ = 0;
    std::size_t handed_ = 0;
    bool timed_out_ = false;
    bool detached_ = false;
};

template <class Y>
struct as_completed_typed_state final : as_completed_state {
    std::vector<Y> typed;
};

// What as_completed hands out for an argument: a task for a coroutine, else its type.
template <class E>
struct as_completed_item {
    using type = E;
};
template <class T>
struct as_completed_item<coro<T>> {
    using type = task<T>;
};

}  // namespace detail

// The iterator as_completed returns. Move-only; destroying it stops listening to the
// items (they are not cancelled).
template <class Y>
class as_completed_iterator {
public:
    explicit as_completed_iterator(std::shared_ptr<detail::as_completed_typed_state<Y>> st) noexcept
        : st_(std::move(st)) {}
    as_completed_iterator(as_completed_iterator&&) noexcept = default;
    as_completed_iterator& operator=(as_completed_iterator&& o) noexcept {
        if (this != &o) {
            if (st_) st_->detach();
            st_ = std::move(o.st_);
        }
        return *this;
    }
    ~as_completed_iterator() {
        if (st_) st_->detach();
    }

    // The next item to complete (a done future or task: result() does not wait), in
    // completion order; std::nullopt once every item was handed out. After the timeout,
    // the items done before it come first, then timeout_error once per item still
    // pending. Several tasks may await next() at once.
    coro<std::optional<Y>> next() { return next_impl(st_); }
    // How many items (or timeouts) next() has yet to hand out.
    std::size_t remaining() const noexcept { return st_ ? st_->remaining() : 0; }

private:
    static coro<std::optional<Y>> next_impl(std::shared_ptr<detail::as_completed_typed_state<Y>> st) {
        if (!st) throw std::runtime_error("as_completed: the iterator was moved from");
        auto i = co_await detail::as_completed_state::next(st);
        if (!i) co_return std::nullopt;
        co_return st->typed[*i];
    }
    std::shared_ptr<detail::as_completed_typed_state<Y>> st_;
};

// Waits for the futures or tasks of `fs` (a range; duplicates count once) until
// `rw`, or until `timeout` seconds pass; cancels nothing. Returns {done, pending}.
// std::invalid_argument if `fs` is empty or `rw` is not one of return_when's values. For futures of different result
// types use a range of basic_future (note: g++ 12 rejects an initializer list inside an expression that co_awaits, so
// build the vector first).
template <std::ranges::input_range R>
requires std::is_base_of_v<basic_future, detail::range_elem_t<R>>
auto wait(R&& fs, return_when rw = return_when::all_completed, optional_seconds timeout = {}) {
    using F = detail::range_elem_t<R>;
    return detail::wait_typed<F>(detail::unique_futures<F>(fs), rw, timeout.get());
}
// Passing coroutines is forbidden (as in asyncio 3.11+): wrap them in tasks explicitly.
template <std::ranges::input_range R>
requires detail::is_coro_v<detail::range_elem_t<R>>
void wait(R&& coroutines, return_when rw = return_when::all_completed, optional_seconds timeout = {}) = delete;

// Awaits `aw` (a coro<T>, future<T> or task<T>) for at most `timeout` seconds (none:
// a plain await). On timeout the inner is cancelled and waited for (its cleanup runs),
// then timeout_error is raised; if it swallows the cancellation and returns a value,
// that value is returned. Cancelling the awaiting task cancels the inner. If the inner
// completes in the same loop iteration as the deadline, its result is returned.
// A timeout <= 0 (asyncio 3.12): a done future's result is returned; a coroutine is
// never started (timeout_error); a pending task is cancelled and waited for.
// A coroutine runs inline, in the awaiting task (as asyncio 3.12 awaits it directly).
template <class A>
requires detail::awaitable_arg<A> coro<detail::result_of_arg_t<A>> wait_for(A&& aw, optional_seconds timeout) {
    using T = detail::result_of_arg_t<A>;
    if constexpr (detail::is_coro_v<A>) {
        static_assert(!std::is_lvalue_reference_v<A>, "wait_for: pass a coroutine as an rvalue (std::move it)");
        // NOLINTNEXTLINE(bugprone-move-forwarding-reference): the static_assert above admits rvalues only.
        return detail::wait_for_coro<T>(detail::to_coro(std::move(aw)), timeout);
    } else {
        return detail::wait_for_future<T>(future<T>(aw), false, timeout);
    }
}

// Hands out the awaitables of `aws` (coroutines, wrapped in tasks at once; futures;
// tasks; duplicates count once) as they complete. The timeout starts now; when it
// passes, the items still pending are not cancelled. See as_completed_iterator::next().
template <std::ranges::input_range R>
auto as_completed(R&& aws, optional_seconds timeout = {}) {
    using E = detail::range_elem_t<R>;
    using Y = typename detail::as_completed_item<E>::type;
    static_assert(detail::is_coro_v<E> || std::is_base_of_v<basic_future, E>,
                  "as_completed: the range must hold coroutines, futures or tasks");
    auto st = std::make_shared<detail::as_completed_typed_state<Y>>();
    abstract_event_loop* loop = nullptr;
    if constexpr (detail::is_coro_v<E>) {
        static_assert(!std::is_lvalue_reference_v<R>, "as_completed: pass a range of coroutines as an rvalue");
        loop = &get_running_loop();
        for (auto&& c : aws) st->typed.push_back(loop->create_task(std::move(c)));
    } else {
        st->typed = detail::unique_futures<Y>(aws);
        loop = st->typed.empty() ? &get_running_loop() : &st->typed.front().get_loop();
        for (auto& f : st->typed)
            if (&f.get_loop() != loop)
                throw std::invalid_argument("as_completed: the futures are attached to different event loops");
    }
    std::vector<detail::future_core*> cores;
    cores.reserve(st->typed.size());
    for (auto& f : st->typed) cores.push_back(f.core());
    st->start(*loop, std::move(cores), timeout.get());
    return as_completed_iterator<Y>(std::move(st));
}

}  // namespace duet
