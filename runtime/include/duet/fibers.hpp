// Stackful tasks: an ordinary function run on a stack of its own, as a task of the loop.
//
//     int parse(tree& t) {                     // any call depth, no co_await in sight
//         auto chunk = duet::await(reader.read(4096));
//         ...
//     }
//     duet::task<int> t = duet::spawn_fiber(parse, std::ref(tree));
//
// A fiber task is a task like any other (it is one: its root coroutine switches into the
// fiber and co_awaits, on the fiber's behalf, what the fiber passes to duet::await): a name,
// a copy of the current context, current_task() inside it is it, all_tasks() lists it, done
// callbacks, cancel(msg) / cancelling() / uncancel(), gather / wait_for / timeout / task
// groups take it. A cancellation arrives as cancelled_error out of the duet::await the
// fiber is blocked in and unwinds its stack normally.
//
// Stacks: fiber_options::stack_size, 0 meaning the target's default: 256 KiB natively
// (with a guard page below it; memory is reserved, pages are touched only as the fiber
// uses them; stacks are pooled and reused), 64 KiB of C stack plus a 16 KiB asyncify
// buffer in wasm (malloc'd; size the asyncify buffer for the call depth at which the fiber
// awaits: every frame on the fiber's stack is saved there while it is suspended).
//
// Targets: natively always (Boost.Context); in wasm only in programs linked with
// -sASYNCIFY through duet_blocking_run(target) — elsewhere spawn_fiber raises
// not_supported_error saying so.
//
// A loop closed while fibers are still suspended (not run to the end by duet::run, which
// cancels what is left) reports them like pending tasks, and each such fiber gets a
// cancelled_error out of its duet::await so that its stack unwinds (destructors run); a
// fiber that keeps awaiting after that gets the error again at once, so it must end.
// Natively each fiber keeps its own C++ exception state, so duet::await inside a catch
// handler is fine. In wasm (JS-based exceptions) the handled-exceptions stack is the
// module's: do not await inside a catch handler there (co_await is not allowed there
// either); leave the handler first.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <duet/coro.hpp>
#include <duet/detail/fiber_context.hpp>
#include <duet/events.hpp>
#include <duet/exceptions.hpp>
#include <duet/task_group.hpp>
#include <duet/tasks.hpp>

namespace duet {

struct fiber_options {
    // Bytes of stack; 0: the target's default (see above).
    std::size_t stack_size = 0;
    // wasm only: bytes of the fiber's asyncify buffer; 0: 16 KiB. Ignored natively.
    std::size_t asyncify_stack_size = 0;
    // The task's name (empty: "Task-N").
    std::string name;
};

// The defaults fiber_options' zeros stand for.
inline constexpr std::size_t default_fiber_stack_size_native = std::size_t{256} * 1024;
inline constexpr std::size_t default_fiber_stack_size_wasm = std::size_t{64} * 1024;
inline constexpr std::size_t default_fiber_asyncify_size = std::size_t{16} * 1024;

// Whether spawn_fiber works in this program (natively yes; in wasm with ASYNCIFY).
bool fibers_supported() noexcept;

namespace detail {

// What a fiber asks its root coroutine to co_await: an awaiter living on the fiber's stack.
struct fiber_wait {
    void* awaiter;
    // Runs the awaiter's await_suspend on the root coroutine's behalf; false: not suspended.
    bool (*suspend)(void* awaiter, co::coroutine_handle<> root);
    // What await_suspend threw, rethrown in the fiber.
    std::exception_ptr error;
};

// The non-template half of a fiber: its context and the hand-over with the root coroutine.
class fiber_frame {
public:
    fiber_frame(fiber_entry entry, const fiber_options& o) noexcept;
    fiber_frame(const fiber_frame&) = delete;
    fiber_frame& operator=(const fiber_frame&) = delete;
    // A fiber still suspended (its loop closed) is resumed until it ends: see above.
    ~fiber_frame();

