// The synchronization primitives step by step, as test_asyncio's test_locks drives them:
// which task holds what after each loop turn, around releases, notifications and
// cancellations that race each other. Scenarios after CPython's Lib/test/test_asyncio.
#include <optional>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

// Three acquirers queue in order; each release hands the lock to the next on the next turn.
TEST(LockSteps, EachReleaseWakesTheNextAcquirerOnTheNextTurn) {
    test_loop loop;
    lock l;
    std::vector<int> order;
    auto acquirer = [&](int id) -> coro<void> {
        co_await l.acquire();
        order.push_back(id);
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await l.acquire();
        auto t1 = create_task(acquirer(1));
        auto t2 = create_task(acquirer(2));
        co_await sleep(0);
        EXPECT_TRUE(order.empty());
        l.release();
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1}));
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1}));
        auto t3 = create_task(acquirer(3));
        l.release();
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1, 2}));
        l.release();
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
        EXPECT_TRUE(t1.done() && t2.done() && t3.done());
        l.release();
    }());
}

// A waiter cancelled in the same turn as the holder releases: the lock goes to the next
// waiter, not to the cancelled one, and is free once that one is done with it.
TEST(LockSteps, CancelRacingAReleaseMovesOnToTheNextWaiter) {
    test_loop loop;
    lock l;
    auto lockit = [&](future<void>* blocker) -> coro<void> {
        co_await l.acquire();
        try {
            if (blocker) co_await *blocker;
        } catch (...) {
            l.release();
            throw;
        }
        l.release();
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto fa = get_running_loop().create_future<void>();
        auto ta = create_task(lockit(&fa));
        co_await sleep(0);
        EXPECT_TRUE(l.locked());
        auto tb = create_task(lockit(nullptr));
        co_await sleep(0);
        auto tc = create_task(lockit(nullptr));
        co_await sleep(0);
        fa.set_result();
        tb.cancel();
        co_await sleep(0);
        EXPECT_FALSE(l.locked());
        EXPECT_TRUE(ta.done());
        EXPECT_TRUE(tb.cancelled());
        co_await tc;
        EXPECT_FALSE(l.locked());
    }());
}

// Issue 32734: three acquirers; in one callback the first is cancelled and the lock
// released. Exactly one of them takes the lock.
TEST(LockSteps, CancelAndReleaseInOneCallbackLetOnlyOneAcquirerIn) {
    test_loop loop;
    lock l;
    int lock_count = 0, call_count = 0;
    auto lockit = [&]() -> coro<void> {
        ++call_count;
        co_await l.acquire();
        ++lock_count;
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await l.acquire();
        auto t1 = create_task(lockit());
        auto t2 = create_task(lockit());
        auto t3 = create_task(lockit());
        co_await sleep(0);
        get_running_loop().call_soon([&] {
            t1.cancel();
            l.release();
        });
        EXPECT_THROW(co_await t1, cancelled_error);
        EXPECT_EQ(lock_count, 1);
        EXPECT_EQ(call_count, 3);
        EXPECT_TRUE(t1.cancelled());
        EXPECT_TRUE(t2.done());
        t3.cancel();
        co_await sleep(0);
        EXPECT_TRUE(t3.cancelled());
    }());
}

// The first waiter is woken and cancelled before it runs; the second still gets the lock.
TEST(LockSteps, WokenWaiterCancelledBeforeRunningPassesTheLockOn) {
    test_loop loop;
    lock l;
    loop.run_until_complete([&]() -> coro<void> {
        co_await l.acquire();
        auto tb = create_task(l.acquire());
        co_await sleep(0);
        auto tc = create_task(l.acquire());
        tb.cancel();
        l.release();
        co_await sleep(0);
        EXPECT_TRUE(l.locked());
        EXPECT_TRUE(tb.cancelled());
        co_await tc;
        EXPECT_TRUE(l.locked());
        l.release();
    }());
}

// Waiters run in the order they waited; one created while the event is being set (but
// before it has run) finds it set and runs first.
TEST(EventSteps, SetWakesEveryWaiterInOrderAndALateComerFirst) {
    test_loop loop;
    event ev;
    std::vector<int> order;
    auto waiter = [&](int id) -> coro<void> {
        co_await ev.wait();
        order.push_back(id);
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(waiter(1));
        auto t2 = create_task(waiter(2));
        co_await sleep(0);
        EXPECT_TRUE(order.empty());
        auto t3 = create_task(waiter(3));
        ev.set();
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{3, 1, 2}));
        EXPECT_TRUE(t1.done() && t2.done() && t3.done());
    }());
}

