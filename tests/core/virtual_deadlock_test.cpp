// The virtual-clock loop deadlocked — nothing ready, no timer, no call_soon_threadsafe work
// expected from another thread — raises a clear error on every target instead of blocking
// forever. Work other threads will send (executor jobs, wrap_future, a
// threadsafe_work_guard) keeps it waiting.
#include <chrono>
#include <string>
#include <thread>

#include "test_loop.hpp"

namespace duet::test {
namespace {

std::string deadlock_error(virtual_event_loop& loop, future<int> f) {
    try {
        loop.run_until_complete(f);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "no error";
}

TEST(VirtualClockDeadlock, AwaitingAFutureNobodySetsRaises) {
    virtual_event_loop loop;
    auto f = loop.create_future<int>();
    std::string m = deadlock_error(loop, f);
    EXPECT_NE(m.find("deadlock"), std::string::npos) << m;
    EXPECT_NE(m.find("nothing is ready, no timer is pending"), std::string::npos) << m;
    // The run ended cleanly: the loop can run again.
    EXPECT_FALSE(loop.is_running());
    EXPECT_EQ(running_loop(), nullptr);
    f.set_result(5);
    EXPECT_EQ(loop.run_until_complete(f), 5);
}

TEST(VirtualClockDeadlock, TimersRunFirst) {
    virtual_event_loop loop;
    auto body = []() -> coro<int> {
        co_await sleep(10);
        event never;
        co_await never.wait();
        co_return 1;
    };
    auto t = loop.create_task(body());
    EXPECT_THROW(loop.run_until_complete(t), std::runtime_error);
    EXPECT_DOUBLE_EQ(loop.time(), 10.0);
    EXPECT_FALSE(t.done());
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
}

#if !defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__)

TEST(VirtualClockDeadlock, AGuardKeepsTheLoopWaitingForAThread) {
    virtual_event_loop loop;
    auto f = loop.create_future<int>();
    std::thread t([&loop, f, expect = threadsafe_work_guard(loop)]() mutable {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        loop.call_soon_threadsafe([f]() mutable { f.set_result(8); });
    });
    EXPECT_EQ(loop.run_until_complete(f), 8);
    t.join();
}

TEST(VirtualClockDeadlock, TheLastGuardGoneWithoutWorkRaises) {
    virtual_event_loop loop;
    auto f = loop.create_future<int>();
    threadsafe_work_guard expect(loop);
    std::thread t([g = std::move(expect)]() mutable {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        g.reset();  // wakes the loop, which finds nothing will ever come
    });
    std::string m = deadlock_error(loop, f);
    t.join();
    EXPECT_NE(m.find("deadlock"), std::string::npos) << m;
}

TEST(VirtualClockDeadlock, AnExecutorJobIsWaitedFor) {
    virtual_event_loop loop;
    auto f = run_in_executor(loop, nullptr, [] {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return 9;
    });
    EXPECT_EQ(loop.run_until_complete(f), 9);
    loop.shutdown_default_executor();
}

#endif

}  // namespace
}  // namespace duet::test
