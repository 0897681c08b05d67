// Futures and queues step by step, as test_asyncio's test_futures, test_futures2 and
// test_queues drive them: what each state refuses, when done callbacks run and which
// registrations a removal takes, and which getter or putter holds which item after each
// loop turn, around cancellations and shutdowns. Scenarios after CPython's
// Lib/test/test_asyncio (Python 3.12/3.13 behaviour).
#include <set>
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

// ---------------------------------------------------------------- queues

// test_maxsize: a putter of three items into a queue of two blocks on the third until a
// get makes room, and then puts it on the next turn.
TEST(QueueSteps, APutterBlocksAtMaxsizeUntilAGetMakesRoom) {
    test_loop loop;
    queue<int> q(2);
    EXPECT_EQ(q.maxsize(), 2u);
    std::vector<int> have_been_put;
    auto putter = [&]() -> coro<bool> {
        for (int i = 0; i < 3; ++i) {
            co_await q.put(i);
            have_been_put.push_back(i);
        }
        co_return true;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(putter());
        for (int i = 0; i < 2; ++i) co_await sleep(0);
        EXPECT_EQ(have_been_put, (std::vector<int>{0, 1}));
        EXPECT_EQ(co_await q.get(), 0);
        co_await sleep(0);
        EXPECT_EQ(have_been_put, (std::vector<int>{0, 1, 2}));
        EXPECT_EQ(co_await q.get(), 1);
        EXPECT_EQ(co_await q.get(), 2);
        EXPECT_TRUE(t.done());
        EXPECT_TRUE(t.result());
    }());
}

// test_blocking_get_wait: a getter waits for an item put later by a timer callback.
TEST(QueueSteps, ABlockedGetterWakesWhenATimerPuts) {
    test_loop loop;
    queue<int> q;
    event started;
    bool finished = false;
    auto queue_get = [&]() -> coro<int> {
        started.set();
        int res = co_await q.get();
        finished = true;
        co_return res;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(queue_get());
        co_await started.wait();
        EXPECT_FALSE(finished);
        get_running_loop().call_later(0.01, [&] { q.put_nowait(1); });
        EXPECT_EQ(co_await t, 1);
        EXPECT_TRUE(finished);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.01);
    }());
}

// test_get_cancelled_race: the first of two getters is cancelled while waiting; the item
// put afterwards goes to the second.
TEST(QueueSteps, AnItemPutAfterAGetterIsCancelledGoesToTheNext) {
    test_loop loop;
    queue<std::string> q;
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(q.get());
        auto t2 = create_task(q.get());
        co_await sleep(0);
        t1.cancel();
        co_await sleep(0);
        EXPECT_TRUE(t1.done());
        EXPECT_TRUE(t1.cancelled());
        co_await q.put("a");
        co_await sleep(0);
        EXPECT_EQ(co_await t2, "a");
        EXPECT_TRUE(q.empty());
    }());
}

// test_get_with_waiting_putters: two putters on a queue of one; gets take their items in
// the order they were put.
TEST(QueueSteps, GetsTakeTheItemsOfWaitingPuttersInOrder) {
    test_loop loop;
    queue<std::string> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        auto pa = create_task(q.put("a"));
        auto pb = create_task(q.put("b"));
        EXPECT_EQ(co_await q.get(), "a");
        EXPECT_EQ(co_await q.get(), "b");
        co_await pa;
        co_await pb;
    }());
}

// test_cancelled_getters_not_being_held_in_self_getters: a get abandoned by wait_for
// leaves no getter behind: the next item stays in the queue for the next get.
TEST(QueueSteps, AGetAbandonedByWaitForLeavesNoGetterBehind) {
    test_loop loop;
    queue<int> q(5);
    loop.run_until_complete([&]() -> coro<void> {
        EXPECT_THROW(co_await wait_for(q.get(), 0.1), timeout_error);
        q.put_nowait(1);
        co_await sleep(0);
        EXPECT_EQ(q.qsize(), 1u);
        EXPECT_EQ(co_await q.get(), 1);
    }());
}