// set(), clear(), set() before the waiter runs: it is woken once, by the first set().
TEST(EventSteps, ClearAfterSetDoesNotUnwakeAWaiter) {
    test_loop loop;
    event ev;
    int woken = 0;
    auto waiter = [&]() -> coro<void> {
        co_await ev.wait();
        ++woken;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(waiter());
        co_await sleep(0);
        ev.set();
        ev.clear();
        EXPECT_FALSE(ev.is_set());
        ev.set();
        ev.set();
        co_await sleep(0);
        EXPECT_EQ(woken, 1);
        EXPECT_TRUE(t.done());
    }());
}

// test_wait: a notified waiter needs the lock back, so it runs only after the notifier
// releases; notify(2) then wakes the other two, one lock hand-over at a time.
TEST(ConditionSteps, NotifiedWaitersRunOneReleaseAtATime) {
    test_loop loop;
    condition cv;
    std::vector<int> order;
    auto waiter = [&](int id) -> coro<void> {
        co_await cv.acquire();
        co_await cv.wait();
        order.push_back(id);
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(waiter(1));
        auto t2 = create_task(waiter(2));
        auto t3 = create_task(waiter(3));
        co_await sleep(0);
        EXPECT_TRUE(order.empty());
        EXPECT_FALSE(cv.locked());

        co_await cv.acquire();
        cv.notify();
        co_await sleep(0);
        EXPECT_TRUE(order.empty());
        EXPECT_TRUE(cv.locked());

        cv.release();
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1}));
        EXPECT_TRUE(cv.locked());  // t1 holds it now

        cv.notify(2);
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1}));
        EXPECT_TRUE(cv.locked());

        cv.release();
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1, 2}));
        EXPECT_TRUE(cv.locked());

        cv.release();
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
        EXPECT_TRUE(cv.locked());
        EXPECT_TRUE(t1.done() && t2.done() && t3.done());
        cv.release();
    }());
}

// test_notify: notify(1) then notify(2048) wakes one and then the rest, never more than wait.
TEST(ConditionSteps, NotifyWakesAtMostTheWaitersThereAre) {
    test_loop loop;
    condition cv;
    std::vector<int> order;
    auto waiter = [&](int id) -> coro<void> {
        co_await cv.acquire();
        co_await cv.wait();
        order.push_back(id);
        cv.release();
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(waiter(1));
        auto t2 = create_task(waiter(2));
        auto t3 = create_task(waiter(3));
        co_await sleep(0);
        co_await cv.acquire();
        cv.notify(1);
        cv.release();
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1}));
        co_await cv.acquire();
        cv.notify(1);
        cv.notify(2048);
        cv.release();
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
        EXPECT_TRUE(t1.done() && t2.done() && t3.done());
    }());
}

// test_wait_cancel_contested: notified, then cancelled while the lock is contested, then
// the lock released in the same turn: the wait ends with the lock held (it may end either
// way, but never without the lock).
TEST(ConditionSteps, CancelledWhileTheLockIsContestedStillEndsHoldingIt) {
    test_loop loop;
    condition cv;
    loop.run_until_complete([&]() -> coro<void> {
        co_await cv.acquire();
        auto w = create_task(cv.wait());
        co_await sleep(0);
        EXPECT_FALSE(cv.locked());
        co_await cv.acquire();
        cv.notify();
        get_running_loop().call_soon([&] { w.cancel(); });
        get_running_loop().call_soon([&] { cv.release(); });
        try {
            co_await w;
        } catch (const cancelled_error&) {
        }
        EXPECT_TRUE(cv.locked());
    }());
}

// bpo-32841: notified, cancelled while re-acquiring, the lock released: the task ends
// cancelled, and it did get into its critical section first.
TEST(ConditionSteps, CancelAfterNotifyCancelsOnceTheLockIsBack) {
    test_loop loop;
    condition cv;
    bool waited = false;
    auto body = [&]() -> coro<void> {
        auto held = co_await cv.scoped();
        waited = true;
        co_await cv.wait();
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto w = create_task(body());
        co_await sleep(0);
        co_await cv.acquire();
        cv.notify();
        co_await sleep(0);
        w.cancel();
        co_await sleep(0);
        cv.release();
        co_await sleep(0);
        EXPECT_TRUE(w.cancelled());
        EXPECT_TRUE(waited);
        EXPECT_FALSE(cv.locked());
    }());
}

