// A task's result comes from its coroutine: task<T>::set_result/set_exception are refused;
// a completion forced through the future itself makes the pending step report
// invalid_state_error once.
#include <memory>
#include <stdexcept>
#include <string>

#include "test_loop.hpp"

namespace duet::test {
namespace {

coro<int> returns(int v, std::shared_ptr<int> held, bool* ran) {
    *ran = true;
    co_return v + (held ? 0 : 0);
}

coro<int> waits_on(future<int> f, std::shared_ptr<int> held, bool* resumed) {
    int v = co_await f;
    *resumed = true;
    co_return v + (held ? 0 : 0);
}

std::string what_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "?";
    }
}

TEST(TaskCompletion, SetResultAndSetExceptionAreRefused) {
    test_loop loop;
    bool ran = false;
    auto t = loop.create_task(returns(7, nullptr, &ran));
    try {
        t.set_result(1);
        FAIL() << "set_result accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Task does not support set_result() operation");
    }
    try {
        t.set_exception(std::runtime_error("no"));
        FAIL() << "set_exception accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Task does not support set_exception() operation");
    }
    EXPECT_THROW(t.set_exception(std::make_exception_ptr(std::runtime_error("no"))), std::runtime_error);
    EXPECT_FALSE(t.done());
    EXPECT_EQ(loop.run_until_complete(t), 7) << "the coroutine still decides";
    EXPECT_TRUE(ran);
}

TEST(TaskCompletion, ForcedResultBeforeTheFirstStepIsReportedOnce) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    auto token = std::make_shared<int>(0);
    bool ran = false;
    auto t = loop.create_task(returns(7, token, &ran), "forced");
    static_cast<future<int>&>(t).set_result(5);  // asyncio's Future.set_result(task, 5)
    EXPECT_TRUE(t.done());
    EXPECT_EQ(loop.run_until_complete(t), 5) << "the task keeps the forced result";
    loop.run_until_complete(sleep(0));
    EXPECT_FALSE(ran) << "the coroutine never runs";
    EXPECT_EQ(token.use_count(), 1) << "the coroutine is released";
    ASSERT_EQ(log.calls.size(), 1u);
    ASSERT_TRUE(log.calls[0].exception);
    EXPECT_THROW(std::rethrow_exception(log.calls[0].exception), invalid_state_error);
    EXPECT_NE(what_of(log.calls[0].exception).find("step(): already done"), std::string::npos)
        << what_of(log.calls[0].exception);
    ASSERT_TRUE(log.calls[0].task.has_value());
    EXPECT_EQ(*log.calls[0].task, t);
    EXPECT_TRUE(all_tasks(loop).empty());
    loop.close();
    EXPECT_EQ(log.calls.size(), 1u) << "nothing more at close";
}

TEST(TaskCompletion, ForcedExceptionWhileSuspendedIsReportedWhenTheStepComes) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    auto token = std::make_shared<int>(0);
    bool resumed = false;
    auto f = loop.create_future<int>();
    auto t = loop.create_task(waits_on(f, token, &resumed));
    loop.run_until_complete(sleep(0));  // t is now suspended on f
    static_cast<future<int>&>(t).set_exception(std::runtime_error("forced"));
    EXPECT_TRUE(log.calls.empty());
    f.set_result(1);  // wakes t: its step finds it done
    loop.run_until_complete(sleep(0));
    loop.run_until_complete(sleep(0));
    EXPECT_FALSE(resumed);
    EXPECT_EQ(token.use_count(), 1);
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_NE(what_of(log.calls[0].exception).find("step(): already done"), std::string::npos);
    EXPECT_THROW(t.result(), std::runtime_error);
    loop.close();
    EXPECT_EQ(log.calls.size(), 1u);
}

}  // namespace
}  // namespace duet::test
