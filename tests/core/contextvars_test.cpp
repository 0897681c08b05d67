// Task-local context variables and the eager task factory.
#include <string>
#include <thread>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

context_var<std::string> request_id("request_id");
context_var<int> depth("depth", 0);

TEST(ContextVar, GetSetResetWithTokens) {
    EXPECT_THROW(request_id.get(), std::out_of_range);
    EXPECT_EQ(request_id.get("none"), "none");
    EXPECT_EQ(depth.get(), 0);
    auto t1 = request_id.set("a");
    EXPECT_FALSE(t1.had_value());
    auto t2 = request_id.set("b");
    EXPECT_TRUE(t2.had_value());
    EXPECT_EQ(request_id.get(), "b");
    request_id.reset(t2);
    EXPECT_EQ(request_id.get(), "a");
    EXPECT_THROW(request_id.reset(t2), std::runtime_error) << "a token works once";
    request_id.reset(t1);
    EXPECT_THROW(request_id.get(), std::out_of_range);
    EXPECT_EQ(request_id.name(), "request_id");
}

TEST(ContextVar, TokenOfAnotherVariableOrContextIsRejected) {
    context_var<int> other("other");
    auto t = depth.set(1);
    auto t_other = other.set(2);
    EXPECT_THROW(depth.reset(t_other), std::invalid_argument);
    context c;
    c.run([&] { EXPECT_THROW(depth.reset(t), std::invalid_argument); });
    depth.reset(t);
    other.reset(t_other);
}

TEST(ContextVar, EachTaskGetsACopyOfItsCreatorsContext) {
    test_loop loop;
    std::vector<std::string> seen;
    auto child = [&](std::string mine) -> coro<void> {
        seen.push_back(request_id.get("?"));  // inherited
        request_id.set(mine);
        co_await sleep(0);
        seen.push_back(request_id.get());  // still its own after other tasks ran
    };
    auto parent = [&]() -> coro<void> {
        request_id.set("parent");
        auto a = create_task(child("a"));
        auto b = create_task(child("b"));
        co_await a;
        co_await b;
        seen.push_back(request_id.get());  // untouched by the children
    };
    loop.run_until_complete(parent());
    EXPECT_EQ(seen, (std::vector<std::string>{"parent", "parent", "a", "b", "parent"}));
    EXPECT_THROW(request_id.get(), std::out_of_range) << "the test thread's context is untouched";
}

TEST(ContextVar, ExplicitContextIsSharedWithTheTask) {
    test_loop loop;
    context ctx;
    ctx.run([] { depth.set(5); });
    auto body = []() -> coro<int> {
        int seen = depth.get();
        depth.set(seen + 1);
        co_return seen;
    };
    EXPECT_EQ(loop.run_until_complete(loop.create_task(body(), "ctx", ctx)), 5);
    EXPECT_EQ(ctx.run([] { return depth.get(); }), 6) << "the task ran in ctx itself";
    EXPECT_EQ(depth.get(), 0);
}

TEST(ContextVar, CopyContextAndRun) {
    auto t = depth.set(3);
    context snapshot = copy_context();
    depth.reset(t);
    EXPECT_EQ(depth.get(), 0);
    EXPECT_EQ(snapshot.run([] { return depth.get(); }), 3);
    EXPECT_EQ(snapshot.size(), 1u);
    EXPECT_THROW(snapshot.run([&] { snapshot.run([] {}); }), std::runtime_error);
}

// asyncio's Handle: call_soon / call_later callbacks run in a copy of the context current
// when they were scheduled (a task's, or the thread's), and nothing one sets reaches the
// scheduler, the next callback or the thread.
TEST(ContextVar, CallbacksRunInACopyOfTheSchedulersContext) {
    context outside;  // keeps the thread's own context clean whatever happens
    outside.run([&] {
        test_loop loop;
        std::vector<std::string> seen;
        auto record = [&] { seen.push_back(request_id.get("none")); };
        auto scheduler = [&]() -> coro<void> {
            request_id.set("task");
            auto& lp = get_running_loop();
            lp.call_soon(record);
            lp.call_later(0.5, record);
            lp.call_soon([&] { request_id.set("leak"); });
            lp.call_soon(record);
            co_await sleep(1);
            seen.push_back("after:" + request_id.get("none"));
        };
        loop.run_until_complete(scheduler());
        // Scheduled from outside any task, with no value set: run in an empty copy.
        loop.call_soon([&] {
            record();
            request_id.set("callback's own");
            record();
        });
        loop.call_soon(record);
        loop.run_until_complete(sleep(0));
        EXPECT_EQ(seen,
                  (std::vector<std::string>{"task", "task", "task", "after:task", "none", "callback's own", "none"}));
        EXPECT_EQ(request_id.get("none"), "none") << "nothing a callback set reached the thread";
    });
}

#ifdef DUET_TEST_HAS_THREADS
// call_soon_threadsafe captures the calling thread's context, as asyncio's does.
TEST(ContextVar, ThreadsafeCallbackRunsInTheCallingThreadsContext) {
    test_loop loop;
    std::string seen;
    auto f = loop.create_future<void>();
    std::thread other([&] {
        request_id.set("from the other thread");
        loop.call_soon_threadsafe([&] {
            seen = request_id.get("none");
            f.set_result();
        });
    });
    other.join();
    loop.run_until_complete(f);
    EXPECT_EQ(seen, "from the other thread");
    EXPECT_EQ(request_id.get("none"), "none");
}
#endif

TEST(EagerTaskFactory, TaskFinishingWithoutSuspendingIsDoneAtOnce) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);
    std::vector<std::string> order;
    auto quick = [&]() -> coro<int> {
        order.push_back("quick");
        co_return 1;
    };
    auto slow = [&]() -> coro<int> {
        order.push_back("slow starts");
        co_await sleep(0);
        order.push_back("slow ends");
        co_return 2;
    };
    auto main_coro = [&]() -> coro<int> {
        auto q = create_task(quick());
        order.push_back("after quick");
        EXPECT_TRUE(q.done());
        auto s = create_task(slow());
        order.push_back("after slow");
        EXPECT_FALSE(s.done());
        co_return co_await q + co_await s;
    };
    EXPECT_EQ(loop.run_until_complete(main_coro()), 3);
    EXPECT_EQ(order, (std::vector<std::string>{"quick", "after quick", "slow starts", "after slow", "slow ends"}));
}

}  // namespace
}  // namespace duet::test
