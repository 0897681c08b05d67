// Tasks, gather, wait and shield step by step, as CPython's test_tasks drives them: what
// a task, a gathering future or a shield shows after each loop turn around cancellations,
// completions and timeouts. Scenarios after CPython's Lib/test/test_asyncio/test_tasks.py
// (each test names the case it ports); what tasks_test.cpp and combinators_test.cpp
// already check is not repeated here.
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

context_var<std::string> step_var("step_var", "nope");

// A base-tier exception (Python's SystemExit): neither a std::exception nor a cancellation.
struct system_exit {};

// Exactly one loop iteration: everything ready now runs, then the loop stops (a stop
// requested from a callback ends run_forever after the iteration it runs in).
void run_once(test_loop& loop) {
    loop.call_soon([&loop] { loop.stop(); });
    loop.run_forever();
}

// A few iterations, enough for the callback chains of these tests to settle (asyncio's
// "while loop._ready: run_briefly(loop)"). The clock does not move: the loop is never idle.
void drain(test_loop& loop) {
    for (int i = 0; i < 6; ++i) run_once(loop);
}

// The message of the cancelled_error `f()` raises; nullopt if it raises none.
template <class F>
std::optional<std::string> cancel_message_of(F&& f) {
    try {
        f();
    } catch (const cancelled_error& e) {
        return e.message();
    }
    return std::nullopt;
}

// ================================================================ TaskSteps

// test_cancel: a cancel() scheduled with call_soon reaches the task in its first sleep,
// which ends at once (no 10 s pass); afterwards cancel() has nothing left to do.
TEST(TaskSteps, CancelFromACallbackEndsALongSleepAtOnce) {
    test_loop loop;
    auto body = []() -> coro<int> {
        co_await sleep(10.0);
        co_return 12;
    };
    auto t = loop.create_task(body());
    loop.call_soon([&t] { t.cancel(); });
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(t.cancel());
    EXPECT_EQ(loop.time(), 0.0);
}

// test_cancel_yield: cancelled between two bare yields, the task ends cancelled.
TEST(TaskSteps, CancelBetweenTwoYieldsEndsTheTaskCancelled) {
    test_loop loop;
    int steps = 0;
    auto body = [&]() -> coro<int> {
        ++steps;
        co_await sleep(0);
        ++steps;
        co_await sleep(0);
        co_return 12;
    };
    auto t = loop.create_task(body());
    run_once(loop);
    EXPECT_EQ(steps, 1);
    EXPECT_TRUE(t.cancel());
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_EQ(steps, 1) << "the cancellation is thrown where the task was suspended";
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(t.cancel());
}

// test_cancel_inner_future: cancelling the future a task awaits cancels the task.
TEST(TaskSteps, CancellingTheAwaitedFutureCancelsTheTask) {
    test_loop loop;
    auto f = loop.create_future<void>();
    auto body = [&]() -> coro<int> {
        co_await f;
        co_return 12;
    };
    auto t = loop.create_task(body());
    run_once(loop);
    f.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(f.cancelled());
    EXPECT_TRUE(t.cancelled());
}

// test_cancel_both_task_and_inner_future: the future cancelled first, then the task (its
// wakeup already queued): the task still ends cancelled.
TEST(TaskSteps, CancellingTheFutureThenTheTaskEndsBothCancelled) {
    test_loop loop;
    auto f = loop.create_future<void>();
    auto body = [&]() -> coro<int> {
        co_await f;
        co_return 12;
    };
    auto t = loop.create_task(body());
    run_once(loop);
    f.cancel();
    EXPECT_TRUE(t.cancel());
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(f.cancelled());
    EXPECT_TRUE(t.cancelled());
}

// test_cancel_task_catching: cancel() cancels the awaited future at once; the task
// catches the cancellation and returns a value: it ends with that value, not cancelled.
TEST(TaskSteps, CatchingTheCancellationAndReturningEndsWithTheValue) {
    test_loop loop;
    auto fut1 = loop.create_future<void>();
    auto fut2 = loop.create_future<void>();
    auto body = [&]() -> coro<int> {
        co_await fut1;
        try {
            co_await fut2;
        } catch (const cancelled_error&) {
            co_return 42;
        }
        co_return 0;
    };
    auto t = loop.create_task(body());
    run_once(loop);
    fut1.set_result();
    run_once(loop);
    EXPECT_FALSE(t.done());
    EXPECT_TRUE(t.cancel());
    EXPECT_TRUE(fut2.cancelled()) << "cancel() cancels the awaited future right away";
    EXPECT_EQ(loop.run_until_complete(t), 42);
    EXPECT_FALSE(t.cancelled());
}

// test_cancel_task_ignoring: a task that ignores its cancellation and awaits another
// future: that future is not cancelled (the request was used up) and its result is the
// task's.
TEST(TaskSteps, IgnoringTheCancellationThenAwaitingAgainIsNotCancelledAgain) {
    test_loop loop;
    auto fut1 = loop.create_future<void>();
    auto fut2 = loop.create_future<void>();
    auto fut3 = loop.create_future<int>();
    auto body = [&]() -> coro<int> {
        co_await fut1;
        try {
            co_await fut2;
        } catch (const cancelled_error&) {
        }
        co_return co_await fut3;
    };
    auto t = loop.create_task(body());
    run_once(loop);
    fut1.set_result();
    run_once(loop);
    EXPECT_TRUE(t.cancel());
    EXPECT_TRUE(fut2.cancelled());
    run_once(loop);
    EXPECT_FALSE(t.done());
    EXPECT_FALSE(fut3.cancelled());
    fut3.set_result(42);
    EXPECT_EQ(loop.run_until_complete(t), 42);
    EXPECT_FALSE(fut3.cancelled());
    EXPECT_FALSE(t.cancelled());
}

// test_cancel_task_ignoring with sleeps: the cancellation thrown out of one sleep is used
// up; a sleep after it (the task ignored the cancellation) lasts its whole time.
TEST(TaskSteps, IgnoringACancelledSleepThenSleepingAgainSleepsInFull) {
    test_loop loop;
    auto body = []() -> coro<int> {
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
        }
        co_await sleep(1);
        co_return 42;
    };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0.5));
    EXPECT_TRUE(t.cancel());
    EXPECT_EQ(loop.run_until_complete(t), 42);
    EXPECT_DOUBLE_EQ(loop.time(), 1.5);
    EXPECT_FALSE(t.cancelled());
    EXPECT_EQ(t.cancelling(), 1);
}

// test_cancel_current_task: a task cancels itself, then sleeps for 100 s: the sleep is
// interrupted at once.
TEST(TaskSteps, SelfCancelInterruptsTheNextLongSleepAtOnce) {
    test_loop loop;
    bool after = false;
    auto body = [&]() -> coro<int> {
        EXPECT_TRUE(current_task()->cancel());
        co_await sleep(100);
        after = true;
        co_return 12;
    };
    auto t = loop.create_task(body());
    EXPECT_FALSE(t.cancelled());
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(after);
    EXPECT_FALSE(t.cancel());
    EXPECT_EQ(loop.time(), 0.0);
}

// test_cancel_awaited_task (bpo-34872): a task cancels itself while running, then awaits
// a nested task: the nested task, and the future it awaits, are cancelled.
TEST(TaskSteps, SelfCancelThenAwaitingANestedTaskCancelsIt) {
    test_loop loop;
    auto fut = loop.create_future<void>();
    task<void> nested_task;
    auto nested = [&]() -> coro<void> { co_await fut; };
    auto body = [&]() -> coro<void> {
        nested_task = create_task(nested());
        co_await sleep(0);
        current_task()->cancel();
        co_await nested_task;
    };
    auto t = loop.create_task(body());
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.cancelled());
    EXPECT_TRUE(nested_task.cancelled());
    EXPECT_TRUE(fut.cancelled());
}

