// docs/coroutines-and-tasks.md
#include <string>
#include <vector>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

duet::coro<int> slow_double(int x, double delay) {
    co_await duet::sleep(delay);
    co_return x * 2;
}

duet::coro<bool> tasks_demo() {
    // create_task schedules at once; co_await waits for the result.
    duet::task<int> t = duet::create_task(slow_double(1, 0.001), "doubler");
    bool named = t.get_name() == "doubler";
    int one = co_await t;

    // gather: results in argument order.
    auto [a, b] = co_await duet::gather(slow_double(2, 0.002), slow_double(3, 0.001));

    // cancel: the task sees cancelled_error where it waits.
    auto sleeper = duet::create_task(duet::sleep(3600));
    co_await duet::sleep(0);
    sleeper.cancel("no longer needed");
    bool cancelled = false;
    try {
        co_await sleeper;
    } catch (const duet::cancelled_error& e) {
        cancelled = e.message() == "no longer needed";
    }

    // wait_for / timeout: a deadline around any awaitable.
    bool timed_out = false;
    try {
        co_await duet::wait_for(slow_double(4, 3600), 0.001);
    } catch (const duet::timeout_error&) {
        timed_out = true;
    }
    int in_time = co_await duet::timeout(1.0).run(slow_double(5, 0.001));

    // task groups: every child is awaited before the group's scope ends.
    std::vector<int> results;
    co_await duet::with_task_group([&](duet::task_group& tg) -> duet::coro<void> {
        for (int i = 0; i < 3; ++i) tg.create_task(slow_double(i, 0.001));
        co_return;
    });
    co_return named&& one == 2 && a == 4 && b == 6 && cancelled&& timed_out&& in_time == 10;
}

duet::coro<int> wait_shielded(duet::task<int> inner) {
    co_return co_await duet::shield(inner);
}

duet::coro<bool> shield_demo() {
    // shield: cancelling the waiter leaves the inner task running.
    auto inner = duet::create_task(slow_double(21, 0.002));
    auto outer = duet::create_task(wait_shielded(inner));
    co_await duet::sleep(0);
    outer.cancel();
    co_await duet::sleep(0.01);
    co_return outer.cancelled() && !inner.cancelled() && inner.result() == 42;
}

}  // namespace

DUET_SNIPPET(tasks_basics) {
    return duet::run(tasks_demo());
}
DUET_SNIPPET(tasks_shield) {
    return duet::run(shield_demo());
}
