// The loop contract: asyncio's BaseEventLoop observable behaviour, which every loop of
// the target must show (typed tests over contract_loops).
#include <atomic>
#include <cmath>
#include <thread>

#include "test_loop.hpp"

namespace duet::test {
namespace {

template <class L>
class Loop : public ::testing::Test {};
TYPED_TEST_SUITE(Loop, contract_loops);

TYPED_TEST(Loop, CallSoonRunsInFifoOrderSkippingCancelled) {
    TypeParam loop;
    std::vector<int> order;
    loop.call_soon([&] { order.push_back(1); });
    auto h = loop.call_soon([&] { order.push_back(2); });
    loop.call_soon([&](int v) { order.push_back(v); }, 3);
    h.cancel();
    EXPECT_TRUE(h.cancelled());
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1, 3}));
}

TYPED_TEST(Loop, ManyCallbacksRunInFifoOrderAsTheReadyQueueGrows) {
    // 20,000 entries: the ready ring outgrows a plain allocation into a mapped buffer
    // (natively, past 256 KiB) and is copied at every doubling while entries wait in it.
    TypeParam loop;
    constexpr int n = 20'000;
    std::vector<int> order;
    order.reserve(n);
    for (int i = 0; i < n; ++i) loop.call_soon([&order](int v) { order.push_back(v); }, i);
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    ASSERT_EQ(order.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        if (order[static_cast<std::size_t>(i)] != i) FAIL() << "callback " << i << " ran out of order";
}

TYPED_TEST(Loop, EachIterationRunsOnlyWhatWasReadyWhenItBegan) {
    TypeParam loop;
    std::vector<std::string> order;
    loop.call_soon([&] {
        order.push_back("a");
        loop.call_soon([&] { order.push_back("a2"); });
    });
    loop.call_soon([&] { order.push_back("b"); });
    loop.call_soon([&] {
        order.push_back("c");
        loop.call_soon([&] { loop.stop(); });
    });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c", "a2"}));
}

TYPED_TEST(Loop, StopBeforeRunForeverRunsOneIteration) {
    TypeParam loop;
    std::vector<int> order;
    loop.call_soon([&] {
        order.push_back(1);
        loop.call_soon([&] { order.push_back(2); });
    });
    loop.stop();
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1}));
    loop.stop();
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TYPED_TEST(Loop, StopInCallbackLetsTheCurrentBatchFinish) {
    TypeParam loop;
    std::vector<int> order;
    loop.call_soon([&] {
        order.push_back(1);
        loop.stop();
        loop.call_soon([&] { order.push_back(3); });
    });
    loop.call_soon([&] { order.push_back(2); });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
    EXPECT_FALSE(loop.is_running());
}

TYPED_TEST(Loop, IsRunningAndRunningLoop) {
    TypeParam loop;
    EXPECT_FALSE(loop.is_running());
    EXPECT_EQ(running_loop(), nullptr);
    EXPECT_THROW(get_running_loop(), std::runtime_error);
    bool inside = false;
    abstract_event_loop* seen = nullptr;
    loop.call_soon([&] {
        inside = loop.is_running();
        seen = &get_running_loop();
        loop.stop();
    });
    loop.run_forever();
    EXPECT_TRUE(inside);
    EXPECT_EQ(seen, &loop);
    EXPECT_FALSE(loop.is_running());
    EXPECT_EQ(running_loop(), nullptr);
}

TYPED_TEST(Loop, StopInsideRunUntilCompleteRaisesAndLoopStaysUsable) {
    TypeParam loop;
    auto f = loop.template create_future<int>();
    loop.call_soon([&] { loop.stop(); });
    try {
        loop.run_until_complete(f);
        FAIL() << "expected an error";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Event loop stopped before Future completed.");
    }
    EXPECT_FALSE(loop.is_running());
    loop.call_soon([&] { f.set_result(5); });
    EXPECT_EQ(loop.run_until_complete(f), 5);
}

