// Ports of CPython's loop-level test_asyncio cases (test_base_events.py, test_events.py:
// HandleTests, TimerTests, AbstractEventLoopTests, PolicyTests) that the other core suites
// do not already cover. Each TEST names the case it ports. Time is the virtual clock's.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <compare>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

// ---- BaseEventLoopTests (test_base_events.py)

// test_call_soon: the callback runs with the arguments given at the call, once.
TEST(BaseEventsSteps, CallSoonPassesItsArguments) {
    test_loop loop;
    std::vector<std::string> got;
    handle h = loop.call_soon([&](int n, const std::string& s) { got.push_back(s + std::to_string(n)); }, 7, "x");
    EXPECT_TRUE(static_cast<bool>(h));
    EXPECT_FALSE(h.cancelled());
    loop.run_until_complete(sleep(0));
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(got, std::vector<std::string>{"x7"});
    loop.close();
}

// test_call_later: the callback runs `delay` after time(), not before.
TEST(BaseEventsSteps, CallLaterRunsAtItsDelay) {
    test_loop loop;
    double start = loop.time();
    double ran_at = -1;
    timer_handle h = loop.call_later(0.1, [&] { ran_at = loop.time(); });
    EXPECT_DOUBLE_EQ(h.when(), start + 0.1);
    loop.run_until_complete(sleep(0.05));
    EXPECT_EQ(ran_at, -1) << "not due yet";
    loop.run_until_complete(sleep(0.1));
    EXPECT_DOUBLE_EQ(ran_at, start + 0.1);
    loop.close();
}

// test_time_and_call_at: call_at takes loop time; time() moves by what the loop waited.
TEST(BaseEventsSteps, TimeAndCallAt) {
    test_loop loop;
    double t0 = loop.time();
    double ran_at = -1;
    loop.call_at(t0 + 0.25, [&] { ran_at = loop.time(); });
    loop.run_until_complete(sleep(0.5));
    EXPECT_DOUBLE_EQ(ran_at, t0 + 0.25);
    EXPECT_DOUBLE_EQ(loop.time() - t0, 0.5);
    loop.close();
}

// test__run_once (the heap of timers): call_later and call_at with the same deadline run
// in the order they were scheduled, whichever method scheduled them.
TEST(BaseEventsSteps, EqualDeadlinesFromCallLaterAndCallAtKeepSchedulingOrder) {
    test_loop loop;
    std::vector<int> order;
    double when = loop.time() + 1;
    loop.call_at(when, [&] { order.push_back(1); });
    loop.call_later(1.0, [&] { order.push_back(2); });
    loop.call_at(when, [&] { order.push_back(3); });
    loop.call_later(0.5, [&] { order.push_back(0); });
    loop.run_until_complete(sleep(2));
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
    loop.close();
}

// test_run_until_complete_type_error: run_until_complete needs a future (asyncio's
// TypeError; duet: std::invalid_argument for a null one).
TEST(BaseEventsSteps, RunUntilCompleteOfANullFutureIsInvalid) {
    test_loop loop;
    EXPECT_THROW(loop.run_until_complete(future<int>()), std::invalid_argument);
    EXPECT_FALSE(loop.is_running());
    EXPECT_EQ(loop.run_until_complete(value_after(0, 3)), 3) << "the loop stays usable";
    loop.close();
}

// test_run_until_complete_error: the task's exception is raised,
// with its own type and message, and the loop is left stopped and usable.
TEST(BaseEventsSteps, RunUntilCompleteRaisesTheTasksException) {
    test_loop loop;
    auto failing = []() -> coro<int> {
        co_await sleep(0.1);
        throw std::domain_error("failed in the task");
    };
    try {
        loop.run_until_complete(failing());
        ADD_FAILURE() << "no exception";
    } catch (const std::domain_error& e) {
        EXPECT_STREQ(e.what(), "failed in the task");
    }
    EXPECT_FALSE(loop.is_running());
    EXPECT_EQ(running_loop(), nullptr);
    EXPECT_EQ(loop.run_until_complete(value_after(0, 4)), 4);
    loop.close();
}

