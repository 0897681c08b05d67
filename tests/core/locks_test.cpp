// asyncio's synchronization primitives.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

TEST(Lock, AcquireReleaseAndScoped) {
    test_loop loop;
    lock l;
    loop.run_until_complete([&]() -> coro<void> {
        EXPECT_FALSE(l.locked());
        co_await l.acquire();
        EXPECT_TRUE(l.locked());
        l.release();
        EXPECT_FALSE(l.locked());
        {
            auto held = co_await l.scoped();
            EXPECT_TRUE(l.locked());
        }
        EXPECT_FALSE(l.locked());
    }());
}

TEST(Lock, ReleasingAnUnlockedLockIsAnError) {
    lock l;
    try {
        l.release();
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "Lock is not acquired.");
    }
}

TEST(Lock, WaitersAcquireInFifoOrderAndLateComersDoNotOvertake) {
    test_loop loop;
    lock l;
    std::vector<int> order;
    auto worker = [&](int id) -> coro<void> {
        auto held = co_await l.scoped();
        order.push_back(id);
        co_await sleep(0);
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await l.acquire();
        auto a = create_task(worker(1));
        auto b = create_task(worker(2));
        co_await sleep(0);                // both queued
        l.release();                      // 1 is woken but has not run yet...
        auto c = create_task(worker(3));  // ...so 3 must queue behind 2
        co_await a;
        co_await b;
        co_await c;
    }());
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(Lock, CancelledWaiterLeavesNoTrace) {
    test_loop loop;
    lock l;
    std::vector<int> got;
    auto worker = [&](int id) -> coro<void> {
        co_await l.acquire();
        got.push_back(id);
        l.release();
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await l.acquire();
        auto b = create_task(worker(2));
        auto c = create_task(worker(3));
        co_await sleep(0);
        b.cancel();
        co_await sleep(0);
        EXPECT_TRUE(b.cancelled());
        l.release();
        co_await c;
    }());
    EXPECT_EQ(got, std::vector<int>{3});
    EXPECT_FALSE(l.locked());
}

TEST(Lock, WokenThenCancelledPassesTheWakeUpOn) {
    test_loop loop;
    lock l;
    std::vector<int> got;
    auto worker = [&](int id) -> coro<void> {
        co_await l.acquire();
        got.push_back(id);
        l.release();
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await l.acquire();
        auto b = create_task(worker(2));
        auto c = create_task(worker(3));
        co_await sleep(0);
        l.release();  // wakes b...
        b.cancel();   // ...which is cancelled before it runs
        co_await c;   // c must not hang
        EXPECT_TRUE(b.cancelled());
    }());
    EXPECT_EQ(got, std::vector<int>{3});
}

// acquire() is awaited without a frame, and is also the coroutine it stands for wherever
// one goes (run_until_complete, wait_for, create_task); a timed-out acquire leaves no
// waiter behind.
TEST(Lock, AcquireGoesWhereverACoroutineGoes) {
    test_loop loop;
    lock lk;
    loop.run_until_complete(lk.acquire());
    EXPECT_TRUE(lk.locked());
    EXPECT_THROW(loop.run_until_complete(wait_for(lk.acquire(), 0.5)), timeout_error);
    auto t = loop.create_task(lk.acquire());
    loop.run_until_complete(sleep(0));
    EXPECT_FALSE(t.done());
    lk.release();
    loop.run_until_complete(t);
    EXPECT_TRUE(lk.locked());
    lk.release();
    EXPECT_FALSE(lk.locked());
}

TEST(Semaphore, AcquireGoesWhereverACoroutineGoes) {
    test_loop loop;
    semaphore sem(1);
    loop.run_until_complete(sem.acquire());
    EXPECT_EQ(sem.value(), 0);
    EXPECT_THROW(loop.run_until_complete(wait_for(sem.acquire(), 0.5)), timeout_error);
    EXPECT_EQ(sem.value(), 0);
    auto t = loop.create_task(sem.acquire());
    loop.run_until_complete(sleep(0));
    EXPECT_FALSE(t.done());
    sem.release();
    loop.run_until_complete(t);
    EXPECT_EQ(sem.value(), 0);
    sem.release();
    EXPECT_EQ(sem.value(), 1);
    EXPECT_FALSE(sem.locked());
}