TYPED_TEST(Loop, NestedRunUntilCompleteIsAnError) {
    TypeParam loop;
    std::string error;
    auto outer = [&]() -> coro<void> {
        try {
            loop.run_until_complete(sleep(0));
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        co_return;
    };
    loop.run_until_complete(outer());
    EXPECT_EQ(error, "This event loop is already running");
}

TYPED_TEST(Loop, AnotherLoopCannotRunInsideARunningOne) {
    TypeParam loop;
    std::string error;
    loop.call_soon([&] {
        TypeParam other;
        try {
            other.run_until_complete(sleep(0));
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        loop.stop();
    });
    loop.run_forever();
    EXPECT_EQ(error, "Cannot run the event loop while another loop is running");
}

TYPED_TEST(Loop, ClosedLoopRejectsWorkAndCloseTwiceIsFine) {
    TypeParam loop;
    loop.close();
    EXPECT_TRUE(loop.is_closed());
    EXPECT_NO_THROW(loop.close());
    EXPECT_THROW(loop.call_soon([] {}), std::runtime_error);
    EXPECT_THROW(loop.call_later(1.0, [] {}), std::runtime_error);
    EXPECT_THROW(loop.call_soon_threadsafe([] {}), std::runtime_error);
    EXPECT_THROW(loop.run_forever(), std::runtime_error);
    EXPECT_NO_THROW(loop.template create_future<int>()) << "asyncio allows it";
    EXPECT_THROW(loop.run_until_complete(sleep(0)), std::runtime_error);
}

TYPED_TEST(Loop, CloseWhileRunningIsAnError) {
    TypeParam loop;
    std::string error;
    loop.call_soon([&] {
        try {
            loop.close();
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        loop.stop();
    });
    loop.run_forever();
    EXPECT_EQ(error, "Cannot close a running event loop");
    EXPECT_FALSE(loop.is_closed());
}

TYPED_TEST(Loop, CloseDropsPendingCallbacks) {
    bool ran = false;
    {
        TypeParam loop;
        loop.call_soon([&] { ran = true; });
        loop.call_later(0.001, [&] { ran = true; });
        loop.close();
    }
    EXPECT_FALSE(ran);
}

TYPED_TEST(Loop, NegativeDelaysRunInDeadlineOrder) {
    TypeParam loop;
    std::vector<int> order;
    loop.call_later(-1.0, [&] { order.push_back(1); });
    loop.call_later(-2.0, [&] { order.push_back(2); });
    loop.call_later(0.0, [&] { order.push_back(3); });
    loop.call_later(-2.0, [&] { order.push_back(4); });
    loop.call_later(0.001, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{2, 4, 1, 3}));
}

TYPED_TEST(Loop, TimersRunInDeadlineOrderAndNeverEarly) {
    TypeParam loop;
    std::vector<std::pair<double, double>> fired;  // (when, time at run)
    std::vector<int> order;
    const double delays[] = {0.004, 0.001, 0.003, 0.002, 0.001};
    for (int i = 0; i < 5; ++i) {
        auto h = std::make_shared<timer_handle>();
        *h = loop.call_later(delays[i], [&, i, h] {
            order.push_back(i);
            fired.emplace_back(h->when(), loop.time());
        });
    }
    loop.call_later(0.005, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1, 4, 3, 2, 0}));
    for (auto [when, at] : fired) EXPECT_GE(at, when);
}

TYPED_TEST(Loop, CallAtUsesLoopTime) {
    TypeParam loop;
    double t0 = loop.time();
    double at = -1;
    auto h = loop.call_at(t0 + 0.002, [&] {
        at = loop.time();
        loop.stop();
    });
    EXPECT_DOUBLE_EQ(h.when(), t0 + 0.002);
    loop.run_forever();
    EXPECT_GE(at, t0 + 0.002);
    EXPECT_GE(loop.time(), t0);
}

