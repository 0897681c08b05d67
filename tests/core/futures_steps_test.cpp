// Futures step by step, as test_asyncio's test_futures and test_futures2 drive them: what
// each state refuses, when done callbacks run and which registrations a removal takes.
// Scenarios after CPython's Lib/test/test_asyncio (Python 3.12/3.13 behaviour). (The
// test_queues cases are in queues_steps_test.cpp.)
#include <stdexcept>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

// ---------------------------------------------------------------- futures

// A done callback that appends `thing` to `bag`; two appenders are the same callback when
// they append the same thing to the same bag (what remove_done_callback compares).
struct bag_appender {
    std::vector<int>* bag;
    int thing;
    void operator()(basic_future&) const { bag->push_back(thing); }
    bool operator==(const bag_appender&) const = default;
};

// Context variables live at namespace scope: a context keeps its values by variable, so
// a variable must outlive every context that holds a value for it.
context_var<std::string> name_var("name", std::string("foo"));

// One loop turn: what the callbacks scheduled so far do.
void run_briefly(test_loop& loop) {
    loop.run_until_complete(sleep(0));
}

// test_cancel: a cancelled future answers done()/cancelled(), raises cancelled_error from
// result() and exception(), refuses set_result and set_exception (even a null one: the
// state is checked first), and a second cancel() is refused.
TEST(FutureSteps, CancelledFutureRefusesToBeSetOrCancelledAgain) {
    test_loop loop;
    auto f = loop.create_future<int>();
    EXPECT_TRUE(f.cancel());
    EXPECT_TRUE(f.cancelled());
    EXPECT_TRUE(f.done());
    EXPECT_THROW((void)f.result(), cancelled_error);
    EXPECT_THROW((void)f.exception(), cancelled_error);
    EXPECT_THROW(f.set_result(1), invalid_state_error);
    EXPECT_THROW(f.set_exception(std::exception_ptr{}), invalid_state_error);
    EXPECT_THROW(f.set_exception(std::runtime_error("late")), invalid_state_error);
    EXPECT_FALSE(f.cancel());
}

// test_result: pending, result() is invalid_state_error; with a result, exception() is
// null and the future refuses to be set again or cancelled.
TEST(FutureSteps, FinishedFutureKeepsItsResult) {
    test_loop loop;
    auto f = loop.create_future<int>();
    EXPECT_THROW((void)f.result(), invalid_state_error);
    f.set_result(42);
    EXPECT_FALSE(f.cancelled());
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.result(), 42);
    EXPECT_EQ(f.exception(), nullptr);
    EXPECT_THROW(f.set_result(0), invalid_state_error);
    EXPECT_THROW(f.set_exception(std::exception_ptr{}), invalid_state_error);
    EXPECT_FALSE(f.cancel());
    EXPECT_EQ(f.result(), 42);
}

// test_exception: the exception set is the very one exception() returns and result()
// raises; the failed future refuses to be set again or cancelled.
TEST(FutureSteps, FailedFutureKeepsTheSameException) {
    test_loop loop;
    auto f = loop.create_future<int>();
    EXPECT_THROW((void)f.exception(), invalid_state_error);
    auto e = std::make_exception_ptr(std::runtime_error("boom"));
    f.set_exception(e);
    EXPECT_FALSE(f.cancelled());
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.exception(), e);
    std::exception_ptr raised;
    try {
        (void)f.result();
    } catch (const std::runtime_error&) {
        raised = std::current_exception();
    }
    EXPECT_EQ(raised, e);
    EXPECT_THROW(f.set_result(0), invalid_state_error);
    EXPECT_THROW(f.set_exception(std::exception_ptr{}), invalid_state_error);
    EXPECT_FALSE(f.cancel());
}

// test_future_cancel_message_getter: the message given to cancel() is the message of the
// cancelled_error that awaiting the future raises, in run_until_complete and in a task.
TEST(FutureSteps, CancelMessageReachesWhoeverAwaitsTheFuture) {
    test_loop loop;
    auto f = loop.create_future<int>();
    std::string in_task;
    auto waiter = [&]() -> coro<void> {
        try {
            (void)co_await f;
        } catch (const cancelled_error& e) {
            in_task = e.message();
            throw;
        }
    };
    auto t = loop.create_task(waiter());
    run_briefly(loop);
    f.cancel("my message");
    std::string in_loop;
    try {
        (void)loop.run_until_complete(f);
    } catch (const cancelled_error& e) {
        in_loop = e.message();
    }
    EXPECT_EQ(in_loop, "my message");
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_EQ(in_task, "my message");
    EXPECT_TRUE(t.cancelled());
}

