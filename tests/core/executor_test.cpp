// Blocking work off the loop: run_in_executor, to_thread, run_coroutine_threadsafe,
// wrap_future. Natively they use threads; a wasm build without pthreads must refuse them
// with not_supported_error. They wake the loop from other threads, so they are part of
// the loop contract (typed tests over contract_loops).
#include <atomic>

#include "test_loop.hpp"

namespace duet::test {
namespace {

template <class L>
class Executor : public ::testing::Test {};
TYPED_TEST_SUITE(Executor, contract_loops);

context_var<int> tenant("tenant", 0);

#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)

TYPED_TEST(Executor, NotSupportedWithoutThreads) {
    TypeParam loop;
    EXPECT_FALSE(threads_supported());
    EXPECT_THROW(run_in_executor(loop, nullptr, [] { return 1; }), not_supported_error);
    EXPECT_THROW(loop.run_until_complete(to_thread([] { return 1; })), not_supported_error);
    try {
        loop.default_executor();
        FAIL();
    } catch (const not_supported_error& e) {
        EXPECT_NE(std::string(e.what()).find("needs threads"), std::string::npos);
    }
}

#else

template <class L>
class ThreadBridge : public ::testing::Test {};
TYPED_TEST_SUITE(ThreadBridge, contract_loops);

TYPED_TEST(Executor, RunInExecutorReturnsTheResultOnTheLoop) {
    TypeParam loop;
    auto caller = std::this_thread::get_id();
    std::thread::id worker_id;
    auto f = run_in_executor(
        loop, nullptr,
        [&](int a, int b) {
            worker_id = std::this_thread::get_id();
            return a * b;
        },
        6, 7);
    EXPECT_EQ(loop.run_until_complete(f), 42);
    EXPECT_NE(worker_id, caller);
    loop.shutdown_default_executor();
}

TYPED_TEST(Executor, ExceptionsCrossBack) {
    TypeParam loop;
    auto f = run_in_executor(loop, nullptr, []() -> int { throw std::domain_error("in a thread"); });
    EXPECT_THROW(loop.run_until_complete(f), std::domain_error);
    loop.shutdown_default_executor();
}

TYPED_TEST(Executor, CustomAndDefaultExecutors) {
    TypeParam loop;
    auto pool = std::make_shared<thread_pool_executor>(2);
    EXPECT_EQ(pool->max_workers(), 2u);
    std::atomic<int> ran{0};
    std::vector<future<void> > fs;
    for (int i = 0; i < 10; ++i) fs.push_back(run_in_executor(loop, pool.get(), [&] { ++ran; }));
    for (auto& f : fs) loop.run_until_complete(f);
    EXPECT_EQ(ran.load(), 10);
    loop.set_default_executor(pool);
    EXPECT_EQ(&loop.default_executor(), pool.get());
    EXPECT_THROW(loop.set_default_executor(nullptr), std::invalid_argument);
    pool->shutdown();
    EXPECT_THROW(pool->submit([] {}), std::runtime_error);
}

TYPED_TEST(Executor, ToThreadCarriesTheContext) {
    TypeParam loop;
    auto body = []() -> coro<int> {
        tenant.set(7);
        co_return co_await to_thread([](int add) { return tenant.get() + add; }, 1);
    };
    EXPECT_EQ(loop.run_until_complete(body()), 8);
    loop.shutdown_default_executor();
}

TYPED_TEST(Executor, CancelledFutureIgnoresTheLateResult) {
    TypeParam loop;
    std::atomic<bool> release{false};
    auto f = run_in_executor(loop, nullptr, [&] {
        while (!release) std::this_thread::yield();
        return 1;
    });
    f.cancel();
    release = true;
    loop.shutdown_default_executor();  // the job finishes; its result finds f cancelled
    loop.run_until_complete(sleep(0));
    EXPECT_TRUE(f.cancelled());
}

TEST(Executor, RunCancelsNothingButShutsDownTheExecutor) {
    std::atomic<int> ran{0};
    auto main_coro = [&]() -> coro<int> {
        co_return co_await to_thread([&] {
            ++ran;
            return 5;
        });
    };
    EXPECT_EQ(run(main_coro()), 5);
    EXPECT_EQ(ran.load(), 1);
}

TYPED_TEST(ThreadBridge, RunCoroutineThreadsafe) {
    TypeParam loop;
    concurrent_future<int> result;
    threadsafe_work_guard expect(loop);  // a bare thread calls back: a virtual loop waits for it
    std::thread other([&] {
        auto body = []() -> coro<int> {
            co_await sleep(0.001);
            co_return 99;
        };
        result = run_coroutine_threadsafe(body(), loop);
        EXPECT_EQ(result.result(5.0), 99);
        loop.call_soon_threadsafe([&] { loop.stop(); });
    });
    loop.run_forever();
    other.join();
    EXPECT_TRUE(result.done());
}

TYPED_TEST(ThreadBridge, RunCoroutineThreadsafeCancelAndErrors) {
    TypeParam loop;
    std::string error;
    bool cancelled = false;
    threadsafe_work_guard expect(loop);
    std::thread other([&] {
        auto failing = []() -> coro<int> {
            throw std::runtime_error("remote failure");
            co_return 0;
        };
        auto f1 = run_coroutine_threadsafe(failing(), loop);
        try {
            f1.result(5.0);
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        // Waits on an event nobody sets (a sleep would end at once on the virtual clock).
        auto forever = []() -> coro<void> {
            event never;
            co_await never.wait();
        };
        auto f2 = run_coroutine_threadsafe(forever(), loop);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        EXPECT_TRUE(f2.cancel());
        try {
            f2.result(5.0);
        } catch (const cancelled_error&) {
            cancelled = f2.cancelled();
        }
        EXPECT_THROW(run_coroutine_threadsafe(forever(), loop).result(0.001), timeout_error);
        loop.call_soon_threadsafe([&] { loop.stop(); });
    });
    loop.run_forever();
    other.join();
    EXPECT_EQ(error, "remote failure");
    EXPECT_TRUE(cancelled);
}

TYPED_TEST(ThreadBridge, WrapStdFuture) {
    TypeParam loop;
    std::promise<std::string> p;
    auto f = wrap_future(p.get_future(), loop);
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        p.set_value("from std::promise");
    });
    EXPECT_EQ(loop.run_until_complete(f), "from std::promise");
    t.join();
    loop.shutdown_default_executor();
}

TYPED_TEST(ThreadBridge, WrapConcurrentFuture) {
    TypeParam loop;
    concurrent_future<int> cf;
    auto f = wrap_future(cf, loop);
    std::thread t([&] { cf.set_result(3); });
    EXPECT_EQ(loop.run_until_complete(f), 3);
    t.join();
}

#endif

}  // namespace
}  // namespace duet::test
