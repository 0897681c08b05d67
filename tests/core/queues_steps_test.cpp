// CPython 3.13's Lib/test/test_asyncio/test_queues.py, case by case, on the virtual clock.
// Each TEST names the case it ports; the join and shutdown mixins (run there for Queue,
// LifoQueue and PriorityQueue) are typed tests over the three queues.
// Skipped, as they test Python-only things:
// - QueueBasicTests.test_repr, test_str: repr()/str() of a queue object;
// - QueueBasicTests.test_generic_alias: `asyncio.Queue[int]` is a types.GenericAlias;
// - _QueueJoinTestMixin.test_format, _QueueShutdownTestMixin.test_format: the private
//   _format() helper of repr().
// Cases that reach into the private _getters/_putters deques check what can be observed
// instead (who gets woken, and that nothing stale is woken later).
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

// ---------------------------------------------------------------- QueueBasicTests

// QueueBasicTests.test_empty
TEST(QueuesSteps, Empty) {
    test_loop loop;
    queue<int> q;
    loop.run_until_complete([&]() -> coro<void> {
        EXPECT_TRUE(q.empty());
        co_await q.put(1);
        EXPECT_FALSE(q.empty());
        EXPECT_EQ(1, co_await q.get());
        EXPECT_TRUE(q.empty());
    }());
}

// QueueBasicTests.test_full
TEST(QueuesSteps, Full) {
    test_loop loop;
    queue<int> unbounded;
    queue<int> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        EXPECT_FALSE(unbounded.full());
        co_await q.put(1);
        EXPECT_TRUE(q.full());
    }());
}

// test_order of each queue kind: 1, 3, 2 put, three gets, in the order `expected`.
template <class Q>
void expect_order(const std::vector<int>& expected) {
    test_loop loop;
    Q q;
    loop.run_until_complete([&]() -> coro<void> {
        for (int i : {1, 3, 2}) co_await q.put(i);
        std::vector<int> items;
        for (int i = 0; i < 3; ++i) items.push_back(co_await q.get());
        EXPECT_EQ(items, expected);
    }());
}

// QueueBasicTests.test_order
TEST(QueuesSteps, Order) {
    expect_order<queue<int>>({1, 3, 2});
}

// QueueBasicTests.test_maxsize
TEST(QueuesSteps, Maxsize) {
    test_loop loop;
    queue<int> q(2);
    EXPECT_EQ(2u, q.maxsize());
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
        // The putter is blocked after putting two items.
        EXPECT_EQ(have_been_put, (std::vector<int>{0, 1}));
        EXPECT_EQ(0, co_await q.get());
        // Let the putter resume and put the last item.
        co_await sleep(0);
        EXPECT_EQ(have_been_put, (std::vector<int>{0, 1, 2}));
        EXPECT_EQ(1, co_await q.get());
        EXPECT_EQ(2, co_await q.get());
        EXPECT_TRUE(t.done());
        EXPECT_TRUE(t.result());
    }());
}

// ---------------------------------------------------------------- QueueGetTests

// QueueGetTests.test_blocking_get
TEST(QueuesSteps, BlockingGet) {
    test_loop loop;
    queue<int> q;
    q.put_nowait(1);
    EXPECT_EQ(1, loop.run_until_complete(q.get()));
}

// QueueGetTests.test_get_with_putters (a real waiting putter instead of a bare future
// appended to _putters): the get wakes it, and it has put its item one turn later.
TEST(QueuesSteps, GetWithPutters) {
    test_loop loop;
    queue<int> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        co_await q.put(1);
        auto putter = create_task(q.put(2));
        co_await sleep(0);
        EXPECT_FALSE(putter.done());
        EXPECT_EQ(1, co_await q.get());
        co_await sleep(0);
        EXPECT_TRUE(putter.done());
        EXPECT_EQ(q.get_nowait(), 2);
    }());
}

