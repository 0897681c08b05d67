// asyncio.TaskGroup: structured concurrency.
//
// C++ has no `async with`; with_task_group runs a body coroutine with a group and does
// not return before every task of the group has ended, so no child can be forgotten:
//
//     co_await duet::with_task_group([&](duet::task_group& tg) -> duet::coro<void> {
//         auto a = tg.create_task(fetch(1));
//         tg.create_task(fetch(2));
//         co_await sleep(0.1);             // the body runs alongside its children
//         co_return;
//     });                                  // here every child has ended
//
//     try {
//         co_await duet::with_task_group(body);
//     } catch (const duet::exception_group& eg) {   // `except* ValueError` in C++
//         if (eg.contains<std::invalid_argument>()) ...
//     }
//
// - Tasks created by the body or by other children (while the group waits) are all
//   awaited.
// - The first failure of a child cancels the other children and the body; when all have
//   ended, the failures (never the cancellations) are raised together as
//   duet::exception_group("unhandled errors in a TaskGroup", ...). An exception escaping
//   the body is collected too (after the children's).
// - Cancelling the parent task from outside cancels the children and surfaces as a plain
//   cancelled_error; the parent's cancelling() count is what it was before the group
//   (the group uncancels only what it cancelled itself; a cancellation from outside that
//   met a failure is re-armed, as CPython does since gh-116720).
// - create_task after the group finished, or while it is aborting, throws
//   std::runtime_error ("TaskGroup is finished", "TaskGroup is shutting down").
// - A group nested in the body raises its exception_group into the outer body, which
//   collects it: groups nest.
// - Lifetimes: the callable (and what it captures) lives until the group ends; the
//   body's local variables end when the body returns, while children may run on. A
//   child must not use them: declare what children share outside the body, or capture it
//   in the callable.
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <duet/base_events.hpp>
#include <duet/detail/awaitables.hpp>
#include <duet/events.hpp>
#include <duet/exception_group.hpp>

namespace duet {

class task_group {
public:
    task_group() = default;
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;
    ~task_group();

    // Starts `c` (a coroutine argument) as a task of the group, on the parent's loop, and
    // returns it; it runs in a copy of the current context, or in `ctx` itself (asyncio's
    // create_task(..., context=ctx)).
    template <coroutine_arg C>
    task<coroutine_result_t<C>> create_task(C&& c, std::string_view name = {}, detail::context_choice ctx = {},
                                            call_site site = {}) {
        check_can_create();
        auto t = loop_->create_task(std::forward<C>(c), name, ctx, site);
        adopt(t);
        return t;
    }

    // Starts f(a...) as a fiber task of the group (duet::spawn_fiber; fibers.hpp).
    template <class F, class... A>
    requires(!std::is_same_v<std::remove_cvref_t<F>, fiber_options>) auto spawn_fiber(F&& f, A&&... a);
    template <class F, class... A>
    auto spawn_fiber(fiber_options o, F&& f, A&&... a);

    // Tasks of the group not finished yet (their done callbacks not yet run).
    std::size_t size() const noexcept { return live_; }

    // Low level, for with_task_group: enter() in the parent task, run the body, then
    // co_await exit(body's exception or null). exit() throws what the group raises; if
    // it returns, `body_error` (if any) is to be rethrown by the caller.
    void enter();
    coro<void> exit(std::exception_ptr body_error);

private:
    struct child {
        detail::intrusive_ptr<detail::future_core> task;
        std::uint32_t callback_id = 0;
    };

    void check_can_create() const;
    void adopt(const basic_task& t);
    void on_task_done(detail::future_core& t, std::uint32_t slot) noexcept;
    void note_result(detail::future_core& t) noexcept;
    void abort() noexcept;

    base_event_loop* loop_ = nullptr;
    basic_task parent_;
    std::vector<child> slots_;
    std::vector<std::uint32_t> free_;
    std::vector<std::exception_ptr> errors_;
    future<void> on_completed_;
    std::size_t live_ = 0;
    bool entered_ = false;
    bool exiting_ = false;
    bool aborting_ = false;
    bool parent_cancel_requested_ = false;
};

namespace detail {

template <class F>
using group_body_coro_t = std::remove_cvref_t<std::invoke_result_t<F&, task_group&>>;

template <class F>
coro<typename group_body_coro_t<F>::value_type> run_task_group(F f) {
    using T = typename group_body_coro_t<F>::value_type;
    task_group tg;
    tg.enter();
    std::exception_ptr error;
    outcome<T> result;
    try {
        if constexpr (std::is_void_v<T>) {
            co_await f(tg);
            result.set_value();
        } else {
            result.set_value(co_await f(tg));
        }
    } catch (...) {
        error = std::current_exception();
    }
    co_await tg.exit(error);
    if (error) std::rethrow_exception(error);
    co_return result.take();
}

}  // namespace detail

// Runs f(group) — a callable returning a duet::coro<T> — inside a new task_group in the
// current task, waits for every task of the group, and returns the body's result or
// raises the group's exception_group (or the cancellation). The callable is kept alive
// until the group ends.
template <class F>
requires std::is_invocable_v<F&, task_group&>
auto with_task_group(F f) {
    static_assert(detail::is_coro_v<detail::group_body_coro_t<F>>,
                  "with_task_group: the callable must return a duet::coro<T>");
    return detail::run_task_group(std::move(f));
}

}  // namespace duet
