// wait_for and timeout scopes step by step, as test_asyncio's test_waitfor and
// test_timeouts drive them: inner coroutines that swallow their cancellation, timeouts of
// zero, cancellations racing deadlines, nested scopes and a busy loop, and which
// cancellation requests a scope takes back. Scenarios after CPython's
// Lib/test/test_asyncio (Python 3.12/3.13 behaviour); time is the virtual clock's, and
// a "busy loop" is a callback advancing it.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

constexpr double epsilon = 0.0001;

// test_waitfor's SlowTask: runs for task_timeout seconds of loop time, swallowing every
// cancellation on the way.
struct slow_task {
    static constexpr double task_timeout = 0.2;
    bool exited = false;
    coro<void> run() {
        double exit_at = get_running_loop().time() + task_timeout;
        for (;;) {
            double to_sleep = exit_at - get_running_loop().time();
            if (to_sleep <= 0) break;
            try {
                co_await sleep(to_sleep);
            } catch (const cancelled_error&) {
            }
        }
        exited = true;
    }
};

struct foo_error : std::runtime_error {
    foo_error() : std::runtime_error("foo") {}
};

// Whether a timeout_error carries a cancelled_error as its cause (nested).
bool caused_by_cancellation(const timeout_error& e) {
    try {
        std::rethrow_if_nested(e);
    } catch (const cancelled_error&) {
        return true;
    } catch (...) {
    }
    return false;
}

// ---------------------------------------------------------------- wait_for

// test_asyncio_wait_for_cancelled: cancelling the task that runs wait_for reaches the
// inner coroutine, which swallows it and runs to its end; the task then ends normally.
TEST(WaitForSteps, CancellingTheWaiterLetsAStubbornCoroutineFinish) {
    test_loop loop;
    slow_task t;
    loop.run_until_complete([&]() -> coro<void> {
        auto waitfortask = create_task(wait_for(t.run(), slow_task::task_timeout * 2));
        co_await sleep(0);
        waitfortask.cancel();
        std::vector<basic_future> fs{waitfortask};
        auto r = co_await wait(fs);
        (void)r;
        EXPECT_TRUE(t.exited);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), slow_task::task_timeout);
        EXPECT_TRUE(waitfortask.done());
        EXPECT_FALSE(waitfortask.cancelled()) << "the cancellation was swallowed";
    }());
}

// test_asyncio_wait_for_timeout: the deadline cancels the inner coroutine, which
// swallows it and ends later on its own: wait_for returns then, without timeout_error.
TEST(WaitForSteps, AStubbornCoroutineOutlivesItsDeadline) {
    test_loop loop;
    slow_task t;
    loop.run_until_complete([&]() -> coro<void> {
        EXPECT_NO_THROW(co_await wait_for(t.run(), slow_task::task_timeout / 2));
        EXPECT_TRUE(t.exited);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), slow_task::task_timeout);
        EXPECT_EQ(current_task()->cancelling(), 0);
    }());
}

// test_wait_for_timeout_less_then_0_or_0: a started task given a timeout of 0 or less is
// cancelled, its cleanup runs, then timeout_error; no time passes.
TEST(WaitForSteps, ZeroOrNegativeTimeoutCancelsAStartedTask) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        auto& lp = get_running_loop();
        for (double timeout : {0.0, -1.0}) {
            std::optional<bool> foo_running;
            auto started = lp.create_future<void>();
            auto foo = [&]() -> coro<std::string> {
                foo_running = true;
                started.set_result();
                try {
                    co_await sleep(10);
                } catch (...) {
                    foo_running = false;
                    throw;
                }
                foo_running = false;
                co_return "done";
            };
            auto fut = create_task(foo());
            co_await started;
            double t0 = lp.time();
            EXPECT_THROW((void)co_await wait_for(fut, timeout), timeout_error);
            EXPECT_TRUE(fut.done());
            EXPECT_TRUE(fut.cancelled());
            EXPECT_EQ(foo_running, false);
            EXPECT_EQ(lp.time(), t0);
        }
    }());
}