// Waiting or notifying without the lock is asyncio's RuntimeError; wait_for whose
// predicate already holds returns without needing the lock.
TEST(ConditionSteps, WaitingOrNotifyingWithoutTheLockIsAnError) {
    test_loop loop;
    condition cv;
    loop.run_until_complete([&]() -> coro<void> {
        EXPECT_THROW(co_await cv.wait(), std::runtime_error);
        EXPECT_TRUE(co_await cv.wait_for([] { return true; }));
        EXPECT_THROW(co_await cv.wait_for([] { return false; }), std::runtime_error);
        EXPECT_FALSE(cv.locked());
    }());
    EXPECT_THROW(cv.notify(), std::runtime_error);
    EXPECT_THROW(cv.notify_all(), std::runtime_error);
}

// wait_for returns the predicate's last value, not just "true" (asyncio's test_wait_for
// checks the returned value): a count, an optional.
TEST(ConditionSteps, WaitForReturnsThePredicatesLastValue) {
    test_loop loop;
    condition cv;
    int items = 0;
    std::optional<std::string> message;
    int calls = 0;
    auto counter = [&]() -> coro<int> {
        auto held = co_await cv.scoped();
        auto count = [&] {
            ++calls;
            return items;
        };
        co_return co_await cv.wait_for(count);
    };
    auto reader = [&]() -> coro<std::string> {
        auto held = co_await cv.scoped();
        auto has_message = [&] { return message; };
        auto m = co_await cv.wait_for(has_message);
        co_return *m;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto c = create_task(counter());
        auto r = create_task(reader());
        co_await sleep(0);
        EXPECT_EQ(calls, 1);
        {
            auto held = co_await cv.scoped();
            cv.notify_all();  // nothing to see yet: both wait again
        }
        co_await sleep(0);
        co_await sleep(0);
        EXPECT_EQ(calls, 2);
        EXPECT_FALSE(c.done());
        {
            auto held = co_await cv.scoped();
            items = 3;
            message = "hello";
            cv.notify_all();
        }
        EXPECT_EQ(co_await c, 3);
        EXPECT_EQ(co_await r, "hello");
        EXPECT_FALSE(cv.locked());
    }());
}

// A cancellation received while waiting to be notified, and one received while
// re-acquiring, both reach the task with their message.
TEST(ConditionSteps, CancellationKeepsItsMessageWhereverItArrives) {
    test_loop loop;
    condition cv;
    bool wake = false;
    std::string seen;
    auto body = [&]() -> coro<void> {
        auto held = co_await cv.scoped();
        try {
            co_await cv.wait_for([&] { return wake; });
        } catch (const cancelled_error& e) {
            seen = e.message();
            throw;
        }
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(body());
        co_await sleep(0);
        t.cancel("foo");  // while waiting for a notification
        try {
            co_await t;
            ADD_FAILURE() << "not cancelled";
        } catch (const cancelled_error& e) {
            EXPECT_EQ(e.message(), "foo");
        }
        EXPECT_EQ(seen, "foo");

        seen.clear();
        auto t2 = create_task(body());
        co_await sleep(0);
        co_await cv.acquire();
        wake = true;
        cv.notify();
        co_await sleep(0);
        t2.cancel("bar");  // while re-acquiring the lock
        cv.release();
        try {
            co_await t2;
            ADD_FAILURE() << "not cancelled";
        } catch (const cancelled_error& e) {
            EXPECT_EQ(e.message(), "bar");
        }
        EXPECT_EQ(seen, "bar");
        EXPECT_FALSE(cv.locked());
    }());
}

// Two consumers; one item is produced and one consumer notified, and that consumer is
// cancelled — before it runs, or while it re-acquires the lock. The notification is not
// lost: the other consumer takes the item.
class ConditionCancelledWakeup : public ::testing::TestWithParam<bool> {};