TEST(Event, WaitSetClear) {
    test_loop loop;
    event ev;
    int woken = 0;
    auto waiter = [&]() -> coro<void> {
        co_await ev.wait();
        ++woken;
    };
    loop.run_until_complete([&]() -> coro<void> {
        EXPECT_FALSE(ev.is_set());
        auto a = create_task(waiter());
        auto b = create_task(waiter());
        co_await sleep(0);
        EXPECT_EQ(woken, 0);
        ev.set();
        co_await a;
        co_await b;
        EXPECT_EQ(woken, 2);
        co_await ev.wait();  // already set: returns at once
        ev.clear();
        EXPECT_FALSE(ev.is_set());
        auto c = create_task(waiter());
        co_await sleep(0);
        EXPECT_EQ(woken, 2);
        ev.set();
        co_await c;
        EXPECT_EQ(woken, 3);
    }());
}

TEST(Event, CancelledWaitIsRemoved) {
    test_loop loop;
    event ev;
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(ev.wait());
        co_await sleep(0);
        t.cancel();
        co_await sleep(0);
        EXPECT_TRUE(t.cancelled());
        ev.set();
    }());
}

// Waiters wake their tasks directly (no future per waiter): the cancel message still
// reaches the waiting coroutine, and a later set() wakes only the waiters left.
TEST(Event, CancelledWaitCarriesTheMessageAndLeavesOtherWaiters) {
    test_loop loop;
    event ev;
    std::string got;
    int woken = 0;
    // Named: a lambda coroutine's captures live in the lambda, which must outlive it.
    auto victim_body = [&]() -> coro<void> {
        try {
            co_await ev.wait();
        } catch (const cancelled_error& e) {
            got = e.message();
            throw;
        }
    };
    auto other_body = [&]() -> coro<void> {
        co_await ev.wait();
        ++woken;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto victim = create_task(victim_body());
        auto other = create_task(other_body());
        co_await sleep(0);
        EXPECT_TRUE(victim.cancel("go away"));
        EXPECT_FALSE(victim.done());  // it wakes on the next turn, as from a cancelled future
        co_await sleep(0);
        EXPECT_TRUE(victim.cancelled());
        EXPECT_EQ(got, "go away");
        EXPECT_EQ(woken, 0);
        ev.set();
        co_await other;
        EXPECT_EQ(woken, 1);
    }());
}

// A task that cancels itself and then waits is woken at once with the cancellation.
TEST(Event, WaitAfterSelfCancelRaisesAtOnce) {
    test_loop loop;
    event ev;
    bool raised = false;
    auto body = [&]() -> coro<void> {
        current_task()->cancel("self");
        try {
            co_await ev.wait();
        } catch (const cancelled_error& e) {
            raised = e.message() == "self";
            throw;
        }
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(body());
        co_await sleep(0);
        co_await sleep(0);
        EXPECT_TRUE(t.cancelled());
    }());
    EXPECT_TRUE(raised);
    EXPECT_FALSE(ev.is_set());
}

// An event destroyed while a task waits on it lets the waiter go: the task stays pending
// (nothing can set it any more) and can still be cancelled safely.
TEST(Event, DestroyedWhileWaitedOn) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        auto ev = std::make_unique<event>();
        auto t = create_task(ev->wait());
        co_await sleep(0);
        ev.reset();
        co_await sleep(0);
        EXPECT_FALSE(t.done());
        t.cancel();
        co_await sleep(0);
        EXPECT_TRUE(t.cancelled());
    }());
}