// QueueGetTests.test_blocking_get_wait
TEST(QueuesSteps, BlockingGetWait) {
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
        auto queue_get_task = create_task(queue_get());
        co_await started.wait();
        EXPECT_FALSE(finished);
        get_running_loop().call_later(0.01, [&] { q.put_nowait(1); });
        int res = co_await queue_get_task;
        EXPECT_TRUE(finished);
        EXPECT_EQ(1, res);
        EXPECT_DOUBLE_EQ(0.01, get_running_loop().time());
    }());
}

// QueueGetTests.test_nonblocking_get
TEST(QueuesSteps, NonblockingGet) {
    queue<int> q;
    q.put_nowait(1);
    EXPECT_EQ(1, q.get_nowait());
}

// QueueGetTests.test_nonblocking_get_exception
TEST(QueuesSteps, NonblockingGetException) {
    queue<int> q;
    EXPECT_THROW(q.get_nowait(), queue_empty);
}

// QueueGetTests.test_get_cancelled_race
TEST(QueuesSteps, GetCancelledRace) {
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
        EXPECT_EQ("a", co_await t2);
        EXPECT_TRUE(q.empty());
    }());
}

// QueueGetTests.test_get_with_waiting_putters
TEST(QueuesSteps, GetWithWaitingPutters) {
    test_loop loop;
    queue<std::string> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        auto a = create_task(q.put("a"));
        auto b = create_task(q.put("b"));
        EXPECT_EQ(co_await q.get(), "a");
        EXPECT_EQ(co_await q.get(), "b");
        co_await b;
        EXPECT_TRUE(a.done());
        co_await a;
    }());
}

// QueueGetTests.test_why_are_getters_waiting
TEST(QueuesSteps, WhyAreGettersWaiting) {
    test_loop loop;
    queue<int> q(1);
    constexpr int producer_num_items = 5;
    int consumed = 0;
    auto consumer = [&](int num_expected) -> coro<void> {
        for (int i = 0; i < num_expected; ++i) {
            co_await q.get();
            ++consumed;
        }
    };
    auto producer = [&](int num_items) -> coro<void> {
        for (int i = 0; i < num_items; ++i) co_await q.put(i);
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await with_task_group([&](task_group& tg) -> coro<void> {
            tg.create_task(producer(producer_num_items));
            tg.create_task(consumer(producer_num_items));
            co_return;
        });
        EXPECT_EQ(consumed, producer_num_items);
    }());
}

// QueueGetTests.test_cancelled_getters_not_being_held_in_self_getters (no _getters to
// count: the timed-out getter is not woken by the next put, whose item stays queued)
TEST(QueuesSteps, CancelledGettersNotBeingHeld) {
    test_loop loop;
    queue<int> q(5);
    loop.run_until_complete([&]() -> coro<void> {
        EXPECT_THROW(co_await wait_for(q.get(), 0.1), timeout_error);
        q.put_nowait(1);
        EXPECT_EQ(q.qsize(), 1u);
        co_await sleep(0);
        EXPECT_EQ(q.qsize(), 1u) << "a stale getter took the item";
        auto g = create_task(q.get());
        q.put_nowait(2);
        EXPECT_EQ(co_await g, 1);
        EXPECT_EQ(q.get_nowait(), 2);
    }());
}

// ---------------------------------------------------------------- QueuePutTests

// QueuePutTests.test_blocking_put
TEST(QueuesSteps, BlockingPut) {
    test_loop loop;
    queue<int> q;
    loop.run_until_complete([&]() -> coro<void> {
        // No maxsize, won't block.
        co_await q.put(1);
        EXPECT_EQ(1, co_await q.get());
    }());
}

// QueuePutTests.test_blocking_put_wait
TEST(QueuesSteps, BlockingPutWait) {
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
        auto queue_put_task = create_task(queue_put());
        co_await started.wait();
        EXPECT_FALSE(finished);
        co_await queue_put_task;
        EXPECT_TRUE(finished);
        EXPECT_DOUBLE_EQ(0.01, get_running_loop().time());
        EXPECT_EQ(q.get_nowait(), 2);
    }());
}