// test_cancelling / test_uncancel: cancelling() counts requests; uncancel() in the
// handler takes one back, the task goes on, and a second cancel() ends it.
TEST(TaskSteps, UncancelledTaskGoesOnAndCanBeCancelledAgain) {
    test_loop loop;
    auto body = []() -> coro<void> {
        bool first_cancelled = false;
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
            first_cancelled = true;
        }
        if (first_cancelled) {
            EXPECT_EQ(current_task()->uncancel(), 0);
            co_await sleep(10);
        }
    };
    auto t = loop.create_task(body());
    EXPECT_EQ(t.cancelling(), 0);
    loop.run_until_complete(sleep(0.01));
    EXPECT_TRUE(t.cancel());
    EXPECT_EQ(t.cancelling(), 1);
    loop.run_until_complete(sleep(0.01));
    EXPECT_EQ(t.cancelling(), 0) << "after uncancel()";
    EXPECT_FALSE(t.done());
    EXPECT_TRUE(t.cancel());
    EXPECT_EQ(t.cancelling(), 1);
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.cancelled());
    EXPECT_DOUBLE_EQ(loop.time(), 0.02);
}

// test_uncancel_resets_must_cancel (3.13): cancel() while the task's wakeup is queued
// (its future is done), then uncancel() before the step runs: the request is withdrawn
// and the task finishes normally.
TEST(TaskSteps, UncancelBeforeTheQueuedStepWithdrawsTheCancellation) {
    test_loop loop;
    auto fut = loop.create_future<void>();
    auto body = [&]() -> coro<int> {
        co_await fut;
        co_return 42;
    };
    auto t = loop.create_task(body());
    run_once(loop);
    fut.set_result();
    EXPECT_TRUE(t.cancel());
    EXPECT_EQ(t.cancelling(), 1);
    EXPECT_EQ(t.uncancel(), 0);
    EXPECT_EQ(t.cancelling(), 0);
    EXPECT_EQ(loop.run_until_complete(t), 42);
    EXPECT_FALSE(t.cancelled());
}

// test_uncancel_structured_blocks: a hand-made timeout (call_later + cancel, uncancel in
// the cleanup) turns its own cancellation into the end of the block; the code after the
// block runs, and no cancellation request is left on the task. Without a timeout the
// block finishes and nothing is left either.
TEST(TaskSteps, UncancelEndsAStructuredBlockAndLeavesNoRequestBehind) {
    test_loop loop;
    struct block_result {
        bool timed_out = false;
        bool block_finished = false;
        bool after_block = false;
    };
    auto request = [](double work, double limit) -> coro<block_result> {
        block_result r;
        task_ref me = *current_task();
        timer_handle h = get_running_loop().call_later(limit, [&r, me]() mutable {
            r.timed_out = true;
            me.cancel();
        });
        std::exception_ptr failure;
        try {
            co_await sleep(work);
            r.block_finished = true;
        } catch (...) {
            failure = std::current_exception();
        }
        h.cancel();
        if (failure) {
            bool is_cancel = false;
            try {
                std::rethrow_exception(failure);
            } catch (const cancelled_error&) {
                is_cancel = true;
            } catch (...) {
            }
            // Ours to take back only if we caused it and nothing else asked for it.
            if (!(r.timed_out && me.uncancel() == 0 && is_cancel)) std::rethrow_exception(failure);
        }
        r.after_block = true;
        co_return r;
    };
    auto t1 = loop.create_task(request(10.0, 0.1));
    block_result r1 = loop.run_until_complete(t1);
    EXPECT_TRUE(r1.timed_out);
    EXPECT_FALSE(r1.block_finished);
    EXPECT_TRUE(r1.after_block);
    EXPECT_EQ(t1.cancelling(), 0);
    EXPECT_FALSE(t1.cancelled());
    EXPECT_DOUBLE_EQ(loop.time(), 0.1);

    auto t2 = loop.create_task(request(0, 10.0));
    block_result r2 = loop.run_until_complete(t2);
    EXPECT_FALSE(r2.timed_out);
    EXPECT_TRUE(r2.block_finished);
    EXPECT_TRUE(r2.after_block);
    EXPECT_EQ(t2.cancelling(), 0);
    EXPECT_DOUBLE_EQ(loop.time(), 0.1) << "the cancelled timer did not hold the loop";
}

// test_cancel_with_message_then_future_result / _exception and
// test_cancel_with_message_before_starting_task: once a task is cancelled with a message
// (or without one), result() and exception() raise cancelled_error with that message;
// raised out of the awaiting coroutine it cancels that task with the same message.
TEST(TaskSteps, CancelMessageIsWhatResultAndExceptionRaise) {
    for (bool start_first : {true, false}) {
        for (std::string msg : {std::string(), std::string("my message")}) {
            SCOPED_TRACE("start_first=" + std::to_string(start_first) + " msg='" + msg + "'");
            test_loop loop;
            auto sleeper = []() -> coro<void> { co_await sleep(10); };
            auto body = [&]() -> coro<void> {
                auto t = create_task(sleeper());
                if (start_first) co_await sleep(0);
                t.cancel(msg);
                std::vector<task<void>> ts{t};
                co_await wait(ts);
                EXPECT_TRUE(t.cancelled());
                EXPECT_EQ(cancel_message_of([&] { t.result(); }), msg);
                EXPECT_EQ(cancel_message_of([&] { (void)t.exception(); }), msg);
                t.result();
            };
            auto outer = loop.create_task(body());
            EXPECT_EQ(cancel_message_of([&] { loop.run_until_complete(outer); }), msg);
            EXPECT_TRUE(outer.cancelled());
            EXPECT_EQ(loop.time(), 0.0);
        }
    }
}

// test_cancellation_exception_context: awaiting a task that a callback cancels with a
// message raises cancelled_error with that message in the awaiting task, which is not
// cancelled itself and may turn it into an ordinary error.
TEST(TaskSteps, AwaitingATaskCancelledWithAMessageRaisesThatMessage) {
    test_loop loop;
    auto fut = loop.create_future<void>();
    auto inner_body = [&]() -> coro<void> {
        fut.set_result();
        co_await sleep(10);
    };
    auto outer_body = [&]() -> coro<void> {
        auto inner = create_task(inner_body());
        co_await fut;
        get_running_loop().call_soon([&inner] { inner.cancel("msg"); });
        std::optional<std::string> seen;
        try {
            co_await inner;
        } catch (const cancelled_error& e) {
            seen = e.message();
        }
        if (seen) throw std::runtime_error("cancelled: " + *seen);
    };
    auto t = loop.create_task(outer_body());
    EXPECT_EQ(runtime_error_of([&] { loop.run_until_complete(t); }), "cancelled: msg");
    EXPECT_FALSE(t.cancelled());
    EXPECT_EQ(t.cancelling(), 0);
}

// test_task_cancel_sleeping_task: a timer cancels the task being awaited; the awaiting
// task sees cancelled_error when the timer fires.
TEST(TaskSteps, TimerCancellingTheAwaitedSleeperWakesTheAwaiter) {
    test_loop loop;
    auto doit = [&]() -> coro<std::string> {
        auto sleeper = create_task(sleep(5000));
        get_running_loop().call_later(0.1, [&sleeper] { sleeper.cancel(); });
        bool cancelled = false;
        try {
            co_await sleeper;
        } catch (const cancelled_error&) {
            cancelled = true;
        }
        co_return cancelled ? "cancelled" : "slept in";
    };
    EXPECT_EQ(loop.run_until_complete(doit()), "cancelled");
    EXPECT_DOUBLE_EQ(loop.time(), 0.1);
}

