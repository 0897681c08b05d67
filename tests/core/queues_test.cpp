// asyncio's queues.
#include <memory>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

TEST(Queue, FifoLifoAndPriorityOrder) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        queue<int> q;
        lifo_queue<int> l;
        priority_queue<int> p;
        for (int v : {3, 1, 2}) {
            co_await q.put(v);
            co_await l.put(v);
            co_await p.put(v);
        }
        std::vector<int> a, b, c;
        for (int i = 0; i < 3; ++i) {
            a.push_back(co_await q.get());
            b.push_back(co_await l.get());
            c.push_back(co_await p.get());
        }
        EXPECT_EQ(a, (std::vector<int>{3, 1, 2}));
        EXPECT_EQ(b, (std::vector<int>{2, 1, 3}));
        EXPECT_EQ(c, (std::vector<int>{1, 2, 3}));
    }());
}

TEST(Queue, NowaitErrorsAndSizes) {
    queue<std::string> q(2);
    EXPECT_EQ(q.maxsize(), 2u);
    EXPECT_TRUE(q.empty());
    EXPECT_THROW(q.get_nowait(), queue_empty);
    q.put_nowait("a");
    q.put_nowait("b");
    EXPECT_TRUE(q.full());
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_THROW(q.put_nowait("c"), queue_full);
    EXPECT_EQ(q.get_nowait(), "a");
    EXPECT_FALSE(q.full());
    queue<int> unbounded(-3);
    EXPECT_EQ(unbounded.maxsize(), 0u);
    for (int i = 0; i < 1000; ++i) unbounded.put_nowait(i);
    EXPECT_FALSE(unbounded.full());
}

TEST(Queue, ProducerConsumerWithBoundedQueue) {
    test_loop loop;
    queue<int> q(1);
    std::vector<int> got;
    auto producer = [&]() -> coro<void> {
        for (int i = 0; i < 5; ++i) co_await q.put(i);
    };
    auto consumer = [&]() -> coro<void> {
        for (int i = 0; i < 5; ++i) got.push_back(co_await q.get());
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto c = create_task(consumer());
        auto p = create_task(producer());
        co_await p;
        co_await c;
    }());
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(Queue, MoveOnlyItems) {
    test_loop loop;
    queue<std::unique_ptr<int>> q;
    loop.run_until_complete([&]() -> coro<void> {
        co_await q.put(std::make_unique<int>(5));
        auto p = co_await q.get();
        EXPECT_EQ(*p, 5);
    }());
}

TEST(Queue, JoinWaitsForTaskDone) {
    test_loop loop;
    queue<int> q;
    std::vector<int> done;
    bool joined = false;
    auto worker = [&]() -> coro<void> {
        for (;;) {
            int v = co_await q.get();
            co_await sleep(0);
            done.push_back(v);
            q.task_done();
        }
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await q.join();  // nothing put: returns at once
        auto w = create_task(worker());
        for (int i = 0; i < 3; ++i) q.put_nowait(i);
        co_await q.join();
        joined = true;
        EXPECT_EQ(done.size(), 3u);
        w.cancel();
    }());
    EXPECT_TRUE(joined);
    EXPECT_THROW(q.task_done(), std::invalid_argument);
}

TEST(Queue, CancelledGetDoesNotLoseTheItem) {
    test_loop loop;
    queue<int> q;
    loop.run_until_complete([&]() -> coro<void> {
        auto g1 = create_task(q.get());
        auto g2 = create_task(q.get());
        co_await sleep(0);
        q.put_nowait(42);  // wakes g1...
        g1.cancel();       // ...which is cancelled before it can take the item
        EXPECT_EQ(co_await g2, 42);
        EXPECT_TRUE(g1.cancelled());
        EXPECT_TRUE(q.empty());
    }());
}

TEST(Queue, CancelledPutLeavesRoomForTheNext) {
    test_loop loop;
    queue<int> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait(0);
        auto p1 = create_task(q.put(1));
        auto p2 = create_task(q.put(2));
        co_await sleep(0);
        EXPECT_EQ(q.get_nowait(), 0);  // wakes p1...
        p1.cancel();                   // ...cancelled: p2 must get the slot
        co_await p2;
        EXPECT_TRUE(p1.cancelled());
        EXPECT_EQ(q.get_nowait(), 2);
    }());
}

TEST(Queue, ShutdownStopsPutsAndDrainsGets) {
    test_loop loop;
    queue<int> q;
    loop.run_until_complete([&]() -> coro<void> {
        auto blocked = create_task(q.get());
        co_await sleep(0);
        q.put_nowait(1);
        q.put_nowait(2);
        q.shutdown();
        EXPECT_TRUE(q.is_shut_down());
        EXPECT_THROW(q.put_nowait(3), queue_shut_down);
        EXPECT_EQ(co_await blocked, 1);
        EXPECT_EQ(co_await q.get(), 2);
        try {
            co_await q.get();
            ADD_FAILURE() << "get on an empty shut-down queue must raise";
        } catch (const queue_shut_down&) {
        }
        EXPECT_THROW(q.get_nowait(), queue_shut_down);
    }());
}