// test_run_until_complete with a finished future: asyncio still runs one iteration (the
// done callback that stops the loop is scheduled with call_soon), so callbacks already
// queued run.
TEST(BaseEventsSteps, RunUntilCompleteOfAFinishedFutureRunsOneIteration) {
    test_loop loop;
    auto f = loop.create_future<int>();
    f.set_exception(std::make_exception_ptr(std::out_of_range("already failed")));
    bool queued_ran = false;
    loop.call_soon([&] { queued_ran = true; });
    EXPECT_THROW(loop.run_until_complete(f), std::out_of_range);
    EXPECT_TRUE(queued_ran);
    loop.close();
}

// test_run_forever_pre_stopped, applied to run_until_complete: a stop() requested before
// the run ends it after one iteration (the future still pending: asyncio's RuntimeError),
// and leaves no stale stop for the next run.
TEST(BaseEventsSteps, StopBeforeRunUntilCompleteOnlyEndsThatRun) {
    test_loop loop;
    loop.stop();
    auto f = loop.create_future<int>();
    EXPECT_EQ(runtime_error_of([&] { loop.run_until_complete(f); }), "Event loop stopped before Future completed.");
    loop.call_later(0.5, [&] { f.set_result(8); });
    EXPECT_EQ(loop.run_until_complete(f), 8);
    EXPECT_DOUBLE_EQ(loop.time(), 0.5);
    loop.close();
}

// test_close: a closed loop refuses to run and to schedule, with asyncio's message.
TEST(BaseEventsSteps, ClosedLoopRefusesEverything) {
    test_loop loop;
    loop.close();
    EXPECT_TRUE(loop.is_closed());
    EXPECT_EQ(runtime_error_of([&] { loop.run_forever(); }), "Event loop is closed");
    auto f = loop.create_future<int>();
    EXPECT_EQ(runtime_error_of([&] { loop.run_until_complete(f); }), "Event loop is closed");
    EXPECT_THROW(loop.call_soon([] {}), std::runtime_error);
    EXPECT_THROW(loop.call_later(1, [] {}), std::runtime_error);
    EXPECT_THROW(loop.call_at(1, [] {}), std::runtime_error);
    EXPECT_THROW(loop.call_soon_threadsafe([] {}), std::runtime_error);
    EXPECT_THROW(loop.create_task(sleep(0)), std::runtime_error);
    loop.close();  // twice is fine
}

// test_create_task_error_closes_coro: create_task on a closed loop raises, and the
// coroutine is destroyed without having started (what it holds is released).
TEST(BaseEventsSteps, CreateTaskOnAClosedLoopDestroysTheCoroutine) {
    test_loop loop;
    loop.close();
    auto token = std::make_shared<int>(0);
    bool started = false;
    auto body = [&started](std::shared_ptr<int> held) -> coro<void> {
        started = true;
        (void)held;
        co_return;
    };
    std::string error = runtime_error_of([&] { (void)loop.create_task(body(token)); });
    EXPECT_NE(error.find("Event loop is closed"), std::string::npos) << error;
    EXPECT_EQ(token.use_count(), 1);
    EXPECT_FALSE(started);
}

// test_run_until_complete_nesting, for run_forever: run_forever from inside a
// callback of the same loop is refused, and the outer run carries on.
TEST(BaseEventsSteps, RunForeverInsideItsOwnCallbackIsRefused) {
    test_loop loop;
    std::string error;
    loop.call_soon([&] {
        error = runtime_error_of([&] { loop.run_forever(); });
        loop.stop();
    });
    loop.run_forever();
    EXPECT_EQ(error, "This event loop is already running");
    EXPECT_FALSE(loop.is_running());
    loop.close();
}

// test_close_running_event_loop (test_events): close() refused from a
// task, and the loop is still open afterwards.
TEST(BaseEventsSteps, CloseFromATaskIsRefused) {
    test_loop loop;
    auto body = [&]() -> coro<std::string> { co_return runtime_error_of([&] { loop.close(); }); };
    EXPECT_EQ(loop.run_until_complete(body()), "Cannot close a running event loop");
    EXPECT_FALSE(loop.is_closed());
    loop.close();
    EXPECT_TRUE(loop.is_closed());
}

