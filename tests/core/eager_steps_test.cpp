// Eager tasks step by step, after CPython's Lib/test/test_asyncio/test_eager_task_factory.py
// (3.12/3.13): with duet::eager_task_factory set, a task created while the loop runs takes
// its first step inside create_task; one that finishes there is never scheduled.
//
// Skipped from CPython's file:
// - the Py/C task variants (PyEagerTaskFactoryLoopTests, CEagerTaskFactoryLoopTests,
//   NonEagerPyTaskTests, EagerPyTaskTests, NonEagerCTaskTests, EagerCTaskTests): duet has
//   one task implementation, so each case runs once here;
// - test_staggered_race_with_eager_tasks, test_staggered_race_with_eager_tasks_no_delay:
//   duet has no asyncio.staggered.staggered_race (an internal helper of
//   create_connection's happy eyeballs);
// - test_issue105987: calls the C module's private _swap_current_task with dummy objects
//   in a subprocess (a crash regression of the C accelerator; no duet counterpart).
// The cases after the ported ones check the rest of asyncio's eager-start contract
// (Task.__eager_start, create_task, gather, TaskGroup) that the file leaves implicit.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

context_var<int> cv("cv", 0);

bool contains(const std::vector<task_ref>& ts, const basic_task& t) {
    for (const auto& r : ts)
        if (r == t) return true;
    return false;
}

// test_eager_task_factory_set
TEST(EagerSteps, EagerTaskFactorySet) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    const task_factory& f = loop.get_task_factory();
    ASSERT_TRUE(static_cast<bool>(f));
    using fn = task_start (*)(abstract_event_loop&, basic_task&);
    ASSERT_NE(f.target<fn>(), nullptr);
    EXPECT_EQ(*f.target<fn>(), &eager_task_factory);
    auto noop = []() -> coro<void> { co_return; };
    loop.run_until_complete([&]() -> coro<void> {
        task<void> t = get_running_loop().create_task(noop());
        co_await t;
        EXPECT_TRUE(t.done());
    }());
    loop.close();
}

// test_await_future_during_eager_step
TEST(EagerSteps, AwaitFutureDuringEagerStep) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    auto set_result = [](future<std::string> fut, std::string val) -> coro<void> {
        fut.set_result(std::move(val));
        co_return;
    };
    auto run = [&]() -> coro<std::string> {
        auto fut = get_running_loop().create_future<std::string>();
        auto t = get_running_loop().create_task(set_result(fut, "my message"));
        EXPECT_TRUE(t.done()) << "the eager step completed the task";
        co_return co_await fut;
    };
    EXPECT_EQ(loop.run_until_complete(run()), "my message");
    loop.close();
}

// test_eager_completion
TEST(EagerSteps, EagerCompletion) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    auto body = []() -> coro<std::string> { co_return "hello"; };
    auto run = [&]() -> coro<std::string> {
        auto t = get_running_loop().create_task(body());
        EXPECT_TRUE(t.done()) << "the eager step completed the task";
        co_return co_await t;
    };
    EXPECT_EQ(loop.run_until_complete(run()), "hello");
    loop.close();
}

// test_block_after_eager_step
TEST(EagerSteps, BlockAfterEagerStep) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    auto body = []() -> coro<std::string> {
        co_await sleep(0.1);
        co_return "finished after blocking";
    };
    auto run = [&]() -> coro<std::string> {
        auto t = get_running_loop().create_task(body());
        EXPECT_FALSE(t.done());
        std::string result = co_await t;
        EXPECT_TRUE(t.done());
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.1);
        co_return result;
    };
    EXPECT_EQ(loop.run_until_complete(run()), "finished after blocking");
    loop.close();
}

// test_cancellation_after_eager_completion
TEST(EagerSteps, CancellationAfterEagerCompletion) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    auto body = []() -> coro<std::string> { co_return "finished without blocking"; };
    auto run = [&]() -> coro<std::string> {
        auto t = get_running_loop().create_task(body());
        EXPECT_FALSE(t.cancel()) << "a finished task cannot be cancelled";
        std::string result = co_await t;
        EXPECT_FALSE(t.cancelled());
        co_return result;
    };
    EXPECT_EQ(loop.run_until_complete(run()), "finished without blocking");
    loop.close();
}