// test_wait_for_waits_for_task_cancellation_w_timeout_0: with a timeout of 0 the task's
// slow cleanup is still waited for, and the timeout_error's cause is the cancellation.
TEST(WaitForSteps, ZeroTimeoutWaitsForTheTasksCleanup) {
    test_loop loop;
    bool task_done = false;
    auto inner = [&]() -> coro<void> {
        std::exception_ptr cancelled;
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
            cancelled = std::current_exception();
        }
        if (cancelled) co_await sleep(epsilon);
        task_done = true;
        if (cancelled) std::rethrow_exception(cancelled);
    };
    auto foo = [&]() -> coro<void> {
        auto inner_task = create_task(inner());
        co_await sleep(epsilon);
        co_await wait_for(inner_task, 0);
    };
    bool timed_out = false, caused = false;
    loop.run_until_complete([&]() -> coro<void> {
        try {
            co_await foo();
        } catch (const timeout_error& e) {
            timed_out = true;
            caused = caused_by_cancellation(e);
        }
    }());
    EXPECT_TRUE(timed_out);
    EXPECT_TRUE(task_done);
    EXPECT_TRUE(caused);
    EXPECT_NEAR(loop.time(), 2 * epsilon, 1e-12) << "the cleanup's sleep was waited for";
}

// test_wait_for_reraises_exception_during_cancellation: a task that raises another
// exception while being cancelled by the deadline: that exception comes out of wait_for,
// not timeout_error.
TEST(WaitForSteps, AnErrorRaisedWhileCancelledComesOutInsteadOfTheTimeout) {
    test_loop loop;
    auto inner = []() -> coro<void> {
        try {
            co_await sleep(0.2);
        } catch (...) {
        }
        throw foo_error();
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto inner_task = create_task(inner());
        EXPECT_THROW(co_await wait_for(inner_task, epsilon), foo_error);
        EXPECT_EQ(current_task()->cancelling(), 0);
    }());
}

// test_wait_for_self_cancellation: a wait_for task cancelled before it ever ran never
// touches the inner task, which runs its course undisturbed and returns 42.
TEST(WaitForSteps, AWaiterCancelledBeforeRunningLeavesTheInnerTaskAlone) {
    test_loop loop;
    int cancels_seen = 0;
    auto inner = [&]() -> coro<int> {
        for (int i = 0; i < 3; ++i) {
            try {
                co_await sleep(0.3);
                break;
            } catch (const cancelled_error&) {
                ++cancels_seen;
            }
        }
        co_return 42;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto inner_task = create_task(inner());
        auto waiter = [&]() -> coro<int> { co_return co_await wait_for(inner_task, 0.1); };
        auto t = create_task(waiter());
        t.cancel();
        EXPECT_THROW((void)co_await t, cancelled_error);
        EXPECT_EQ(co_await inner_task, 42);
        EXPECT_EQ(cancels_seen, 0);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.3);
    }());
}

// test_cancel_blocking_wait_for / test_cancel_wait_for (issue #23219): cancelling the task
// running wait_for also cancels the task it waits for, with or without a timeout.
TEST(WaitForSteps, CancellingTheWaiterCancelsTheWaitedTask) {
    test_loop loop;
    auto blocking = []() -> coro<void> {
        auto f = get_running_loop().create_future<void>();
        co_await f;
    };
    auto one_case = [&](optional_seconds timeout) -> coro<void> {
        auto t = create_task(blocking());
        auto w = create_task(wait_for(t, timeout));
        get_running_loop().call_soon([w]() mutable { w.cancel(); });
        EXPECT_THROW(co_await w, cancelled_error);
        EXPECT_TRUE(t.cancelled());
    };
    loop.run_until_complete(one_case(std::nullopt));
    loop.run_until_complete(one_case(60.0));
    EXPECT_EQ(loop.time(), 0.0);
}