// test_set_exc_handler_custom: a custom handler replaces the default one; resetting it
// restores the default.
TEST(BaseEventsSteps, ExceptionHandlerSetAndReset) {
    test_loop loop;
    EXPECT_FALSE(static_cast<bool>(loop.get_exception_handler()));
    handler_log log;
    log.install(loop);
    EXPECT_TRUE(static_cast<bool>(loop.get_exception_handler()));
    loop.call_soon([] { throw std::runtime_error("to the custom handler"); });
    loop.run_until_complete(sleep(0));
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(error_of(log.calls[0].exception), "to the custom handler");

    loop.set_exception_handler(nullptr);
    EXPECT_FALSE(static_cast<bool>(loop.get_exception_handler()));
    loop.call_soon([] { throw std::runtime_error("to the default handler"); });
    testing::internal::CaptureStderr();
    loop.run_until_complete(sleep(0));
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(log.calls.size(), 1u) << "the custom handler is gone";
    EXPECT_NE(err.find("to the default handler"), std::string::npos) << err;
    loop.close();
}

// test_set_task_factory: none by default; the factory sees this loop and each new task;
// a null factory restores the default.
TEST(BaseEventsSteps, TaskFactorySetGetAndReset) {
    test_loop loop;
    EXPECT_FALSE(static_cast<bool>(loop.get_task_factory()));
    std::vector<std::string> seen;
    abstract_event_loop* seen_loop = nullptr;
    loop.set_task_factory([&](abstract_event_loop& l, basic_task& t) {
        seen_loop = &l;
        seen.push_back(t.get_name());
        return task_start::soon;
    });
    EXPECT_TRUE(static_cast<bool>(loop.get_task_factory()));
    auto t = loop.create_task(value_after(0, 1), "through-the-factory");
    EXPECT_EQ(loop.run_until_complete(t), 1);
    EXPECT_EQ(seen_loop, &loop);
    EXPECT_EQ(seen, std::vector<std::string>{"through-the-factory"});

    loop.set_task_factory(nullptr);
    EXPECT_FALSE(static_cast<bool>(loop.get_task_factory()));
    loop.run_until_complete(loop.create_task(value_after(0, 2), "not-through-it"));
    EXPECT_EQ(seen.size(), 1u);
    loop.close();
}

// test_create_named_task_with_default_factory / _with_custom_factory: a name given to
// create_task is the task's name, with or without a factory; unnamed tasks get distinct
// "Task-N" names.
TEST(BaseEventsSteps, CreateTaskNames) {
    test_loop loop;
    auto named = loop.create_task(value_after(0, 1), "taskA");
    auto a = loop.create_task(value_after(0, 2));
    auto b = loop.create_task(value_after(0, 3));
    EXPECT_EQ(named.get_name(), "taskA");
    EXPECT_EQ(a.get_name().rfind("Task-", 0), 0u) << a.get_name();
    EXPECT_EQ(b.get_name().rfind("Task-", 0), 0u) << b.get_name();
    EXPECT_NE(a.get_name(), b.get_name());
    loop.set_task_factory([](abstract_event_loop&, basic_task&) { return task_start::eager; });
    auto eager_named = loop.create_task(value_after(0, 4), "taskB");
    EXPECT_EQ(eager_named.get_name(), "taskB");
    loop.run_until_complete(gather(named, a, b, eager_named));
    loop.close();
}

// test_set_default_executor_error: the default executor must be an executor (asyncio's
// TypeError; duet: std::invalid_argument for a null one).
TEST(BaseEventsSteps, SetDefaultExecutorRejectsNull) {
    test_loop loop;
    EXPECT_THROW(loop.set_default_executor(nullptr), std::invalid_argument);
    loop.close();
}