// test_cancellation_after_eager_step_blocks
TEST(EagerSteps, CancellationAfterEagerStepBlocks) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    auto body = []() -> coro<std::string> {
        co_await sleep(0.1);
        co_return "finished after blocking";
    };
    auto run = [&]() -> coro<void> {
        auto t = get_running_loop().create_task(body());
        t.cancel("cancellation message");
        EXPECT_GT(t.cancelling(), 0);
        co_await t;
        ADD_FAILURE() << "awaiting a cancelled task raises";
    };
    std::string message = "no cancellation";
    try {
        loop.run_until_complete(run());
    } catch (const cancelled_error& e) {
        message = e.message();
    }
    EXPECT_EQ(message, "cancellation message");
    loop.close();
}

// test_current_task
TEST(EagerSteps, CurrentTask) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    std::optional<task_ref> captured;
    auto body = [&]() -> coro<void> {
        captured = current_task();
        co_await sleep(0.1);
        EXPECT_TRUE(current_task() == captured) << "the same task before and after blocking";
    };
    auto run = [&]() -> coro<void> {
        auto outer = current_task();
        auto t = get_running_loop().create_task(body());
        EXPECT_TRUE(captured && *captured == t);
        EXPECT_TRUE(current_task() == outer) << "the creator is current again after the eager step";
        co_await t;
    };
    loop.run_until_complete(run());
    loop.close();
}

// test_all_tasks_with_eager_completion
TEST(EagerSteps, AllTasksWithEagerCompletion) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    std::vector<task_ref> captured;
    auto body = [&]() -> coro<void> {
        captured = all_tasks();
        co_return;
    };
    auto run = [&]() -> coro<void> {
        auto t = get_running_loop().create_task(body());
        EXPECT_TRUE(contains(captured, t));
        EXPECT_FALSE(contains(all_tasks(), t));
        co_return;
    };
    loop.run_until_complete(run());
    loop.close();
}

// test_all_tasks_with_blocking
TEST(EagerSteps, AllTasksWithBlocking) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    std::vector<task_ref> captured;
    auto body = [&](future<void> fut1, future<void> fut2) -> coro<void> {
        captured = all_tasks();
        co_await fut1;
        fut2.set_result();
    };
    auto run = [&]() -> coro<void> {
        auto fut1 = get_running_loop().create_future<void>();
        auto fut2 = get_running_loop().create_future<void>();
        auto t = get_running_loop().create_task(body(fut1, fut2));
        EXPECT_TRUE(contains(captured, t));
        EXPECT_TRUE(contains(all_tasks(), t));
        fut1.set_result();
        co_await fut2;
        EXPECT_FALSE(contains(all_tasks(), t));
    };
    loop.run_until_complete(run());
    loop.close();
}

// test_context_vars
TEST(EagerSteps, ContextVars) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    bool first_step_ran = false;
    bool second_step_ran = false;
    auto body = [&]() -> coro<void> {
        EXPECT_EQ(cv.get(), 1);
        cv.set(2);
        EXPECT_EQ(cv.get(), 2);
        first_step_ran = true;
        co_await sleep(0.1);
        EXPECT_EQ(cv.get(), 2);
        cv.set(3);
        EXPECT_EQ(cv.get(), 3);
        second_step_ran = true;
    };
    auto run = [&]() -> coro<void> {
        cv.set(1);
        auto t = get_running_loop().create_task(body());
        EXPECT_TRUE(first_step_ran);
        EXPECT_FALSE(second_step_ran);
        EXPECT_EQ(cv.get(), 1);
        co_await t;
        EXPECT_TRUE(second_step_ran);
        EXPECT_EQ(cv.get(), 1);
    };
    loop.run_until_complete(run());
    EXPECT_EQ(cv.get(), 0);
    loop.close();
}

// test_issue122332 (CEagerTaskFactoryLoopTests): a task done in its eager step lets its
// coroutine go (get_coro() is None).
TEST(EagerSteps, Issue122332) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    auto body = []() -> coro<void> { co_return; };
    auto run = [&]() -> coro<void> {
        auto t = get_running_loop().create_task(body());
        co_await t;
        EXPECT_FALSE(static_cast<bool>(t.get_coro()));
    };
    loop.run_until_complete(run());
    loop.close();
}

// --- BaseTaskCountingTests: AsyncTaskCounter's factory counts the tasks it starts
// without eager_start (duet: the ones it returns task_start::soon for).

coro<int> awaitable_chain(int depth) {
    if (depth == 0) co_return 0;
    co_return 1 + co_await awaitable_chain(depth - 1);
}