// QueuePutTests.test_nonblocking_put
TEST(QueuesSteps, NonblockingPut) {
    queue<int> q;
    q.put_nowait(1);
    EXPECT_EQ(1, q.get_nowait());
}

// QueuePutTests.test_get_cancel_drop_one_pending_reader
TEST(QueuesSteps, GetCancelDropOnePendingReader) {
    test_loop loop;
    queue<int> q;
    loop.run_until_complete([&]() -> coro<void> {
        auto reader = create_task(q.get());
        co_await sleep(0);
        q.put_nowait(1);
        q.put_nowait(2);
        reader.cancel();
        bool was_cancelled = false;
        try {
            co_await reader;
        } catch (const cancelled_error&) {
            was_cancelled = true;
        }
        EXPECT_TRUE(was_cancelled);  // as in asyncio: woken, then cancelled
        if (was_cancelled) {
            // try again
            reader = create_task(q.get());
            co_await reader;
        }
        // if we get 2, it means 1 got dropped!
        EXPECT_EQ(1, reader.result());
        EXPECT_EQ(q.qsize(), 1u);
    }());
}

// QueuePutTests.test_get_cancel_drop_many_pending_readers
TEST(QueuesSteps, GetCancelDropManyPendingReaders) {
    test_loop loop;
    queue<int> q;
    task<int> reader1, reader2, reader3;
    loop.run_until_complete([&]() -> coro<void> {
        co_await with_task_group([&](task_group& tg) -> coro<void> {
            reader1 = tg.create_task(q.get());
            reader2 = tg.create_task(q.get());
            reader3 = tg.create_task(q.get());
            co_await sleep(0);
            q.put_nowait(1);
            q.put_nowait(2);
            reader1.cancel();
            EXPECT_THROW(co_await reader1, cancelled_error);
            co_await reader3;
        });
        // It is undefined in which order concurrent readers receive results.
        EXPECT_EQ((std::set<int>{reader2.result(), reader3.result()}), (std::set<int>{1, 2}));
        EXPECT_TRUE(q.empty());
    }());
}

// QueuePutTests.test_put_cancel_drop
TEST(QueuesSteps, PutCancelDrop) {
    test_loop loop;
    queue<int> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait(1);
        // putting a second item in the queue has to block (qsize=1)
        auto writer = create_task(q.put(2));
        co_await sleep(0);
        EXPECT_EQ(q.get_nowait(), 1);
        writer.cancel();
        bool was_cancelled = false;
        try {
            co_await writer;
        } catch (const cancelled_error&) {
            was_cancelled = true;
        }
        EXPECT_TRUE(was_cancelled);
        if (was_cancelled) {
            // try again
            writer = create_task(q.put(2));
            co_await writer;
        }
        EXPECT_EQ(q.get_nowait(), 2);
        EXPECT_EQ(q.qsize(), 0u);
    }());
}

// QueuePutTests.test_nonblocking_put_exception
TEST(QueuesSteps, NonblockingPutException) {
    queue<int> q(1);
    q.put_nowait(1);
    EXPECT_THROW(q.put_nowait(2), queue_full);
}

// QueuePutTests.test_float_maxsize: maxsize is an integer in duet (docs/queues.md);
// asyncio's maxsize=1.3 holds two items, as maxsize 2 does.
TEST(QueuesSteps, FloatMaxsize) {
    static_assert(std::is_same_v<decltype(queue<int>(2).maxsize()), std::size_t>);
    test_loop loop;
    queue<int> q(2);
    q.put_nowait(1);
    q.put_nowait(2);
    EXPECT_TRUE(q.full());
    EXPECT_THROW(q.put_nowait(3), queue_full);
    queue<int> q2(2);
    loop.run_until_complete([&]() -> coro<void> {
        co_await q2.put(1);
        co_await q2.put(2);
        EXPECT_TRUE(q2.full());
    }());
}