TEST(Queue, ShutdownWakesBlockedGettersAndPutters) {
    test_loop loop;
    queue<int> q(1);
    queue<int> e;
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait(0);
        auto putter = create_task(q.put(1));
        auto getter = create_task(e.get());
        co_await sleep(0);
        q.shutdown();
        e.shutdown();
        EXPECT_THROW(co_await putter, queue_shut_down);
        EXPECT_THROW(co_await getter, queue_shut_down);
    }());
}

TEST(Queue, ImmediateShutdownDropsItemsAndReleasesJoin) {
    test_loop loop;
    queue<int> q;
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait(1);
        q.put_nowait(2);
        auto joiner = create_task(q.join());
        co_await sleep(0);
        EXPECT_FALSE(joiner.done());
        q.shutdown(true);
        EXPECT_TRUE(q.empty());
        co_await joiner;
        EXPECT_THROW(q.get_nowait(), queue_shut_down);
    }());
}

// asyncio's `while q.empty(): await getter` loop: a getter woken by a put finds the item
// taken by get_nowait before it ran, and waits again -- behind the getters already queued.
TEST(Queue, WokenGetterRobbedOfItsItemWaitsAgainAtTheBack) {
    test_loop loop;
    queue<int> q;
    std::vector<std::string> order;
    auto getter = [&](std::string name) -> coro<void> {
        int v = co_await q.get();
        order.push_back(name + "=" + std::to_string(v));
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto a = create_task(getter("a"));
        co_await sleep(0);
        auto b = create_task(getter("b"));
        co_await sleep(0);
        q.put_nowait(1);               // wakes a...
        EXPECT_EQ(q.get_nowait(), 1);  // ...whose item is gone when it runs
        co_await sleep(0);
        EXPECT_FALSE(a.done());
        EXPECT_TRUE(order.empty());
        q.put_nowait(2);  // b was first in line now
        co_await sleep(0);
        EXPECT_EQ(order, (std::vector<std::string>{"b=2"}));
        EXPECT_FALSE(a.done());
        q.put_nowait(3);
        co_await a;
        co_await b;
        EXPECT_EQ(order, (std::vector<std::string>{"b=2", "a=3"}));
    }());
}

TEST(Queue, WokenPutterRobbedOfItsRoomWaitsAgain) {
    test_loop loop;
    queue<int> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait(0);
        auto p = create_task(q.put(1));
        co_await sleep(0);
        EXPECT_EQ(q.get_nowait(), 0);  // wakes p...
        q.put_nowait(9);               // ...whose room is gone when it runs
        co_await sleep(0);
        co_await sleep(0);
        EXPECT_FALSE(p.done());
        EXPECT_EQ(q.qsize(), 1u);
        EXPECT_EQ(q.get_nowait(), 9);
        co_await p;
        EXPECT_EQ(q.get_nowait(), 1);
    }());
}

// A getter that waits again after a recheck is still cancellable, and leaves the queue
// with no waiter behind.
TEST(Queue, RewaitingGetterCanBeCancelled) {
    test_loop loop;
    queue<int> q;
    loop.run_until_complete([&]() -> coro<void> {
        auto g = create_task(q.get());
        co_await sleep(0);
        q.put_nowait(1);
        (void)q.get_nowait();
        co_await sleep(0);  // g rechecked and waits again
        EXPECT_FALSE(g.done());
        g.cancel();
        EXPECT_THROW(co_await g, cancelled_error);
        q.put_nowait(2);  // nobody to wake: the item stays
        EXPECT_EQ(q.get_nowait(), 2);
    }());
}

// Cancelled after the wake-up was queued but before it ran: the recheck is skipped, the
// task raises cancelled_error, and the item goes to the next getter.
TEST(Queue, GetterCancelledBeforeItsRecheckPassesTheItemOn) {
    test_loop loop;
    queue<int> q;
    loop.run_until_complete([&]() -> coro<void> {
        auto a = create_task(q.get());
        auto b = create_task(q.get());
        co_await sleep(0);
        q.put_nowait(7);  // wakes a
        a.cancel("stop");
        EXPECT_EQ(co_await b, 7);
        try {
            co_await a;
            ADD_FAILURE() << "a must be cancelled";
        } catch (const cancelled_error& e) {
            EXPECT_EQ(e.message(), "stop");
        }
    }());
}

TEST(Queue, GetAndPutGoWhereverACoroutineGoes) {
    test_loop loop;
    queue<std::unique_ptr<int>> q(1);
    loop.run_until_complete(q.put(std::make_unique<int>(1)));
    EXPECT_THROW(loop.run_until_complete(wait_for(q.put(std::make_unique<int>(2)), 0.5)), timeout_error);
    EXPECT_EQ(q.qsize(), 1u);
    auto late = loop.create_task(q.put(std::make_unique<int>(3)));
    EXPECT_EQ(*loop.run_until_complete(q.get()), 1);
    loop.run_until_complete(late);
    coro<std::unique_ptr<int>> as_coro = q.get();
    EXPECT_EQ(*loop.run_until_complete(std::move(as_coro)), 3);
    EXPECT_THROW(loop.run_until_complete(wait_for(q.get(), 0.5)), timeout_error);
    auto g = loop.create_task(q.get());
    loop.call_soon([&] { q.put_nowait(std::make_unique<int>(4)); });
    EXPECT_EQ(*loop.run_until_complete(g), 4);
    // Three items went in (the timed-out put added none). join() is an event wait: it
    // waits for the third task_done(), then returns at once.
    q.task_done();
    q.task_done();
    auto joiner = loop.create_task(q.join());
    loop.run_until_complete(sleep(0));
    EXPECT_FALSE(joiner.done());
    q.task_done();
    loop.run_until_complete(joiner);
    loop.run_until_complete(q.join());
    EXPECT_THROW(q.task_done(), std::invalid_argument);
}