coro<void> recursive_taskgroups(int width, int depth) {
    if (depth == 0) co_return;
    auto body = [width, depth](task_group& tg) -> coro<void> {
        for (int i = 0; i < width; ++i) tg.create_task(recursive_taskgroups(width, depth - 1));
        co_return;
    };
    co_await with_task_group(body);
}

coro<void> recursive_gather(int width, int depth) {
    if (depth == 0) co_return;
    std::vector<coro<void>> children;
    for (int i = 0; i < width; ++i) children.push_back(recursive_gather(width, depth - 1));
    co_await gather(std::move(children));
}

// AsyncTaskCounter: counts the tasks started without eager_start.
struct task_counter {
    int task_count = 0;
    task_counter(abstract_event_loop& loop, bool eager) {
        loop.set_task_factory([this, eager](abstract_event_loop&, basic_task&) {
            if (eager) return task_start::eager;
            ++task_count;
            return task_start::soon;
        });
    }
};

// test_awaitables_chain (NonEagerTests)
TEST(EagerSteps, NonEagerAwaitablesChain) {
    test_loop loop;
    task_counter counter(loop, false);
    EXPECT_EQ(loop.run_until_complete(awaitable_chain(100)), 100);
    EXPECT_EQ(counter.task_count, 1);
    loop.close();
}

// test_recursive_taskgroups (NonEagerTests)
TEST(EagerSteps, NonEagerRecursiveTaskgroups) {
    test_loop loop;
    task_counter counter(loop, false);
    loop.run_until_complete(recursive_taskgroups(5, 4));
    EXPECT_EQ(counter.task_count, 781);  // 1 + 5 + 5^2 + 5^3 + 5^4
    loop.close();
}

// test_recursive_gather (NonEagerTests)
TEST(EagerSteps, NonEagerRecursiveGather) {
    test_loop loop;
    task_counter counter(loop, false);
    loop.run_until_complete(recursive_gather(5, 4));
    EXPECT_EQ(counter.task_count, 781);
    loop.close();
}

// test_awaitables_chain (EagerTests)
TEST(EagerSteps, EagerAwaitablesChain) {
    test_loop loop;
    task_counter counter(loop, true);
    EXPECT_EQ(loop.run_until_complete(awaitable_chain(100)), 100);
    EXPECT_EQ(counter.task_count, 0);
    loop.close();
}

// test_recursive_taskgroups (EagerTests)
TEST(EagerSteps, EagerRecursiveTaskgroups) {
    test_loop loop;
    task_counter counter(loop, true);
    loop.run_until_complete(recursive_taskgroups(5, 4));
    EXPECT_EQ(counter.task_count, 0);
    loop.close();
}

// test_recursive_gather (EagerTests)
TEST(EagerSteps, EagerRecursiveGather) {
    test_loop loop;
    task_counter counter(loop, true);
    loop.run_until_complete(recursive_gather(5, 4));
    EXPECT_EQ(counter.task_count, 0);
    loop.close();
}

// --- Beyond CPython's file: the rest of the eager-start contract.

// Task.__init__: the eager step runs only while the loop runs; before that the first step
// is queued like any other (so the main task of run_until_complete is not eager).
TEST(EagerSteps, NoEagerStepWhileTheLoopIsNotRunning) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    bool ran = false;
    auto body = [&]() -> coro<int> {
        ran = true;
        co_return 7;
    };
    auto t = loop.create_task(body());
    EXPECT_FALSE(ran);
    EXPECT_FALSE(t.done());
    EXPECT_TRUE(contains(all_tasks(loop), t));
    EXPECT_EQ(loop.run_until_complete(t), 7);
    EXPECT_TRUE(ran);
    loop.close();
}

// Task.__step_run_and_handle_result: an exception of the eager step goes to the task;
// create_task returns normally.
TEST(EagerSteps, ExceptionInTheEagerStepGoesToTheTask) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    auto broken = []() -> coro<int> {
        throw std::logic_error("eager failure");
        co_return 0;
    };
    auto run = [&]() -> coro<void> {
        std::optional<task<int>> t;
        bool thrown = false;
        try {
            t = get_running_loop().create_task(broken());
        } catch (...) {
            thrown = true;
        }
        EXPECT_FALSE(thrown);
        if (!t) co_return;
        EXPECT_TRUE(t->done());
        EXPECT_EQ(error_of(t->exception()), "eager failure");
    };
    loop.run_until_complete(run());
    loop.close();
}