TEST_P(ConditionCancelledWakeup, TheNotificationIsNotLost) {
    const bool cancel_while_relocking = GetParam();
    test_loop loop;
    condition cv;
    int state = 0;
    auto consumer = [&]() -> coro<void> {
        auto held = co_await cv.scoped();
        for (;;) {
            co_await cv.wait_for([&] { return state != 0; });
            if (state < 0) co_return;
            --state;
        }
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto c0 = create_task(consumer());
        auto c1 = create_task(consumer());
        co_await sleep(0);
        {
            auto held = co_await cv.scoped();
            ++state;
            cv.notify(1);
            if (cancel_while_relocking) co_await sleep(0);
            c0.cancel();
            try {
                co_await wait_for(cv.wait_for([&] { return state == 0; }), 0.01);
            } catch (const timeout_error&) {
            }
            EXPECT_EQ(state, 0);
            state = -1;
            cv.notify_all();
        }
        co_await c1;
        try {
            co_await c0;
        } catch (const cancelled_error&) {
        }
        EXPECT_TRUE(c0.cancelled());
    }());
}

INSTANTIATE_TEST_SUITE_P(BeforeItRunsOrWhileRelocking, ConditionCancelledWakeup, ::testing::Bool());

// test_acquire: three slots, two taken; of three more acquirers one gets in at once;
// two releases let exactly two of the other three in.
TEST(SemaphoreSteps, ReleasesLetInExactlyAsManyAsTheyFreed) {
    test_loop loop;
    semaphore sem(3);
    std::vector<int> order;
    auto acquirer = [&](int id) -> coro<void> {
        co_await sem.acquire();
        order.push_back(id);
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await sem.acquire();
        co_await sem.acquire();
        EXPECT_FALSE(sem.locked());
        auto t1 = create_task(acquirer(1));
        auto t2 = create_task(acquirer(2));
        auto t3 = create_task(acquirer(3));
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<int>{1}));
        EXPECT_TRUE(sem.locked());
        EXPECT_EQ(sem.value(), 0);
        auto t4 = create_task(acquirer(4));
        sem.release();
        sem.release();
        EXPECT_EQ(sem.value(), 0);
        co_await sleep(0);
        EXPECT_EQ(sem.value(), 0);
        EXPECT_EQ(order.size(), 3u);
        EXPECT_TRUE(sem.locked());
        EXPECT_TRUE(t1.done());
        int done = int(t2.done()) + int(t3.done()) + int(t4.done());
        EXPECT_EQ(done, 2);
        sem.release();
        co_await gather(t2, t3, t4);
    }());
}

// Of four waiters on an empty semaphore the first two are cancelled and one slot released:
// the third gets it, the fourth keeps waiting.
TEST(SemaphoreSteps, CancelledWaitersAreSkippedByARelease) {
    test_loop loop;
    semaphore sem(0);
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(sem.acquire());
        auto t2 = create_task(sem.acquire());
        auto t3 = create_task(sem.acquire());
        auto t4 = create_task(sem.acquire());
        co_await sleep(0);
        t1.cancel();
        t2.cancel();
        sem.release();
        co_await sleep(0);
        co_await sleep(0);
        EXPECT_TRUE(t3.done());
        EXPECT_FALSE(t4.done());
        t3.cancel();
        t4.cancel();
        co_await sleep(0);
        EXPECT_TRUE(t1.cancelled() && t2.cancelled() && t4.cancelled());
    }());
}

// test_acquire_hang: the first waiter cancelled, a slot released: the second gets it.
TEST(SemaphoreSteps, ASlotReleasedPastACancelledWaiterIsNotLost) {
    test_loop loop;
    semaphore sem(0);
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(sem.acquire());
        auto t2 = create_task(sem.acquire());
        co_await sleep(0);
        t1.cancel();
        sem.release();
        co_await sleep(0);
        co_await sleep(0);
        EXPECT_TRUE(sem.locked());
        EXPECT_TRUE(t2.done());
    }());
}

// test_acquire_no_hang: a holder cancels the next acquirer as it leaves; the semaphore
// is free afterwards.
TEST(SemaphoreSteps, CancellingTheNextAcquirerOnLeavingLeavesTheSemaphoreFree) {
    test_loop loop;
    semaphore sem(1);
    std::optional<task<void>> t2;
    bool second_ran = false;
    auto c1 = [&]() -> coro<void> {
        {
            auto held = co_await sem.scoped();
            co_await sleep(0);
        }
        t2->cancel();
    };
    auto c2 = [&]() -> coro<void> {
        auto held = co_await sem.scoped();
        second_ran = true;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(c1());
        t2 = create_task(c2());
        co_await gather(return_exceptions, *t2, t1);
        EXPECT_TRUE(t1.done() && !t1.cancelled());
        EXPECT_TRUE(t2->cancelled());
        EXPECT_FALSE(second_ran);
        co_await wait_for(sem.acquire(), 1.0);
        EXPECT_EQ(sem.value(), 0);
    }());
}