// A waiter woken by set() and cancelled before it ran: the cancellation wins (as in
// asyncio), and the event stays set.
TEST(Event, WokenThenCancelledRaises) {
    test_loop loop;
    event ev;
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(ev.wait());
        co_await sleep(0);
        ev.set();
        EXPECT_TRUE(t.cancel());
        co_await sleep(0);
        EXPECT_TRUE(t.cancelled());
        EXPECT_TRUE(ev.is_set());
    }());
}

TEST(Condition, WaitAndNotifyNeedTheLock) {
    test_loop loop;
    condition cv;
    std::string wait_error, notify_error;
    loop.run_until_complete([&]() -> coro<void> {
        try {
            co_await cv.wait();
        } catch (const std::runtime_error& e) {
            wait_error = e.what();
        }
        try {
            cv.notify();
        } catch (const std::runtime_error& e) {
            notify_error = e.what();
        }
    }());
    EXPECT_EQ(wait_error, "cannot wait on un-acquired lock");
    EXPECT_EQ(notify_error, "cannot notify on un-acquired lock");
}

TEST(Condition, NotifyWakesTheRequestedNumber) {
    test_loop loop;
    condition cv;
    int woken = 0;
    auto waiter = [&]() -> coro<void> {
        auto held = co_await cv.scoped();
        co_await cv.wait();
        EXPECT_TRUE(cv.locked());
        ++woken;
    };
    loop.run_until_complete([&]() -> coro<void> {
        std::vector<task<void>> ts;
        for (int i = 0; i < 3; ++i) ts.push_back(create_task(waiter()));
        co_await sleep(0);
        {
            auto held = co_await cv.scoped();
            cv.notify(1);
        }
        co_await sleep(0);
        co_await sleep(0);
        EXPECT_EQ(woken, 1);
        {
            auto held = co_await cv.scoped();
            cv.notify_all();
        }
        for (auto& t : ts) co_await t;
        EXPECT_EQ(woken, 3);
    }());
}

TEST(Condition, CancelledWaitReacquiresTheLockBeforePropagating) {
    test_loop loop;
    condition cv;
    bool held_when_cancelled = false;
    auto waiter = [&]() -> coro<void> {
        co_await cv.acquire();
        try {
            co_await cv.wait();
        } catch (const cancelled_error&) {
            held_when_cancelled = cv.locked();
            cv.release();
            throw;
        }
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await cv.acquire();  // the waiter cannot re-acquire until we release
        auto t = create_task(waiter());
        cv.release();
        co_await sleep(0);
        co_await cv.acquire();
        t.cancel();
        co_await sleep(0);
        EXPECT_FALSE(t.done()) << "it must wait for the lock first";
        cv.release();
        try {
            co_await t;
        } catch (const cancelled_error&) {
        }
        EXPECT_TRUE(t.cancelled());
    }());
    EXPECT_TRUE(held_when_cancelled);
}

TEST(Condition, WaitGoesWhereverACoroutineGoes) {
    test_loop loop;
    condition cv;
    loop.run_until_complete(cv.acquire());
    auto t = loop.create_task(cv.wait());  // runs while the lock is held: releases it, waits
    loop.run_until_complete(sleep(0));
    EXPECT_FALSE(t.done());
    EXPECT_FALSE(cv.locked());
    loop.run_until_complete(cv.acquire());
    cv.notify();
    cv.release();
    loop.run_until_complete(t);
    EXPECT_TRUE(cv.locked());  // the waiter re-acquired it
    cv.release();
    EXPECT_THROW(loop.run_until_complete(cv.wait()), std::runtime_error);  // without the lock
}