// test_wait_for_issue86296: a wait_for whose coroutine returns at once leaves nothing
// behind: a later cancellation of the task is delivered, not swallowed.
TEST(WaitForSteps, ACancellationAfterAQuickWaitForIsDelivered) {
    test_loop loop;
    bool reached_end = false;
    auto inner = []() -> coro<void> { co_return; };
    auto body = [&]() -> coro<void> {
        co_await wait_for(inner(), 100);
        co_await sleep(1);
        reached_end = true;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(body());
        co_await sleep(0);
        EXPECT_FALSE(t.done());
        t.cancel();
        EXPECT_THROW(co_await t, cancelled_error);
        EXPECT_FALSE(reached_end);
    }());
}

// Not a CPython case, the rule _test_cancel_wait_for relies on, for a plain future: the
// future wait_for waits on is cancelled when the deadline passes, and when the waiting
// task is cancelled (with or without a timeout).
TEST(WaitForSteps, ThePlainFutureWaitedForIsCancelledToo) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        auto& lp = get_running_loop();
        auto f = lp.create_future<int>();
        EXPECT_THROW((void)co_await wait_for(f, 0.1), timeout_error);
        EXPECT_TRUE(f.cancelled()) << "by the deadline";
        for (optional_seconds timeout : {optional_seconds(std::nullopt), optional_seconds(60.0)}) {
            auto g = lp.create_future<int>();
            auto w = create_task(wait_for(g, timeout));
            co_await sleep(0);
            w.cancel();
            EXPECT_THROW((void)co_await w, cancelled_error);
            EXPECT_TRUE(g.cancelled()) << "by the waiter's cancellation";
        }
    }());
}

// test_wait_for_timeout_less_then_0_or_0_future_done, widened to every outcome and every
// kind of timeout: a future already done gives its outcome at once, without waiting and
// without a timeout_error: its result, its exception, or its cancellation.
TEST(WaitForSteps, AnAlreadyDoneFutureGivesItsOutcomeAtOnce) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        auto& lp = get_running_loop();
        for (optional_seconds timeout :
             {optional_seconds(0.0), optional_seconds(-1.0), optional_seconds(1.0), optional_seconds(std::nullopt)}) {
            auto ok = lp.create_future<std::string>();
            ok.set_result("done");
            EXPECT_EQ(co_await wait_for(ok, timeout), "done");
            auto failed = lp.create_future<std::string>();
            failed.set_exception(foo_error());
            EXPECT_THROW((void)co_await wait_for(failed, timeout), foo_error);
            auto cancelled = lp.create_future<std::string>();
            cancelled.cancel("gone");
            std::string message = "none";
            try {
                (void)co_await wait_for(cancelled, timeout);
            } catch (const cancelled_error& e) {
                message = e.message();
            }
            EXPECT_EQ(message, "gone");
        }
        EXPECT_EQ(lp.time(), 0.0);
        EXPECT_EQ(current_task()->cancelling(), 0);
    }());
}

// Not a CPython case; asyncio 3.12's rule for two cancellation requests: the deadline
// cancels the inner coroutine, and while its cleanup runs the task is cancelled from
// outside too. The scope sees a request that is not its own (cancelling() stays 1 after
// it takes its own back): the cancellation propagates, not timeout_error.
TEST(WaitForSteps, AnOutsideCancellationDuringTheTimeoutsCleanupWins) {
    test_loop loop;
    auto inner = []() -> coro<int> {
        std::exception_ptr cancelled;
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
            cancelled = std::current_exception();
        }
        co_await sleep(1);  // cleanup, interrupted by the outside cancellation
        std::rethrow_exception(cancelled);
    };
    std::string raised = "nothing";
    auto body = [&]() -> coro<int> {
        try {
            co_return co_await wait_for(inner(), 0.1);
        } catch (const timeout_error&) {
            raised = "timeout_error";
            throw;
        } catch (const cancelled_error&) {
            raised = "cancelled_error";
            throw;
        }
    };
    auto t = loop.create_task(body());
    loop.call_at(0.5, [&] { t.cancel(); });
    EXPECT_THROW((void)loop.run_until_complete(t), cancelled_error);
    EXPECT_EQ(raised, "cancelled_error");
    EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(t.cancelling(), 1);
    EXPECT_DOUBLE_EQ(loop.time(), 0.5);
}

