// Debug mode ("Developing with asyncio").
#include <cstdlib>
#include <thread>

#include "test_loop.hpp"

namespace duet::test {
namespace {

coro<int> forgotten_coroutine() {
    co_return 1;
}

TEST(Debug, OffByDefaultAndSwitchedOnByTheEnvironment) {
    {
        test_loop loop;
        EXPECT_FALSE(loop.get_debug());
    }
    ::setenv("DUET_DEBUG", "1", 1);
    {
        test_loop loop;
        EXPECT_TRUE(loop.get_debug());
    }
    ::setenv("DUET_DEBUG", "0", 1);
    {
        test_loop loop;
        EXPECT_FALSE(loop.get_debug());
    }
    ::unsetenv("DUET_DEBUG");
}

TEST(Debug, SlowCallbacksAreReportedWithTheirName) {
    virtual_event_loop loop;
    loop.set_debug(true);
    loop.set_slow_callback_duration(0.05);
    auto slow_one = [&] { loop.backend().advance(0.25); };  // takes 0.25 s of loop time
    loop.call_soon(slow_one);
    loop.call_soon([&] { loop.stop(); });
    testing::internal::CaptureStderr();
    loop.run_forever();
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("Executing callback"), std::string::npos) << err;
    EXPECT_NE(err.find("SlowCallbacksAreReportedWithTheirName"), std::string::npos) << "names the lambda: " << err;
    EXPECT_NE(err.find("took 0.250 seconds"), std::string::npos) << err;
    EXPECT_EQ(err.find("took 0.000"), std::string::npos) << "fast callbacks are not reported: " << err;
}

TEST(Debug, SlowTaskStepsNameTheTask) {
    virtual_event_loop loop;
    loop.set_debug(true);
    auto busy = [&]() -> coro<void> {
        loop.backend().advance(1.0);
        co_return;
    };
    testing::internal::CaptureStderr();
    loop.run_until_complete(loop.create_task(busy(), "cruncher"));
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("step of task cruncher took 1.000 seconds"), std::string::npos) << err;
}

TEST(Debug, NeverAwaitedCoroutineIsReportedWithWhereItIsDefined) {
    test_loop loop;
    loop.set_debug(true);
    handler_log log;
    log.install(loop);
    auto body = []() -> coro<void> {
        (void)forgotten_coroutine();  // created and dropped
        co_return;
    };
    loop.run_until_complete(body());
    ASSERT_EQ(log.calls.size(), 1u);
    const std::string& m = log.calls[0].message;
    EXPECT_NE(m.find("forgotten_coroutine"), std::string::npos) << m;
    EXPECT_NE(m.find("debug_test.cpp"), std::string::npos) << m;
    EXPECT_NE(m.find("was never awaited or scheduled"), std::string::npos) << m;
}

TEST(Debug, AwaitedOrScheduledCoroutinesAreNotReported) {
    test_loop loop;
    loop.set_debug(true);
    handler_log log;
    log.install(loop);
    auto body = []() -> coro<int> {
        int a = co_await forgotten_coroutine();
        auto t = create_task(forgotten_coroutine());
        co_return a + co_await t;
    };
    EXPECT_EQ(loop.run_until_complete(body()), 2);
    EXPECT_TRUE(log.calls.empty());
}

TEST(Debug, WithoutDebugNothingIsReported) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    auto body = []() -> coro<void> {
        (void)forgotten_coroutine();
        co_return;
    };
    loop.run_until_complete(body());
    EXPECT_TRUE(log.calls.empty());
}

TEST(Debug, PendingTaskDestroyedNamesWhereItWasCreated) {
    handler_log log;
    {
        test_loop loop;
        loop.set_debug(true);
        log.install(loop);
        auto stuck = []() -> coro<void> {
            event never;
            co_await never.wait();
        };
        loop.create_task(stuck(), "stuck");
        loop.run_until_complete(sleep(0));
        loop.close();
    }
    ASSERT_EQ(log.calls.size(), 1u);
    const std::string& m = log.calls[0].message;
    EXPECT_NE(m.find("Task was destroyed but it is pending!"), std::string::npos) << m;
    EXPECT_NE(m.find("created at"), std::string::npos) << m;
    EXPECT_NE(m.find("debug_test.cpp"), std::string::npos) << m;
}

#ifndef __EMSCRIPTEN__
TEST(Debug, NonThreadSafeCallsFromAnotherThreadRaise) {
    test_loop loop;
    loop.set_debug(true);
    std::string error;
    bool threadsafe_ok = false;
    loop.call_soon([&] {
        // The thread calls back: a virtual clock loop must wait for it.
        // It ends in the callback, on the loop thread, so the detached thread never
        // touches the loop after the test.
        std::thread([&, expect = threadsafe_work_guard(loop)]() mutable {
            try {
                loop.call_soon([] {});
            } catch (const std::runtime_error& e) {
                error = e.what();
            }
            loop.call_soon_threadsafe([&, g = std::move(expect)] {
                threadsafe_ok = true;
                loop.stop();
            });
        }).detach();
    });
    loop.run_forever();
    EXPECT_NE(error.find("Non-thread-safe operation invoked on an event loop other than the current one"),
              std::string::npos)
        << error;
    EXPECT_TRUE(threadsafe_ok);
}
#endif

}  // namespace
}  // namespace duet::test