// test_blocking_put_wait: the second put into a queue of one waits until a timer
// callback takes the first item.
TEST(QueueSteps, ABlockedPutterWakesWhenATimerGets) {
    test_loop loop;
    queue<int> q(1);
    event started;
    bool finished = false;
    auto queue_put = [&]() -> coro<void> {
        started.set();
        co_await q.put(1);
        co_await q.put(2);
        finished = true;
    };
    loop.run_until_complete([&]() -> coro<void> {
        get_running_loop().call_later(0.01, [&] { (void)q.get_nowait(); });
        auto t = create_task(queue_put());
        co_await started.wait();
        EXPECT_FALSE(finished);
        co_await t;
        EXPECT_TRUE(finished);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.01);
        EXPECT_EQ(q.get_nowait(), 2);
    }());
}

// test_get_cancel_drop_one_pending_reader: a reader woken by an item and cancelled before
// it runs must not drop that item: whether it got it or a retry gets it, it is item 1.
TEST(QueueSteps, ACancelledReaderDropsNoItem) {
    test_loop loop;
    queue<int> q;
    loop.run_until_complete([&]() -> coro<void> {
        auto reader = create_task(q.get());
        co_await sleep(0);
        q.put_nowait(1);
        q.put_nowait(2);
        reader.cancel();
        bool retry = false;
        try {
            (void)co_await reader;
        } catch (const cancelled_error&) {
            retry = true;
        }
        if (retry) {
            reader = create_task(q.get());
            (void)co_await reader;
        }
        EXPECT_EQ(reader.result(), 1) << "2 means item 1 was dropped";
        EXPECT_EQ(q.qsize(), 1u);
    }());
}

// test_get_cancel_drop_many_pending_readers: three readers, two items, the first reader
// cancelled: the other two get both items between them.
TEST(QueueSteps, ACancelledReaderAmongManyDropsNoItem) {
    test_loop loop;
    queue<int> q;
    loop.run_until_complete([&]() -> coro<void> {
        auto reader1 = create_task(q.get());
        auto reader2 = create_task(q.get());
        auto reader3 = create_task(q.get());
        co_await sleep(0);
        q.put_nowait(1);
        q.put_nowait(2);
        reader1.cancel();
        EXPECT_THROW((void)co_await reader1, cancelled_error);
        (void)co_await reader3;
        (void)co_await reader2;
        EXPECT_EQ((std::set<int>{reader2.result(), reader3.result()}), (std::set<int>{1, 2}));
        EXPECT_TRUE(q.empty());
    }());
}

// test_put_cancel_drop: a writer woken by room and cancelled before it runs must not put
// its item twice nor lose it once it retries.
TEST(QueueSteps, ACancelledWriterPutsItsItemOnce) {
    test_loop loop;
    queue<int> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait(1);
        auto writer = create_task(q.put(2));
        co_await sleep(0);
        EXPECT_EQ(q.get_nowait(), 1);
        writer.cancel();
        bool retry = false;
        try {
            co_await writer;
        } catch (const cancelled_error&) {
            retry = true;
        }
        if (retry) {
            writer = create_task(q.put(2));
            co_await writer;
        }
        EXPECT_EQ(q.get_nowait(), 2);
        EXPECT_EQ(q.qsize(), 0u);
    }());
}

// test_put_cancelled_race: three putters on a queue of one; the first puts at once, the
// third is cancelled while waiting; the second puts when the first item is taken.
TEST(QueueSteps, ACancelledPutterLeavesTheOthersTheirTurn) {
    test_loop loop;
    queue<std::string> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        auto put_a = create_task(q.put("a"));
        auto put_b = create_task(q.put("b"));
        auto put_c = create_task(q.put("X"));
        co_await sleep(0);
        EXPECT_TRUE(put_a.done());
        EXPECT_FALSE(put_b.done());
        put_c.cancel();
        co_await sleep(0);
        EXPECT_TRUE(put_c.done());
        EXPECT_TRUE(put_c.cancelled());
        EXPECT_EQ(q.get_nowait(), "a");
        co_await sleep(0);
        EXPECT_EQ(q.get_nowait(), "b");
        co_await put_b;
        EXPECT_TRUE(q.empty());
    }());
}