// test_stop_while_run_in_complete: stop() from inside the task ends run_until_complete
// with asyncio's error; the task is left pending where it was and can be cancelled later.
TEST(TaskSteps, StopFromInsideTheTaskEndsRunUntilCompleteEarly) {
    test_loop loop;
    int x = 0;
    auto body = [&]() -> coro<void> {
        while (x < 10) {
            co_await sleep(0.1);
            ++x;
            if (x == 2) get_running_loop().stop();
        }
    };
    auto t = loop.create_task(body());
    EXPECT_EQ(runtime_error_of([&] { loop.run_until_complete(t); }), "Event loop stopped before Future completed.");
    EXPECT_FALSE(t.done());
    EXPECT_EQ(x, 2);
    // asyncio's test loop reads 0.3 here (it advances its clock to the next timer as
    // soon as one is scheduled); the virtual clock only moves when the loop idles.
    EXPECT_DOUBLE_EQ(loop.time(), 0.2);
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_EQ(x, 2);
}

// test_step_result_future: a task awaiting a future resumes with its result in the
// iteration after the result is set.
TEST(TaskSteps, AwaitedFutureResumesTheTaskInTheNextIteration) {
    test_loop loop;
    auto fut = loop.create_future<std::string>();
    std::string result;
    auto body = [&]() -> coro<void> { result = co_await fut; };
    auto t = loop.create_task(body());
    run_once(loop);
    EXPECT_FALSE(t.done());
    fut.set_result("res");
    EXPECT_TRUE(result.empty());
    run_once(loop);
    EXPECT_EQ(result, "res");
    EXPECT_TRUE(t.done());
}

// test_baseexception_during_cancel: a task that answers its cancellation with a
// base-tier exception (SystemExit) ends done, not cancelled, with that exception; the
// run that stepped it leaves with it.
TEST(TaskSteps, BaseExceptionRaisedOnCancellationIsTheTasksOutcome) {
    test_loop loop;
    auto sleeper = []() -> coro<void> { co_await sleep(10); };
    auto body = [&]() -> coro<void> {
        bool cancelled = false;
        try {
            co_await sleeper();
        } catch (const cancelled_error&) {
            cancelled = true;
        }
        if (cancelled) throw system_exit{};
    };
    auto t = loop.create_task(body());
    run_once(loop);
    t.cancel();
    EXPECT_FALSE(t.done());
    EXPECT_THROW(run_once(loop), system_exit);
    EXPECT_TRUE(t.done());
    EXPECT_FALSE(t.cancelled());
    EXPECT_THROW(std::rethrow_exception(t.exception()), system_exit);
}

// test_coroutine_non_gen_function_return_future: a coroutine that returns a future
// returns it as its value: the task does not await it.
TEST(TaskSteps, ACoroutineReturningAFutureIsNotAwaitedByItsTask) {
    test_loop loop;
    auto fut = loop.create_future<std::string>();
    auto func = [&]() -> coro<future<std::string>> { co_return fut; };
    auto setter = [&]() -> coro<void> {
        fut.set_result("test");
        co_return;
    };
    auto t1 = loop.create_task(func());
    auto t2 = loop.create_task(setter());
    future<std::string> res = loop.run_until_complete(t1);
    EXPECT_TRUE(res == fut);
    EXPECT_TRUE(t2.done()) << "both ran their one step in the same iteration";
    EXPECT_EQ(res.result(), "test");
}

// test_current_task_with_interleaving_tasks: two tasks handing control to each other
// through futures each see themselves as current_task, before and after suspending.
TEST(TaskSteps, CurrentTaskFollowsInterleavedTasks) {
    test_loop loop;
    EXPECT_FALSE(current_task(loop).has_value());
    auto fut1 = loop.create_future<void>();
    auto fut2 = loop.create_future<void>();
    task<void> task1, task2;
    auto is_current = [](const task<void>& t) {
        auto me = current_task();
        return me.has_value() && *me == basic_task(t);
    };
    auto coro1 = [&]() -> coro<void> {
        EXPECT_TRUE(is_current(task1));
        co_await fut1;
        EXPECT_TRUE(is_current(task1));
        fut2.set_result();
    };
    auto coro2 = [&]() -> coro<void> {
        EXPECT_TRUE(is_current(task2));
        fut1.set_result();
        co_await fut2;
        EXPECT_TRUE(is_current(task2));
    };
    task1 = loop.create_task(coro1());
    task2 = loop.create_task(coro2());
    std::vector<task<void>> both{task1, task2};
    auto r = loop.run_until_complete(wait(both));
    EXPECT_EQ(r.done.size(), 2u);
    EXPECT_FALSE(current_task(loop).has_value());
}

// test_yield_future_passes_cancel: cancelling the outer task cancels the future the inner
// coroutine awaits; both see the cancellation; the outer swallows it and ends normally.
TEST(TaskSteps, CancelPassesThroughAnAwaitedCoroutineToItsFuture) {
    test_loop loop;
    int proof = 0;
    auto waiter = loop.create_future<void>();
    auto inner = [&]() -> coro<void> {
        try {
            co_await waiter;
        } catch (const cancelled_error&) {
            proof += 1;
            throw;
        }
        ADD_FAILURE() << "got past the future in inner()";
    };
    auto outer = [&]() -> coro<void> {
        try {
            co_await inner();
        } catch (const cancelled_error&) {
            proof += 100;
            co_return;
        }
        proof += 10;
    };
    auto f = loop.create_task(outer());
    run_once(loop);
    EXPECT_TRUE(f.cancel());
    loop.run_until_complete(f);
    EXPECT_EQ(proof, 101);
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_FALSE(f.cancelled());
    EXPECT_EQ(f.cancelling(), 1);
}

// test_tb_logger_not_called_after_cancel: cancel() on a task that already failed returns
// false but counts as looking at the exception: nothing is reported when it goes away.
TEST(TaskSteps, CancelOfAFailedTaskSilencesItsUnretrievedException) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    auto failing = []() -> coro<void> {
        throw std::invalid_argument("type error");
        co_return;
    };
    auto runner = [&]() -> coro<void> {
        auto t = create_task(failing());
        co_await sleep(0.05);
        EXPECT_TRUE(t.done());
        EXPECT_FALSE(t.cancel());
    };
    loop.run_until_complete(runner());
    loop.run_until_complete(sleep(0));
    EXPECT_TRUE(log.calls.empty()) << log.calls.size() << " reports";
}

// test_task_repr_autogenerated / test_bare_create_named_task: default names are
// "Task-<n>" with n increasing; create_task's name is kept.
TEST(TaskSteps, DefaultNamesCountUpAndGivenNamesAreKept) {
    test_loop loop;
    auto noop = []() -> coro<void> { co_return; };
    auto t1 = loop.create_task(noop());
    auto t2 = loop.create_task(noop());
    const std::string n1 = t1.get_name(), n2 = t2.get_name();
    ASSERT_EQ(n1.rfind("Task-", 0), 0u) << n1;
    ASSERT_EQ(n2.rfind("Task-", 0), 0u) << n2;
    EXPECT_LT(std::stoul(n1.substr(5)), std::stoul(n2.substr(5)));
    auto body = [&]() -> coro<void> {
        auto t = create_task(noop(), "No-op");
        EXPECT_EQ(t.get_name(), "No-op");
        co_await t;
    };
    loop.run_until_complete(body());
    loop.run_until_complete(t1);
    loop.run_until_complete(t2);
}

