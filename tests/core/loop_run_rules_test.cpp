// Loop rules asyncio has: call_soon_threadsafe work that happened before a call_soon runs
// first; create_future works on a closed loop; a refused run_until_complete(coro) never
// starts the coroutine.
#include <stdexcept>
#include <vector>

#include "test_loop.hpp"

#if !defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__)
#include <thread>
#endif

namespace duet::test {
namespace {

// On every loop: each backend wakes for thread-safe work its own way.
template <class L>
class ThreadsafeOrder : public ::testing::Test {};
TYPED_TEST_SUITE(ThreadsafeOrder, contract_loops);

TYPED_TEST(ThreadsafeOrder, ThreadsafeCallbackQueuedBeforeCallSoonRunsFirst) {
    TypeParam loop;
    std::vector<int> order;
    loop.call_soon_threadsafe([&] { order.push_back(1); });
    loop.call_soon([&] { order.push_back(2); });
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TYPED_TEST(ThreadsafeOrder, InsideARunningLoopToo) {
    TypeParam loop;
    std::vector<int> order;
    loop.call_soon([&] {
        loop.call_soon_threadsafe([&] { order.push_back(1); });
        loop.call_soon([&] {
            order.push_back(2);
            loop.stop();
        });
    });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

#if !defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__)
TYPED_TEST(ThreadsafeOrder, FromAJoinedThread) {
    TypeParam loop;
    std::vector<int> order;
    loop.call_soon([&] {
        std::thread other([&] { loop.call_soon_threadsafe([&] { order.push_back(1); }); });
        other.join();  // its call happened before the call_soon below
        loop.call_soon([&] {
            order.push_back(2);
            loop.stop();
        });
    });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
}
#endif

TEST(ClosedLoop, CreateFutureWorks) {
    test_loop loop;
    loop.close();
    auto f = loop.create_future<int>();
    EXPECT_FALSE(f.done());
    f.set_result(3);
    EXPECT_EQ(f.result(), 3);
}

coro<void> marks(bool* started) {
    *started = true;
    co_return;
}

TEST(NestedRun, RefusedRunUntilCompleteNeverStartsTheCoroutine) {
    test_loop loop;
    bool started = false;
    std::string error;
    auto body = [&]() -> coro<void> {
        try {
            loop.run_until_complete(marks(&started));
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        EXPECT_EQ(all_tasks().size(), 1u) << "no task was made for the refused coroutine";
        for (int i = 0; i < 3; ++i) co_await sleep(0);
    };
    loop.run_until_complete(body());
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(error, "This event loop is already running");
    EXPECT_FALSE(started);
}

TEST(NestedRun, RunUntilCompleteOnAClosedLoopIsRefused) {
    test_loop loop;
    loop.close();
    bool started = false;
    try {
        loop.run_until_complete(marks(&started));
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Event loop is closed");
    }
    EXPECT_FALSE(started);
}

}  // namespace
}  // namespace duet::test