struct keyboard_interrupt {};  // base-tier: not a std::exception (asyncio's KeyboardInterrupt)

// Task.__eager_start: a KeyboardInterrupt or SystemExit of the eager step is recorded by
// the task and also leaves create_task (__step_run_and_handle_result re-raises it), so
// the creator does not go on; the run then ends with it.
TEST(EagerSteps, BaseTierExceptionOfTheEagerStepLeavesCreateTask) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);
    handler_log log;
    log.install(loop);
    auto interrupted = []() -> coro<int> {
        throw keyboard_interrupt{};
        co_return 0;
    };
    bool raised = false;
    bool went_on = false;
    auto run = [&]() -> coro<void> {
        try {
            get_running_loop().create_task(interrupted(), "interrupted");
        } catch (const keyboard_interrupt&) {
            raised = true;
            throw;
        }
        went_on = true;
        co_await sleep(0);
    };
    EXPECT_THROW(loop.run_until_complete(run()), keyboard_interrupt);
    EXPECT_TRUE(raised) << "create_task raises the eager step's base-tier exception";
    EXPECT_FALSE(went_on);
    // As asyncio's Task.__del__ once nothing holds the eager task: its exception was
    // never retrieved (create_task raised it, not the task).
    EXPECT_EQ(log.messages(), std::vector<std::string>{"Task exception was never retrieved"});
    if (!log.calls.empty() && log.calls[0].task) {
        EXPECT_EQ(log.calls[0].task->get_name(), "interrupted");
    }
    loop.close();
}

// A task that cancels itself in its eager step and finishes without suspending ends
// cancelled (the _must_cancel check on StopIteration); one that then suspends gets the
// CancelledError at that await.
TEST(EagerSteps, CancelledDuringTheEagerStep) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    bool after_await = false;
    auto finishes = []() -> coro<int> {
        current_task()->cancel("self, finishing");
        co_return 1;
    };
    auto suspends = [&]() -> coro<void> {
        current_task()->cancel("self, suspending");
        co_await sleep(1);
        after_await = true;
    };
    auto run = [&]() -> coro<void> {
        auto a = get_running_loop().create_task(finishes());
        EXPECT_TRUE(a.cancelled());
        std::string msg;
        try {
            a.result();
        } catch (const cancelled_error& e) {
            msg = e.message();
        }
        EXPECT_EQ(msg, "self, finishing");
        auto b = get_running_loop().create_task(suspends());
        EXPECT_FALSE(b.done());
        EXPECT_EQ(b.cancelling(), 1);
        std::vector<task<void>> bs;
        bs.push_back(b);
        co_await wait(bs);
        EXPECT_TRUE(b.cancelled());
        EXPECT_FALSE(after_await);
        EXPECT_EQ(get_running_loop().time(), 0.0);
    };
    loop.run_until_complete(run());
    loop.close();
}

// The name given to create_task is the task's already during its eager step.
TEST(EagerSteps, NameIsSetDuringTheEagerStep) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    std::string seen;
    auto body = [&]() -> coro<void> {
        seen = current_task()->get_name();
        co_return;
    };
    auto run = [&]() -> coro<void> {
        auto t = get_running_loop().create_task(body(), "eager-name");
        EXPECT_EQ(t.get_name(), "eager-name");
        co_return;
    };
    loop.run_until_complete(run());
    EXPECT_EQ(seen, "eager-name");
    loop.close();
}

// Future.add_done_callback on a task its eager step finished: the callback is scheduled
// with call_soon, never run inline.
TEST(EagerSteps, DoneCallbackOfAnEagerlyDoneTaskIsScheduled) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    std::vector<std::string> order;
    auto body = []() -> coro<int> { co_return 1; };
    auto run = [&]() -> coro<void> {
        auto t = get_running_loop().create_task(body());
        t.add_done_callback([&](basic_future&) { order.push_back("callback"); });
        order.push_back("after add_done_callback");
        co_await sleep(0);
        order.push_back("next turn");
    };
    loop.run_until_complete(run());
    EXPECT_EQ(order, (std::vector<std::string>{"after add_done_callback", "callback", "next turn"}));
    loop.close();
}