// create_task on a closed loop (asyncio: RuntimeError "Event loop is closed", and the
// coroutine is closed): refused, the body never runs, its frame is freed.
TEST(TaskSteps, CreateTaskOnAClosedLoopIsRefusedAndFreesTheCoroutine) {
    test_loop loop;
    loop.close();
    bool ran = false;
    auto body = [&](std::shared_ptr<int> token) -> coro<void> {
        ran = token != nullptr;
        co_return;
    };
    auto token = std::make_shared<int>(0);
    std::string error = runtime_error_of([&] { (void)loop.create_task(body(token)); });
    EXPECT_NE(error.find("Event loop is closed"), std::string::npos) << error;
    EXPECT_FALSE(ran);
    EXPECT_EQ(token.use_count(), 1) << "the coroutine's frame (and its copy of the argument) is gone";
}

// SleepTests.test_sleep_zero: sleep(0, value) lets a callback scheduled before it run
// first, and returns the value.
TEST(TaskSteps, SleepZeroLetsEarlierCallbacksRunAndReturnsItsValue) {
    test_loop loop;
    int result = 0;
    auto body = [&]() -> coro<void> {
        get_running_loop().call_soon([&result] { result += 1; });
        EXPECT_EQ(result, 0);
        int num = co_await sleep(0, 10);
        EXPECT_EQ(result, 1) << "the call_soon callback ran during the sleep";
        result += num;
    };
    loop.run_until_complete(body());
    EXPECT_EQ(result, 11);
}

// test_sleep: two half sleeps, the second with a value: the task's result is the value,
// after the whole time.
TEST(TaskSteps, SleepWithAValueReturnsItAfterTheDelay) {
    test_loop loop;
    auto sleeper = [](double dt, std::string arg) -> coro<std::string> {
        co_await sleep(dt / 2);
        co_return co_await sleep(dt / 2, std::move(arg));
    };
    auto t = loop.create_task(sleeper(0.1, "yeah"));
    loop.run_until_complete(t);
    EXPECT_TRUE(t.done());
    EXPECT_EQ(t.result(), "yeah");
    EXPECT_DOUBLE_EQ(loop.time(), 0.1);
}

// test_task_class: after run_until_complete(t) the task is done and still holds its
// result (asyncio's result() can be asked again), and belongs to its loop.
TEST(TaskSteps, ResultStaysInTheTaskAfterRunUntilComplete) {
    test_loop loop;
    auto notmuch = []() -> coro<std::string> { co_return "ok"; };
    auto t = loop.create_task(notmuch());
    EXPECT_EQ(loop.run_until_complete(t), "ok");
    EXPECT_TRUE(t.done());
    EXPECT_EQ(t.result(), "ok");
    EXPECT_EQ(t.result(), "ok");
    EXPECT_TRUE(&t.get_loop() == &loop.base());
}

// A task's result() and exception() in each state (asyncio's Future rules, which
// test_tasks relies on throughout): pending, invalid_state_error with asyncio's messages;
// succeeded, the value and no exception; failed, the error both ways; cancelled,
// cancelled_error from both.
TEST(TaskSteps, ResultAndExceptionInEveryState) {
    test_loop loop;
    auto ok = []() -> coro<int> {
        co_await sleep(1);
        co_return 7;
    };
    auto bad = []() -> coro<int> {
        co_await sleep(1);
        throw std::domain_error("bad");
    };
    auto t_ok = loop.create_task(ok());
    auto t_bad = loop.create_task(bad());
    auto t_cancelled = loop.create_task(ok());
    auto invalid_state_of = [](auto&& f) -> std::string {
        try {
            f();
        } catch (const invalid_state_error& e) {
            return e.what();
        }
        return "no error";
    };
    EXPECT_EQ(invalid_state_of([&] { (void)t_ok.result(); }), "Result is not ready.");
    EXPECT_EQ(invalid_state_of([&] { (void)t_ok.exception(); }), "Exception is not set.");
    t_cancelled.cancel();
    EXPECT_FALSE(t_cancelled.done()) << "cancel() is a request: the task is not done yet";
    EXPECT_EQ(invalid_state_of([&] { (void)t_cancelled.result(); }), "Result is not ready.");
    loop.run_until_complete(sleep(2));
    EXPECT_EQ(t_ok.result(), 7);
    EXPECT_EQ(t_ok.exception(), nullptr);
    EXPECT_THROW((void)t_bad.result(), std::domain_error);
    EXPECT_EQ(error_of(t_bad.exception()), "bad");
    EXPECT_TRUE(t_cancelled.cancelled());
    EXPECT_THROW((void)t_cancelled.result(), cancelled_error);
    EXPECT_THROW((void)t_cancelled.exception(), cancelled_error);
}

// test_task_cancel_waiter_future, with a message: cancel(msg) cancels the future the task
// awaits with that message, and the task ends cancelled with it.
TEST(TaskSteps, CancelMessageReachesTheAwaitedFuture) {
    test_loop loop;
    auto fut = loop.create_future<void>();
    auto body = [&]() -> coro<void> { co_await fut; };
    auto t = loop.create_task(body());
    run_once(loop);
    EXPECT_TRUE(t.cancel("stop"));
    EXPECT_TRUE(fut.cancelled());
    EXPECT_EQ(cancel_message_of([&] { (void)fut.exception(); }), "stop");
    EXPECT_EQ(cancel_message_of([&] { loop.run_until_complete(t); }), "stop");
    EXPECT_TRUE(t.cancelled());
}

// test_cancel_task_catching with a task in place of the future: cancel() passes on to
// the awaited task; when that one swallows the cancellation and returns, the awaiter
// simply gets the value (asyncio's Task.cancel: the request went to what it awaits).
TEST(TaskSteps, CancelSwallowedByTheAwaitedTaskLetsTheAwaiterGoOn) {
    test_loop loop;
    auto stubborn = []() -> coro<int> {
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
            co_return 5;
        }
        co_return 0;
    };
    auto inner = loop.create_task(stubborn());
    auto body = [&]() -> coro<int> {
        int v = co_await inner;
        co_await sleep(1);
        co_return v + 1;
    };
    auto outer = loop.create_task(body());
    run_once(loop);
    EXPECT_TRUE(outer.cancel());
    EXPECT_EQ(inner.cancelling(), 1);
    EXPECT_EQ(loop.run_until_complete(outer), 6);
    EXPECT_FALSE(outer.cancelled());
    EXPECT_EQ(outer.cancelling(), 1) << "the request stays counted until uncancel()";
    EXPECT_FALSE(inner.cancelled());
    EXPECT_DOUBLE_EQ(loop.time(), 1.0);
}

// Task.cancel() twice, with two messages, before the task runs again (asyncio's tasks.py:
// the first cancel() cancels the awaited future with its message; the second finds it
// done and only sets _must_cancel; the step then throws the future's own
// CancelledError): the coroutine sees the first message. Asleep (a future in asyncio,
// a direct wait here) and awaiting a future alike.
TEST(TaskSteps, SecondCancelBeforeTheStepKeepsTheFirstMessage) {
    for (bool on_future : {true, false}) {
        SCOPED_TRACE(on_future ? "awaiting a future" : "asleep");
        test_loop loop;
        auto fut = loop.create_future<void>();
        std::string seen = "none";
        auto body = [&]() -> coro<void> {
            try {
                if (on_future)
                    co_await fut;
                else
                    co_await sleep(10);
            } catch (const cancelled_error& e) {
                seen = e.message();
                throw;
            }
        };
        auto t = loop.create_task(body());
        run_once(loop);
        EXPECT_TRUE(t.cancel("first"));
        EXPECT_TRUE(t.cancel("second"));
        EXPECT_EQ(t.cancelling(), 2);
        EXPECT_EQ(cancel_message_of([&] { loop.run_until_complete(t); }), "first");
        EXPECT_EQ(seen, "first");
    }
}