#ifdef DUET_TEST_HAS_THREADS
// test_run_in_executor (events): the function runs on another thread with its
// arguments; its result comes back to the loop.
TEST(BaseEventsSteps, RunInExecutorWithASetDefaultExecutor) {
    test_loop loop;
    auto pool = std::make_shared<thread_pool_executor>();
    loop.set_default_executor(pool);
    EXPECT_EQ(&loop.default_executor(), pool.get());
    auto caller = std::this_thread::get_id();
    auto f = run_in_executor(
        loop, nullptr, [caller](int a, int b) { return std::this_thread::get_id() != caller ? a + b : -1; }, 2, 3);
    EXPECT_EQ(loop.run_until_complete(f), 5);
    loop.shutdown_default_executor();
    loop.close();
}

// test_shutdown_default_executor / BaseEventLoop._check_default_executor: once
// shutdown_default_executor was called, run_in_executor(None, ...) raises RuntimeError
// ("Executor shutdown has been called") instead of starting a new default executor.
TEST(BaseEventsSteps, DefaultExecutorAfterShutdownIsRefused) {
    test_loop loop;
    auto f = run_in_executor(loop, nullptr, [] { return 1; });
    EXPECT_EQ(loop.run_until_complete(f), 1);
    loop.shutdown_default_executor();
    EXPECT_EQ(runtime_error_of([&] { (void)run_in_executor(loop, nullptr, [] { return 2; }); }),
              "Executor shutdown has been called");
    EXPECT_EQ(runtime_error_of([&] { loop.run_until_complete(to_thread([] { return 2; })); }),
              "Executor shutdown has been called");
    // An explicit executor still works.
    thread_pool_executor own;
    EXPECT_EQ(loop.run_until_complete(run_in_executor(loop, &own, [] { return 3; })), 3);
    own.shutdown(true);
    loop.close();
}

// shutdown_default_executor(timeout) (asyncio 3.12): a job still running after `timeout`
// seconds is reported to the exception handler (asyncio's RuntimeWarning) and the call
// returns without waiting for it; the job's result still reaches the loop once it ends.
TEST(BaseEventsSteps, ShutdownDefaultExecutorGivesUpAfterItsTimeout) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
    auto f = run_in_executor(loop, nullptr, [&] {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return release; });
        return 4;
    });
    auto t0 = std::chrono::steady_clock::now();
    loop.shutdown_default_executor(0.05);
    auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, std::chrono::milliseconds(50));
    EXPECT_LT(waited, std::chrono::seconds(30));
    EXPECT_EQ(log.messages(),
              std::vector<std::string>{"The executor did not finishing joining its threads within 0.05 seconds."});
    EXPECT_FALSE(f.done());
    {
        std::lock_guard g(m);
        release = true;
    }
    cv.notify_all();
    EXPECT_EQ(loop.run_until_complete(f), 4);
    EXPECT_EQ(runtime_error_of([&] { (void)run_in_executor(loop, nullptr, [] { return 2; }); }),
              "Executor shutdown has been called");
    loop.close();
}

// shutdown_default_executor(timeout) whose jobs end in time: it waits for them, reports
// nothing; without a default executor it returns at once.
TEST(BaseEventsSteps, ShutdownDefaultExecutorWithinItsTimeout) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    std::atomic<bool> ran{false};
    auto f = run_in_executor(loop, nullptr, [&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ran = true;
        return 5;
    });
    loop.shutdown_default_executor(30);
    EXPECT_TRUE(ran.load()) << "the executor's threads were joined";
    EXPECT_TRUE(log.calls.empty());
    EXPECT_EQ(loop.run_until_complete(f), 5);
    test_loop other;
    other.shutdown_default_executor(0);
    other.close();
    loop.close();
}

// test_close (run_in_executor after close): a closed loop has no default executor.
TEST(BaseEventsSteps, RunInExecutorOnAClosedLoopIsRefused) {
    test_loop loop;
    loop.close();
    EXPECT_THROW((void)run_in_executor(loop, nullptr, [] { return 1; }), std::runtime_error);
}
#endif

// ---- HandleTests (test_events.py)

