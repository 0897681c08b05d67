// The timeout_error raised by timeout() and wait_for carries the cancellation that caused
// it as its nested exception (asyncio: `raise TimeoutError from exc`, i.e. __cause__).
#include <exception>
#include <string>

#include "test_loop.hpp"

namespace duet::test {
namespace {

using vloop = virtual_event_loop;

// What std::rethrow_if_nested finds in `e`: "cancelled:<message>", "none" or "other".
std::string cause_of(const timeout_error& e) {
    try {
        std::rethrow_if_nested(e);
    } catch (const cancelled_error& c) {
        return "cancelled:" + c.message();
    } catch (...) {
        return "other";
    }
    return "none";
}

template <class Body>
std::string timeout_cause(vloop& loop, Body body) {
    std::string cause = "no timeout_error";
    auto main_coro = [&]() -> coro<void> {
        try {
            co_await body();
        } catch (const timeout_error& e) {
            cause = cause_of(e);
        }
    };
    loop.run_until_complete(main_coro());
    return cause;
}

TEST(TimeoutCause, TimeoutScopeNestsTheCancellation) {
    vloop loop;
    EXPECT_EQ(timeout_cause(loop, [] { return timeout(0.5).run(sleep(10)); }), "cancelled:");
}

TEST(TimeoutCause, WaitForNestsTheCancellation) {
    vloop loop;
    EXPECT_EQ(timeout_cause(loop, [] { return wait_for(sleep(10), 0.5); }), "cancelled:");
    auto on_task = [&]() -> coro<void> {
        auto t = create_task(sleep(10));
        co_await wait_for(t, 0.5);
    };
    EXPECT_EQ(timeout_cause(loop, on_task), "cancelled:");
}

TEST(TimeoutCause, WaitForWithAnExpiredDeadlineNestsTheCancellation) {
    vloop loop;
    auto on_task = [&]() -> coro<void> {
        auto t = create_task(sleep(10));
        co_await sleep(0);  // started
        co_await wait_for(t, 0);
    };
    EXPECT_EQ(timeout_cause(loop, on_task), "cancelled:");
    auto on_future = [&]() -> coro<void> {
        auto f = get_running_loop().create_future<int>();
        co_await wait_for(f, -1);
    };
    EXPECT_EQ(timeout_cause(loop, on_future), "cancelled:");
}

TEST(TimeoutCause, TheTimeoutErrorIsStillCaughtAsTimeoutError) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        EXPECT_THROW(co_await timeout(0.1).run(sleep(1)), timeout_error);
        EXPECT_THROW(co_await wait_for(sleep(1), 0.1), std::runtime_error);
        try {
            co_await timeout(0.1).run(sleep(1));
        } catch (const std::nested_exception& n) {
            EXPECT_TRUE(n.nested_ptr());
        }
    };
    loop.run_until_complete(main_coro());
}

}  // namespace
}  // namespace duet::test