// test_put_with_waiting_getters: a put hands its item to the getter already waiting.
TEST(QueueSteps, APutFeedsTheWaitingGetter) {
    test_loop loop;
    queue<std::string> q;
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(q.get());
        co_await sleep(0);
        co_await q.put("a");
        EXPECT_EQ(co_await t, "a");
    }());
}

// test_why_are_putters_waiting: four putters on a queue of two and a getter that drains
// it with get_nowait after one turn: every putter gets through.
TEST(QueueSteps, PuttersBehindADrainedQueueAllGetThrough) {
    test_loop loop;
    queue<int> q(2);
    loop.run_until_complete([&]() -> coro<void> {
        auto getter = [&]() -> coro<void> {
            co_await sleep(0);
            auto n = q.qsize();
            for (std::size_t i = 0; i < n; ++i) (void)q.get_nowait();
        };
        std::vector<task<void>> tasks;
        tasks.push_back(create_task(getter()));
        for (int i = 0; i < 4; ++i) tasks.push_back(create_task(q.put(i)));
        for (auto& t : tasks) co_await t;
        EXPECT_EQ(q.qsize(), 2u);
        EXPECT_EQ(q.get_nowait(), 2);
        EXPECT_EQ(q.get_nowait(), 3);
    }());
}

// test_task_done for Queue, LifoQueue and PriorityQueue: two workers process 100 items,
// calling task_done after each; join returns once all are processed.
template <class Q>
void task_done_case() {
    test_loop loop;
    Q q;
    for (int i = 0; i < 100; ++i) q.put_nowait(i);
    int accumulator = 0;
    bool running = true;
    auto worker = [&]() -> coro<void> {
        while (running) {
            int item = co_await q.get();
            accumulator += item;
            q.task_done();
        }
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto w1 = create_task(worker());
        auto w2 = create_task(worker());
        co_await q.join();
        EXPECT_EQ(accumulator, 4950);
        running = false;
        q.put_nowait(0);
        q.put_nowait(0);
        co_await w1;
        co_await w2;
        co_await q.join();
    }());
    EXPECT_THROW(q.task_done(), std::invalid_argument);
}

TEST(QueueSteps, JoinWaitsForEveryTaskDoneInEachKindOfQueue) {
    task_done_case<queue<int>>();
    task_done_case<lifo_queue<int>>();
    task_done_case<priority_queue<int>>();
}

// test_shutdown_empty: a getter waiting on an empty queue raises queue_shut_down once the
// queue is shut down; join returns; every put and get then raises queue_shut_down.
template <class Q>
void shutdown_empty_case() {
    test_loop loop;
    Q q;
    loop.run_until_complete([&]() -> coro<void> {
        auto get_task = create_task(q.get());
        co_await sleep(0);
        q.shutdown(false);
        EXPECT_EQ(q.qsize(), 0u);
        co_await q.join();
        co_await sleep(0);
        EXPECT_TRUE(get_task.done());
        EXPECT_THROW((void)co_await get_task, queue_shut_down);
        EXPECT_THROW(co_await q.put("data"), queue_shut_down);
        EXPECT_THROW(q.put_nowait("data"), queue_shut_down);
        EXPECT_THROW((void)co_await q.get(), queue_shut_down);
        EXPECT_THROW((void)q.get_nowait(), queue_shut_down);
    }());
}

TEST(QueueSteps, ShutdownOfAnEmptyQueueFailsItsWaitingGetter) {
    shutdown_empty_case<queue<std::string>>();
    shutdown_empty_case<lifo_queue<std::string>>();
    shutdown_empty_case<priority_queue<std::string>>();
}