// Not a CPython case; the other side of _test_cancel_wait_for: the waited-for task
// swallows the cancellation that the waiting task passed on, and returns a value. The
// waiting task then ends with that value, not cancelled (its request still counted).
TEST(WaitForSteps, ATaskThatSwallowsThePassedOnCancellationGivesItsValue) {
    test_loop loop;
    auto inner = []() -> coro<int> {
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
        }
        co_return 42;
    };
    auto run_case = [&](optional_seconds timeout) {
        auto it = loop.create_task(inner());
        auto body = [&]() -> coro<int> { co_return co_await wait_for(it, timeout); };
        auto t = loop.create_task(body());
        loop.run_until_complete(sleep(0.1));
        t.cancel();
        EXPECT_EQ(loop.run_until_complete(t), 42);
        EXPECT_FALSE(t.cancelled());
        EXPECT_EQ(t.cancelling(), 1);
    };
    run_case(5.0);
    run_case(std::nullopt);
}

// ---------------------------------------------------------------- timeout scopes

// test_timeout_disabled / test_timeout_at_disabled: no deadline, never expires.
TEST(TimeoutSteps, DisabledScopesHaveNoDeadline) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        auto cm = timeout(std::nullopt);
        co_await cm.run(sleep(0.01));
        EXPECT_FALSE(cm.expired());
        EXPECT_FALSE(cm.when().has_value());
        auto at = timeout_at(std::nullopt);
        co_await at.run(sleep(0.01));
        EXPECT_FALSE(at.expired());
        EXPECT_FALSE(at.when().has_value());
    }());
}

// test_timeout_zero: a zero delay expires at once: timeout_error, with the deadline now.
TEST(TimeoutSteps, ZeroTimeoutExpiresAtOnce) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        double t0 = get_running_loop().time();
        auto cm = timeout(0);
        EXPECT_THROW(co_await cm.run(sleep(10)), timeout_error);
        double t1 = get_running_loop().time();
        EXPECT_TRUE(cm.expired());
        EXPECT_LE(t0, *cm.when());
        EXPECT_LE(*cm.when(), t1);
        EXPECT_EQ(t1, t0);
    }());
}

// test_timeout_zero_sleep_zero: even a body that only yields once (sleep(0)) is cancelled
// by a zero timeout: the expiry is scheduled before the body's wake-up.
TEST(TimeoutSteps, ZeroTimeoutCatchesASleepZero) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        double t0 = get_running_loop().time();
        auto cm = timeout(0);
        EXPECT_THROW(co_await cm.run(sleep(0)), timeout_error);
        EXPECT_TRUE(cm.expired());
        EXPECT_EQ(*cm.when(), t0);
    }());
}

// test_timeout_in_the_past_sleep_zero: the same with a deadline in the past.
TEST(TimeoutSteps, DeadlineInThePastCatchesASleepZero) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        co_await sleep(20);
        double t0 = get_running_loop().time();
        auto cm = timeout(-11);
        EXPECT_THROW(co_await cm.run(sleep(0)), timeout_error);
        EXPECT_TRUE(cm.expired());
        EXPECT_EQ(*cm.when(), t0 - 11);
    }());
}

// Not a CPython case, the same rule through reschedule: a deadline moved into the past
// while the body is active expires before the body's next wake-up, even a sleep(0)'s.
TEST(TimeoutSteps, ReschedulingIntoThePastCatchesASleepZero) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        auto cm = timeout(10);
        auto body = [&]() -> coro<void> {
            cm.reschedule(get_running_loop().time() - 1);
            co_await sleep(0);
        };
        EXPECT_THROW(co_await cm.run(body), timeout_error);
        EXPECT_TRUE(cm.expired());
        EXPECT_EQ(get_running_loop().time(), 0.0);
    }());
}