// FIFO: each acquirer comes back for a second turn behind the others.
TEST(SemaphoreSteps, AcquirersComingBackQueueBehindTheOthers) {
    test_loop loop;
    semaphore sem(1);
    std::vector<std::string> order;
    auto body = [&](std::string tag) -> coro<void> {
        co_await sem.acquire();
        order.push_back(tag + "_1");
        co_await sleep(0.01);
        sem.release();
        co_await sem.acquire();
        order.push_back(tag + "_2");
        co_await sleep(0.01);
        sem.release();
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await with_task_group([&](task_group& g) -> coro<void> {
            g.create_task(body("c1"));
            g.create_task(body("c2"));
            g.create_task(body("c3"));
            co_return;
        });
    }());
    EXPECT_EQ(order, (std::vector<std::string>{"c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"}));
}

// A holder releasing and re-acquiring at once goes behind the waiters already queued.
TEST(SemaphoreSteps, ReacquiringAtOnceDoesNotOvertakeQueuedWaiters) {
    test_loop loop;
    semaphore sem(1);
    std::vector<int> order;
    auto c1 = [&]() -> coro<void> {
        co_await sem.acquire();
        order.push_back(1);
    };
    auto c2 = [&]() -> coro<void> {
        co_await sem.acquire();
        order.push_back(2);
        sem.release();
        co_await sem.acquire();
        order.push_back(4);
    };
    auto c3 = [&]() -> coro<void> {
        co_await sem.acquire();
        order.push_back(3);
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(c1());
        auto t2 = create_task(c2());
        auto t3 = create_task(c3());
        co_await sleep(0);
        sem.release();
        sem.release();
        co_await gather(t1, t2, t3);
    }());
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
}

// A waiter cancelled before any slot is released is skipped; the others go in order.
TEST(SemaphoreSteps, ACancelledFirstWaiterIsSkippedInOrder) {
    test_loop loop;
    semaphore sem(0);
    std::vector<int> order;
    auto acquirer = [&](int id) -> coro<void> {
        co_await sem.acquire();
        order.push_back(id);
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(acquirer(1));
        auto t2 = create_task(acquirer(2));
        auto t3 = create_task(acquirer(3));
        co_await sleep(0);
        t1.cancel();
        co_await sleep(0);
        sem.release();
        sem.release();
        co_await gather(return_exceptions, t1, t2, t3);
    }());
    EXPECT_EQ(order, (std::vector<int>{2, 3}));
}

// test_acquire_fifo_order_4: three releases wake three queued waiters at once; a task the
// first of them creates runs after the third, not before it.
TEST(SemaphoreSteps, ReleasesWakeEveryWaiterTheyFitBeforeANewcomer) {
    test_loop loop;
    semaphore sem(0);
    std::vector<int> order;
    std::optional<task<void>> t4;
    auto c4 = [&]() -> coro<void> {
        order.push_back(4);
        co_return;
    };
    auto c1 = [&]() -> coro<void> {
        EXPECT_EQ(sem.value(), 0);
        co_await sem.acquire();
        EXPECT_EQ(sem.value(), 0);  // every waiter it fits was woken
        t4 = create_task(c4());
        order.push_back(1);
    };
    auto c2 = [&]() -> coro<void> {
        sem.release();
        sem.release();
        sem.release();
        EXPECT_EQ(sem.value(), 2);
        EXPECT_TRUE(sem.locked());  // c1 was woken but has not run
        co_await sem.acquire();
        order.push_back(2);
    };
    auto c3 = [&]() -> coro<void> {
        co_await sem.acquire();
        EXPECT_TRUE(sem.locked());
        order.push_back(3);
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(c1());
        auto t2 = create_task(c2());
        auto t3 = create_task(c3());
        co_await sleep(0);
        EXPECT_EQ(sem.value(), 2);
        co_await sleep(0);
        co_await gather(t1, t2, t3);
        EXPECT_TRUE(t4.has_value());
        if (t4) co_await *t4;
    }());
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace duet::test
