// Ports of CPython's test_runners.py (asyncio.run, asyncio.Runner) to duet::run and
// duet::runner, beyond what tasks_test.cpp's Run suite checks. Runners given a factory run
// on the virtual clock; duet::run itself asks the policy for the target's default loop.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

context_var<int> cvar("cvar", -1);

std::unique_ptr<abstract_event_loop> make_test_loop() {
    return std::make_unique<test_loop>();
}

struct policy_reset {
    ~policy_reset() { set_event_loop_policy(nullptr); }
};

coro<bool> loop_debug() {
    co_await sleep(0);
    co_return get_running_loop().get_debug();
}

// ---- asyncio.run (RunTests)

// test_asyncio_run_raises: the coroutine's exception leaves run() with its type and
// message; the loop is gone afterwards.
TEST(RunnersSteps, RunRaisesTheCoroutinesException) {
    auto main_coro = []() -> coro<int> {
        co_await sleep(0);
        throw std::domain_error("spam");
    };
    try {
        (void)run(main_coro());
        ADD_FAILURE() << "no exception";
    } catch (const std::domain_error& e) {
        EXPECT_STREQ(e.what(), "spam");
    }
    EXPECT_EQ(running_loop(), nullptr);
}

// test_asyncio_run_debug: debug=true / false switches the loop's debug mode for the run.
TEST(RunnersSteps, RunDebugFlag) {
    EXPECT_TRUE(run(loop_debug(), true));
    EXPECT_FALSE(run(loop_debug(), false));
}

// test_asyncio_run_cancels_hanging_tasks: a task main left behind is cancelled before
// run() returns, and run() still returns main's value.
TEST(RunnersSteps, RunCancelsHangingTasksBeforeReturning) {
    task<void> left;
    auto main_coro = [&]() -> coro<int> {
        left = create_task(sleep(3600));
        co_await sleep(0);
        co_return 7;
    };
    EXPECT_EQ(run(main_coro()), 7);
    ASSERT_TRUE(left.done());
    EXPECT_TRUE(left.cancelled());
}

// test_asyncio_run_reports_hanging_tasks_errors: a leftover task that fails while being
// cancelled is reported to the loop's exception handler, with the task and its exception.
TEST(RunnersSteps, RunReportsHangingTasksErrorsToTheHandler) {
    handler_log log;
    std::string name;
    auto stubborn = []() -> coro<void> {
        try {
            co_await sleep(3600);
        } catch (const cancelled_error&) {
        }
        throw std::runtime_error("boom while cancelled");
    };
    auto main_coro = [&]() -> coro<void> {
        log.install(get_running_loop());
        auto t = create_task(stubborn(), "stubborn");
        name = t.get_name();
        co_await sleep(0);
    };
    run(main_coro());
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(log.calls[0].message, "unhandled exception during duet::run() shutdown");
    EXPECT_EQ(error_of(log.calls[0].exception), "boom while cancelled");
    ASSERT_TRUE(log.calls[0].task.has_value());
    EXPECT_EQ(log.calls[0].task->get_name(), name);
}

// test_asyncio_run_set_event_loop (and test_set_event_loop_called_once): while run()
// runs, its loop is the policy's current loop; at the end the current loop is unset (a
// later get_event_loop in the main thread raises instead of making one).
TEST(RunnersSteps, RunSetsAndUnsetsTheCurrentLoop) {
    policy_reset r;
    set_event_loop_policy(std::make_unique<default_event_loop_policy>());
    auto main_coro = []() -> coro<bool> { co_return &get_event_loop_policy().get_event_loop() == &get_running_loop(); };
    EXPECT_TRUE(run(main_coro()));
    EXPECT_THROW(get_event_loop_policy().get_event_loop(), std::runtime_error);
}

