// A task group with a failing child: the failure cancels its siblings, and the failures
// come out together as a duet::exception_group (asyncio.TaskGroup + except*).
#include <cstdio>
#include <stdexcept>

#include <duet/duet.hpp>

duet::coro<void> slow_worker(int id) {
    try {
        co_await duet::sleep(10);
        std::printf("worker %d finished (not expected)\n", id);
    } catch (const duet::cancelled_error&) {
        std::printf("worker %d cancelled by the group\n", id);
        throw;
    }
}

duet::coro<void> failing_worker() {
    co_await duet::sleep(0.05);
    throw std::runtime_error("worker 3 failed");
}

duet::coro<void> main_coro() {
    try {
        co_await duet::with_task_group([](duet::task_group& tg) -> duet::coro<void> {
            tg.create_task(slow_worker(1));
            tg.create_task(slow_worker(2));
            tg.create_task(failing_worker());
            co_return;
        });
    } catch (const duet::exception_group& eg) {
        std::printf("%s\n", eg.what());
        eg.for_each<std::runtime_error>([](const std::runtime_error& e) { std::printf("  - %s\n", e.what()); });
    }
}

int main() {
    duet::run(main_coro());
}