TYPED_TEST(Loop, CancelledTimerDoesNotRun) {
    TypeParam loop;
    bool ran = false;
    auto h = loop.call_later(0.001, [&] { ran = true; });
    h.cancel();
    loop.call_later(0.002, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_FALSE(ran);
    EXPECT_TRUE(h.cancelled());
}

TYPED_TEST(Loop, ChronoDelays) {
    using namespace std::chrono_literals;
    TypeParam loop;
    bool ran = false;
    // The deadline is the clock at the call plus 1 ms: bracket the call with two clock
    // reads (a real clock may move any amount in between on a busy machine).
    double before = loop.time();
    auto h = loop.call_later(1ms, [&] {
        ran = true;
        loop.stop();
    });
    double after = loop.time();
    EXPECT_GE(h.when(), before + 0.001 - 1e-9);
    EXPECT_LE(h.when(), after + 0.001 + 1e-9);
    loop.run_forever();
    EXPECT_TRUE(ran);
}

TYPED_TEST(Loop, NanTimeIsRejected) {
    TypeParam loop;
    EXPECT_THROW(loop.call_at(std::nan(""), [] {}), std::invalid_argument);
    EXPECT_THROW(loop.call_later(std::nan(""), [] {}), std::invalid_argument);
}

TYPED_TEST(Loop, CallbackExceptionGoesToHandlerWithContext) {
    TypeParam loop;
    handler_log log;
    log.install(loop);
    auto h = loop.call_soon([] { throw std::runtime_error("cb failed"); });
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(log.calls[0].message, "Exception in callback");
    ASSERT_TRUE(log.calls[0].handle.has_value());
    EXPECT_TRUE(*log.calls[0].handle == h);
    try {
        std::rethrow_exception(log.calls[0].exception);
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "cb failed");
    }
}

TYPED_TEST(Loop, ThrowingExceptionHandlerDoesNotBreakTheLoop) {
    TypeParam loop;
    int handler_calls = 0;
    loop.set_exception_handler([&](abstract_event_loop&, const exception_context&) {
        ++handler_calls;
        throw std::logic_error("handler is broken");
    });
    bool after = false;
    loop.call_soon([] { throw std::runtime_error("first"); });
    loop.call_soon([&] {
        after = true;
        loop.stop();
    });
    testing::internal::CaptureStderr();
    loop.run_forever();
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(handler_calls, 1);
    EXPECT_TRUE(after);
    EXPECT_NE(err.find("Unhandled error in exception handler"), std::string::npos);
    EXPECT_NE(err.find("handler is broken"), std::string::npos);
}

TYPED_TEST(Loop, DefaultExceptionHandlerPrintsMessageAndException) {
    TypeParam loop;
    EXPECT_FALSE(static_cast<bool>(loop.get_exception_handler()));
    exception_context ctx;
    ctx.message = "something odd";
    ctx.exception = std::make_exception_ptr(std::runtime_error("the cause"));
    testing::internal::CaptureStderr();
    loop.call_exception_handler(ctx);
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("something odd"), std::string::npos);
    EXPECT_NE(err.find("the cause"), std::string::npos);
}

TYPED_TEST(Loop, ExceptionHandlerCanBeReplacedAndRead) {
    TypeParam loop;
    int calls = 0;
    loop.set_exception_handler([&](abstract_event_loop& l, const exception_context& c) {
        ++calls;
        l.default_exception_handler(c);
    });
    EXPECT_TRUE(static_cast<bool>(loop.get_exception_handler()));
    testing::internal::CaptureStderr();
    loop.call_exception_handler({"via custom", nullptr, std::nullopt, std::nullopt, std::nullopt});
    EXPECT_NE(testing::internal::GetCapturedStderr().find("via custom"), std::string::npos);
    EXPECT_EQ(calls, 1);
    loop.set_exception_handler(nullptr);
    EXPECT_FALSE(static_cast<bool>(loop.get_exception_handler()));
}

TYPED_TEST(Loop, DebugFlag) {
    TypeParam loop;
    EXPECT_FALSE(loop.get_debug());
    loop.set_debug(true);
    EXPECT_TRUE(loop.get_debug());
}

TYPED_TEST(Loop, RunUntilCompleteRejectsAFutureOfAnotherLoop) {
    TypeParam a;
    TypeParam b;
    auto f = b.template create_future<int>();
    EXPECT_THROW(a.run_until_complete(f), std::invalid_argument);
}

