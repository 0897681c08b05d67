// Every entry point that starts a coroutine is one constrained template taking coro<T> or
// a frameless awaitable, with every spelling callers use; each records its caller's line
// as the task's creation site (debug mode).
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

coro<int> forty_two() {
    co_return 42;
}

coro<void> stuck() {
    event never;
    co_await never.wait();
}

// The message debug mode gives a pending task destroyed with its loop, for a task that
// `start` creates on the loop it is given.
template <class Start>
std::string pending_task_report(Start start) {
    handler_log log;
    {
        test_loop loop;
        loop.set_debug(true);
        log.install(loop);
        start(loop);
        loop.run_until_complete(sleep(0));
        loop.close();
    }
    return log.calls.empty() ? std::string() : log.calls[0].message;
}

std::string here(int line) {
    return "call_site_test.cpp:" + std::to_string(line);
}

TEST(CallSite, CreateTaskRecordsTheCallersLine) {
    int line = 0;
    std::string m = pending_task_report([&](test_loop& loop) {
        line = __LINE__ + 1;
        loop.create_task(stuck(), "stuck");
    });
    EXPECT_NE(m.find(here(line)), std::string::npos) << m;

    m = pending_task_report([&](test_loop& loop) {
        context ctx;
        line = __LINE__ + 1;
        loop.create_task(stuck(), "stuck", ctx);
    });
    EXPECT_NE(m.find(here(line)), std::string::npos) << m;
}

TEST(CallSite, TheFreeCreateTaskAndTaskGroupsRecordTheCallersLine) {
    int line = 0;
    std::string m = pending_task_report([&](test_loop& loop) {
        auto body = [&]() -> coro<void> {
            line = __LINE__ + 1;
            create_task(stuck());
            co_return;
        };
        loop.run_until_complete(body());
    });
    EXPECT_NE(m.find(here(line)), std::string::npos) << m;

    m = pending_task_report([&](test_loop& loop) {
        auto body = [&]() -> coro<void> {
            task_group tg;
            tg.enter();
            line = __LINE__ + 1;
            tg.create_task(stuck(), "child");
            co_return;
        };
        loop.run_until_complete(body());
    });
    EXPECT_NE(m.find(here(line)), std::string::npos) << m;
}

TEST(CallSite, EveryEntryPointTakesACoroOrAFramelessAwaitable) {
    test_loop loop;
    EXPECT_EQ(loop.run_until_complete(forty_two()), 42);
    loop.run_until_complete(sleep(0));
    auto main_coro = [&]() -> coro<void> {
        context ctx;
        auto a = create_task(forty_two());
        auto b = create_task(forty_two(), "b");
        auto c = create_task(forty_two(), "c", ctx);
        auto d = create_task(sleep(0));
        auto e = create_task(sleep(0), "e", ctx);
        auto f = get_running_loop().create_task(sleep(0), "f");
        EXPECT_EQ(co_await a + co_await b + co_await c, 126);
        co_await d;
        co_await e;
        co_await f;
        EXPECT_EQ(b.get_name(), "b");
        EXPECT_EQ(co_await timeout(1).run(forty_two()), 42);
        co_await timeout(1).run(sleep(0));
        auto scope = timeout(1);
        EXPECT_EQ(co_await scope.run(forty_two()), 42);
        co_await with_task_group([&](task_group& tg) -> coro<void> {
            auto x = tg.create_task(forty_two());
            tg.create_task(sleep(0), "s");
            tg.create_task(forty_two(), "y", ctx);
            EXPECT_EQ(co_await x, 42);
        });
    };
    loop.run_until_complete(main_coro());
    loop.close();
}

}  // namespace
}  // namespace duet::test