// The other side of test_uncancel_resets_must_cancel: once cancel() has reached what the
// task awaits (asyncio cancels the awaited future), uncancel() only lowers the count; the
// task still gets the cancellation where it waits. Asleep, waiting for a lock, awaiting a
// future.
TEST(TaskSteps, UncancelAfterTheWaitWasInterruptedStillDeliversTheCancellation) {
    for (int kind : {0, 1, 2}) {
        SCOPED_TRACE(kind == 0 ? "asleep" : kind == 1 ? "waiting for a lock" : "awaiting a future");
        test_loop loop;
        lock l;
        auto fut = loop.create_future<void>();
        bool got_through = false;
        auto body = [&]() -> coro<void> {
            if (kind == 0)
                co_await sleep(10);
            else if (kind == 1)
                co_await l.acquire();
            else
                co_await fut;
            got_through = true;
        };
        auto holder = [&]() -> coro<void> { co_await l.acquire(); };
        loop.run_until_complete(holder());
        auto t = loop.create_task(body());
        run_once(loop);
        EXPECT_TRUE(t.cancel());
        EXPECT_EQ(t.uncancel(), 0);
        EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
        EXPECT_FALSE(got_through);
        EXPECT_TRUE(t.cancelled());
        EXPECT_EQ(loop.time(), 0.0);
        EXPECT_TRUE(l.locked()) << "still the holder's";
    }
}

// test_cancel_both_task_and_inner_future, with messages: the awaited future cancelled by
// its owner first, then the task: the task sees the future's own cancellation.
TEST(TaskSteps, FutureCancelledByItsOwnerThenTheTaskDeliversTheFuturesMessage) {
    test_loop loop;
    auto fut = loop.create_future<void>();
    std::string seen = "none";
    auto body = [&]() -> coro<void> {
        try {
            co_await fut;
        } catch (const cancelled_error& e) {
            seen = e.message();
            throw;
        }
    };
    auto t = loop.create_task(body());
    run_once(loop);
    EXPECT_TRUE(fut.cancel("by the owner"));
    EXPECT_TRUE(t.cancel("by the task"));
    EXPECT_EQ(cancel_message_of([&] { loop.run_until_complete(t); }), "by the owner");
    EXPECT_EQ(seen, "by the owner");
    EXPECT_TRUE(t.cancelled());
}

// A cancel() while the task's wakeup is queued after a result (nothing awaited to
// cancel): the last message given is the one delivered (asyncio overwrites
// _cancel_message).
TEST(TaskSteps, CancelsAfterAResultBeforeTheStepDeliverTheLastMessage) {
    test_loop loop;
    auto fut = loop.create_future<void>();
    std::string seen = "none";
    auto body = [&]() -> coro<void> {
        co_await fut;
        try {
            co_await sleep(0);
        } catch (const cancelled_error& e) {
            seen = e.message();
            throw;
        }
    };
    auto t = loop.create_task(body());
    run_once(loop);
    fut.set_result();
    EXPECT_TRUE(t.cancel("first"));
    EXPECT_TRUE(t.cancel("second"));
    EXPECT_EQ(cancel_message_of([&] { loop.run_until_complete(t); }), "second");
    EXPECT_EQ(seen, "none") << "thrown where the task was suspended: at the future's await";
}

// test_context_2: a done callback registered by a task runs in a copy of the task's
// context (asyncio's add_done_callback copies the current context): what it sets reaches
// neither the task nor anything else.
TEST(TaskSteps, DoneCallbackChangesDoNotReachTheTasksContext) {
    test_loop loop;
    auto main_coro = [&]() -> coro<void> {
        EXPECT_EQ(step_var.get(), "nope");
        for (int j = 0; j < 2; ++j) {
            auto fut = get_running_loop().create_future<void>();
            fut.add_done_callback([](basic_future&) { step_var.set("something else"); });
            step_var.set("yes" + std::to_string(j));
            get_running_loop().call_soon([fut]() mutable { fut.set_result(); });
            co_await fut;
            EXPECT_EQ(step_var.get(), "yes" + std::to_string(j));
            for (int i = 0; i < 3; ++i) {
                step_var.set("yes" + std::to_string(i) + "-" + std::to_string(j));
                co_await sleep(0.001);
                EXPECT_EQ(step_var.get(), "yes" + std::to_string(i) + "-" + std::to_string(j));
            }
        }
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(step_var.get(), "nope");
}

// ================================================================ GatherSteps

// GatherTestsBase._check_success: a gather of futures completes (its callback runs once)
// only when the last one has a result; results in argument order. The same with
// return_exceptions.
TEST(GatherSteps, FuturesCompleteItOnlyWhenTheLastIsDone) {
    test_loop loop;
    {
        auto a = loop.create_future<int>(), b = loop.create_future<int>(), c = loop.create_future<int>();
        auto g = gather(a, b, c);
        int calls = 0;
        g.add_done_callback([&calls](basic_future&) { ++calls; });
        b.set_result(1);
        a.set_result(2);
        drain(loop);
        EXPECT_EQ(calls, 0);
        EXPECT_FALSE(g.done());
        c.set_result(3);
        drain(loop);
        EXPECT_EQ(calls, 1);
        EXPECT_EQ(g.result(), std::make_tuple(2, 1, 3));
    }
    {
        auto a = loop.create_future<int>(), b = loop.create_future<int>(), c = loop.create_future<int>();
        auto g = gather(return_exceptions, a, b, c);
        int calls = 0;
        g.add_done_callback([&calls](basic_future&) { ++calls; });
        b.set_result(1);
        a.set_result(2);
        drain(loop);
        EXPECT_FALSE(g.done());
        c.set_result(3);
        drain(loop);
        EXPECT_EQ(calls, 1);
        auto [ra, rb, rc] = g.result();
        EXPECT_EQ(ra.value(), 2);
        EXPECT_EQ(rb.value(), 1);
        EXPECT_EQ(rc.value(), 3);
    }
}

// test_one_exception: the first exception completes the gather with that very exception;
// what the other children do afterwards changes nothing and is not reported.
TEST(GatherSteps, FirstExceptionEndsItAndLaterOutcomesAreIgnored) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    {
        auto a = loop.create_future<int>(), b = loop.create_future<int>(), c = loop.create_future<int>(),
             d = loop.create_future<int>(), e = loop.create_future<int>();
        auto g = gather(a, b, c, d, e);
        int calls = 0;
        g.add_done_callback([&calls](basic_future&) { ++calls; });
        auto exc = std::make_exception_ptr(std::domain_error("zero"));
        a.set_result(1);
        b.set_exception(exc);
        drain(loop);
        EXPECT_TRUE(g.done());
        EXPECT_EQ(calls, 1);
        EXPECT_EQ(g.exception(), exc) << "the child's own exception object";
        c.set_result(3);
        d.cancel();
        e.set_exception(std::runtime_error("later"));
        drain(loop);
        EXPECT_EQ(calls, 1);
        EXPECT_EQ(g.exception(), exc);
    }
    drain(loop);
    EXPECT_TRUE(log.calls.empty()) << log.messages().at(0);
}

// test_return_exceptions: with return_exceptions every outcome waits for the last child
// and is placed by position.
TEST(GatherSteps, ReturnExceptionsWaitsForEveryChildAndKeepsEachOutcome) {
    test_loop loop;
    auto a = loop.create_future<int>(), b = loop.create_future<int>(), c = loop.create_future<int>(),
         d = loop.create_future<int>();
    auto g = gather(return_exceptions, a, b, c, d);
    int calls = 0;
    g.add_done_callback([&calls](basic_future&) { ++calls; });
    auto exc = std::make_exception_ptr(std::domain_error("zero"));
    auto exc2 = std::make_exception_ptr(std::runtime_error("runtime"));
    b.set_result(1);
    c.set_exception(exc);
    a.set_result(3);
    drain(loop);
    EXPECT_FALSE(g.done());
    d.set_exception(exc2);
    drain(loop);
    EXPECT_TRUE(g.done());
    EXPECT_EQ(calls, 1);
    auto [ra, rb, rc, rd] = g.result();
    EXPECT_EQ(ra.value(), 3);
    EXPECT_EQ(rb.value(), 1);
    EXPECT_EQ(rc.exception(), exc);
    EXPECT_EQ(rd.exception(), exc2);
}

