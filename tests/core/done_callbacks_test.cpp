// A future's done callbacks, awaiting tasks and gather's observers share one list and run
// in registration order (asyncio keeps one _callbacks list); remove_done_callback finds a
// callback again by the callable, lambdas included (asyncio removes by equality).
#include <memory>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

// Lets a task run until it suspends on what it awaits.
void settle(test_loop& loop) {
    loop.run_until_complete(sleep(0));
}

TEST(DoneCallbacks, CallbacksWaitersAndGatherRunInRegistrationOrder) {
    test_loop loop;
    auto f = loop.create_future<int>();
    std::vector<std::string> order;
    future<std::tuple<int>> g;
    // Each records whether the gather had completed when it ran: a gather completes
    // when its observer runs, so this shows where the observer ran among the others.
    auto note = [&](const char* who) { order.push_back(std::string(who) + (g && g.done() ? "+" : "-")); };
    auto waiter = [&](const char* who) -> coro<void> {
        co_await f;
        note(who);
    };

    f.add_done_callback([&](basic_future&) { note("cb1"); });
    auto t1 = loop.create_task(waiter("task1"));
    settle(loop);
    g = gather(f);
    f.add_done_callback([&](basic_future&) { note("cb2"); });
    auto t2 = loop.create_task(waiter("task2"));
    settle(loop);
    f.add_done_callback([&](basic_future&) { note("cb3"); });

    f.set_result(1);
    loop.run_until_complete(t2);
    loop.run_until_complete(t1);
    EXPECT_EQ(order, (std::vector<std::string>{"cb1-", "task1-", "cb2+", "task2+", "cb3+"}));
    EXPECT_EQ(std::get<0>(g.result()), 1);
}

TEST(DoneCallbacks, ATaskWaitingFirstIsWokenFirst) {
    test_loop loop;
    auto f = loop.create_future<void>();
    std::vector<std::string> order;
    auto waiter = [&]() -> coro<void> {
        co_await f;
        order.push_back("task");
    };
    auto t = loop.create_task(waiter());
    settle(loop);
    f.add_done_callback([&](basic_future&) { order.push_back("cb"); });
    f.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    settle(loop);
    EXPECT_EQ(order, (std::vector<std::string>{"cb"})) << "the cancelled task never resumed past co_await";
}

TEST(DoneCallbacks, RemovingAWaiterOrCallbackKeepsTheOrderOfTheRest) {
    test_loop loop;
    auto f = loop.create_future<void>();
    std::vector<int> order;
    auto id1 = f.add_done_callback([&](basic_future&) { order.push_back(1); });
    auto waiter = [&]() -> coro<void> {
        co_await f;
        order.push_back(2);
    };
    auto t = loop.create_task(waiter());
    settle(loop);
    f.add_done_callback([&](basic_future&) { order.push_back(3); });
    auto id4 = f.add_done_callback([&](basic_future&) { order.push_back(4); });
    f.add_done_callback([&](basic_future&) { order.push_back(5); });
    EXPECT_EQ(f.remove_done_callback(id1), 1u);
    EXPECT_EQ(f.remove_done_callback(id4), 1u);
    f.set_result();
    loop.run_until_complete(t);
    settle(loop);
    EXPECT_EQ(order, (std::vector<int>{2, 3, 5}));
}

TEST(DoneCallbacks, ALambdaIsRemovedByTheCallableItself) {
    test_loop loop;
    auto f = loop.create_future<int>();
    int runs = 0;
    auto cb = [&runs](basic_future&) { ++runs; };
    auto other = [&runs](basic_future&) { runs += 100; };
    f.add_done_callback(cb);
    f.add_done_callback(other);
    f.add_done_callback(cb);
    EXPECT_EQ(f.remove_done_callback(cb), 2u) << "every registration of that lambda";
    EXPECT_EQ(f.remove_done_callback(cb), 0u);
    f.set_result(1);
    settle(loop);
    EXPECT_EQ(runs, 100);
}

TEST(DoneCallbacks, ATypedLambdaIsRemovedToo) {
    test_loop loop;
    auto f = loop.create_future<int>();
    int seen = 0;
    auto cb = [&seen](future<int>& x) { seen = x.result(); };
    f.add_done_callback(cb);
    EXPECT_EQ(f.remove_done_callback(cb), 1u);
    f.set_result(7);
    settle(loop);
    EXPECT_EQ(seen, 0);
}

// A function object with == is removed by equality, as asyncio compares callbacks.
struct tagged_cb {
    int tag;
    std::shared_ptr<std::vector<int>> log;
    void operator()(basic_future&) const { log->push_back(tag); }
    friend bool operator==(const tagged_cb& a, const tagged_cb& b) { return a.tag == b.tag; }
};

TEST(DoneCallbacks, AComparableFunctionObjectIsRemovedByEquality) {
    test_loop loop;
    auto f = loop.create_future<void>();
    auto log = std::make_shared<std::vector<int>>();
    f.add_done_callback(tagged_cb{1, log});
    f.add_done_callback(tagged_cb{2, log});
    f.add_done_callback(tagged_cb{1, log});
    EXPECT_EQ(f.remove_done_callback(tagged_cb{1, nullptr}), 2u);
    EXPECT_EQ(f.remove_done_callback(tagged_cb{3, nullptr}), 0u);
    f.set_result();
    settle(loop);
    EXPECT_EQ(*log, (std::vector<int>{2}));
}

TEST(DoneCallbacks, ACallbackThatThrowsGoesToTheExceptionHandler) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    auto f = loop.create_future<void>();
    f.add_done_callback([](basic_future&) { throw std::runtime_error("cb failed"); });
    bool later_ran = false;
    f.add_done_callback([&](basic_future&) { later_ran = true; });
    f.set_result();
    settle(loop);
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(log.calls[0].message, "Exception in callback");
    ASSERT_TRUE(log.calls[0].future.has_value());
    EXPECT_TRUE(*log.calls[0].future == f);
    EXPECT_TRUE(later_ran);
}

TEST(DoneCallbacks, ASlowDoneCallbackIsReportedWithItsName) {
    virtual_event_loop loop;
    loop.set_debug(true);
    loop.set_slow_callback_duration(0.05);
    auto f = loop.create_future<void>();
    f.add_done_callback([&](basic_future&) { loop.backend().advance(0.25); });
    f.set_result();
    testing::internal::CaptureStderr();
    loop.run_until_complete(sleep(0));
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("Executing done callback"), std::string::npos) << err;
    EXPECT_NE(err.find("ASlowDoneCallbackIsReportedWithItsName"), std::string::npos) << "names the lambda: " << err;
}

TEST(DoneCallbacks, AFutureDroppedWithCallbacksDestroysThem) {
    test_loop loop;
    auto token = std::make_shared<int>(0);
    {
        auto f = loop.create_future<void>();
        f.add_done_callback([token](basic_future&) {});
        EXPECT_EQ(token.use_count(), 2);
    }
    EXPECT_EQ(token.use_count(), 1);
}

}  // namespace
}  // namespace duet::test
