// Task-local context variables and the eager task factory.
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