// test_one_cancellation: a child future cancelled on its own ends the gather at once with
// cancelled_error as its exception (the gather itself is not cancelled); later outcomes
// change nothing.
TEST(GatherSteps, OneCancelledFutureEndsItWithCancelledErrorNotCancelled) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    {
        auto a = loop.create_future<int>(), b = loop.create_future<int>(), c = loop.create_future<int>(),
             d = loop.create_future<int>(), e = loop.create_future<int>();
        auto g = gather(a, b, c, d, e);
        int calls = 0;
        g.add_done_callback([&calls](basic_future&) { ++calls; });
        a.set_result(1);
        b.cancel();
        drain(loop);
        EXPECT_TRUE(g.done());
        EXPECT_EQ(calls, 1);
        EXPECT_FALSE(g.cancelled());
        EXPECT_THROW(std::rethrow_exception(g.exception()), cancelled_error);
        c.set_result(3);
        d.cancel();
        e.set_exception(std::runtime_error("later"));
        drain(loop);
        EXPECT_EQ(calls, 1);
    }
    drain(loop);
    EXPECT_TRUE(log.calls.empty());
}

// test_result_exception_one_cancellation: with return_exceptions, cancelled children are
// cancellations at their positions, among values and exceptions.
TEST(GatherSteps, ReturnExceptionsPlacesCancellationsByPosition) {
    test_loop loop;
    auto a = loop.create_future<int>(), b = loop.create_future<int>(), c = loop.create_future<int>(),
         d = loop.create_future<int>(), e = loop.create_future<int>(), f = loop.create_future<int>();
    auto g = gather(return_exceptions, a, b, c, d, e, f);
    int calls = 0;
    g.add_done_callback([&calls](basic_future&) { ++calls; });
    auto zde = std::make_exception_ptr(std::domain_error("zero"));
    auto rte = std::make_exception_ptr(std::runtime_error("runtime"));
    a.set_result(1);
    b.set_exception(zde);
    c.cancel();
    drain(loop);
    EXPECT_FALSE(g.done());
    d.set_result(3);
    e.cancel();
    f.set_exception(rte);
    auto [ra, rb, rc, rd, re, rf] = loop.run_until_complete(g);
    EXPECT_EQ(ra.value(), 1);
    EXPECT_EQ(rb.exception(), zde);
    EXPECT_TRUE(rc.cancelled());
    EXPECT_EQ(rd.value(), 3);
    EXPECT_TRUE(re.cancelled());
    EXPECT_EQ(rf.exception(), rte);
    drain(loop);
    EXPECT_EQ(calls, 1);
}

// test_cancellation_broadcast: cancelling the task awaiting a gather of two tasks cancels
// both (and the future they await); the gather is done then, so a later cancel() of it
// is refused; the children's code after the await never runs.
TEST(GatherSteps, CancellingTheAwaiterBroadcastsThenTheGatherRefusesCancel) {
    test_loop loop;
    int proof = 0;
    auto waiter = loop.create_future<void>();
    auto inner = [&]() -> coro<void> {
        co_await waiter;
        proof += 1;
    };
    auto child1 = loop.create_task(inner());
    auto child2 = loop.create_task(inner());
    basic_future gatherer;
    auto outer = [&]() -> coro<void> {
        auto g = gather(child1, child2);
        gatherer = g;
        co_await g;
        proof += 100;
    };
    auto f = loop.create_task(outer());
    run_once(loop);
    EXPECT_TRUE(f.cancel());
    EXPECT_THROW(loop.run_until_complete(f), cancelled_error);
    ASSERT_TRUE(static_cast<bool>(gatherer));
    EXPECT_TRUE(gatherer.done());
    EXPECT_FALSE(gatherer.cancel());
    EXPECT_TRUE(waiter.cancelled());
    EXPECT_TRUE(child1.cancelled());
    EXPECT_TRUE(child2.cancelled());
    run_once(loop);
    EXPECT_EQ(proof, 0);
}

// test_exception_marking: a gather of two coroutines that both fail: the awaiting task
// fails with the first error; the second is not reported as never retrieved.
TEST(GatherSteps, FailingCoroutinesEndItWithTheFirstErrorAndTheSecondIsNotReported) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    auto a = loop.create_future<void>();
    auto b = loop.create_future<void>();
    auto inner = [](future<void>& fut, std::string what) -> coro<void> {
        co_await fut;
        throw std::runtime_error(what);
    };
    auto outer = [&]() -> coro<void> { co_await gather(inner(a, "first"), inner(b, "second")); };
    auto f = loop.create_task(outer());
    run_once(loop);
    a.set_result();
    drain(loop);
    ASSERT_TRUE(f.done());
    EXPECT_EQ(error_of(f.exception()), "first");
    b.set_result();
    drain(loop);
    EXPECT_TRUE(log.calls.empty()) << log.messages().at(0);
}

// test_cancel_gather_1 (bpo-26923): cancel() of a gather whose only child is already done
// (the gather itself not yet) is refused, and the gather ends with the result.
TEST(GatherSteps, CancelIsRefusedOnceEveryChildIsDone) {
    test_loop loop;
    auto fut = loop.create_future<int>();
    auto child = [&]() -> coro<int> { co_return co_await fut; };
    auto make = [&]() -> coro<future<std::tuple<int>>> { co_return gather(child()); };
    auto g = loop.run_until_complete(make());
    run_once(loop);  // the child task awaits fut
    std::optional<bool> cancel_result;
    // Runs after fut's waiting child task has been woken and has finished.
    fut.add_done_callback([&](basic_future&) { cancel_result = g.cancel(); });
    fut.set_result(42);
    auto r = loop.run_until_complete(g);
    EXPECT_EQ(cancel_result, std::optional<bool>(false));
    EXPECT_FALSE(g.cancelled());
    EXPECT_EQ(std::get<0>(r), 42);
}

// test_cancel_gather_2: a task looping over gather(return_exceptions, sleep) is cancelled
// with (or without) a message: the cancellation goes through the gather, and awaiting the
// task raises cancelled_error with that message.
TEST(GatherSteps, CancelledTaskInAGatherLoopRaisesTheMessage) {
    for (std::string msg : {std::string(), std::string("my message")}) {
        SCOPED_TRACE("msg='" + msg + "'");
        test_loop loop;
        auto looping = []() -> coro<void> {
            double elapsed = 0;
            while (true) {
                elapsed += 0.05;
                (void)co_await gather(return_exceptions, sleep(0.05));
                if (elapsed > 1) co_return;
            }
        };
        auto main_coro = [&]() -> coro<void> {
            auto qwe = create_task(looping());
            co_await sleep(0.2);
            qwe.cancel(msg);
            co_await qwe;
        };
        EXPECT_EQ(cancel_message_of([&] { loop.run_until_complete(main_coro()); }), msg)
            << "gather() must pass the inner cancellation on to its caller";
        EXPECT_LT(loop.time(), 0.3);
    }
}

// ================================================================ WaitSteps