// test_handle: cancel() marks the handle cancelled and the callback never runs; a second
// cancel is harmless.
TEST(HandleSteps, CancelBeforeItRuns) {
    test_loop loop;
    int ran = 0;
    handle h = loop.call_soon([&] { ++ran; });
    EXPECT_FALSE(h.cancelled());
    h.cancel();
    EXPECT_TRUE(h.cancelled());
    h.cancel();
    EXPECT_TRUE(h.cancelled());
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(ran, 0);
    loop.close();
}

// test_handle (Handle.cancel after the callback ran): asyncio marks the handle cancelled
// anyway; the callback ran exactly once.
TEST(HandleSteps, CancelAfterItRan) {
    test_loop loop;
    int ran = 0;
    handle h = loop.call_soon([&] { ++ran; });
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(ran, 1);
    h.cancel();
    EXPECT_TRUE(h.cancelled());
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(ran, 1);
    loop.close();
}

// test_handle_from_handle / handle identity: two scheduled callbacks are two handles; a
// copy is the same handle (cancelling it cancels the original); an empty handle is none.
TEST(HandleSteps, HandleIdentity) {
    test_loop loop;
    std::vector<int> ran;
    handle a = loop.call_soon([&] { ran.push_back(1); });
    handle b = loop.call_soon([&] { ran.push_back(2); });
    handle a2 = a;
    EXPECT_TRUE(a == a2);
    EXPECT_FALSE(a == b);
    a2.cancel();
    EXPECT_TRUE(a.cancelled());
    EXPECT_FALSE(b.cancelled());
    handle none;
    EXPECT_FALSE(static_cast<bool>(none));
    EXPECT_FALSE(none.cancelled());
    none.cancel();  // a no-op
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(ran, std::vector<int>{2});
    loop.close();
}

// test_callback_with_exception: a timer callback that raises is reported with its handle
// (the timer handle) and exception, and the loop keeps running the other callbacks.
TEST(HandleSteps, TimerCallbackRaisingIsReportedWithItsHandle) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    bool later_ran = false;
    timer_handle h = loop.call_later(0.2, [] { throw std::length_error("timer failed"); });
    loop.call_later(0.3, [&] { later_ran = true; });
    loop.run_until_complete(sleep(1));
    EXPECT_TRUE(later_ran);
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(log.calls[0].message, "Exception in callback");
    ASSERT_TRUE(log.calls[0].handle.has_value());
    EXPECT_TRUE(*log.calls[0].handle == h);
    EXPECT_FALSE(log.calls[0].task.has_value());
    EXPECT_FALSE(log.calls[0].future.has_value());
    try {
        std::rethrow_exception(log.calls[0].exception);
    } catch (const std::length_error& e) {
        EXPECT_STREQ(e.what(), "timer failed");
    } catch (...) {
        ADD_FAILURE() << "wrong exception type";
    }
    loop.close();
}

// ---- TimerTests (test_events.py)

// test_when / test_timer: when() is the absolute deadline; a cancelled timer keeps it and
// does not run, the others still do.
TEST(TimerSteps, WhenAndCancel) {
    test_loop loop;
    loop.run_until_complete(sleep(3));
    std::vector<int> ran;
    timer_handle a = loop.call_at(10, [&] { ran.push_back(1); });
    timer_handle b = loop.call_later(2, [&] { ran.push_back(2); });
    EXPECT_DOUBLE_EQ(a.when(), 10);
    EXPECT_DOUBLE_EQ(b.when(), 5);
    b.cancel();
    EXPECT_TRUE(b.cancelled());
    EXPECT_DOUBLE_EQ(b.when(), 5);
    loop.run_until_complete(sleep(20));
    EXPECT_EQ(ran, std::vector<int>{1});
    EXPECT_EQ(timer_handle().when(), 0.0);
    loop.close();
}

// test_timer_comparison (equality): a timer equals its copies and no other timer, even
// one with the same deadline.
TEST(TimerSteps, EqualityIsIdentity) {
    test_loop loop;
    timer_handle a = loop.call_at(1, [] {});
    timer_handle b = loop.call_at(1, [] {});
    timer_handle c = a;
    EXPECT_DOUBLE_EQ(a.when(), b.when());
    EXPECT_FALSE(a == b);
    EXPECT_TRUE(a == c);
    loop.close();
}