// Eager tasks created from an eager step: each step sees itself as the current task, and
// the creator is current again once the nested step is over.
TEST(EagerSteps, NestedEagerStepsRestoreTheCurrentTask) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    std::vector<std::string> seen;
    auto inner = [&]() -> coro<void> {
        seen.push_back(current_task()->get_name());
        co_return;
    };
    auto middle = [&]() -> coro<void> {
        seen.push_back(current_task()->get_name());
        auto t = get_running_loop().create_task(inner(), "inner");
        EXPECT_TRUE(t.done());
        seen.push_back(current_task()->get_name());
        co_await sleep(0);
    };
    std::string main_name;
    auto run = [&]() -> coro<void> {
        main_name = current_task()->get_name();
        auto t = get_running_loop().create_task(middle(), "middle");
        seen.push_back(current_task()->get_name());
        co_await t;
    };
    loop.run_until_complete(run());
    EXPECT_EQ(seen, (std::vector<std::string>{"middle", "inner", "middle", main_name}));
    loop.close();
}

// create_task from a plain callback while the loop runs: the eager step still runs (the
// loop is running) as the current task, and no task is current once it is over.
TEST(EagerSteps, EagerStepFromACallback) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);
    std::optional<task_ref> in_step;
    bool none_after = false;
    bool same = false;
    auto body = [&]() -> coro<void> {
        in_step = current_task();
        co_await sleep(0.1);
    };
    loop.call_soon([&] {
        auto t = get_running_loop().create_task(body());
        same = in_step && *in_step == t;
        none_after = !current_task(loop).has_value();
    });
    loop.run_until_complete(sleep(0.2));
    EXPECT_TRUE(same);
    EXPECT_TRUE(none_after);
    loop.close();
}

// gather over coroutines that finish in their eager steps completes at once; one that
// suspends keeps it pending.
TEST(EagerSteps, GatherOfEagerTasks) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    auto quick = [](int v) -> coro<int> { co_return v; };
    auto run = [&]() -> coro<void> {
        auto g = gather(quick(1), quick(2));
        EXPECT_TRUE(g.done());
        auto h = gather(quick(3), value_after(0.5, 4));
        EXPECT_FALSE(h.done());
        auto [a, b] = co_await g;
        auto [c, d] = co_await h;
        EXPECT_EQ(a + b + c + d, 10);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.5);
    };
    loop.run_until_complete(run());
    loop.close();
}

// TaskGroup with eager children: one done in its eager step is not waited for; a failing
// one aborts the group from inside create_task.
TEST(EagerSteps, TaskGroupOfEagerTasks) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    auto quick = []() -> coro<int> { co_return 1; };
    auto broken = []() -> coro<int> {
        throw std::out_of_range("at once");
        co_return 0;
    };
    bool body_cancelled = false;
    auto run = [&]() -> coro<void> {
        auto ok_body = [&](task_group& tg) -> coro<int> {
            auto t = tg.create_task(quick());
            EXPECT_TRUE(t.done());
            auto s = tg.create_task(value_after(0.25, 2));
            EXPECT_FALSE(s.done());
            co_return t.result();
        };
        EXPECT_EQ(co_await with_task_group(ok_body), 1);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.25);
        auto failing_body = [&](task_group& tg) -> coro<void> {
            tg.create_task(broken());
            try {
                co_await sleep(1);
            } catch (const cancelled_error&) {
                body_cancelled = true;
                throw;
            }
        };
        bool grouped = false;
        try {
            co_await with_task_group(failing_body);
        } catch (const exception_group& eg) {
            grouped = eg.contains<std::out_of_range>();
        }
        EXPECT_TRUE(grouped);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.25);
    };
    loop.run_until_complete(run());
    EXPECT_TRUE(body_cancelled);
    loop.close();
}

// asyncio.wait over eager tasks: those done in their eager steps are in `done`.
TEST(EagerSteps, WaitOfEagerTasks) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);  // setUp
    auto quick = []() -> coro<int> { co_return 1; };
    auto run = [&]() -> coro<void> {
        std::vector<task<int>> ts;
        ts.push_back(get_running_loop().create_task(quick()));
        ts.push_back(get_running_loop().create_task(value_after(1, 2)));
        EXPECT_TRUE(ts[0].done());
        auto r = co_await wait(ts, return_when::first_completed);
        EXPECT_EQ(r.done.size(), 1u);
        EXPECT_EQ(r.pending.size(), 1u);
        EXPECT_EQ(get_running_loop().time(), 0.0);
        auto all = co_await wait(ts);
        EXPECT_EQ(all.done.size(), 2u);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 1.0);
    };
    loop.run_until_complete(run());
    loop.close();
}

}  // namespace
}  // namespace duet::test