// test_foreign_exception_passed: an error from the body passes through untouched and the
// scope has not expired.
TEST(TimeoutSteps, AForeignErrorPassesThroughAnUnexpiredScope) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        auto cm = timeout(0.01);
        auto body = []() -> coro<void> {
            throw std::out_of_range("key");
            co_return;
        };
        EXPECT_THROW(co_await cm.run(body), std::out_of_range);
        EXPECT_FALSE(cm.expired());
    }());
}

// test_timeout_exception_context: the body failed and its cleanup is still running when
// the deadline passes: the cleanup's cancellation wins, and the scope raises timeout_error
// caused by it (the body's own error is left behind).
TEST(TimeoutSteps, ADeadlineDuringTheCleanupOfAFailureRaisesTimeoutError) {
    test_loop loop;
    bool timed_out = false, caused = false;
    loop.run_until_complete([&]() -> coro<void> {
        auto body = []() -> coro<void> {
            std::exception_ptr pending;
            try {
                throw std::domain_error("1/0");
            } catch (...) {
                pending = std::current_exception();
            }
            co_await sleep(1);  // the cleanup ("finally")
            std::rethrow_exception(pending);
        };
        try {
            co_await timeout(0.01).run(body);
        } catch (const timeout_error& e) {
            timed_out = true;
            caused = caused_by_cancellation(e);
        }
    }());
    EXPECT_TRUE(timed_out);
    EXPECT_TRUE(caused);
    EXPECT_DOUBLE_EQ(loop.time(), 0.01);
}

// test_foreign_cancel_doesnt_timeout_if_not_expired: the task cancelling itself inside a
// scope gets a cancelled_error, not a timeout, and the scope has not expired.
TEST(TimeoutSteps, ASelfCancellationInsideAScopeIsNoTimeout) {
    test_loop loop;
    timeout_scope cm{std::optional<double>(10.0)};
    auto body = []() -> coro<void> {
        current_task()->cancel();
        co_await sleep(10);
    };
    auto victim = [&]() -> coro<void> { co_await cm.run(body); };
    auto t = loop.create_task(victim());
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.cancelled());
    EXPECT_FALSE(cm.expired());
    EXPECT_EQ(loop.time(), 0.0);
}

// test_outer_task_is_not_cancelled: a task that catches its scope's timeout_error ends
// normally, not cancelled.
TEST(TimeoutSteps, ATaskThatCatchesTheTimeoutIsNotCancelled) {
    test_loop loop;
    auto outer = []() -> coro<void> { EXPECT_THROW(co_await timeout(0.001).run(sleep(10)), timeout_error); };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(outer());
        co_await t;
        EXPECT_FALSE(t.cancelled());
        EXPECT_TRUE(t.done());
        EXPECT_EQ(t.cancelling(), 0);
    }());
}

// test_nested_timeouts_concurrent: the loop is busy (10 ms) inside an inner scope of
// 100 ms nested in an outer one of 2 ms: only the outer expires and raises timeout_error;
// the inner sees a plain cancellation.
TEST(TimeoutSteps, ABusyLoopExpiresOnlyTheOuterScope) {
    test_loop loop;
    std::string inner_saw = "nothing";
    loop.run_until_complete([&]() -> coro<void> {
        auto outer = timeout(0.002);
        auto inner = timeout(0.1);
        auto inner_body = [&]() -> coro<void> {
            loop.backend().advance(0.01);  // crunching numbers
            co_await sleep(1);
        };
        auto outer_body = [&]() -> coro<void> {
            try {
                co_await inner.run(inner_body);
            } catch (const timeout_error&) {
                inner_saw = "timeout_error";
                throw;
            } catch (const cancelled_error&) {
                inner_saw = "cancelled_error";
                throw;
            }
        };
        EXPECT_THROW(co_await outer.run(outer_body), timeout_error);
        EXPECT_TRUE(outer.expired());
        EXPECT_FALSE(inner.expired());
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.01);
        EXPECT_EQ(current_task()->cancelling(), 0);
    }());
    EXPECT_EQ(inner_saw, "cancelled_error");
}