// asyncio.run(main, loop_factory=) (3.12): the coroutine runs on the loop the factory
// makes (made once), which run() shuts down as its own (a task left behind is cancelled
// and its error reported to that loop's handler) and closes; the policy's current loop is
// not touched. duet::run(main, factory) is the same with debug left alone.
TEST(RunnersSteps, RunWithALoopFactory) {
    policy_reset r;
    set_event_loop_policy(std::make_unique<default_event_loop_policy>());
    test_loop current;
    set_event_loop(&current);
    int calls = 0;
    abstract_event_loop* made = nullptr;
    auto factory = [&]() -> std::unique_ptr<abstract_event_loop> {
        ++calls;
        auto l = make_test_loop();
        made = l.get();
        return l;
    };
    handler_log log;
    abstract_event_loop* ran_on = nullptr;
    auto stubborn = []() -> coro<void> {
        try {
            co_await sleep(3600);
        } catch (const cancelled_error&) {
        }
        throw std::runtime_error("left behind");
    };
    auto main_coro = [&]() -> coro<double> {
        ran_on = &get_running_loop();
        log.install(*ran_on);
        (void)create_task(stubborn());
        co_await sleep(5);
        co_return get_running_loop().time();
    };
    EXPECT_DOUBLE_EQ(run(main_coro(), std::nullopt, factory), 5) << "the virtual clock of the factory's loop";
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(ran_on, made);
    EXPECT_EQ(log.messages(), std::vector<std::string>{"unhandled exception during duet::run() shutdown"});
    EXPECT_EQ(&get_event_loop_policy().get_event_loop(), &current);

    EXPECT_TRUE(run(loop_debug(), true, factory));
    EXPECT_EQ(run(value_after(2, 9), factory), 9);
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(&get_event_loop_policy().get_event_loop(), &current);
    set_event_loop(nullptr);
}

// ---- asyncio.Runner (RunnerTests)

// test_non_debug / test_debug: the runner's debug argument sets its loop's mode.
TEST(RunnersSteps, RunnerDebugArgument) {
    runner on(make_test_loop, true);
    EXPECT_TRUE(on.get_loop().get_debug());
    EXPECT_TRUE(on.run(loop_debug()));
    runner off(make_test_loop, false);
    EXPECT_FALSE(off.get_loop().get_debug());
    EXPECT_FALSE(off.run(loop_debug()));
}

// test_custom_factory: the runner's loop is the factory's; a runner given a factory does
// not make its loop the policy's current one (asyncio 3.12).
TEST(RunnersSteps, RunnerCustomFactory) {
    policy_reset r;
    set_event_loop_policy(std::make_unique<default_event_loop_policy>());
    test_loop current;
    set_event_loop(&current);
    abstract_event_loop* made = nullptr;
    runner rn([&] {
        auto l = make_test_loop();
        made = l.get();
        return l;
    });
    EXPECT_EQ(&rn.get_loop(), made);
    EXPECT_EQ(&get_event_loop_policy().get_event_loop(), &current);
    EXPECT_EQ(rn.run(value_after(2, 9)), 9);
    EXPECT_DOUBLE_EQ(rn.get_loop().time(), 2) << "the virtual clock of the factory's loop";
    rn.close();
    EXPECT_EQ(&get_event_loop_policy().get_event_loop(), &current);
    set_event_loop(nullptr);
}

// test_run_keeps_context: the runs of one runner share a context: a variable set in one
// run is seen by the next.
TEST(RunnersSteps, RunnerRunsShareAContext) {
    auto f = [](int val) -> coro<int> {
        int old = cvar.get();
        co_await sleep(0);
        cvar.set(val);
        co_return old;
    };
    auto get = []() -> coro<int> { co_return cvar.get(); };
    runner rn(make_test_loop);
    EXPECT_EQ(rn.run(f(1)), -1);
    EXPECT_EQ(rn.run(f(2)), 1);
    EXPECT_EQ(rn.run(get()), 2);
    EXPECT_EQ(cvar.get(), -1) << "the caller's context is not the runner's";
}

// Runner.run(coro, context=ctx) (asyncio's documented argument): the run uses `ctx` itself,
// so what it sets is in ctx afterwards, and the runner's own context is untouched.
TEST(RunnersSteps, RunnerRunInAGivenContext) {
    auto set_to = [](int val) -> coro<int> {
        int old = cvar.get();
        co_await sleep(0);
        cvar.set(val);
        co_return old;
    };
    runner rn(make_test_loop);
    context ctx;
    EXPECT_EQ(rn.run(set_to(5), ctx), -1);
    EXPECT_EQ(rn.run(set_to(6), ctx), 5);
    EXPECT_EQ(ctx.run([] { return cvar.get(); }), 6);
    EXPECT_EQ(rn.run(set_to(7)), -1) << "the runner's context did not see ctx's values";
    EXPECT_EQ(cvar.get(), -1);
}

