// Coroutines, tasks, cancellation and the task registry.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

coro<int> add(int a, int b) {
    co_return a + b;
}

coro<int> nested(int depth) {
    if (depth == 0) co_return 0;
    co_return 1 + co_await nested(depth - 1);
}

TEST(Coro, AwaitRunsInlineWithoutALoopTrip) {
    test_loop loop;
    bool callback_ran = false;
    int got = loop.run_until_complete([&]() -> coro<int> {
        loop.call_soon([&] { callback_ran = true; });
        int v = co_await add(2, 3);
        EXPECT_FALSE(callback_ran) << "co_await of a coro must not go through the loop";
        co_return v;
    }());
    EXPECT_EQ(got, 5);
}

TEST(Coro, DeepAwaitChainsDoNotGrowTheStack) {
    test_loop loop;
    EXPECT_EQ(loop.run_until_complete(nested(100000)), 100000);
}

TEST(Coro, ManySynchronousAwaitsInALoop) {
    test_loop loop;
    auto body = []() -> coro<std::int64_t> {
        std::int64_t sum = 0;  // 64 bits on every target (long is 32 bits on wasm32)
        for (int i = 0; i < 1000000; ++i) sum += co_await add(i, 0);
        co_return sum;
    };
    EXPECT_EQ(loop.run_until_complete(body()), INT64_C(499999500000));
}

TEST(Coro, ExceptionsPropagateThroughAwait) {
    test_loop loop;
    auto failing = []() -> coro<int> {
        throw std::out_of_range("deep");
        co_return 1;
    };
    auto outer = [&]() -> coro<std::string> {
        try {
            co_await failing();
        } catch (const std::out_of_range& e) {
            co_return std::string("caught ") + e.what();
        }
        co_return "no";
    };
    EXPECT_EQ(loop.run_until_complete(outer()), "caught deep");
}

TEST(Coro, AwaitingTwiceIsAnError) {
    test_loop loop;
    auto body = []() -> coro<void> {
        auto c = add(1, 1);
        co_await c;
        EXPECT_THROW(co_await c, std::runtime_error);
    };
    loop.run_until_complete(body());
}

TEST(Coro, MoveOnlyAndReferenceResults) {
    test_loop loop;
    auto make = []() -> coro<std::unique_ptr<int>> { co_return std::make_unique<int>(42); };
    auto p = loop.run_until_complete(make());
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, 42);
    int x = 1;
    auto ref = [&]() -> coro<int&> { co_return x; };
    auto body = [&]() -> coro<void> {
        int& r = co_await ref();
        r = 7;
    };
    loop.run_until_complete(body());
    EXPECT_EQ(x, 7);
}

TEST(Task, ResultAndDoneCallback) {
    test_loop loop;
    auto t = loop.create_task(add(20, 22));
    std::vector<int> seen;
    t.add_done_callback([&](future<int>& f) { seen.push_back(f.result()); });
    EXPECT_FALSE(t.done());
    EXPECT_EQ(loop.run_until_complete(t), 42);
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(seen, std::vector<int>{42});
    EXPECT_EQ(t.result(), 42);
}

TEST(Task, AwaitAnotherTask) {
    test_loop loop;
    auto body = []() -> coro<int> {
        auto a = create_task(add(1, 2));
        auto b = create_task(add(3, 4));
        co_return co_await a + co_await b;
    };
    EXPECT_EQ(loop.run_until_complete(body()), 10);
}

TEST(Task, ExceptionIsStoredAndRethrown) {
    test_loop loop;
    auto failing = []() -> coro<void> {
        co_await sleep(0);
        throw std::runtime_error("task failed");
    };
    auto t = loop.create_task(failing());
    EXPECT_THROW(loop.run_until_complete(t), std::runtime_error);
    EXPECT_TRUE(t.done());
    EXPECT_FALSE(t.cancelled());
    EXPECT_NE(t.exception(), nullptr);
}

TEST(Task, NamesDefaultToTaskN) {
    test_loop loop;
    auto t1 = loop.create_task(add(1, 1));
    auto t2 = loop.create_task(add(1, 1), "custom");
    std::string n1 = t1.get_name();
    EXPECT_EQ(n1.rfind("Task-", 0), 0u);
    EXPECT_EQ(t2.get_name(), "custom");
    t2.set_name("renamed");
    EXPECT_EQ(t2.get_name(), "renamed");
    EXPECT_TRUE(static_cast<bool>(t1.get_coro()));
    loop.run_until_complete(t1);
    loop.run_until_complete(t2);
    EXPECT_FALSE(static_cast<bool>(t1.get_coro()));
}