// test_timer_comparison (ordering): timers compare by when() with <, <=, >, >= (asyncio's
// TimerHandle); equal deadlines are equivalent (neither is less, both <= and >= hold)
// while == stays identity. Sorting timers sorts them by deadline.
TEST(TimerSteps, OrderedByWhen) {
    test_loop loop;
    loop.run_until_complete(sleep(2));
    timer_handle early = loop.call_later(1, [] {});
    timer_handle late = loop.call_later(10, [] {});
    timer_handle same = loop.call_later(1, [] {});
    EXPECT_TRUE(early < late);
    EXPECT_TRUE(early <= late);
    EXPECT_FALSE(early > late);
    EXPECT_FALSE(early >= late);
    EXPECT_TRUE(late > early);
    EXPECT_TRUE(late >= early);
    EXPECT_FALSE(late < early);
    EXPECT_FALSE(late <= early);

    EXPECT_DOUBLE_EQ(early.when(), same.when());
    EXPECT_FALSE(early < same);
    EXPECT_FALSE(same < early);
    EXPECT_TRUE(early <= same);
    EXPECT_TRUE(early >= same);
    EXPECT_FALSE(early > same);
    EXPECT_TRUE((early <=> same) == 0);  // (libc++ 13 has no std::is_eq)
    EXPECT_FALSE(early == same);
    EXPECT_TRUE(early != same);

    same.cancel();
    EXPECT_TRUE(same < late) << "a cancelled timer keeps its deadline";
    std::vector<timer_handle> v{late, early, loop.call_at(0.5, [] {})};
    std::sort(v.begin(), v.end());
    EXPECT_DOUBLE_EQ(v[0].when(), 0.5);
    EXPECT_TRUE(v[1] == early);
    EXPECT_TRUE(v[2] == late);
    loop.close();
}

// ---- AbstractEventLoopTests / PolicyTests (test_events.py)

// test_not_implemented (AbstractEventLoop) and test_event_loop_policy: the abstract
// interfaces cannot be used without an implementation.
TEST(AbstractLoopSteps, InterfacesAreAbstract) {
    EXPECT_TRUE(std::is_abstract_v<abstract_event_loop>);
    EXPECT_TRUE(std::is_abstract_v<abstract_event_loop_policy>);
    EXPECT_TRUE(std::has_virtual_destructor_v<abstract_event_loop>);
    EXPECT_FALSE(std::is_copy_constructible_v<abstract_event_loop>);
}

struct policy_reset {
    ~policy_reset() { set_event_loop_policy(nullptr); }
};

// test_get_event_loop_policy / test_set_event_loop_policy: the policy is one object until
// replaced; the replacement is what get_event_loop_policy returns; null restores a
// default policy.
TEST(PolicySteps, SetAndGetThePolicy) {
    policy_reset r;
    auto* before = &get_event_loop_policy();
    EXPECT_EQ(&get_event_loop_policy(), before);
    auto mine = std::make_unique<default_event_loop_policy>();
    auto* raw = mine.get();
    set_event_loop_policy(std::move(mine));
    EXPECT_EQ(&get_event_loop_policy(), raw);
    set_event_loop_policy(nullptr);
    EXPECT_NE(dynamic_cast<default_event_loop_policy*>(&get_event_loop_policy()), nullptr);
}

// test_set_event_loop (policy): set_event_loop makes a loop current; the loop is not
// owned (it stays usable after being replaced).
TEST(PolicySteps, SetEventLoopOnThePolicy) {
    default_event_loop_policy policy;
    test_loop a;
    test_loop b;
    policy.set_event_loop(&a);
    EXPECT_EQ(&policy.get_event_loop(), &a);
    policy.set_event_loop(&b);
    EXPECT_EQ(&policy.get_event_loop(), &b);
    EXPECT_FALSE(a.is_closed());
    EXPECT_EQ(a.run_until_complete(value_after(1, 5)), 5);
    policy.set_event_loop(nullptr);
    EXPECT_THROW(policy.get_event_loop(), std::runtime_error);
}