// test_nested_timeouts_loop_busy: the loop is busy past both deadlines (inner 10 ms,
// outer 100 ms): both expire in the same iteration; the task gets one cancellation, the
// inner scope lets it through (it is not only its own) and the outer raises timeout_error.
// The sleep after the inner scope is never reached.
TEST(TimeoutSteps, ABusyLoopPastBothDeadlinesRaisesAtTheOuterScope) {
    test_loop loop;
    std::string inner_saw = "nothing";
    bool slept_after = false;
    loop.run_until_complete([&]() -> coro<void> {
        auto outer = timeout(0.1);
        auto inner = timeout(0.01);
        auto inner_body = [&]() -> coro<void> {
            loop.backend().advance(0.1);
            co_await sleep(1);
        };
        auto outer_body = [&]() -> coro<void> {
            bool caught = false;
            try {
                co_await inner.run(inner_body);
            } catch (const timeout_error&) {
                inner_saw = "timeout_error";
                caught = true;
            } catch (const cancelled_error&) {
                inner_saw = "cancelled_error";
                throw;
            }
            if (caught) {
                co_await sleep(10);
                slept_after = true;
            }
        };
        EXPECT_THROW(co_await outer.run(outer_body), timeout_error);
        EXPECT_TRUE(outer.expired());
        EXPECT_TRUE(inner.expired());
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.1);
        EXPECT_EQ(current_task()->cancelling(), 0);
    }());
    EXPECT_EQ(inner_saw, "cancelled_error");
    EXPECT_FALSE(slept_after);
}

// test_nested_timeouts_loop_busy, as its comments read it: the inner scope expires first
// and its timeout_error is caught inside the outer scope, whose deadline then interrupts
// the long sleep that follows.
TEST(TimeoutSteps, AfterTheInnerScopeExpiresTheOuterStillInterrupts) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        auto outer = timeout(0.1);
        auto inner = timeout(0.01);
        bool inner_timed_out = false;
        auto outer_body = [&]() -> coro<void> {
            try {
                co_await inner.run(sleep(1));
            } catch (const timeout_error&) {
                inner_timed_out = true;
            }
            co_await sleep(10);
        };
        EXPECT_THROW(co_await outer.run(outer_body), timeout_error);
        EXPECT_TRUE(inner_timed_out);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.1);
    }());
}

// test_reschedule: another task moves an active scope's deadline and then removes it;
// cancelling the task then is a plain cancellation and the scope has not expired.
TEST(TimeoutSteps, AnotherTaskReschedulesAnActiveScope) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        auto& lp = get_running_loop();
        double deadline1 = lp.time() + 10;
        double deadline2 = deadline1 + 20;
        timeout_scope cm{std::optional<double>(deadline1)};
        auto entered = lp.create_future<void>();
        auto body = [&]() -> coro<void> {
            entered.set_result();
            co_await sleep(50);
        };
        auto f = [&]() -> coro<void> { co_await cm.run(body); };
        auto t = create_task(f());
        co_await entered;
        EXPECT_EQ(cm.when(), deadline1);
        cm.reschedule(deadline2);
        EXPECT_EQ(cm.when(), deadline2);
        cm.reschedule(std::nullopt);
        EXPECT_FALSE(cm.when().has_value());
        t.cancel();
        EXPECT_THROW(co_await t, cancelled_error);
        EXPECT_FALSE(cm.expired());
    }());
}

// test_nested_timeout_in_finally: the cleanup of an expired scope's body opens a scope of
// its own, which expires too and raises timeout_error inside the cleanup; the outer
// scope then raises its own timeout_error.
TEST(TimeoutSteps, AScopeInsideTheCleanupOfAnExpiredOneExpiresOnItsOwn) {
    test_loop loop;
    bool inner_timed_out = false;
    loop.run_until_complete([&]() -> coro<void> {
        auto body = [&]() -> coro<void> {
            std::exception_ptr pending;
            try {
                co_await sleep(1);
            } catch (...) {
                pending = std::current_exception();
            }
            try {
                co_await timeout(0.01).run(sleep(10));
            } catch (const timeout_error&) {
                inner_timed_out = true;
            }
            if (pending) std::rethrow_exception(pending);
        };
        EXPECT_THROW(co_await timeout(0.01).run(body), timeout_error);
        EXPECT_EQ(current_task()->cancelling(), 0);
    }());
    EXPECT_TRUE(inner_timed_out);
    EXPECT_DOUBLE_EQ(loop.time(), 0.02);
}