TEST(Task, CancelIsDeliveredAtTheNextSuspensionWithMessage) {
    test_loop loop;
    std::string got;
    auto f = loop.create_future<int>();
    auto body = [&]() -> coro<void> {
        try {
            co_await f;
        } catch (const cancelled_error& e) {
            got = e.message();
            throw;
        }
    };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0));
    EXPECT_TRUE(t.cancel("because"));
    EXPECT_TRUE(f.cancelled()) << "cancelling a task cancels the future it awaits";
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_EQ(got, "because");
    EXPECT_TRUE(t.cancelled());
    try {
        (void)t.result();
    } catch (const cancelled_error& e) {
        EXPECT_EQ(e.message(), "because");
    }
}

TEST(Task, CancelTwiceAndAfterDone) {
    test_loop loop;
    auto t = loop.create_task(sleep(10));
    loop.run_until_complete(sleep(0));
    EXPECT_TRUE(t.cancel());
    EXPECT_TRUE(t.cancel());
    EXPECT_EQ(t.cancelling(), 2);
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_FALSE(t.cancel());
    auto u = loop.create_task(add(1, 2));
    loop.run_until_complete(u);
    EXPECT_FALSE(u.cancel());
    EXPECT_FALSE(u.cancelled());
}

TEST(Task, CancelBeforeFirstStepNeverRunsTheBody) {
    test_loop loop;
    bool ran = false;
    auto body = [&]() -> coro<void> {
        ran = true;
        co_return;
    };
    auto t = loop.create_task(body());
    t.cancel("early");
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_FALSE(ran);
    EXPECT_TRUE(t.cancelled());
}

TEST(Task, UncancelLetsTheTaskContinue) {
    test_loop loop;
    auto body = []() -> coro<std::string> {
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
            auto me = current_task();
            EXPECT_EQ(me->cancelling(), 1);
            EXPECT_EQ(me->uncancel(), 0);
        }
        co_await sleep(0);
        co_return "carried on";
    };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0));
    t.cancel();
    EXPECT_EQ(loop.run_until_complete(t), "carried on");
    EXPECT_FALSE(t.cancelled());
    EXPECT_EQ(t.cancelling(), 0);
}

TEST(Task, SwallowedCancellationReturnsValue) {
    test_loop loop;
    auto body = []() -> coro<int> {
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
        }
        co_return 3;
    };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0));
    t.cancel();
    EXPECT_EQ(loop.run_until_complete(t), 3);
    EXPECT_EQ(t.cancelling(), 1) << "the count stays until uncancel()";
}

TEST(Task, CancellationTravelsDownAChainOfAwaits) {
    test_loop loop;
    std::vector<std::string> unwound;
    auto f = loop.create_future<void>();
    auto leaf = [&]() -> coro<void> {
        try {
            co_await f;
        } catch (const cancelled_error&) {
            unwound.push_back("leaf");
            throw;
        }
    };
    auto middle = [&]() -> coro<void> {
        try {
            co_await leaf();
        } catch (const cancelled_error&) {
            unwound.push_back("middle");
            throw;
        }
    };
    auto t = loop.create_task(middle());
    loop.run_until_complete(sleep(0));
    t.cancel("down");
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_EQ(unwound, (std::vector<std::string>{"leaf", "middle"}));
    EXPECT_TRUE(f.cancelled());
}

TEST(Task, CancellingATaskCancelsTheTaskItAwaits) {
    test_loop loop;
    auto inner = loop.create_task(sleep(10));
    auto outer_body = [&]() -> coro<void> { co_await inner; };
    auto outer = loop.create_task(outer_body());
    loop.run_until_complete(sleep(0));
    outer.cancel();
    EXPECT_THROW(loop.run_until_complete(outer), cancelled_error);
    EXPECT_TRUE(inner.cancelled());
}

TEST(Task, TaskCancellingItself) {
    test_loop loop;
    bool after = false;
    auto body = [&]() -> coro<void> {
        current_task()->cancel("self");
        co_await sleep(0);
        after = true;
    };
    auto t = loop.create_task(body());
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_FALSE(after);
    EXPECT_TRUE(t.cancelled());
}

TEST(Task, SelfCancelThenReturnEndsCancelled) {
    test_loop loop;
    auto body = []() -> coro<int> {
        current_task()->cancel();
        co_return 1;
    };
    auto t = loop.create_task(body());
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.cancelled());
}