// test_shutdown_nonempty: a putter waiting on a full queue raises queue_shut_down; the
// item already in the queue can still be got; join waits for its task_done.
template <class Q>
void shutdown_nonempty_case() {
    test_loop loop;
    Q q(1);
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait("data");
        auto join_task = create_task(q.join());
        auto put_task = create_task(q.put("data2"));
        co_await sleep(0);
        EXPECT_FALSE(put_task.done());
        q.shutdown(false);
        EXPECT_EQ(q.qsize(), 1u);
        co_await sleep(0);
        EXPECT_TRUE(put_task.done());
        EXPECT_THROW(co_await put_task, queue_shut_down);
        EXPECT_EQ(co_await q.get(), "data");
        co_await sleep(0);
        EXPECT_FALSE(join_task.done());
        EXPECT_THROW(co_await q.put("data"), queue_shut_down);
        EXPECT_THROW(q.put_nowait("data"), queue_shut_down);
        EXPECT_THROW((void)co_await q.get(), queue_shut_down);
        EXPECT_THROW((void)q.get_nowait(), queue_shut_down);
        q.task_done();
        co_await sleep(0);
        EXPECT_TRUE(join_task.done());
        co_await join_task;
        EXPECT_THROW(q.task_done(), std::invalid_argument);
    }());
}

TEST(QueueSteps, ShutdownOfAFullQueueFailsItsWaitingPutterButKeepsTheItem) {
    shutdown_nonempty_case<queue<std::string>>();
    shutdown_nonempty_case<lifo_queue<std::string>>();
    shutdown_nonempty_case<priority_queue<std::string>>();
}

// test_shutdown_immediate: the items left are dropped and counted done: join returns, and
// there is nothing left to call task_done for.
template <class Q>
void shutdown_immediate_case() {
    test_loop loop;
    Q q;
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait("data");
        auto join_task = create_task(q.join());
        q.shutdown(true);
        EXPECT_EQ(q.qsize(), 0u);
        co_await sleep(0);
        EXPECT_TRUE(join_task.done());
        co_await join_task;
        EXPECT_THROW(co_await q.put("data"), queue_shut_down);
        EXPECT_THROW(q.put_nowait("data"), queue_shut_down);
        EXPECT_THROW((void)co_await q.get(), queue_shut_down);
        EXPECT_THROW((void)q.get_nowait(), queue_shut_down);
        EXPECT_THROW(q.task_done(), std::invalid_argument);
    }());
}

TEST(QueueSteps, ImmediateShutdownDropsTheItemsAndReleasesJoin) {
    shutdown_immediate_case<queue<std::string>>();
    shutdown_immediate_case<lifo_queue<std::string>>();
    shutdown_immediate_case<priority_queue<std::string>>();
}

// test_shutdown_immediate_with_unfinished: of two items, one was got but not marked done;
// an immediate shutdown drops the other; join still waits for the one being processed.
template <class Q>
void shutdown_immediate_unfinished_case() {
    test_loop loop;
    Q q;
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait("data");
        q.put_nowait("data");
        auto join_task = create_task(q.join());
        EXPECT_EQ(co_await q.get(), "data");
        q.shutdown(true);
        EXPECT_EQ(q.qsize(), 0u);
        co_await sleep(0);
        EXPECT_FALSE(join_task.done());
        EXPECT_THROW(co_await q.put("data"), queue_shut_down);
        EXPECT_THROW(q.put_nowait("data"), queue_shut_down);
        EXPECT_THROW((void)co_await q.get(), queue_shut_down);
        EXPECT_THROW((void)q.get_nowait(), queue_shut_down);
        q.task_done();
        EXPECT_THROW(q.task_done(), std::invalid_argument);
        co_await sleep(0);
        EXPECT_TRUE(join_task.done());
        co_await join_task;
    }());
}

TEST(QueueSteps, ImmediateShutdownStillWaitsForTheItemBeingProcessed) {
    shutdown_immediate_unfinished_case<queue<std::string>>();
    shutdown_immediate_unfinished_case<lifo_queue<std::string>>();
    shutdown_immediate_unfinished_case<priority_queue<std::string>>();
}

}  // namespace
}  // namespace duet::test