// QueuePutTests.test_put_cancelled
TEST(QueuesSteps, PutCancelled) {
    test_loop loop;
    queue<int> q;
    auto queue_put = [&]() -> coro<bool> {
        co_await q.put(1);
        co_return true;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(queue_put());
        EXPECT_EQ(1, co_await q.get());
        EXPECT_TRUE(t.done());
        EXPECT_TRUE(t.result());
    }());
}

// QueuePutTests.test_put_cancelled_race
TEST(QueuesSteps, PutCancelledRace) {
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

// QueuePutTests.test_put_with_waiting_getters
TEST(QueuesSteps, PutWithWaitingGetters) {
    test_loop loop;
    queue<std::string> q;
    loop.run_until_complete([&]() -> coro<void> {
        auto t = create_task(q.get());
        co_await sleep(0);
        co_await q.put("a");
        EXPECT_EQ(co_await t, "a");
    }());
}

// QueuePutTests.test_why_are_putters_waiting
TEST(QueuesSteps, WhyArePuttersWaiting) {
    test_loop loop;
    queue<int> q(2);
    auto putter = [&](int item) -> coro<void> { co_await q.put(item); };
    auto getter = [&]() -> coro<void> {
        co_await sleep(0);
        const std::size_t num = q.qsize();
        for (std::size_t i = 0; i < num; ++i) (void)q.get_nowait();
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await with_task_group([&](task_group& tg) -> coro<void> {
            tg.create_task(getter());
            tg.create_task(putter(0));
            tg.create_task(putter(1));
            tg.create_task(putter(2));
            tg.create_task(putter(3));
            co_return;
        });
        EXPECT_EQ(q.qsize(), 2u);
        EXPECT_EQ(q.get_nowait(), 2);
        EXPECT_EQ(q.get_nowait(), 3);
    }());
}

// QueuePutTests.test_cancelled_puts_not_being_held_in_self_putters (no _putters to count:
// the cancelled putter is not woken, and puts nothing, when room is made)
TEST(QueuesSteps, CancelledPutsNotBeingHeld) {
    test_loop loop;
    queue<int> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait(1);
        auto put_task = create_task(q.put(2));
        co_await sleep(0);
        EXPECT_FALSE(put_task.done());
        put_task.cancel();
        EXPECT_THROW(co_await put_task, cancelled_error);
        EXPECT_EQ(q.get_nowait(), 1);
        co_await sleep(0);
        EXPECT_TRUE(q.empty());
        q.put_nowait(3);
        EXPECT_EQ(q.get_nowait(), 3);
    }());
}

// QueuePutTests.test_cancelled_put_silence_value_error_exception
TEST(QueuesSteps, CancelledPutAfterItsWakeUpRaisesCancelled) {
    test_loop loop;
    queue<int> q(1);
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait(1);
        auto put_task = create_task(q.put(1));
        co_await sleep(0);
        (void)q.get_nowait();  // wakes put_task
        put_task.cancel();
        EXPECT_THROW(co_await put_task, cancelled_error);
        EXPECT_TRUE(q.empty());
    }());
}

// ---------------------------------------------------------------- Lifo / Priority

// LifoQueueTests.test_order
TEST(QueuesSteps, LifoOrder) {
    expect_order<lifo_queue<int>>({2, 3, 1});
}

// PriorityQueueTests.test_order
TEST(QueuesSteps, PriorityOrder) {
    expect_order<priority_queue<int>>({1, 2, 3});
}