TEST(Task, CancelledErrorIsNotAStdException) {
    test_loop loop;
    bool swallowed = false;
    auto body = [&]() -> coro<void> {
        try {
            co_await sleep(10);
        } catch (const std::exception&) {
            swallowed = true;
        }
    };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0));
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_FALSE(swallowed);
    static_assert(!std::is_base_of_v<std::exception, cancelled_error>);
}

TEST(Task, AwaitingItselfIsAnError) {
    test_loop loop;
    std::shared_ptr<task<void>> self = std::make_shared<task<void>>();
    std::string error;
    auto body = [&]() -> coro<void> {
        try {
            co_await *self;
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
    };
    *self = loop.create_task(body());
    loop.run_until_complete(*self);
    EXPECT_NE(error.find("cannot await on itself"), std::string::npos) << error;
}

TEST(Task, AwaitingAFutureOfAnotherLoopIsAnError) {
    test_loop loop;
    test_loop other;
    auto foreign = other.create_future<int>();
    std::string error;
    auto body = [&]() -> coro<void> {
        try {
            co_await foreign;
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
    };
    loop.run_until_complete(body());
    EXPECT_NE(error.find("different loop"), std::string::npos) << error;
}

TEST(Task, CurrentTaskInsideAndOutside) {
    test_loop loop;
    EXPECT_THROW(current_task(), std::runtime_error) << "no running loop";
    EXPECT_FALSE(current_task(loop).has_value());
    std::shared_ptr<task<void>> t = std::make_shared<task<void>>();
    bool same = false;
    auto body = [&]() -> coro<void> {
        auto me = current_task();
        same = me.has_value() && *me == basic_task(*t);
        co_return;
    };
    *t = loop.create_task(body());
    loop.call_soon([&] { EXPECT_FALSE(current_task().has_value()) << "callbacks run outside any task"; });
    loop.run_until_complete(*t);
    EXPECT_TRUE(same);
}

TEST(Task, AllTasksListsPendingOnes) {
    test_loop loop;
    auto a = loop.create_task(sleep(10), "a");
    auto b = loop.create_task(add(1, 1), "b");
    loop.run_until_complete(b);
    auto body = [&]() -> coro<std::size_t> {
        auto all = all_tasks();
        std::size_t n = 0;
        for (auto& t : all)
            if (t == basic_task(a)) ++n;
        EXPECT_EQ(all.size(), 2u) << "a and the running one";
        co_return n;
    };
    EXPECT_EQ(loop.run_until_complete(body()), 1u);
    a.cancel();
    EXPECT_THROW(loop.run_until_complete(a), cancelled_error);
    EXPECT_TRUE(all_tasks(loop).empty());
}

TEST(Task, EnterAndLeaveTaskErrors) {
    test_loop loop;
    auto t1 = loop.create_task(add(1, 1), "one");
    auto t2 = loop.create_task(add(1, 1), "two");
    enter_task(loop, t1);
    EXPECT_TRUE(current_task(loop).has_value());
    try {
        enter_task(loop, t2);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Cannot enter into task two while another task one is being executed.");
    }
    try {
        leave_task(loop, t2);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Leaving task two does not match the current task one.");
    }
    leave_task(loop, t1);
    EXPECT_FALSE(current_task(loop).has_value());
    EXPECT_THROW(leave_task(loop, t1), std::runtime_error);
    loop.run_until_complete(t1);
    loop.run_until_complete(t2);
}

TEST(Task, RegisterAndUnregisterTask) {
    test_loop loop;
    auto t = loop.create_task(sleep(10), "reg");
    auto count = [&] { return all_tasks(loop).size(); };
    EXPECT_EQ(count(), 1u);
    unregister_task(t);
    EXPECT_EQ(count(), 0u);
    register_task(t);
    register_task(t);
    EXPECT_EQ(count(), 1u);
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
}

TEST(Task, UnretrievedTaskExceptionIsReported) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    auto failing = []() -> coro<void> {
        throw std::runtime_error("nobody looks");
        co_return;
    };
    {
        auto t = loop.create_task(failing());
        loop.run_until_complete(sleep(0));
        loop.run_until_complete(sleep(0));
        EXPECT_TRUE(t.done());
    }
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(log.calls[0].message, "Task exception was never retrieved");
    EXPECT_TRUE(log.calls[0].task.has_value());
}

TEST(Task, PendingTaskDestroyedWithItsLoopIsReported) {
    handler_log log;
    bool unwound = false;
    {
        test_loop loop;
        log.install(loop);
        auto f = loop.create_future<void>();
        auto body = [&]() -> coro<void> {
            struct guard {
                bool& flag;
                ~guard() { flag = true; }
            } g{unwound};
            co_await f;
        };
        loop.create_task(body(), "stuck");
        loop.run_until_complete(sleep(0));
        loop.close();
        EXPECT_TRUE(unwound) << "the coroutine's locals are destroyed";
    }
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(log.calls[0].message, "Task was destroyed but it is pending!");
    ASSERT_TRUE(log.calls[0].task.has_value());
}

TEST(Task, LoopKeepsUnreferencedTasksAlive) {
    test_loop loop;
    int done = 0;
    auto body = [&]() -> coro<void> {
        co_await sleep(0.001);
        ++done;
    };
    for (int i = 0; i < 10; ++i) (void)loop.create_task(body());
    loop.run_until_complete(sleep(0.005));
    EXPECT_EQ(done, 10);
}

TEST(Task, CreateTaskOfAnEmptyCoroIsRejected) {
    test_loop loop;
    coro<int> c = add(1, 2);
    coro<int> moved = std::move(c);
    EXPECT_THROW(loop.create_task(std::move(c)), std::invalid_argument);
    EXPECT_EQ(loop.run_until_complete(std::move(moved)), 3);
}

TEST(Task, AwaitOutsideATaskIsAnError) {
    test_loop loop;
    auto f = loop.create_future<int>();
    f.set_result(1);
    // A done future needs no task: awaiting it returns at once.
    auto body = [&]() -> coro<int> { co_return co_await f; };
    EXPECT_EQ(loop.run_until_complete(body()), 1);
}

TEST(Sleep, ZeroYieldsExactlyOnce) {
    test_loop loop;
    std::vector<std::string> order;
    auto a = [&]() -> coro<void> {
        order.push_back("a1");
        co_await sleep(0);
        order.push_back("a2");
    };
    auto b = [&]() -> coro<void> {
        order.push_back("b1");
        co_await sleep(0);
        order.push_back("b2");
    };
    loop.create_task(a());
    auto tb = loop.create_task(b());
    loop.run_until_complete(tb);
    EXPECT_EQ(order, (std::vector<std::string>{"a1", "b1", "a2", "b2"}));
}

TEST(Sleep, NegativeIsZeroNanIsRejectedValueIsReturned) {
    test_loop loop;
    loop.run_until_complete(sleep(-5));
    EXPECT_THROW(loop.run_until_complete(sleep(std::nan(""))), std::invalid_argument);
    EXPECT_EQ(loop.run_until_complete(sleep(0.001, std::string("later"))), "later");
    using namespace std::chrono_literals;
    EXPECT_EQ(loop.run_until_complete(sleep(1ms, 5)), 5);
}

TEST(Sleep, CancelledSleepLeavesNoTimerBehind) {
    test_loop loop;
    auto t = loop.create_task(sleep(1000));
    loop.run_until_complete(sleep(0));
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    // The loop has nothing left: a stop is served at once, not after 1000 s.
    loop.stop();
    loop.run_forever();
}

// sleep's timer wakes the task itself; cancelling the task disarms it, and the
// coroutine sees the cancel message.
TEST(Sleep, CancelReachesTheSleeperWithItsMessageAndDisarmsTheTimer) {
    test_loop loop;
    std::string got;
    auto sleeper = [&]() -> coro<void> {
        try {
            co_await sleep(1000);
        } catch (const cancelled_error& e) {
            got = e.message();
            throw;
        }
    };
    auto t = loop.create_task(sleeper());
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(loop.base().scheduled_timer_count(), 1u);
    EXPECT_TRUE(t.cancel("wake up"));
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_EQ(got, "wake up");
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(loop.base().scheduled_timer_count(), 0u);
}

// sleep's timer lives in its awaiter: a cancellation takes it out of the loop's heap at
// once (no cancelled entry left to drop later), wherever it sits in the heap, and the
// other sleepers, and call_later callbacks due at the same times, keep their order.
TEST(Sleep, CancelledSleepsLeaveTheHeapAtOnceAndTheRestKeepTheirOrder) {
    test_loop loop;
    std::vector<int> woke;
    auto sleeper = [&](double d, int id) -> coro<void> {
        co_await sleep(d);
        woke.push_back(id);
    };
    std::vector<task<void>> tasks;
    // Deadlines 1..40, created out of order. A call_later due at 21 as a sleeper is runs in
    // the iteration the timers fire, the sleeper one turn later (asyncio: the sleep's
    // timer resolves a future, whose callback then wakes the task).
    for (int i = 0; i < 40; ++i) {
        const int d = (i * 17) % 40 + 1;
        tasks.push_back(loop.create_task(sleeper(d, d)));
    }
    loop.run_until_complete(sleep(0));
    loop.call_later(21 - loop.time(), [&] { woke.push_back(-21); });
    EXPECT_EQ(loop.base().scheduled_timer_count(), 41u);
    // Cancel every third sleeper: each leaves the heap immediately.
    std::size_t expected = 41;
    for (int i = 0; i < 40; i += 3) {
        EXPECT_TRUE(tasks[static_cast<std::size_t>(i)].cancel());
        EXPECT_EQ(loop.base().scheduled_timer_count(), --expected);
    }
    loop.run_until_complete(sleep(50));
    std::vector<int> want;
    for (int i = 0; i < 40; ++i)
        if (i % 3 != 0) want.push_back((i * 17) % 40 + 1);
    std::sort(want.begin(), want.end());
    auto tie = std::find(want.begin(), want.end(), 21);
    ASSERT_NE(tie, want.end());
    want.insert(tie, -21);
    EXPECT_EQ(woke, want);
    EXPECT_EQ(loop.base().scheduled_timer_count(), 0u);
}

// A loop closed with tasks still asleep: the sleeps' timers go with the loop's heap and
// the abandoned frames (their awaiters) are destroyed after it without touching it.
TEST(Sleep, ClosingTheLoopWithSleepersLeavesNothingBehind) {
    auto loop = std::make_unique<test_loop>();
    int finished = 0;
    auto sleeper = [&](double d) -> coro<void> {
        co_await sleep(d);
        ++finished;
    };
    for (int i = 1; i <= 5; ++i) loop->create_task(sleeper(i * 10.0));
    loop->run_until_complete(sleep(15));
    EXPECT_EQ(finished, 1);
    EXPECT_EQ(loop->base().scheduled_timer_count(), 4u);
    loop->close();
    loop.reset();
    EXPECT_EQ(finished, 1);
}

TEST(Run, ReturnsTheResultOnAFreshLoop) {
    EXPECT_EQ(run(add(5, 6)), 11);
    EXPECT_EQ(running_loop(), nullptr);
}

TEST(Run, CancelsLeftoverTasksAndReportsTheirErrors) {
    bool cleanup_ran = false;
    auto lingering = [&]() -> coro<void> {
        try {
            co_await sleep(1000);
        } catch (const cancelled_error&) {
            cleanup_ran = true;
            throw;
        }
    };
    auto stubborn = []() -> coro<void> {
        try {
            co_await sleep(1000);
        } catch (const cancelled_error&) {
        }
        throw std::runtime_error("failed while cancelled");
    };
    auto main_coro = [&]() -> coro<int> {
        (void)create_task(lingering());
        (void)create_task(stubborn());
        co_await sleep(0);
        co_return 1;
    };
    testing::internal::CaptureStderr();
    EXPECT_EQ(run(main_coro()), 1);
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(cleanup_ran);
    EXPECT_NE(err.find("unhandled exception during duet::run() shutdown"), std::string::npos) << err;
    EXPECT_NE(err.find("failed while cancelled"), std::string::npos) << err;
}

TEST(Run, CannotBeCalledFromARunningLoop) {
    test_loop loop;
    std::string error;
    auto body = [&]() -> coro<void> {
        try {
            run(add(1, 1));
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        co_return;
    };
    loop.run_until_complete(body());
    EXPECT_EQ(error, "duet::run() cannot be called from a running event loop");
}

TEST(Run, RunnerReusesItsLoop) {
    runner r([] { return std::unique_ptr<abstract_event_loop>(new test_loop()); });
    EXPECT_EQ(r.run(add(1, 2)), 3);
    auto* first = &r.get_loop();
    EXPECT_EQ(r.run(add(3, 4)), 7);
    EXPECT_EQ(&r.get_loop(), first);
    r.close();
    EXPECT_THROW(r.get_loop(), std::runtime_error);
}

// A task abandoned because its loop closed keeps no done callbacks: they can never run,
// and one that refers back to the task (directly, or through a gather or shield over it)
// used to keep the task and everything it held alive for ever.
TEST(Task, AbandonedTaskDropsItsDoneCallbacks) {
    auto sentinel = std::make_shared<int>(0);
    {
        test_loop loop;
        loop.set_exception_handler([](abstract_event_loop&, const exception_context&) {});
        auto t = loop.create_task(sleep(1000));
        t.add_done_callback([t, sentinel](basic_future&) {});
        loop.run_until_complete(sleep(0));
        EXPECT_EQ(sentinel.use_count(), 2);
        loop.close();
    }
    EXPECT_EQ(sentinel.use_count(), 1) << "the callback (and the task it captured) is gone";
}

}  // namespace
}  // namespace duet::test