// test_timeout_after_cancellation: a task that swallowed a cancellation (still counted:
// cancelling() is 1) can still time out a scope in its cleanup: timeout_error, and the
// count is back to 1 after.
TEST(TimeoutSteps, AScopeTimesOutAfterASwallowedCancellation) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        try {
            current_task()->cancel();
            co_await sleep(1);
        } catch (const cancelled_error&) {
        }
        EXPECT_EQ(current_task()->cancelling(), 1);
        EXPECT_THROW(co_await timeout(0.0).run(sleep(1)), timeout_error);
        EXPECT_EQ(current_task()->cancelling(), 1);
    }());
    EXPECT_EQ(loop.time(), 0.0);
}

// test_cancel_in_timeout_after_cancellation: the same task cancelling itself again inside
// the cleanup's scope gets a cancelled_error, not a timeout.
TEST(TimeoutSteps, ASelfCancellationInAScopeAfterASwallowedOneStaysACancellation) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        try {
            current_task()->cancel();
            co_await sleep(1);
        } catch (const cancelled_error&) {
        }
        auto cm = timeout(1.0);
        auto cleanup = []() -> coro<void> {
            current_task()->cancel();
            co_await sleep(2);
        };
        EXPECT_THROW(co_await cm.run(cleanup), cancelled_error);
        EXPECT_FALSE(cm.expired());
        EXPECT_EQ(current_task()->cancelling(), 2);
    }());
    EXPECT_EQ(loop.time(), 0.0);
}

// test_timeout_taskgroup: a task group inside a scope; the body fails and, in its
// cleanup, is cancelled by the deadline; a child crashes in its own cleanup. What leaves
// the scope is the group's exception_group with the child's error alone (not a
// timeout_error: it is not a cancellation), and the scope has expired.
TEST(TimeoutSteps, ATaskGroupInsideAnExpiredScopeRaisesItsChildsError) {
    test_loop loop;
    std::optional<std::size_t> members;
    bool member_is_the_crash = false;
    auto child = []() -> coro<void> {
        try {
            co_await sleep(2);
        } catch (...) {
        }
        throw std::domain_error("1/0");  // crash in cleanup
    };
    auto group_body = [&](task_group& tg) -> coro<void> {
        tg.create_task(child());
        std::exception_ptr pending;
        try {
            throw std::invalid_argument("value");
        } catch (...) {
            pending = std::current_exception();
        }
        co_await sleep(1);
        std::rethrow_exception(pending);
    };
    auto scope_body = [&]() -> coro<void> { co_await with_task_group(group_body); };
    auto cm = std::make_unique<timeout_scope>(std::optional<double>(0.01));
    auto outer = [&]() -> coro<void> {
        try {
            co_await cm->run(scope_body);
        } catch (const exception_group& eg) {
            members = eg.size();
            member_is_the_crash = eg.size() == 1 && error_of(eg.exceptions()[0]) == "1/0";
        }
    };
    auto t = loop.create_task(outer());
    // The group re-arms the scope's cancellation (an outside one to it) before raising;
    // the scope then takes its request back, which leaves nothing pending (asyncio 3.13's
    // uncancel() drops a re-armed request when the count reaches 0): the task ends normally.
    EXPECT_NO_THROW(loop.run_until_complete(t));
    EXPECT_FALSE(t.cancelled());
    EXPECT_EQ(t.cancelling(), 0);
    EXPECT_EQ(members, 1u);
    EXPECT_TRUE(member_is_the_crash);
    EXPECT_TRUE(cm->expired());
    EXPECT_DOUBLE_EQ(loop.time(), 0.01);
}

}  // namespace
}  // namespace duet::test