// test_wait: wait() on two sleeping tasks returns both done at the later deadline; waiting
// again on done tasks takes no time.
TEST(WaitSteps, AllCompletedThenAgainOnDoneTasksTakesNoTime) {
    test_loop loop;
    auto a = loop.create_task(sleep(0.1));
    auto b = loop.create_task(sleep(0.15));
    auto foo = [&]() -> coro<int> {
        std::vector<task<void>> ba{b, a};
        auto r = co_await wait(ba);
        EXPECT_EQ(r.done.size(), 2u);
        EXPECT_TRUE(r.pending.empty());
        co_return 42;
    };
    EXPECT_EQ(loop.run_until_complete(loop.create_task(foo())), 42);
    EXPECT_DOUBLE_EQ(loop.time(), 0.15);
    EXPECT_EQ(loop.run_until_complete(loop.create_task(foo())), 42);
    EXPECT_DOUBLE_EQ(loop.time(), 0.15);
}

// test_wait_really_done: FIRST_COMPLETED splits by done() when the waiter resumes: a task
// that finished in the meantime (after the first one, before the waiter ran) is in done.
TEST(WaitSteps, FirstCompletedCountsEverythingDoneByTheTimeItResumes) {
    test_loop loop;
    auto coro1 = []() -> coro<void> { co_await sleep(0); };
    auto coro2 = []() -> coro<void> {
        co_await sleep(0);
        co_await sleep(0);
    };
    auto a = loop.create_task(coro1());
    auto b = loop.create_task(coro2());
    std::vector<task<void>> ba{b, a};
    auto r = loop.run_until_complete(loop.create_task(wait(ba, return_when::first_completed)));
    EXPECT_EQ(r.done.size(), 2u);
    EXPECT_TRUE(r.pending.empty());
    EXPECT_TRUE(a.done());
    EXPECT_TRUE(b.done());
}

// test_wait_first_exception / test_wait_first_exception_in_wait: FIRST_EXCEPTION returns
// as soon as a task has failed: at once for one that failed already, at its failure
// otherwise; the other task stays pending.
TEST(WaitSteps, FirstExceptionReturnsAtTheFailureWhetherPastOrDuringTheWait) {
    for (double fail_at : {0.0, 0.01}) {
        SCOPED_TRACE(fail_at);
        test_loop loop;
        auto a = loop.create_task(sleep(10.0));
        auto exc = [](double d) -> coro<void> {
            if (d > 0) co_await sleep(d);
            throw std::domain_error("err");
        };
        auto b = loop.create_task(exc(fail_at));
        std::vector<task<void>> ba{b, a};
        auto r = loop.run_until_complete(loop.create_task(wait(ba, return_when::first_exception)));
        ASSERT_EQ(r.done.size(), 1u);
        EXPECT_TRUE(r.done[0] == b);
        ASSERT_EQ(r.pending.size(), 1u);
        EXPECT_TRUE(r.pending[0] == a);
        EXPECT_DOUBLE_EQ(loop.time(), fail_at);
        EXPECT_EQ(error_of(b.exception()), "err");
        loop.run_until_complete(a);
    }
}

// test_wait_with_exception: ALL_COMPLETED counts a failed task as done; exactly one of the
// two is in error; a second wait takes no time.
TEST(WaitSteps, AllCompletedCountsAFailureAsDone) {
    test_loop loop;
    auto a = loop.create_task(sleep(0.1));
    auto sleeper = []() -> coro<void> {
        co_await sleep(0.15);
        throw std::domain_error("really");
    };
    auto b = loop.create_task(sleeper());
    auto foo = [&]() -> coro<void> {
        std::vector<task<void>> ba{b, a};
        auto r = co_await wait(ba);
        EXPECT_EQ(r.done.size(), 2u);
        EXPECT_TRUE(r.pending.empty());
        int errors = 0;
        for (auto& f : r.done)
            if (f.exception()) ++errors;
        EXPECT_EQ(errors, 1);
    };
    loop.run_until_complete(loop.create_task(foo()));
    EXPECT_DOUBLE_EQ(loop.time(), 0.15);
    loop.run_until_complete(loop.create_task(foo()));
    EXPECT_DOUBLE_EQ(loop.time(), 0.15);
}

// test_wait_with_timeout: the timeout splits the tasks into done and pending.
TEST(WaitSteps, TimeoutSplitsDoneFromPending) {
    test_loop loop;
    auto a = loop.create_task(sleep(0.1));
    auto b = loop.create_task(sleep(0.15));
    auto foo = [&]() -> coro<void> {
        std::vector<task<void>> ba{b, a};
        auto r = co_await wait(ba, return_when::all_completed, 0.11);
        EXPECT_EQ(r.done.size(), 1u);
        EXPECT_TRUE(!r.done.empty() && r.done[0] == a);
        EXPECT_EQ(r.pending.size(), 1u);
        EXPECT_TRUE(!r.pending.empty() && r.pending[0] == b);
    };
    loop.run_until_complete(loop.create_task(foo()));
    EXPECT_DOUBLE_EQ(loop.time(), 0.11);
    loop.run_until_complete(b);
}

// test_wait_concurrent_complete: a task finishing at the very deadline of the wait counts
// as done.
TEST(WaitSteps, TaskEndingAtTheDeadlineCountsAsDone) {
    test_loop loop;
    auto a = loop.create_task(sleep(0.1));
    auto b = loop.create_task(sleep(0.15));
    std::vector<task<void>> ba{b, a};
    auto r = loop.run_until_complete(wait(ba, return_when::all_completed, 0.1));
    ASSERT_EQ(r.done.size(), 1u);
    EXPECT_TRUE(r.done[0] == a);
    ASSERT_EQ(r.pending.size(), 1u);
    EXPECT_TRUE(r.pending[0] == b);
    EXPECT_DOUBLE_EQ(loop.time(), 0.1);
    loop.run_until_complete(b);
}

// test_wait_with_iterator_of_tasks: wait() takes any range of tasks.
TEST(WaitSteps, AnyRangeOfTasksWillDo) {
    test_loop loop;
    auto a = loop.create_task(sleep(0.1));
    auto b = loop.create_task(sleep(0.15));
    std::list<task<void>> ba{b, a};
    auto foo = [&]() -> coro<int> {
        auto r = co_await wait(ba);
        EXPECT_EQ(r.done.size(), 2u);
        EXPECT_TRUE(r.pending.empty());
        co_return 42;
    };
    EXPECT_EQ(loop.run_until_complete(loop.create_task(foo())), 42);
    EXPECT_DOUBLE_EQ(loop.time(), 0.15);
}

// test_as_completed: coroutines finishing together come first (in either order), the
// slow one last, after its whole time.
TEST(WaitSteps, AsCompletedHandsOutTiesFirstAndTheSlowOneLast) {
    test_loop loop;
    auto sleeper = [](double dt, std::string x) -> coro<std::string> {
        co_await sleep(dt);
        co_return x;
    };
    auto foo = [&]() -> coro<std::vector<std::string>> {
        std::vector<coro<std::string>> cs;
        cs.push_back(sleeper(0.01, "b"));
        cs.push_back(sleeper(0.15, "c"));
        cs.push_back(sleeper(0.01, "a"));
        auto ac = as_completed(std::move(cs));
        std::vector<std::string> values;
        while (auto f = co_await ac.next()) values.push_back(f->result());
        co_return values;
    };
    auto res = loop.run_until_complete(loop.create_task(foo()));
    ASSERT_EQ(res.size(), 3u);
    EXPECT_TRUE((res[0] == "a" && res[1] == "b") || (res[0] == "b" && res[1] == "a"));
    EXPECT_EQ(res[2], "c");
    EXPECT_DOUBLE_EQ(loop.time(), 0.15);
}

// test_as_completed_with_unused_timeout: every item in before the timeout: no timeout is
// raised and its timer no longer holds the loop.
TEST(WaitSteps, AsCompletedUnusedTimeoutLeavesNoTimerBehind) {
    test_loop loop;
    auto foo = [&]() -> coro<void> {
        std::vector<coro<std::string>> cs;
        cs.push_back(sleep(0.01, std::string("a")));
        auto ac = as_completed(std::move(cs), 1.0);
        int n = 0;
        while (auto f = co_await ac.next()) {
            EXPECT_EQ(f->result(), "a");
            ++n;
        }
        EXPECT_EQ(n, 1);
        EXPECT_EQ(loop.base().scheduled_timer_count(), 0u) << "the timeout's timer went with the last item";
    };
    loop.run_until_complete(loop.create_task(foo()));
    EXPECT_DOUBLE_EQ(loop.time(), 0.01);
}