// test_get_event_loop_calls_set_event_loop (asyncio 3.12/3.13): the loop the default
// policy makes on demand in the main thread comes from the policy's own new_event_loop()
// and is installed with its set_event_loop(), so a derived policy's overrides apply.
TEST(PolicySteps, ImplicitLoopComesFromTheOverriddenNewEventLoop) {
    struct recording_policy : default_event_loop_policy {
        std::vector<abstract_event_loop*> made, set;
        std::unique_ptr<abstract_event_loop> new_event_loop() override {
            auto l = std::make_unique<test_loop>();
            made.push_back(l.get());
            return l;
        }
        void set_event_loop(abstract_event_loop* loop) override {
            set.push_back(loop);
            default_event_loop_policy::set_event_loop(loop);
        }
    };
    recording_policy policy;
    auto& loop = policy.get_event_loop();
    ASSERT_EQ(policy.made.size(), 1u);
    EXPECT_EQ(&loop, policy.made[0]);
    EXPECT_NE(dynamic_cast<test_loop*>(&loop), nullptr);
    EXPECT_EQ(policy.set, std::vector<abstract_event_loop*>{&loop});
    EXPECT_EQ(&policy.get_event_loop(), &loop) << "made once";
    EXPECT_EQ(policy.made.size(), 1u);
    EXPECT_EQ(loop.run_until_complete(value_after(1, 2)), 2);
    loop.close();
}

// test_new_event_loop (policy): each call makes a new loop, none of them current.
TEST(PolicySteps, NewEventLoopIsFreshAndNotCurrent) {
    default_event_loop_policy policy;
    test_loop current;
    policy.set_event_loop(&current);
    auto x = policy.new_event_loop();
    auto y = policy.new_event_loop();
    ASSERT_TRUE(x && y);
    EXPECT_NE(x.get(), y.get());
    EXPECT_FALSE(x->is_closed());
    EXPECT_EQ(&policy.get_event_loop(), &current);
    x->close();
    y->close();
}

#ifdef DUET_TEST_HAS_THREADS
// test_get_event_loop_thread / test_set_event_loop in another thread: a thread without a
// loop gets none made for it; a loop set in a thread is that thread's only.
TEST(PolicySteps, LoopsArePerThread) {
    default_event_loop_policy policy;
    test_loop main_loop;
    policy.set_event_loop(&main_loop);
    std::string before_set;
    abstract_event_loop* after_set = nullptr;
    std::thread th([&] {
        before_set = runtime_error_of([&] { policy.get_event_loop(); });
        test_loop thread_loop;
        policy.set_event_loop(&thread_loop);
        after_set = &policy.get_event_loop();
        EXPECT_EQ(after_set, &thread_loop);
        policy.set_event_loop(nullptr);
    });
    th.join();
    EXPECT_EQ(before_set, "There is no current event loop in this thread.");
    EXPECT_NE(after_set, nullptr);
    EXPECT_EQ(&policy.get_event_loop(), &main_loop);
}
#endif

// GetEventLoopTestsMixin.test_get_running_loop / test_get_event_loop_returns_running_loop:
// get_running_loop raises outside a running loop; inside, get_event_loop is the running
// loop whatever the policy's current loop is.
TEST(PolicySteps, GetEventLoopReturnsTheRunningLoop) {
    policy_reset r;
    set_event_loop_policy(nullptr);
    EXPECT_EQ(runtime_error_of([] { get_running_loop(); }), "no running event loop");
    test_loop other;
    set_event_loop(&other);
    test_loop loop;
    auto body = [&]() -> coro<bool> {
        co_return &get_event_loop() == &loop&&& get_running_loop() == &loop&& running_loop() == &loop;
    };
    EXPECT_TRUE(loop.run_until_complete(body()));
    EXPECT_EQ(&get_event_loop(), &other);
    set_event_loop(nullptr);
}

}  // namespace
}  // namespace duet::test