TYPED_TEST(Loop, RunUntilCompleteOfADoneFutureReturnsAtOnce) {
    TypeParam loop;
    auto f = loop.template create_future<int>();
    f.set_result(9);
    EXPECT_EQ(loop.run_until_complete(f), 9);
}

TYPED_TEST(Loop, TimeIsMonotonic) {
    TypeParam loop;
    double a = loop.time();
    double b = loop.time();
    EXPECT_LE(a, b);
}

#ifdef DUET_TEST_HAS_THREADS
TYPED_TEST(Loop, CallSoonThreadsafeFromManyThreadsKeepsPerThreadOrder) {
    TypeParam loop;
    constexpr int threads = 4;
    constexpr int per_thread = 2500;
    std::vector<std::vector<int>> seen(threads);
    std::atomic<int> finished{0};
    std::vector<std::thread> workers;
    threadsafe_work_guard expect(loop);  // bare threads call back: a virtual loop waits for them
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) loop.call_soon_threadsafe([&, t, i] { seen[t].push_back(i); });
            if (++finished == threads) loop.call_soon_threadsafe([&] { loop.stop(); });
        });
    }
    loop.run_forever();
    for (auto& w : workers) w.join();
    for (int t = 0; t < threads; ++t) {
        ASSERT_EQ(seen[t].size(), static_cast<std::size_t>(per_thread)) << "thread " << t;
        for (int i = 0; i < per_thread; ++i) ASSERT_EQ(seen[t][i], i);
    }
}

TYPED_TEST(Loop, CallSoonThreadsafeWakesAnIdleLoop) {
    TypeParam loop;
    bool ran = false;
    threadsafe_work_guard expect(loop);
    std::thread th([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        loop.call_soon_threadsafe([&] {
            ran = true;
            loop.stop();
        });
    });
    loop.run_forever();
    th.join();
    EXPECT_TRUE(ran);
}
#endif

TYPED_TEST(Loop, TaskFactoryChoosesEagerStart) {
    TypeParam loop;
    std::vector<std::string> seen;
    loop.set_task_factory([&](abstract_event_loop&, basic_task& t) {
        seen.push_back(t.get_name());
        return task_start::eager;
    });
    EXPECT_TRUE(static_cast<bool>(loop.get_task_factory()));
    bool started = false;
    auto body = [&]() -> coro<int> {
        started = true;
        co_return 4;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(body(), "eager-one");
        EXPECT_TRUE(started) << "an eager task runs its first step inside create_task";
        EXPECT_TRUE(t.done());
        EXPECT_EQ(co_await t, 4);
    }());
    EXPECT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen.back(), "eager-one");
}

TYPED_TEST(Loop, DefaultTaskStartIsOnTheNextIteration) {
    TypeParam loop;
    bool started = false;
    auto body = [&]() -> coro<void> {
        started = true;
        co_return;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(body());
        EXPECT_FALSE(started);
        co_await t;
        EXPECT_TRUE(started);
    }());
}

// alive() answers repeated checks of one loop from a cache, which must not outlive it.
TYPED_TEST(Loop, AliveUntilDestroyed) {
    auto a = std::make_unique<TypeParam>();
    auto b = std::make_unique<TypeParam>();
    // volatile: the checks of a destroyed loop's address are the point here, and g++ 12
    // warns (-Wuse-after-free) when it can see the deletion.
    const base_event_loop* volatile pa = a.get();
    const base_event_loop* volatile pb = b.get();
    EXPECT_TRUE(base_event_loop::alive(pa));
    EXPECT_TRUE(base_event_loop::alive(pa));
    EXPECT_TRUE(base_event_loop::alive(pb));
    a->close();
    EXPECT_TRUE(base_event_loop::alive(pa));  // closed is not destroyed
    EXPECT_TRUE(base_event_loop::alive(pa));
    a.reset();
    EXPECT_FALSE(base_event_loop::alive(pa));
    EXPECT_TRUE(base_event_loop::alive(pb));
    b.reset();
    EXPECT_FALSE(base_event_loop::alive(pb));
    EXPECT_FALSE(base_event_loop::alive(nullptr));
}

}  // namespace
}  // namespace duet::test