// as_completed (test_as_completed's contract) hands out a cancelled item like any other:
// in completion order, its result() raising cancelled_error.
TEST(WaitSteps, AsCompletedHandsOutACancelledItemInItsTurn) {
    test_loop loop;
    auto foo = [&]() -> coro<void> {
        auto a = create_task(value_after(0.2, 1));
        auto b = create_task(value_after(1, 2));
        get_running_loop().call_later(0.1, [&b] { b.cancel(); });
        auto ac = as_completed(std::vector<task<int>>{a, b});
        auto first = co_await ac.next();
        EXPECT_TRUE(first && *first == b);
        EXPECT_THROW((void)first->result(), cancelled_error);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.1);
        auto second = co_await ac.next();
        EXPECT_TRUE(second && *second == a);
        EXPECT_EQ(second->result(), 1);
    };
    loop.run_until_complete(foo());
}

// ================================================================ ShieldSteps

// test_shield_result: the shield of a future gets the result set on the future later.
TEST(ShieldSteps, ResultOfTheInnerFutureReachesTheOuter) {
    test_loop loop;
    auto inner = loop.create_future<int>();
    auto outer = shield(inner);
    EXPECT_FALSE(outer == inner);
    inner.set_result(42);
    EXPECT_EQ(loop.run_until_complete(outer), 42);
}

// test_shield_exception: the inner future's exception becomes the outer's, the same
// object.
TEST(ShieldSteps, ExceptionOfTheInnerFutureIsTheOutersSameObject) {
    test_loop loop;
    auto inner = loop.create_future<int>();
    auto outer = shield(inner);
    run_once(loop);
    auto exc = std::make_exception_ptr(std::runtime_error("expected"));
    inner.set_exception(exc);
    run_once(loop);
    ASSERT_TRUE(outer.done());
    EXPECT_EQ(outer.exception(), exc);
}

// test_shield_cancel_inner: cancelling the inner future cancels the outer.
TEST(ShieldSteps, CancellingTheInnerCancelsTheOuter) {
    test_loop loop;
    auto inner = loop.create_future<int>();
    auto outer = shield(inner);
    run_once(loop);
    inner.cancel();
    run_once(loop);
    EXPECT_TRUE(outer.cancelled());
}

// test_shield_cancel_outer: cancelling the outer leaves the inner pending; whatever the
// inner does later does not reach the outer.
TEST(ShieldSteps, CancellingTheOuterLeavesTheInnerAlone) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    {
        auto inner = loop.create_future<int>();
        auto outer = shield(inner);
        run_once(loop);
        EXPECT_TRUE(outer.cancel());
        run_once(loop);
        EXPECT_TRUE(outer.cancelled());
        EXPECT_FALSE(inner.done());
        inner.set_result(7);
        run_once(loop);
        EXPECT_TRUE(outer.cancelled());
        EXPECT_EQ(inner.result(), 7);
    }
    EXPECT_TRUE(log.calls.empty());
}

// test_shield_effect, with a message: cancel(msg) of the task awaiting a shield cancels
// the outer with that message, which the task sees; the inner runs on untouched.
TEST(ShieldSteps, CancelMessageReachesTheAwaiterNotTheInner) {
    test_loop loop;
    auto waiter = loop.create_future<void>();
    int proof = 0;
    auto inner = [&]() -> coro<void> {
        co_await waiter;
        proof += 1;
    };
    auto outer = [&]() -> coro<void> {
        co_await shield(inner());
        proof += 100;
    };
    auto f = loop.create_task(outer());
    run_once(loop);
    EXPECT_TRUE(f.cancel("stop waiting"));
    EXPECT_EQ(cancel_message_of([&] { loop.run_until_complete(f); }), "stop waiting");
    EXPECT_FALSE(waiter.cancelled());
    waiter.set_result();
    drain(loop);
    EXPECT_EQ(proof, 1);
}

// test_shield_shortcut: the shield of a done future is that future.
TEST(ShieldSteps, ShieldOfADoneFutureIsTheFutureItself) {
    test_loop loop;
    auto fut = loop.create_future<int>();
    fut.set_result(42);
    auto s = shield(fut);
    EXPECT_TRUE(s == fut);
    EXPECT_EQ(loop.run_until_complete(s), 42);
}

// test_shield_gather: the shield of a gather is cancelled alone; the gather and its
// children go on and the gather gets their results.
TEST(ShieldSteps, ShieldOfAGatherKeepsTheGatherRunning) {
    test_loop loop;
    auto child1 = loop.create_future<int>();
    auto child2 = loop.create_future<int>();
    auto parent = gather(child1, child2);
    auto outer = shield(parent);
    run_once(loop);
    outer.cancel();
    run_once(loop);
    EXPECT_TRUE(outer.cancelled());
    EXPECT_FALSE(parent.done());
    child1.set_result(1);
    child2.set_result(2);
    drain(loop);
    ASSERT_TRUE(parent.done());
    EXPECT_EQ(parent.result(), std::make_tuple(1, 2));
}

// test_gather_shield: cancelling a gather of shields cancels the shields (the gather
// ends with cancelled_error as its exception) but not the futures behind them.
TEST(ShieldSteps, GatherOfShieldsCancelsTheShieldsNotTheChildren) {
    test_loop loop;
    auto child1 = loop.create_future<int>();
    auto child2 = loop.create_future<int>();
    auto inner1 = shield(child1);
    auto inner2 = shield(child2);
    auto parent = gather(inner1, inner2);
    run_once(loop);
    EXPECT_TRUE(parent.cancel());
    run_once(loop);
    ASSERT_TRUE(parent.done());
    EXPECT_THROW(std::rethrow_exception(parent.exception()), cancelled_error);
    EXPECT_TRUE(inner1.cancelled());
    EXPECT_TRUE(inner2.cancelled());
    EXPECT_FALSE(child1.done());
    EXPECT_FALSE(child2.done());
    child1.set_result(1);
    child2.set_result(2);
    run_once(loop);
    EXPECT_EQ(child1.result() + child2.result(), 3);
}

// test_shield_coroutine_use_running_loop: shield() of a coroutine inside a task wraps it
// in a task of the running loop; the outer can be awaited after that task ended.
TEST(ShieldSteps, ShieldOfACoroutineRunsItOnTheRunningLoop) {
    test_loop loop;
    auto c = []() -> coro<int> { co_return 42; };
    auto make = [&]() -> coro<future<int>> { co_return shield(c()); };
    future<int> outer = loop.run_until_complete(make());
    EXPECT_TRUE(&outer.get_loop() == &loop.base());
    EXPECT_EQ(loop.run_until_complete(outer), 42);
}

// test_shield_effect with a failing inner task: the failure comes out of the shield to the
// awaiter, and, retrieved that way, is not reported.
TEST(ShieldSteps, FailureOfTheShieldedTaskReachesTheAwaiterAndIsNotReported) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    auto failing = []() -> coro<int> {
        co_await sleep(0.1);
        throw std::runtime_error("inner failed");
    };
    auto body = [&]() -> coro<std::string> {
        try {
            co_await shield(failing());
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no error";
    };
    EXPECT_EQ(loop.run_until_complete(body()), "inner failed");
    drain(loop);
    EXPECT_TRUE(log.calls.empty()) << log.messages().at(0);
}

}  // namespace
}  // namespace duet::test