// test_tb_logger_abandoned, _result_unretrieved, _result_retrieved,
// _exception_retrieved, _exception_result_retrieved, _exception_unretrieved: only a
// future dropped with an exception nobody looked at is reported.
TEST(FutureSteps, OnlyAnUnretrievedExceptionIsReported) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    { auto pending = loop.create_future<int>(); }
    {
        auto f = loop.create_future<int>();
        f.set_result(42);
    }
    {
        auto f = loop.create_future<int>();
        f.set_result(42);
        (void)f.result();
    }
    {
        auto f = loop.create_future<int>();
        f.set_exception(std::runtime_error("boom"));
        (void)f.exception();
    }
    {
        auto f = loop.create_future<int>();
        f.set_exception(std::runtime_error("boom"));
        EXPECT_THROW((void)f.result(), std::runtime_error);
    }
    run_briefly(loop);
    EXPECT_TRUE(log.calls.empty());
    {
        auto f = loop.create_future<int>();
        f.set_exception(std::runtime_error("boom"));
    }
    run_briefly(loop);
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(log.calls[0].message, "Future exception was never retrieved");
    EXPECT_EQ(error_of(log.calls[0].exception), "boom");
}

// test_tb_logger_not_called_after_cancel: cancel() on a failed future is refused, but it
// still counts as looking at the exception: nothing is reported.
TEST(FutureSteps, CancelOnAFailedFutureSilencesItsReport) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    {
        auto f = loop.create_future<int>();
        f.set_exception(std::runtime_error("boom"));
        EXPECT_FALSE(f.cancel());
    }
    run_briefly(loop);
    EXPECT_TRUE(log.calls.empty());
}

// test_callbacks_remove_first_callback: removing the first of three (twice: the second
// removal finds nothing) leaves the other two, which run in order on the next turn.
TEST(FutureSteps, RemovingTheFirstCallbackKeepsTheOthersInOrder) {
    test_loop loop;
    std::vector<int> bag;
    auto f = loop.create_future<std::string>();
    bag_appender cb1{&bag, 42}, cb2{&bag, 17}, cb3{&bag, 100};
    f.add_done_callback(cb1);
    f.add_done_callback(cb2);
    f.add_done_callback(cb3);
    EXPECT_EQ(f.remove_done_callback(cb1), 1u);
    EXPECT_EQ(f.remove_done_callback(cb1), 0u);
    EXPECT_TRUE(bag.empty());
    f.set_result("foo");
    EXPECT_TRUE(bag.empty()) << "callbacks are scheduled, not run by set_result";
    run_briefly(loop);
    EXPECT_EQ(bag, (std::vector<int>{17, 100}));
    EXPECT_EQ(f.result(), "foo");
}

// test_callbacks_remove_first_and_second_callback.
TEST(FutureSteps, RemovingTheFirstTwoCallbacksLeavesTheThird) {
    test_loop loop;
    std::vector<int> bag;
    auto f = loop.create_future<std::string>();
    bag_appender cb1{&bag, 42}, cb2{&bag, 17}, cb3{&bag, 100};
    f.add_done_callback(cb1);
    f.add_done_callback(cb2);
    f.add_done_callback(cb3);
    EXPECT_EQ(f.remove_done_callback(cb1), 1u);
    EXPECT_EQ(f.remove_done_callback(cb2), 1u);
    EXPECT_EQ(f.remove_done_callback(cb1), 0u);
    f.set_result("foo");
    run_briefly(loop);
    EXPECT_EQ(bag, (std::vector<int>{100}));
}

// test_callbacks_remove_third_callback: the last registration goes, the first two run.
TEST(FutureSteps, RemovingTheLastCallbackLeavesTheFirstTwo) {
    test_loop loop;
    std::vector<int> bag;
    auto f = loop.create_future<std::string>();
    bag_appender cb1{&bag, 42}, cb2{&bag, 17}, cb3{&bag, 100};
    f.add_done_callback(cb1);
    f.add_done_callback(cb2);
    f.add_done_callback(cb3);
    EXPECT_EQ(f.remove_done_callback(cb3), 1u);
    EXPECT_EQ(f.remove_done_callback(cb3), 0u);
    f.set_result("foo");
    run_briefly(loop);
    EXPECT_EQ(bag, (std::vector<int>{42, 17}));
}

