// duet's spelling of BaseException: an exception that is neither a std::exception nor a
// cancelled_error leaves run_forever / run_until_complete (as SystemExit and
// KeyboardInterrupt leave asyncio's loop); ordinary exceptions go to the handler.
#include <stdexcept>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

struct keyboard_interrupt {};  // not a std::exception

// On every loop: a base-tier exception must leave each host's run (uv_run, the poll loop,
// the browser loop's blocking run) the same way.
template <class L>
class BaseException : public ::testing::Test {};
TYPED_TEST_SUITE(BaseException, contract_loops);

coro<int> interrupted() {
    co_await sleep(0);
    throw keyboard_interrupt{};
}

coro<int> add(int a, int b) {
    co_return a + b;
}

TYPED_TEST(BaseException, FromACallbackLeavesRunForeverAndKeepsTheRest) {
    TypeParam loop;
    handler_log log;
    log.install(loop);
    std::vector<int> ran;
    loop.call_soon([&] { ran.push_back(1); });
    loop.call_soon([] { throw keyboard_interrupt{}; });
    loop.call_soon([&] { ran.push_back(3); });
    loop.call_soon([&] { loop.stop(); });
    EXPECT_THROW(loop.run_forever(), keyboard_interrupt);
    EXPECT_FALSE(loop.is_running());
    EXPECT_EQ(ran, std::vector<int>{1}) << "the loop stops right after the raising callback";
    EXPECT_TRUE(log.calls.empty());
    loop.call_soon([&] { loop.stop(); });  // (today's main would otherwise block here)
    loop.run_forever();                    // the rest is still queued
    EXPECT_EQ(ran, (std::vector<int>{1, 3}));
    loop.close();
}

TYPED_TEST(BaseException, FromATaskLeavesTheRunAndIsRecorded) {
    TypeParam loop;
    handler_log log;
    log.install(loop);
    auto bg = loop.create_task(interrupted(), "bg");
    // asyncio: the KeyboardInterrupt of any task ends the run at once.
    EXPECT_THROW(loop.run_until_complete(sleep(0.5)), keyboard_interrupt);
    EXPECT_TRUE(bg.done());
    EXPECT_FALSE(bg.cancelled());
    EXPECT_THROW(std::rethrow_exception(bg.exception()), keyboard_interrupt);
    EXPECT_TRUE(log.calls.empty());
    loop.close();  // while the log still exists: the abandoned main task is reported to it
}

TYPED_TEST(BaseException, RunUntilCompleteLeavesNoStaleStop) {
    TypeParam loop;
    EXPECT_THROW(loop.run_until_complete(interrupted()), keyboard_interrupt);
    // A stop left behind would end this run before f (asyncio's issue #22429).
    bool called = false;
    loop.call_soon([&] {
        loop.call_soon([&] {
            called = true;
            loop.stop();
        });
    });
    loop.run_forever();
    EXPECT_TRUE(called);
    EXPECT_EQ(loop.run_until_complete(add(2, 3)), 5);
    loop.close();
}

TYPED_TEST(BaseException, OrdinaryExceptionsStillGoToTheHandler) {
    TypeParam loop;
    handler_log log;
    log.install(loop);
    bool after = false;
    loop.call_soon([] { throw std::runtime_error("ordinary"); });
    loop.call_soon([] { throw cancelled_error("not base-tier either"); });
    loop.call_soon([&] {
        after = true;
        loop.stop();
    });
    loop.run_forever();
    EXPECT_TRUE(after);
    EXPECT_EQ(log.calls.size(), 2u);
}

}  // namespace
}  // namespace duet::test