TEST(Queue, AwaitingOutsideATaskIsAnError) {
    test_loop loop;
    queue<int> q;
    // Awaited from a coroutine that no task runs (driven by hand): refused, nothing queued.
    auto get = [&]() -> coro<int> { co_return co_await q.get(); };  // outlives its coroutine
    auto body = get();
    auto h = body.release();
    h.resume();
    EXPECT_TRUE(h.done());
    EXPECT_THROW(std::rethrow_exception(h.promise().exception_), std::runtime_error);
    h.destroy();
    q.put_nowait(1);
    EXPECT_EQ(q.get_nowait(), 1);
}

// test_asyncio's test_why_are_getters_waiting / test_why_are_putters_waiting: producers
// and consumers through a tiny queue never deadlock.
TEST(Queue, GettersAndPuttersThroughATinyQueueNeverDeadlock) {
    test_loop loop;
    loop.run_until_complete([&]() -> coro<void> {
        queue<int> q(1);
        auto producer = [&]() -> coro<void> {
            for (int i = 0; i < 5; ++i) co_await q.put(i);
        };
        auto consumer = [&]() -> coro<int> {
            int sum = 0;
            for (int i = 0; i < 5; ++i) sum += co_await q.get();
            co_return sum;
        };
        auto [nothing, sum] = co_await gather(producer(), consumer());
        (void)nothing;
        EXPECT_EQ(sum, 10);

        queue<int> two(2);
        auto getter = [&]() -> coro<void> {
            co_await sleep(0);
            const std::size_t n = two.qsize();
            for (std::size_t i = 0; i < n; ++i) (void)two.get_nowait();
        };
        co_await gather(getter(), two.put(0), two.put(1), two.put(2), two.put(3));
        EXPECT_EQ(two.qsize(), 2u);
        EXPECT_EQ(two.get_nowait(), 2);
        EXPECT_EQ(two.get_nowait(), 3);
    }());
}

// test_get_with_waiting_putters: a get wakes the first waiting putter, which has put its
// item by the time the next get runs.
TEST(Queue, GetWithWaitingPutters) {
    test_loop loop;
    queue<std::string> q(1);
    auto a = loop.create_task(q.put("a"));
    auto b = loop.create_task(q.put("b"));
    loop.run_until_complete(sleep(0));
    EXPECT_TRUE(a.done());
    EXPECT_FALSE(b.done());
    EXPECT_EQ(loop.run_until_complete(q.get()), "a");
    EXPECT_EQ(loop.run_until_complete(q.get()), "b");
    EXPECT_TRUE(b.done());
}

// test_put_cancelled_race: a cancelled putter does not take the room of the one before it.
TEST(Queue, CancelledPutterBehindAnotherLeavesItsTurn) {
    test_loop loop;
    queue<std::string> q(1);
    auto put_a = loop.create_task(q.put("a"));
    auto put_b = loop.create_task(q.put("b"));
    auto put_x = loop.create_task(q.put("X"));
    loop.run_until_complete(sleep(0));
    EXPECT_TRUE(put_a.done());
    EXPECT_FALSE(put_b.done());
    put_x.cancel();
    loop.run_until_complete(sleep(0));
    EXPECT_TRUE(put_x.cancelled());
    EXPECT_EQ(q.get_nowait(), "a");
    loop.run_until_complete(put_b);
    EXPECT_EQ(q.get_nowait(), "b");
    EXPECT_TRUE(q.empty());
}

// The loop closes while a getter's wake-up (and its recheck) is still queued: the getter
// never runs, its waiter leaves the queue with its frame, and the item stays.
TEST(Queue, ClosingTheLoopWithAWokenGetterLeavesTheItem) {
    auto loop = std::make_unique<test_loop>();
    queue<int> q;
    bool got = false;
    auto getter = [&]() -> coro<void> {
        co_await q.get();
        got = true;
    };
    loop->create_task(getter());
    loop->run_until_complete(sleep(0));
    q.put_nowait(1);  // queues the getter's wake-up
    loop->close();
    loop.reset();
    EXPECT_FALSE(got);
    EXPECT_EQ(q.qsize(), 1u);
    q.put_nowait(2);  // no waiter left to wake
    EXPECT_EQ(q.get_nowait(), 1);
    EXPECT_EQ(q.get_nowait(), 2);
}

}  // namespace
}  // namespace duet::test
