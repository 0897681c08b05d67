// asyncio.Future semantics.
#include <memory>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

TEST(Future, StartsPendingAndResultRaisesInvalidState) {
    test_loop loop;
    auto f = loop.create_future<int>();
    EXPECT_FALSE(f.done());
    EXPECT_FALSE(f.cancelled());
    EXPECT_THROW(f.result(), invalid_state_error);
    EXPECT_THROW(f.exception(), invalid_state_error);
}

TEST(Future, SetResultMakesItDone) {
    test_loop loop;
    auto f = loop.create_future<std::string>();
    f.set_result("hi");
    EXPECT_TRUE(f.done());
    EXPECT_FALSE(f.cancelled());
    EXPECT_EQ(f.result(), "hi");
    EXPECT_EQ(f.exception(), nullptr);
}

TEST(Future, SecondSetIsInvalidState) {
    test_loop loop;
    auto f = loop.create_future<int>();
    f.set_result(1);
    EXPECT_THROW(f.set_result(2), invalid_state_error);
    EXPECT_THROW(f.set_exception(std::runtime_error("x")), invalid_state_error);
    EXPECT_EQ(f.result(), 1);
    auto g = loop.create_future<void>();
    g.cancel();
    EXPECT_THROW(g.set_result(), invalid_state_error);
}

TEST(Future, ExceptionIsRethrownByResult) {
    test_loop loop;
    auto f = loop.create_future<int>();
    f.set_exception(std::runtime_error("boom"));
    EXPECT_TRUE(f.done());
    EXPECT_NE(f.exception(), nullptr);
    try {
        (void)f.result();
        FAIL() << "result() should rethrow";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "boom");
    }
}

TEST(Future, CancelledErrorCannotBeSetAsException) {
    test_loop loop;
    auto f = loop.create_future<int>();
    EXPECT_THROW(f.set_exception(cancelled_error("no")), std::invalid_argument);
    EXPECT_FALSE(f.done());
}

TEST(Future, CancelCarriesMessage) {
    test_loop loop;
    auto f = loop.create_future<int>();
    EXPECT_TRUE(f.cancel("stop it"));
    EXPECT_TRUE(f.cancelled());
    EXPECT_TRUE(f.done());
    EXPECT_FALSE(f.cancel("again"));
    try {
        (void)f.result();
        FAIL();
    } catch (const cancelled_error& e) {
        EXPECT_EQ(e.message(), "stop it");
    }
    EXPECT_THROW(f.exception(), cancelled_error);
}

TEST(Future, CancelAfterDoneReturnsFalse) {
    test_loop loop;
    auto f = loop.create_future<int>();
    f.set_result(3);
    EXPECT_FALSE(f.cancel());
    EXPECT_FALSE(f.cancelled());
    EXPECT_EQ(f.result(), 3);
}

TEST(Future, DoneCallbacksAreScheduledNotInlineAndInOrder) {
    test_loop loop;
    auto f = loop.create_future<int>();
    std::vector<int> order;
    f.add_done_callback([&](future<int>& d) { order.push_back(d.result()); });
    f.add_done_callback([&](basic_future&) { order.push_back(-1); });
    f.add_done_callback([&](future<int>& d) { order.push_back(d.result() * 10); });
    f.set_result(7);
    EXPECT_TRUE(order.empty()) << "callbacks must not run inline";
    loop.run_until_complete(f);
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(order, (std::vector<int>{7, -1, 70}));
}

TEST(Future, CallbackAddedAfterDoneIsScheduledToo) {
    test_loop loop;
    auto f = loop.create_future<int>();
    f.set_result(1);
    bool ran = false;
    f.add_done_callback([&](basic_future&) { ran = true; });
    EXPECT_FALSE(ran);
    loop.run_until_complete(sleep(0));
    EXPECT_TRUE(ran);
}

void counting_cb(basic_future&) {}
void other_cb(basic_future&) {}

TEST(Future, RemoveDoneCallbackCountsRemovals) {
    test_loop loop;
    auto f = loop.create_future<int>();
    f.add_done_callback(&counting_cb);
    f.add_done_callback(&other_cb);
    f.add_done_callback(&counting_cb);
    auto id = f.add_done_callback([](basic_future&) {});
    EXPECT_EQ(f.remove_done_callback(&counting_cb), 2u);
    EXPECT_EQ(f.remove_done_callback(&counting_cb), 0u);
    EXPECT_EQ(f.remove_done_callback(id), 1u);
    EXPECT_EQ(f.remove_done_callback(id), 0u);
    EXPECT_EQ(f.remove_done_callback(&other_cb), 1u);
}

TEST(Future, RemovedCallbackDoesNotRun) {
    test_loop loop;
    auto f = loop.create_future<void>();
    int runs = 0;
    auto id = f.add_done_callback([&](basic_future&) { ++runs; });
    f.add_done_callback([&](basic_future&) { runs += 10; });
    f.remove_done_callback(id);
    f.set_result();
    loop.run_until_complete(f);
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(runs, 10);
}

TEST(Future, UnretrievedExceptionIsReportedOnce) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    {
        auto f = loop.create_future<int>();
        f.set_exception(std::runtime_error("lost"));
    }
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(log.calls[0].message, "Future exception was never retrieved");
    EXPECT_TRUE(log.calls[0].future.has_value());
    EXPECT_NE(log.calls[0].exception, nullptr);
    log.calls.clear();  // drops the last reference: no second report
    EXPECT_TRUE(log.calls.empty());
}

TEST(Future, RetrievedExceptionIsNotReported) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    {
        auto f = loop.create_future<int>();
        f.set_exception(std::runtime_error("seen"));
        (void)f.exception();
    }
    {
        auto f = loop.create_future<int>();
        f.set_exception(std::runtime_error("seen"));
        EXPECT_THROW((void)f.result(), std::runtime_error);
    }
    {
        auto f = loop.create_future<int>();
        f.cancel();
    }
    EXPECT_TRUE(log.calls.empty());
}

TEST(Future, GetLoopIsTheCreatingLoop) {
    test_loop loop;
    auto f = loop.create_future<int>();
    EXPECT_EQ(&f.get_loop(), &loop.base());
}

// co_await of a future whose result is a vector of move-only values: the awaiter used to
// pick the copying path (std::is_copy_constructible is true for every std::vector) and
// failed to compile.
TEST(Future, AwaitOfAVectorOfMoveOnlyValuesMovesIt) {
    test_loop loop;
    auto f = loop.create_future<std::vector<std::unique_ptr<int>>>();
    auto body = [&]() -> coro<int> {
        auto v = co_await f;
        co_return *v.at(0);
    };
    auto t = loop.create_task(body());
    std::vector<std::unique_ptr<int>> v;
    v.push_back(std::make_unique<int>(5));
    f.set_result(std::move(v));
    EXPECT_EQ(loop.run_until_complete(t), 5);
    static_assert(detail::copyable_result_v<std::vector<int>>);
    static_assert(!detail::copyable_result_v<std::vector<std::unique_ptr<int>>>);
}

}  // namespace
}  // namespace duet::test