// test_callbacks_invoked_on_set_result / _on_set_exception: both ways of finishing
// schedule the callbacks, which see the outcome.
TEST(FutureSteps, CallbacksRunAfterSetResultAndAfterSetException) {
    test_loop loop;
    std::vector<int> bag;
    auto f = loop.create_future<std::string>();
    f.add_done_callback(bag_appender{&bag, 42});
    f.add_done_callback(bag_appender{&bag, 17});
    f.set_result("foo");
    EXPECT_TRUE(bag.empty());
    run_briefly(loop);
    EXPECT_EQ(bag, (std::vector<int>{42, 17}));

    bag.clear();
    auto g = loop.create_future<int>();
    std::exception_ptr seen;
    g.add_done_callback(bag_appender{&bag, 100});
    g.add_done_callback([&](basic_future& d) { seen = d.exception(); });
    auto e = std::make_exception_ptr(std::runtime_error("x"));
    g.set_exception(e);
    EXPECT_TRUE(bag.empty());
    run_briefly(loop);
    EXPECT_EQ(bag, (std::vector<int>{100}));
    EXPECT_EQ(seen, e);
    EXPECT_EQ(g.exception(), e);
}

// test_remove_done_callback: removal takes every registration of a callback and says how
// many; one never registered removes nothing.
TEST(FutureSteps, RemoveDoneCallbackTakesEveryRegistration) {
    test_loop loop;
    std::vector<int> bag;
    auto f = loop.create_future<std::string>();
    bag_appender cb1{&bag, 1}, cb2{&bag, 2}, cb3{&bag, 3};
    f.add_done_callback(cb1);
    f.add_done_callback(cb2);
    EXPECT_EQ(f.remove_done_callback(cb2), 1u);
    EXPECT_EQ(f.remove_done_callback(cb3), 0u);
    f.add_done_callback(cb2);
    for (int i = 0; i < 5; ++i) f.add_done_callback(cb1);
    EXPECT_EQ(f.remove_done_callback(cb1), 6u);
    EXPECT_TRUE(bag.empty());
    f.set_result("foo");
    run_briefly(loop);
    EXPECT_EQ(bag, (std::vector<int>{2}));
}

// test_schedule_callbacks_list_mutation_1: once the future is done its callbacks are
// already scheduled; a callback that removes the others then finds nothing to remove, and
// they all still run.
TEST(FutureSteps, RemovingCallbacksFromARunningCallbackIsTooLate) {
    test_loop loop;
    std::vector<int> bag;
    auto f = loop.create_future<int>();
    bag_appender other{&bag, 7};
    std::size_t removed = 99;
    f.add_done_callback([&](basic_future& d) { removed = d.remove_done_callback(other); });
    f.add_done_callback(other);
    f.add_done_callback(other);
    f.set_result(1);
    run_briefly(loop);
    EXPECT_EQ(removed, 0u);
    EXPECT_EQ(bag, (std::vector<int>{7, 7}));
}

// A callable whose comparison changes the future it is registered on: while removal
// compares it, it adds a callback and removes every other registration.
struct meddling_callback {
    future<int>* f;
    std::vector<int>* bag;
    std::size_t* removed_inside;
    void operator()(basic_future&) const { bag->push_back(0); }
    bool operator==(const meddling_callback&) const {
        f->add_done_callback(bag_appender{bag, 2});
        *removed_inside += f->remove_done_callback(bag_appender{bag, 1});
        return false;
    }
};

// test_remove_done_callbacks_list_mutation / _list_clear /
// test_schedule_callbacks_list_mutation_2: a removal whose comparison adds and removes
// registrations of the same future neither crashes nor loses track: what the inner
// removal reports removed does not run, what was added does, and the compared callback
// (unequal) stays.
TEST(FutureSteps, ARemovalWhoseComparisonChangesTheFutureStaysConsistent) {
    test_loop loop;
    std::vector<int> bag;
    std::size_t removed_inside = 0;
    auto f = loop.create_future<int>();
    for (int i = 0; i < 63; ++i) f.add_done_callback(bag_appender{&bag, 1});
    meddling_callback evil{&f, &bag, &removed_inside};
    f.add_done_callback(evil);
    f.add_done_callback(bag_appender{&bag, 3});
    EXPECT_EQ(f.remove_done_callback(evil), 0u);
    EXPECT_EQ(f.remove_done_callback(bag_appender{&bag, 3}), 1u);
    f.set_result(1);
    run_briefly(loop);
    std::size_t ones = 0, twos = 0, zeros = 0;
    for (int v : bag) (v == 1 ? ones : v == 2 ? twos : zeros) += 1;
    EXPECT_EQ(removed_inside, 63u) << "the registrations compared before it were taken";
    EXPECT_EQ(ones, 63u - removed_inside);
    EXPECT_EQ(twos, 1u);
    EXPECT_EQ(zeros, 1u);
    EXPECT_EQ(bag.size(), ones + twos + zeros) << "nothing else ran";
}