// Runner.run given an awaitable that is not a coroutine (asyncio 3.14, gh-120284; 3.12
// and 3.13 raise ValueError): a future or task of the runner's loop is awaited by a
// coroutine the run wraps it in, and its result returned or its exception raised; a
// frameless awaitable (sleep()) runs as the coroutine it stands for.
TEST(RunnersSteps, RunnerRunsAFutureATaskOrASleep) {
    runner rn(make_test_loop);
    auto& loop = rn.get_loop();
    future<int> f = loop.create_future<int>();
    loop.call_later(3, [f]() mutable { f.set_result(7); });
    EXPECT_EQ(rn.run(f), 7);
    EXPECT_DOUBLE_EQ(loop.time(), 3);

    task<int> t = loop.create_task(value_after(2, 9));
    EXPECT_EQ(rn.run(t), 9);
    EXPECT_DOUBLE_EQ(loop.time(), 5);
    EXPECT_EQ(rn.run(t), 9) << "a finished task: its result again";

    future<void> failed = loop.create_future<void>();
    loop.call_soon([failed]() mutable { failed.set_exception(std::domain_error("spam")); });
    EXPECT_THROW(rn.run(failed), std::domain_error);

    future<void> in_ctx = loop.create_future<void>();
    loop.call_soon([in_ctx]() mutable { in_ctx.set_result(); });
    context ctx;
    rn.run(in_ctx, ctx);
    EXPECT_TRUE(in_ctx.done());

    rn.run(sleep(1));
    EXPECT_DOUBLE_EQ(loop.time(), 6);
}

// test_recursive_run: Runner.run from inside one of its own runs raises RuntimeError, and
// the outer run carries on.
TEST(RunnersSteps, RunnerRecursiveRunIsRefused) {
    runner rn(make_test_loop);
    auto inner = []() -> coro<int> { co_return 1; };
    auto outer = [&]() -> coro<std::string> {
        std::string e = runtime_error_of([&] { (void)rn.run(inner()); });
        co_await sleep(0);
        co_return e;
    };
    EXPECT_EQ(rn.run(outer()), "duet::run() cannot be called from a running event loop");
    EXPECT_EQ(rn.run(inner()), 1) << "the runner is still usable";
}

// test_explicit_close / test_double_close / test_second_with_block_raises: close() closes
// the loop; closing again is a no-op; get_loop() and run() afterwards raise "Runner is
// closed" and the coroutine never runs.
TEST(RunnersSteps, RunnerCloseRules) {
    bool ran = false;
    auto body = [&]() -> coro<void> {
        ran = true;
        co_return;
    };
    runner rn(make_test_loop);
    auto& loop = rn.get_loop();
    loop.call_soon([] {});  // a pending callback: close() must still work
    rn.close();
    rn.close();
    EXPECT_EQ(runtime_error_of([&] { rn.get_loop(); }), "Runner is closed");
    EXPECT_EQ(runtime_error_of([&] { rn.run(body()); }), "Runner is closed");
    EXPECT_FALSE(ran);

    // A runner closed before it made its loop is closed too.
    runner unused(make_test_loop);
    unused.close();
    EXPECT_EQ(runtime_error_of([&] { unused.get_loop(); }), "Runner is closed");
}

// test_asyncio_run_cancels_hanging_tasks, for a Runner: the tasks a run leaves stay
// pending until close(), which cancels them while the loop is still open.
TEST(RunnersSteps, RunnerCloseCancelsLeftovers) {
    std::vector<std::string> events;
    auto lingering = [&]() -> coro<void> {
        try {
            co_await sleep(3600);
        } catch (const cancelled_error&) {
            events.push_back(running_loop() && !running_loop()->is_closed() ? "cancelled on an open loop" : "odd");
            throw;
        }
    };
    auto main_coro = [&]() -> coro<void> {
        (void)create_task(lingering());
        co_await sleep(0);
    };
    runner rn(make_test_loop);
    rn.run(main_coro());
    EXPECT_TRUE(events.empty()) << "a run does not cancel what it leaves";
    rn.close();
    EXPECT_EQ(events, std::vector<std::string>{"cancelled on an open loop"});
}

}  // namespace
}  // namespace duet::test
