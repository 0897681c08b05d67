// asyncio.run / asyncio.Runner: run a coroutine on a fresh loop, then cancel whatever it
// left behind, report their errors and close the loop.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

#include <duet/events.hpp>

namespace duet {

namespace detail {
// A future<T>, or a task<T> (anything that is a future<T>): what runner::run awaits
// when it is given no coroutine.
template <class F>
using future_value_t = typename std::remove_cvref_t<F>::value_type;
template <class F>
concept future_arg = std::is_base_of_v<basic_future, std::remove_cvref_t<F>> &&
    requires(const std::remove_cvref_t<F>& f) {
    future<future_value_t<F>>(f);
};
}  // namespace detail

class runner {
public:
    using loop_factory = std::function<std::unique_ptr<abstract_event_loop>()>;
    explicit runner(loop_factory factory = {}, std::optional<bool> debug = std::nullopt)
        : factory_(std::move(factory)), debug_(debug) {}
    runner(const runner&) = delete;
    runner& operator=(const runner&) = delete;
    ~runner() { close(); }

    // Runs `main` (a coroutine argument) to completion on the runner's loop, in the
    // runner's context: a copy of the caller's made with the loop, shared by all the runs
    // (what one run sets in a context_var, the next one sees), as asyncio.Runner's.
    template <coroutine_arg C>
    coroutine_result_t<C> run(C&& main, call_site site = {}) {
        auto& loop = loop_for_run();
        return run_in(loop, std::forward<C>(main), *ctx_, site);
    }
    // Runs `main` in `ctx` itself instead (asyncio's Runner.run(coro, context=ctx)).
    template <coroutine_arg C>
    coroutine_result_t<C> run(C&& main, const context& ctx, call_site site = {}) {
        auto& loop = loop_for_run();
        return run_in(loop, std::forward<C>(main), ctx, site);
    }
    // Runs until `f`, a future or task of the runner's loop (get_loop()), is done, and
    // returns its result or rethrows its exception: as asyncio 3.14's Runner.run given an
    // awaitable that is not a coroutine, `f` is awaited by a coroutine run as above.
    template <class F>
    requires detail::future_arg<F> detail::future_value_t<F> run(const F& f, call_site site = {}) {
        return run(await_future(future<detail::future_value_t<F>>(f)), site);
    }
    template <class F>
    requires detail::future_arg<F> detail::future_value_t<F> run(const F& f, const context& ctx, call_site site = {}) {
        return run(await_future(future<detail::future_value_t<F>>(f)), ctx, site);
    }
    // Cancels the tasks left on the loop, waits for them, reports their failures and
    // closes the loop. Idempotent.
    void close();
    abstract_event_loop& get_loop();

    // How many seconds close() gives the default executor's threads to end before it
    // reports them and goes on (asyncio's constants.THREAD_JOIN_TIMEOUT).
    static constexpr double thread_join_timeout = 300;

private:
    template <class T>
    static coro<T> await_future(future<T> f) {
        co_return co_await f;
    }
    abstract_event_loop& loop_for_run() {
        if (running_loop()) throw std::runtime_error("duet::run() cannot be called from a running event loop");
        return get_loop();
    }
    // As loop.run_until_complete(main), with the task in `ctx`: refused (the coroutine
    // never started) if the loop cannot run.
    template <coroutine_arg C>
    static coroutine_result_t<C> run_in(abstract_event_loop& loop, C&& main, const context& ctx, call_site site) {
        loop.check_can_run();
        using T = coroutine_result_t<C>;
        return loop.run_until_complete_impl(future<T>(loop.create_task(std::forward<C>(main), {}, ctx, site)), true);
    }

    loop_factory factory_;
    std::optional<bool> debug_;
    std::unique_ptr<abstract_event_loop> loop_;
    std::optional<context> ctx_;  // made with the loop
    bool closed_ = false;
    bool set_current_ = false;
};

// asyncio.run(main, debug=, loop_factory=): a fresh loop, of the target's default backend
// (made the policy's current loop while it runs), or the one `factory` makes (left alone
// by the policy); closed at the end either way.
template <coroutine_arg C>
coroutine_result_t<C> run(C&& main, std::optional<bool> debug = std::nullopt, runner::loop_factory factory = {},
                          call_site site = {}) {
    runner r(std::move(factory), debug);
    if constexpr (std::is_void_v<coroutine_result_t<C>>) {
        r.run(std::forward<C>(main), site);
        r.close();
    } else {
        coroutine_result_t<C> v = r.run(std::forward<C>(main), site);
        r.close();
        return v;
    }
}
// duet::run(main, factory): the loop from `factory`, debug mode left as the loop has it.
// (Without this overload a function or captureless lambda would convert to the bool of
// `debug`.)
template <coroutine_arg C, class F>
requires std::is_invocable_r_v<std::unique_ptr<abstract_event_loop>, F&> coroutine_result_t<C> run(
    C&& main, F&& factory, call_site site = {}) {
    return run(std::forward<C>(main), std::nullopt, runner::loop_factory(std::forward<F>(factory)), site);
}

}  // namespace duet