// Cancelled while it waits for a notification, with the lock held by someone else: the
// waiter wakes, queues for the lock behind those already queued, and raises only once it
// holds the lock.
TEST(Condition, CancelledWaiterQueuesForTheLockBehindEarlierAcquirers) {
    test_loop loop;
    condition cv;
    std::vector<std::string> order;
    auto waiter = [&]() -> coro<void> {
        co_await cv.acquire();
        try {
            co_await cv.wait();
        } catch (const cancelled_error&) {
            order.push_back(cv.locked() ? "waiter (locked)" : "waiter (unlocked)");
            cv.release();
            throw;
        }
    };
    auto acquirer = [&]() -> coro<void> {
        co_await cv.acquire();
        order.push_back("acquirer");
        cv.release();
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto w = create_task(waiter());
        co_await sleep(0);
        co_await cv.acquire();
        auto a = create_task(acquirer());
        co_await sleep(0);  // the acquirer queues for the lock
        w.cancel();
        co_await sleep(0);  // the waiter wakes and queues behind it
        co_await sleep(0);
        EXPECT_FALSE(w.done());
        cv.release();
        co_await a;
        EXPECT_THROW(co_await w, cancelled_error);
        EXPECT_TRUE(w.cancelled());
        EXPECT_FALSE(cv.locked());
    }());
    EXPECT_EQ(order, (std::vector<std::string>{"acquirer", "waiter (locked)"}));
}

// Notified, then cancelled before it could run: it raises (holding the lock) and the
// notification goes to the next waiter (Python 3.12+).
TEST(Condition, NotifiedThenCancelledPassesTheNotificationOn) {
    test_loop loop;
    condition cv;
    int woken = 0;
    auto waiter = [&]() -> coro<void> {
        auto held = co_await cv.scoped();
        co_await cv.wait();
        EXPECT_TRUE(cv.locked());
        ++woken;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto w1 = create_task(waiter());
        auto w2 = create_task(waiter());
        co_await sleep(0);
        {
            auto held = co_await cv.scoped();
            cv.notify(1);  // w1
        }
        w1.cancel();
        EXPECT_THROW(co_await w1, cancelled_error);
        co_await w2;
        EXPECT_EQ(woken, 1);
        EXPECT_FALSE(cv.locked());
    }());
}

// A task cancelled before it waits: the wait releases the lock, takes it back at once and
// raises, leaving the lock held (so the caller's release() works).
TEST(Condition, CancelledBeforeWaitingStillReacquires) {
    test_loop loop;
    condition cv;
    bool locked_in_handler = false;
    auto body = [&]() -> coro<void> {
        auto held = co_await cv.scoped();
        current_task()->cancel();
        try {
            co_await cv.wait();
        } catch (const cancelled_error&) {
            locked_in_handler = cv.locked();
            throw;
        }
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(body());
        EXPECT_THROW(co_await t, cancelled_error);
    }());
    EXPECT_TRUE(locked_in_handler);
    EXPECT_FALSE(cv.locked());
}

TEST(Condition, WaitForPredicate) {
    test_loop loop;
    condition cv;
    int value = 0;
    loop.run_until_complete([&]() -> coro<void> {
        // A named lambda: its captures must outlive the coroutine.
        auto body = [&]() -> coro<int> {
            auto held = co_await cv.scoped();
            co_await cv.wait_for([&] { return value >= 3; });
            co_return value;
        };
        auto waiter = create_task(body());
        for (int i = 1; i <= 3; ++i) {
            co_await sleep(0);
            auto held = co_await cv.scoped();
            value = i;
            cv.notify_all();
        }
        EXPECT_EQ(co_await waiter, 3);
    }());
}

TEST(Semaphore, CountsAndWaits) {
    test_loop loop;
    semaphore sem(2);
    int inside = 0, most = 0;
    auto worker = [&]() -> coro<void> {
        auto held = co_await sem.scoped();
        ++inside;
        most = std::max(most, inside);
        co_await sleep(0);
        co_await sleep(0);
        --inside;
    };
    loop.run_until_complete([&]() -> coro<void> {
        EXPECT_FALSE(sem.locked());
        std::vector<task<void>> ts;
        for (int i = 0; i < 6; ++i) ts.push_back(create_task(worker()));
        co_await sleep(0);
        EXPECT_TRUE(sem.locked());
        for (auto& t : ts) co_await t;
    }());
    EXPECT_EQ(most, 2);
    EXPECT_EQ(sem.value(), 2);
    EXPECT_THROW(semaphore(-1), std::invalid_argument);
}