// test_yield_from_twice: a future awaited a second time gives the same result without
// suspending.
TEST(FutureSteps, AFutureAwaitedTwiceGivesItsResultTwice) {
    test_loop loop;
    auto f = loop.create_future<int>();
    std::vector<std::string> steps;
    auto body = [&]() -> coro<void> {
        steps.push_back("A");
        int x = co_await f;
        steps.push_back("B" + std::to_string(x));
        int y = co_await f;
        steps.push_back("C" + std::to_string(y));
    };
    auto t = loop.create_task(body());
    run_briefly(loop);
    EXPECT_EQ(steps, (std::vector<std::string>{"A"}));
    f.set_result(42);
    run_briefly(loop);
    EXPECT_EQ(steps, (std::vector<std::string>{"A", "B42", "C42"})) << "the second await does not suspend";
    EXPECT_TRUE(t.done());
}

// test_futures2's test_future_traceback: a failed task awaited again and again raises its
// exception every time (the very same exception).
TEST(FutureSteps, AFailedTaskRaisesItsExceptionOnEveryAwait) {
    test_loop loop;
    auto raise_exc = []() -> coro<int> {
        throw std::invalid_argument("42");
        co_return 0;
    };
    auto t = loop.create_task(raise_exc());
    auto body = [&]() -> coro<void> {
        std::exception_ptr first;
        for (int i = 0; i < 5; ++i) {
            std::exception_ptr got;
            try {
                (void)co_await t;
            } catch (const std::invalid_argument&) {
                got = std::current_exception();
            }
            EXPECT_NE(got, nullptr) << "await " << i;
            if (i == 0) first = got;
            EXPECT_EQ(got, first);
        }
    };
    loop.run_until_complete(body());
}

// test_futures2's test_task_exc_handler_correct_context: a task that sets a context
// variable and then fails, never awaited: the "never retrieved" report runs in the
// task's context.
TEST(FutureSteps, AnUnretrievedTaskErrorIsReportedInTheTasksContext) {
    test_loop loop;
    std::string seen;
    bool called = false;
    loop.set_exception_handler([&](abstract_event_loop&, const exception_context&) {
        called = true;
        seen = name_var.get();
    });
    auto failing = [&]() -> coro<void> {
        name_var.set("bar");
        throw std::runtime_error("1/0");
        co_return;
    };
    (void)loop.create_task(failing());
    run_briefly(loop);
    EXPECT_TRUE(called);
    EXPECT_EQ(seen, "bar");
}

// test_futures2's test_handle_exc_handler_correct_context, and asyncio's documented
// add_done_callback / call_soon rule behind it: a callback runs in a copy of the context
// current when it was registered (it sees the registrar's values, and its own set() stays
// in that copy), and the exception handler for a failing callback runs in that copy too.
TEST(FutureSteps, CallbacksRunInTheContextTheyWereRegisteredIn) {
    context fresh;  // keeps this test's leaks out of the thread's own context
    fresh.run([&] {
        test_loop loop;
        auto f = loop.create_future<void>();
        std::string seen_done, seen_soon, seen_by_handler;
        auto registrar = [&]() -> coro<void> {
            name_var.set("bar");
            f.add_done_callback([&](basic_future&) { seen_done = name_var.get(); });
            get_running_loop().call_soon([&] { seen_soon = name_var.get(); });
            co_return;
        };
        loop.run_until_complete(registrar());
        f.set_result();
        run_briefly(loop);
        EXPECT_EQ(seen_done, "bar");
        EXPECT_EQ(seen_soon, "bar");

        loop.set_exception_handler(
            [&](abstract_event_loop&, const exception_context&) { seen_by_handler = name_var.get(); });
        loop.call_soon([&] {
            name_var.set("in callback");
            throw std::runtime_error("1/0");
        });
        run_briefly(loop);
        EXPECT_EQ(seen_by_handler, "in callback");
        EXPECT_EQ(name_var.get(), "foo") << "a callback's set() stays in its own copy";
    });
}

}  // namespace
}  // namespace duet::test
