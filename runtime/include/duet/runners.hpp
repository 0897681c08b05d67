// asyncio.run / asyncio.Runner: run a coroutine on a fresh loop, then cancel whatever it
// left behind, report their errors and close the loop.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include <duet/events.hpp>

namespace duet {

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
    // Cancels the tasks left on the loop, waits for them, reports their failures and
    // closes the loop. Idempotent.
    void close();
    abstract_event_loop& get_loop();

private:
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

// asyncio.run: a fresh loop of the target's default backend.
template <coroutine_arg C>
coroutine_result_t<C> run(C&& main, std::optional<bool> debug = std::nullopt, call_site site = {}) {
    runner r({}, debug);
    if constexpr (std::is_void_v<coroutine_result_t<C>>) {
        r.run(std::forward<C>(main), site);
        r.close();
    } else {
        coroutine_result_t<C> v = r.run(std::forward<C>(main), site);
        r.close();
        return v;
    }
}

}  // namespace duet