    // Root side: switches in (creating the fiber on the first call); true while the fiber
    // waits on pending() (to be co_awaited), false once it has finished. Inline, as wait():
    // after a stack switch every return mispredicts, so the switch paths stay shallow.
    bool run() {
        if (!ctx_) [[unlikely]]
            start();
        wait_ = nullptr;
        fiber_frame* outer = std::exchange(running_fiber, this);
        ctx_->switch_in();
        running_fiber = outer;
        return !finished_;
    }
    fiber_wait* pending() const noexcept { return wait_; }
    // Fiber side: hands `w` to the root coroutine and switches out until it completes.
    void wait(fiber_wait& w) {
        if (abandoned_) [[unlikely]]
            throw_abandoned();
        wait_ = &w;
        ctx_->switch_out();
        if (abandoned_) [[unlikely]]
            throw_abandoned();
        if (w.error) [[unlikely]]
            std::rethrow_exception(std::exchange(w.error, nullptr));
    }
    // The task it runs as (set on the first run()).
    task_core* task() const noexcept { return task_; }
    // Its loop closed while it was suspended (see ~fiber_frame).
    bool abandoned() const noexcept { return abandoned_; }

protected:
    std::exception_ptr error_;

private:
    static void entry_thunk(void* self) noexcept;
    void start();
    [[noreturn]] static void throw_abandoned();
    // The fiber whose stack this thread runs on, or null.
    static inline thread_local fiber_frame* running_fiber = nullptr;
    friend fiber_frame* current_fiber() noexcept;
    fiber_entry entry_;
    fiber_stack_sizes sizes_;
    std::unique_ptr<fiber_context> ctx_;
    task_core* task_ = nullptr;
    fiber_wait* wait_ = nullptr;
    bool finished_ = false;
    bool abandoned_ = false;
};

// The fiber whose stack this thread runs on, or null.
inline fiber_frame* current_fiber() noexcept {
    return fiber_frame::running_fiber;
}
// The registered backend; not_supported_error when the build has none.
void require_fibers();

template <class R, class Fn>
class fiber_runner final : public fiber_frame {
public:
    fiber_runner(Fn fn, const fiber_options& o) : fiber_frame(&entry, o), fn_(std::move(fn)) {}
    R finish() {
        if (error_) std::rethrow_exception(error_);
        if constexpr (!std::is_void_v<R>) return std::move(*result_);
    }

private:
    static void entry(void* self) noexcept {
        auto* r = static_cast<fiber_runner*>(self);
        // Nothing may escape a fiber's entry: the error goes to the task.
        try {
            if constexpr (std::is_void_v<R>)
                std::invoke(std::move(r->fn_));
            else
                r->result_.emplace(std::invoke(std::move(r->fn_)));
        } catch (...) {
            r->error_ = std::current_exception();
        }
    }
    Fn fn_;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result_{};
};

// The root coroutine co_awaits this on the fiber's behalf.
struct fiber_suspend_op : awaiter_tag {
    fiber_wait* w;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(co::coroutine_handle<> h) noexcept {
        try {
            return w->suspend(w->awaiter, h);
        } catch (...) {
            w->error = std::current_exception();
            return false;
        }
    }
    void await_resume() const noexcept {}
};

template <class R, class Fn>
requires(!std::is_void_v<R>) coro<R> fiber_root(Fn fn, fiber_options o) {
    fiber_runner<R, Fn> r(std::move(fn), o);
    while (r.run()) {
        fiber_suspend_op op{{}, r.pending()};
        co_await op;
    }
    co_return r.finish();
}
template <class R, class Fn>
requires std::is_void_v<R> coro<void> fiber_root(Fn fn, fiber_options o) {
    fiber_runner<void, Fn> r(std::move(fn), o);
    while (r.run()) {
        fiber_suspend_op op{{}, r.pending()};
        co_await op;
    }
    r.finish();
}

template <class Aw>
bool fiber_suspend_thunk(void* a, co::coroutine_handle<> h) {
    auto& aw = *static_cast<Aw*>(a);
    using S = decltype(aw.await_suspend(h));
    if constexpr (std::is_void_v<S>) {
        aw.await_suspend(h);
        return true;
    } else if constexpr (std::is_same_v<S, bool>) {
        return aw.await_suspend(h);
    } else {
        // Symmetric transfer: the task's trampoline resumes it.
        next_to_resume = aw.await_suspend(h);
        return true;
    }
}

// The running fiber, checked: std::runtime_error outside a fiber or from a task that
// only runs on its stack; cancelled_error once its loop closed.
[[noreturn]] void fiber_await_refused();
inline fiber_frame& fiber_for_await() {
    fiber_frame* f = current_fiber();
    if (!f || f->abandoned() || current_task_core() != f->task()) [[unlikely]]
        fiber_await_refused();
    return *f;
}

// Suspends the current fiber on the awaiter `aw` (kept on the fiber's stack).
template <class Aw>
decltype(auto) fiber_await_on(Aw& aw) {
    fiber_frame& f = fiber_for_await();
    if (!aw.await_ready()) {
        fiber_wait w{&aw, &fiber_suspend_thunk<Aw>, {}};
        f.wait(w);
    }
    return aw.await_resume();
}

template <class F, class... A>
using fiber_result_t = std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>;

}  // namespace detail

// Inside a fiber, at any call depth: waits for `x` — a future or task, a coro<T>, sleep(),
// a lock / event / condition / semaphore / queue wait, any duet awaitable (and a JS promise
// in wasm: js::await_promise) — and returns its value or throws its exception. A
// cancellation of the fiber's task comes out of it as cancelled_error. Outside a fiber
// (or from a task the fiber's stack is only hosting): std::runtime_error.
template <class X>
decltype(auto) await(X&& x) {
    using D = std::remove_cvref_t<X>;
    if constexpr (detail::is_coro<D>::value) {
        D c(static_cast<D&&>(x));  // an lvalue coro is consumed too, as co_await does
        return detail::fiber_await_on(c);
    } else if constexpr (std::is_base_of_v<basic_future, D>) {
        using T = typename D::value_type;
        if constexpr (std::is_convertible_v<X&&, future<T>>) {
            detail::future_awaiter<T> aw{future<T>(x)};
            return detail::fiber_await_on(aw);
        } else {
            if (!x.core()) throw std::invalid_argument("duet::await: not a duet task (null, or a third-party task)");
            detail::future_awaiter<void> aw{future<void>(detail::intrusive_ptr<detail::future_core>(x.core()))};
            return detail::fiber_await_on(aw);
        }
    } else if constexpr (detail::lazy_awaitable<X>) {
        auto aw = x.awaiter();
        return detail::fiber_await_on(aw);
    } else {
        static_assert(detail::duet_awaiter<X>,
                      "duet::await takes a future, task, coro<T> or duet awaitable (sleep, lock, queue, event waits)");
        D aw = std::forward<X>(x);
        return detail::fiber_await_on(aw);
    }
}

// Starts f(a...) (arguments decay-copied, as std::thread does) as a fiber task on this loop.
template <class F, class... A>
requires(!std::is_same_v<std::remove_cvref_t<F>, fiber_options>) auto abstract_event_loop::spawn_fiber(F&& f,
                                                                                                       A&&... a) {
    return spawn_fiber(fiber_options{}, std::forward<F>(f), std::forward<A>(a)...);
}
template <class F, class... A>
auto abstract_event_loop::spawn_fiber(fiber_options o, F&& f, A&&... a) {
    using R = detail::fiber_result_t<F, A...>;
    static_assert(!std::is_reference_v<R>, "a fiber returns a value, not a reference");
    detail::require_fibers();
    auto fn = [f = std::forward<F>(f), ... a = std::forward<A>(a)]() mutable -> R {
        return std::invoke(std::move(f), std::move(a)...);
    };
    std::string name = std::move(o.name);
    return create_task(detail::fiber_root<R>(std::move(fn), std::move(o)), name);
}

// asyncio-style free function: a fiber task on the running loop.
template <class F, class... A>
requires(!std::is_same_v<std::remove_cvref_t<F>, fiber_options>) auto spawn_fiber(F&& f, A&&... a) {
    return get_running_loop().spawn_fiber(std::forward<F>(f), std::forward<A>(a)...);
}
template <class F, class... A>
auto spawn_fiber(fiber_options o, F&& f, A&&... a) {
    return get_running_loop().spawn_fiber(std::move(o), std::forward<F>(f), std::forward<A>(a)...);
}

template <class F, class... A>
requires(!std::is_same_v<std::remove_cvref_t<F>, fiber_options>) auto task_group::spawn_fiber(F&& f, A&&... a) {
    return spawn_fiber(fiber_options{}, std::forward<F>(f), std::forward<A>(a)...);
}
template <class F, class... A>
auto task_group::spawn_fiber(fiber_options o, F&& f, A&&... a) {
    check_can_create();
    auto t = loop_->spawn_fiber(std::move(o), std::forward<F>(f), std::forward<A>(a)...);
    adopt(t);
    return t;
}

}  // namespace duet
