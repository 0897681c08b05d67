// Part of the loop contract: tasks, sleeps and timeouts run on every loop's own clock.
// Only order and outcome are asserted, never how fast the clock went.
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

template <class L>
class LoopTasks : public ::testing::Test {};
TYPED_TEST_SUITE(LoopTasks, contract_loops);

TYPED_TEST(LoopTasks, SleepingTasksFinishInDeadlineOrderNeverEarly) {
    TypeParam loop;
    std::vector<int> order;
    double t0 = 0;
    double last_end = 0;
    // Each sleeps until t0 + d: the tasks' first steps may run at different times on a real
    // clock (a busy host, or an iteration split by its time budget), their deadlines do not.
    // 10 ms apart, so that a first step up to 10 ms late still leaves them in the future.
    auto sleeper = [&](int id, double d) -> coro<void> {
        co_await sleep(t0 + d - loop.time());
        order.push_back(id);
        last_end = loop.time();
    };
    auto main_coro = [&]() -> coro<void> {
        t0 = loop.time();
        auto a = create_task(sleeper(1, 0.03));
        auto b = create_task(sleeper(2, 0.01));
        auto c = create_task(sleeper(3, 0.02));
        co_await a;
        co_await b;
        co_await c;
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(order, (std::vector<int>{2, 3, 1}));
    EXPECT_GE(last_end, t0 + 0.03);
    loop.close();
}

TYPED_TEST(LoopTasks, SleepReturnsItsValueAndGatherCollectsInArgumentOrder) {
    TypeParam loop;
    auto main_coro = [&]() -> coro<int> {
        auto [a, b] = co_await gather(value_after(0.002, 1), value_after(0.001, 2));
        int c = co_await sleep(0.001, 3);
        co_return a * 100 + b * 10 + c;
    };
    EXPECT_EQ(loop.run_until_complete(main_coro()), 123);
    loop.close();
}

TYPED_TEST(LoopTasks, ALongSleepIsCancelledByATimer) {
    TypeParam loop;
    auto t = loop.create_task(sleep(3600));
    loop.call_later(0.001, [&] { t.cancel("enough"); });
    try {
        loop.run_until_complete(t);
        FAIL() << "expected a cancellation";
    } catch (const cancelled_error& e) {
        EXPECT_EQ(e.message(), "enough");
    }
    EXPECT_TRUE(t.cancelled());
    loop.close();
}

TYPED_TEST(LoopTasks, WaitForTimesOutAfterTheInnerHasUnwound) {
    TypeParam loop;
    bool inner_cancelled = false;
    auto inner = [&]() -> coro<int> {
        try {
            co_await sleep(3600);
        } catch (const cancelled_error&) {
            inner_cancelled = true;
            throw;
        }
        co_return 1;
    };
    auto main_coro = [&]() -> coro<std::string> {
        try {
            co_await wait_for(inner(), 0.002);
        } catch (const timeout_error&) {
            co_return "timeout";
        }
        co_return "no timeout";
    };
    EXPECT_EQ(loop.run_until_complete(main_coro()), "timeout");
    EXPECT_TRUE(inner_cancelled);
    loop.close();
}

}  // namespace
}  // namespace duet::test