TEST(Semaphore, WokenThenCancelledReturnsTheSlot) {
    test_loop loop;
    semaphore sem(1);
    loop.run_until_complete([&]() -> coro<void> {
        co_await sem.acquire();
        auto b = create_task(sem.acquire());
        auto c = create_task(sem.acquire());
        co_await sleep(0);
        sem.release();  // wakes b
        b.cancel();     // b never runs: its slot must go to c
        co_await c;
        EXPECT_TRUE(b.cancelled());
        EXPECT_EQ(sem.value(), 0);
        sem.release();
        EXPECT_EQ(sem.value(), 1);
    }());
}

TEST(BoundedSemaphore, OverReleaseIsAnError) {
    test_loop loop;
    bounded_semaphore sem(1);
    loop.run_until_complete([&]() -> coro<void> {
        co_await sem.acquire();
        sem.release();
        try {
            sem.release();
            ADD_FAILURE();
        } catch (const std::invalid_argument& e) {
            EXPECT_STREQ(e.what(), "BoundedSemaphore released too many times");
        }
    }());
}

TEST(Barrier, PartiesGetDistinctIndices) {
    test_loop loop;
    barrier b(3);
    std::multiset<std::size_t> indices;
    std::vector<int> after;
    auto party = [&](int id) -> coro<void> {
        indices.insert(co_await b.wait());
        after.push_back(id);
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(party(1));
        auto t2 = create_task(party(2));
        co_await sleep(0);
        co_await sleep(0);
        EXPECT_EQ(b.n_waiting(), 2u);
        EXPECT_TRUE(after.empty());
        auto t3 = create_task(party(3));
        co_await t1;
        co_await t2;
        co_await t3;
        // A second cycle works too.
        auto u1 = create_task(party(4));
        auto u2 = create_task(party(5));
        auto u3 = create_task(party(6));
        co_await u1;
        co_await u2;
        co_await u3;
    }());
    EXPECT_EQ(indices, (std::multiset<std::size_t>{0, 0, 1, 1, 2, 2}));
    EXPECT_EQ(after.size(), 6u);
    EXPECT_EQ(b.parties(), 3u);
    EXPECT_FALSE(b.broken());
    EXPECT_THROW(barrier(0), std::invalid_argument);
}

TEST(Barrier, AbortBreaksCurrentAndFutureWaits) {
    test_loop loop;
    barrier b(3);
    int broken = 0;
    auto party = [&]() -> coro<void> {
        try {
            co_await b.wait();
        } catch (const broken_barrier_error&) {
            ++broken;
        }
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(party());
        co_await sleep(0);
        co_await b.abort();
        co_await t1;
        EXPECT_TRUE(b.broken());
        co_await party();
    }());
    EXPECT_EQ(broken, 2);
}

TEST(Barrier, ResetBreaksWaitersAndRefills) {
    test_loop loop;
    barrier b(2);
    int broken = 0;
    loop.run_until_complete([&]() -> coro<void> {
        auto body = [&]() -> coro<void> {
            try {
                co_await b.wait();
            } catch (const broken_barrier_error&) {
                ++broken;
            }
        };
        auto t1 = create_task(body());
        co_await sleep(0);
        co_await b.reset();
        co_await t1;
        EXPECT_EQ(broken, 1);
        EXPECT_FALSE(b.broken());
        EXPECT_EQ(b.n_waiting(), 0u);
        auto a = create_task(b.wait());
        auto c = create_task(b.wait());
        std::size_t i1 = co_await a, i2 = co_await c;
        EXPECT_EQ(i1 + i2, 1u);
    }());
}

}  // namespace
}  // namespace duet::test