// Not a CPython case: PriorityQueue is heapq's heap, so items that compare equal come out
// in heapq's order (here: a job ordered by its priority only, asyncio's
// `@dataclass(order=True)` with a `field(compare=False)` payload), on every target.
TEST(QueuesSteps, PriorityTiesComeOutInHeapqOrder) {
    struct job {
        int priority;
        char name;
    };
    struct by_priority {
        bool operator()(const job& a, const job& b) const { return a.priority < b.priority; }
    };
    priority_queue<job, by_priority> q;
    for (auto [p, n] : std::vector<std::pair<int, char>>{
             {1, 'a'}, {1, 'b'}, {1, 'c'}, {0, 'd'}, {1, 'e'}, {1, 'f'}, {0, 'g'}, {1, 'h'}, {1, 'i'}})
        q.put_nowait(job{p, n});
    std::string order;
    while (!q.empty()) order += q.get_nowait().name;
    // asyncio.PriorityQueue, same puts: d g c i f h e a b
    EXPECT_EQ(order, "dgcifheab");
    // Puts and gets interleaved ("-" is a get_nowait).
    order.clear();
    const std::string ops =
        "2a 1b 2c 1d - 0e 2f 1g 2h - - 1i 0j 2k 1l 0m - 2n 1o 1p - - - 0q 2r 1s - 1t 2u - - - - - - - - - - ";
    for (std::size_t i = 0; i < ops.size(); i += ops[i] == '-' ? 2 : 3) {
        if (ops[i] == '-')
            order += q.get_nowait().name;
        else
            q.put_nowait(job{ops[i] - '0', ops[i + 1]});
    }
    EXPECT_EQ(order, "begjmdiqstplohuank");
    EXPECT_EQ(q.qsize(), 3u);
}

// ---------------------------------------------------------------- _QueueJoinTestMixin

template <class Q>
class QueuesJoinSteps : public ::testing::Test {};
using int_queues = ::testing::Types<queue<int>, lifo_queue<int>, priority_queue<int>>;
TYPED_TEST_SUITE(QueuesJoinSteps, int_queues);

// _QueueJoinTestMixin.test_task_done_underflow
TYPED_TEST(QueuesJoinSteps, TaskDoneUnderflow) {
    TypeParam q;
    EXPECT_THROW(q.task_done(), std::invalid_argument);
}

// _QueueJoinTestMixin.test_task_done
TYPED_TEST(QueuesJoinSteps, TaskDone) {
    test_loop loop;
    TypeParam q;
    for (int i = 0; i < 100; ++i) q.put_nowait(i);
    int accumulator = 0;
    // Two workers get items from the queue and call task_done after each.
    // Join the queue and assert all items have been processed.
    bool running = true;
    auto worker = [&]() -> coro<void> {
        while (running) {
            int item = co_await q.get();
            accumulator += item;
            q.task_done();
        }
    };
    loop.run_until_complete([&]() -> coro<void> {
        co_await with_task_group([&](task_group& tg) -> coro<void> {
            tg.create_task(worker());
            tg.create_task(worker());
            co_await q.join();
            EXPECT_EQ(4950, accumulator);
            // close running workers
            running = false;
            for (int i = 0; i < 2; ++i) q.put_nowait(0);
        });
        // the workers' last two items are done too: join returns again
        co_await q.join();
    }());
    EXPECT_THROW(q.task_done(), std::invalid_argument);
}

// _QueueJoinTestMixin.test_join_empty_queue
TYPED_TEST(QueuesJoinSteps, JoinEmptyQueue) {
    test_loop loop;
    TypeParam q;
    // A queue join()s successfully, and before anything else (done twice for insurance).
    loop.run_until_complete([&]() -> coro<void> {
        co_await q.join();
        co_await q.join();
        EXPECT_DOUBLE_EQ(0.0, get_running_loop().time());
    }());
}

// ---------------------------------------------------------------- _QueueShutdownTestMixin

template <class Q>
class QueuesShutdownSteps : public ::testing::Test {};
using string_queues = ::testing::Types<queue<std::string>, lifo_queue<std::string>, priority_queue<std::string>>;
TYPED_TEST_SUITE(QueuesShutdownSteps, string_queues);

