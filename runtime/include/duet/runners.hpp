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

    template <class T>
    T run(coro<T> main) {
        if (running_loop()) throw std::runtime_error("duet::run() cannot be called from a running event loop");
        auto& loop = get_loop();
        return loop.run_until_complete(std::move(main));
    }
    template <detail::lazy_awaitable A>
    auto run(A&& main) {
        return run(std::forward<A>(main).as_coro());
    }
    // Cancels the tasks left on the loop, waits for them, reports their failures and
    // closes the loop. Idempotent.
    void close();
    abstract_event_loop& get_loop();

private:
    loop_factory factory_;
    std::optional<bool> debug_;
    std::unique_ptr<abstract_event_loop> loop_;
    bool closed_ = false;
    bool set_current_ = false;
};

// asyncio.run: a fresh loop of the target's default backend.
template <class T>
T run(coro<T> main, std::optional<bool> debug = std::nullopt);
template <detail::lazy_awaitable A>
auto run(A&& main, std::optional<bool> debug = std::nullopt) {
    return run(std::forward<A>(main).as_coro(), debug);
}
template <class T>
T run(coro<T> main, std::optional<bool> debug) {
    runner r({}, debug);
    if constexpr (std::is_void_v<T>) {
        r.run(std::move(main));
        r.close();
    } else {
        T v = r.run(std::move(main));
        r.close();
        return v;
    }
}

}  // namespace duet
