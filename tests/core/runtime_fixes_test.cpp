// Regression tests for fixes to the core found while building the combinators.
#include <memory>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

// co_await of a future whose result is a vector of move-only values: the awaiter used to
// pick the copying path (std::is_copy_constructible is true for every std::vector) and
// failed to compile.
TEST(RuntimeFixes, AwaitAFutureOfAVectorOfMoveOnlyValues) {
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

// A task abandoned because its loop closed keeps no done callbacks: they can never run,
// and one that refers back to the task (directly, or through a gather or shield over it)
// used to keep the task and everything it held alive for ever.
TEST(RuntimeFixes, AbandonedTaskDropsItsDoneCallbacks) {
    auto sentinel = std::make_shared<int>(0);
    {
        test_loop loop;
        loop.set_exception_handler([](abstract_event_loop&, const exception_context&) {});
        auto t = loop.create_task(sleep(1000));
        t.add_done_callback([t, sentinel](basic_future&) {});
        loop.run_until_complete(sleep(0));
        EXPECT_EQ(sentinel.use_count(), 2);
        loop.close();
    }
    EXPECT_EQ(sentinel.use_count(), 1) << "the callback (and the task it captured) is gone";
}

}  // namespace
}  // namespace duet::test