// _QueueShutdownTestMixin.test_shutdown_empty
TYPED_TEST(QueuesShutdownSteps, ShutdownEmpty) {
    test_loop loop;
    TypeParam q;
    loop.run_until_complete([&]() -> coro<void> {
        auto get_task = create_task(q.get());
        co_await sleep(0);  // want get task pending before shutdown
        q.shutdown(false);  // unfinished tasks: 0 -> 0
        EXPECT_EQ(q.qsize(), 0u);
        co_await q.join();
        co_await sleep(0);
        EXPECT_TRUE(get_task.done());
        EXPECT_THROW(co_await get_task, queue_shut_down);
        EXPECT_THROW(co_await q.put("data"), queue_shut_down);
        EXPECT_THROW(q.put_nowait("data"), queue_shut_down);
        EXPECT_THROW(co_await q.get(), queue_shut_down);
        EXPECT_THROW(q.get_nowait(), queue_shut_down);
    }());
}

// _QueueShutdownTestMixin.test_shutdown_nonempty
TYPED_TEST(QueuesShutdownSteps, ShutdownNonempty) {
    test_loop loop;
    TypeParam q(1);
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait("data");
        auto join_task = create_task(q.join());
        auto put_task = create_task(q.put("data2"));
        co_await sleep(0);
        EXPECT_FALSE(put_task.done());
        q.shutdown(false);  // unfinished tasks: 1 -> 1
        EXPECT_EQ(q.qsize(), 1u);
        co_await sleep(0);
        EXPECT_TRUE(put_task.done());
        EXPECT_THROW(co_await put_task, queue_shut_down);
        // get() succeeds on the enqueued item
        EXPECT_EQ(co_await q.get(), "data");
        co_await sleep(0);
        EXPECT_FALSE(join_task.done());
        EXPECT_THROW(co_await q.put("data"), queue_shut_down);
        EXPECT_THROW(q.put_nowait("data"), queue_shut_down);
        EXPECT_THROW(co_await q.get(), queue_shut_down);
        EXPECT_THROW(q.get_nowait(), queue_shut_down);
        // one unfinished task, then join() succeeds
        q.task_done();
        co_await sleep(0);
        EXPECT_TRUE(join_task.done());
        co_await join_task;
        EXPECT_THROW(q.task_done(), std::invalid_argument);
    }());
}

// _QueueShutdownTestMixin.test_shutdown_immediate
TYPED_TEST(QueuesShutdownSteps, ShutdownImmediate) {
    test_loop loop;
    TypeParam q;
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait("data");
        auto join_task = create_task(q.join());
        q.shutdown(true);  // unfinished tasks: 1 -> 0
        EXPECT_EQ(q.qsize(), 0u);
        co_await sleep(0);
        EXPECT_TRUE(join_task.done());
        co_await join_task;
        EXPECT_THROW(co_await q.put("data"), queue_shut_down);
        EXPECT_THROW(q.put_nowait("data"), queue_shut_down);
        EXPECT_THROW(co_await q.get(), queue_shut_down);
        EXPECT_THROW(q.get_nowait(), queue_shut_down);
        // no unfinished tasks
        EXPECT_THROW(q.task_done(), std::invalid_argument);
    }());
}

// _QueueShutdownTestMixin.test_shutdown_immediate_with_unfinished
TYPED_TEST(QueuesShutdownSteps, ShutdownImmediateWithUnfinished) {
    test_loop loop;
    TypeParam q;
    loop.run_until_complete([&]() -> coro<void> {
        q.put_nowait("data");
        q.put_nowait("data");
        auto join_task = create_task(q.join());
        EXPECT_EQ(co_await q.get(), "data");
        q.shutdown(true);  // unfinished tasks: 2 -> 1
        EXPECT_EQ(q.qsize(), 0u);
        co_await sleep(0);
        EXPECT_FALSE(join_task.done());
        EXPECT_THROW(co_await q.put("data"), queue_shut_down);
        EXPECT_THROW(q.put_nowait("data"), queue_shut_down);
        EXPECT_THROW(co_await q.get(), queue_shut_down);
        EXPECT_THROW(q.get_nowait(), queue_shut_down);
        // one unfinished task
        q.task_done();
        EXPECT_THROW(q.task_done(), std::invalid_argument);
        co_await sleep(0);
        EXPECT_TRUE(join_task.done());
        co_await join_task;
    }());
}

}  // namespace
}  // namespace duet::test
