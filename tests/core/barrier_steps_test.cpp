// barrier through its states (filling, draining, resetting, broken) as test_asyncio's
// BarrierTests drives asyncio.Barrier: parties passing it once and twice, waiters
// cancelled, resets and aborts while tasks wait, drain or block. Scenarios after CPython's
// Lib/test/test_asyncio/test_locks.py.
#include <algorithm>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

constexpr std::size_t N = 5;

// Runs n tasks of body() and gathers them (test_locks' gather_tasks).
template <class Body>
coro<void> run_parties(std::size_t n, Body& body) {
    std::vector<task<void>> ts;
    for (std::size_t i = 0; i < n; ++i) ts.push_back(create_task(body()));
    co_await gather(std::move(ts));
}

TEST(BarrierSteps, OnePartyPassesAtOnceEveryTime) {
    test_loop loop;
    barrier b(1);
    loop.run_until_complete([&]() -> coro<void> {
        EXPECT_EQ(co_await b.wait(), 0u);
        auto t1 = create_task(b.wait());
        co_await sleep(0);
        EXPECT_EQ(b.n_waiting(), 0u);
        auto t2 = create_task(b.wait());
        co_await sleep(0);
        EXPECT_TRUE(t1.done() && t2.done());
        EXPECT_EQ(t1.result(), t2.result());
        EXPECT_EQ(b.n_waiting(), 0u);
        EXPECT_FALSE(b.broken());
    }());
}

TEST(BarrierSteps, FillsTaskByTask) {
    test_loop loop;
    barrier b(3);
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(b.wait());
        co_await sleep(0);
        EXPECT_EQ(b.n_waiting(), 1u);
        auto t2 = create_task(b.wait());
        co_await sleep(0);
        EXPECT_EQ(b.n_waiting(), 2u);
        auto t3 = create_task(b.wait());
        co_await sleep(0);
        co_await gather(t1, t2, t3);
        EXPECT_EQ(b.n_waiting(), 0u);
        EXPECT_FALSE(b.broken());
        std::vector<std::size_t> idx{t1.result(), t2.result(), t3.result()};
        std::sort(idx.begin(), idx.end());
        EXPECT_EQ(idx, (std::vector<std::size_t>{0, 1, 2}));
    }());
}

// Every party passes twice; the indices of the second pass are 0..N-1.
TEST(BarrierSteps, PartiesPassTwiceWithDistinctIndices) {
    test_loop loop;
    barrier b(N);
    int first = 0, second = 0;
    std::vector<std::size_t> indices;
    auto body = [&]() -> coro<void> {
        co_await b.wait();
        ++first;
        indices.push_back(co_await b.wait());
        ++second;
    };
    loop.run_until_complete(run_parties(N, body));
    EXPECT_EQ(first, int(N));
    EXPECT_EQ(second, int(N));
    std::sort(indices.begin(), indices.end());
    EXPECT_EQ(indices, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(b.n_waiting(), 0u);
    EXPECT_FALSE(b.broken());
}

// Tasks coming back to the barrier while it still drains wait for the drain to end; a
// second barrier of N - 2 parties completes only if exactly N - 2 tasks reach it.
TEST(BarrierSteps, ReturningWhileDrainingWaitsForTheNextCycle) {
    test_loop loop;
    barrier b(N);
    barrier others(N - 2);
    int rewait = 2;
    auto body = [&]() -> coro<void> {
        co_await b.wait();
        if (rewait > 0) {
            --rewait;
            co_await b.wait();
        } else {
            co_await others.wait();
            co_await b.wait();
        }
    };
    loop.run_until_complete(run_parties(N, body));
    EXPECT_EQ(b.n_waiting(), 0u);
    EXPECT_FALSE(b.broken());
}

TEST(BarrierSteps, ACancelledWaiterLeavesItsPlace) {
    test_loop loop;
    barrier b(3);
    int passed = 0;
    auto body = [&]() -> coro<void> {
        co_await b.wait();
        ++passed;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto t1 = create_task(body());
        co_await sleep(0);
        EXPECT_EQ(b.n_waiting(), 1u);
        auto t2 = create_task(body());
        co_await sleep(0);
        EXPECT_EQ(b.n_waiting(), 2u);
        t1.cancel();
        co_await sleep(0);
        EXPECT_EQ(b.n_waiting(), 1u);
        EXPECT_THROW(co_await t1, cancelled_error);
        EXPECT_TRUE(t1.cancelled());
        auto t3 = create_task(body());
        co_await sleep(0);
        EXPECT_EQ(b.n_waiting(), 2u);
        auto t4 = create_task(body());
        co_await gather(t2, t3, t4);
        EXPECT_EQ(passed, 3);
        EXPECT_EQ(b.n_waiting(), 0u);
        EXPECT_FALSE(b.broken());
    }());
}

TEST(BarrierSteps, ResetWithNobodyWaitingLeavesItFilling) {
    test_loop loop;
    barrier b(1);
    loop.run_until_complete([&]() -> coro<void> {
        auto r = create_task(b.reset());
        co_await sleep(0);
        EXPECT_TRUE(r.done());
        EXPECT_EQ(b.n_waiting(), 0u);
        EXPECT_FALSE(b.broken());
        EXPECT_EQ(co_await b.wait(), 0u);
    }());
}

// N - 1 tasks wait; a reset breaks their waits, and the barrier is usable again.
TEST(BarrierSteps, ResetBreaksTheWaitersAndRefills) {
    test_loop loop;
    barrier b(N);
    int broken = 0;
    auto body = [&]() -> coro<void> {
        try {
            co_await b.wait();
        } catch (const broken_barrier_error&) {
            ++broken;
        }
    };
    loop.run_until_complete([&]() -> coro<void> {
        std::vector<task<void>> ts;
        for (std::size_t i = 0; i + 1 < N; ++i) ts.push_back(create_task(body()));
        co_await sleep(0);
        auto r = create_task(b.reset());
        co_await gather(std::move(ts));
        co_await r;
        EXPECT_EQ(broken, int(N) - 1);
        EXPECT_EQ(b.n_waiting(), 0u);
        EXPECT_FALSE(b.broken());
    }());
}

// The task that leaves the draining barrier with N/2 others still inside resets it: those
// N/2 have been released but not run yet, and their waits end broken (asyncio's
// test_reset_barrier_when_tasks_half_draining).
TEST(BarrierSteps, ResetWhileHalfStillDrainsBreaksTheRest) {
    test_loop loop;
    barrier b(N);
    const std::size_t rest = N / 2;
    std::size_t out = 0;
    int broken = 0;
    auto body = [&]() -> coro<void> {
        try {
            co_await b.wait();
        } catch (const broken_barrier_error&) {
            ++broken;
            co_return;
        }
        if (++out == N - rest) co_await b.reset();
    };
    loop.run_until_complete(run_parties(N, body));
    EXPECT_EQ(broken, int(rest));
    EXPECT_EQ(b.n_waiting(), 0u);
    EXPECT_FALSE(b.broken());
}

// Half the tasks out of the barrier wait again; the other half, once out, reset it (which
// breaks the first half's second wait) and wait again; the broken ones wait once more,
// and with everyone back at the barrier all pass.
TEST(BarrierSteps, ResetWhileHalfDrainAndHalfBlockBreaksOnlyTheBlocked) {
    test_loop loop;
    barrier b(N);
    const std::size_t blocking = N / 2;
    std::size_t count = 0;
    int broken_first = 0, broken_second = 0;
    auto body = [&]() -> coro<void> {
        bool first_broken = false;
        try {
            co_await b.wait();
        } catch (const broken_barrier_error&) {
            first_broken = true;
        }
        if (first_broken) {
            ++broken_first;
            co_await b.wait();
            co_return;
        }
        if (++count > blocking) {
            co_await b.reset();
            co_await b.wait();
        } else {
            try {
                co_await b.wait();
            } catch (const broken_barrier_error&) {
                ++broken_second;
            }
        }
    };
    loop.run_until_complete(run_parties(N, body));
    EXPECT_EQ(broken_first, int(blocking));
    EXPECT_EQ(broken_second, 0);
    EXPECT_EQ(b.n_waiting(), 0u);
    EXPECT_FALSE(b.broken());
}

// The same with abort: the drainers not yet out are broken, and so are the blocked ones.
TEST(BarrierSteps, AbortWhileHalfDrainAndHalfBlockBreaksEveryoneLeft) {
    test_loop loop;
    barrier b(N);
    const std::size_t blocking = N / 2;
    std::size_t count = 0;
    int broken_draining = 0, broken_blocked = 0;
    auto body = [&]() -> coro<void> {
        try {
            co_await b.wait();
        } catch (const broken_barrier_error&) {
            ++broken_draining;
            co_return;
        }
        if (++count > blocking) {
            co_await b.abort();
        } else {
            try {
                co_await b.wait();
            } catch (const broken_barrier_error&) {
                ++broken_blocked;
            }
        }
    };
    loop.run_until_complete(run_parties(N, body));
    EXPECT_TRUE(b.broken());
    EXPECT_EQ(broken_draining, int(blocking));
    EXPECT_EQ(broken_blocked, int(N - blocking - 1));
    EXPECT_EQ(b.n_waiting(), 0u);
}

// Waiters broken by a reset wait again in a `finally`; one more task fills the barrier
// and all of them pass.
TEST(BarrierSteps, WaitersBrokenByAResetCanWaitAgain) {
    test_loop loop;
    barrier b(N);
    int broken = 0, passed = 0;
    auto again = [&]() -> coro<void> {
        try {
            co_await b.wait();
        } catch (const broken_barrier_error&) {
            ++broken;
        }
        co_await b.wait();
        ++passed;
    };
    auto last = [&]() -> coro<void> {
        co_await b.wait();
        ++passed;
    };
    loop.run_until_complete([&]() -> coro<void> {
        std::vector<task<void>> ts;
        for (std::size_t i = 0; i + 1 < N; ++i) ts.push_back(create_task(again()));
        co_await sleep(0);
        auto r = create_task(b.reset());
        co_await sleep(0);
        auto l = create_task(last());
        co_await gather(std::move(ts));
        co_await l;
        co_await r;
        EXPECT_FALSE(b.broken());
        EXPECT_EQ(broken, int(N) - 1);
        EXPECT_EQ(passed, int(N));
        EXPECT_EQ(b.n_waiting(), 0u);
    }());
}

// The last task out resets the barrier and waits on it again; the others wait a second
// time and are not broken (the reset found nobody waiting); then all pass once more.
TEST(BarrierSteps, ResetByTheLastOneOutBreaksNobody) {
    test_loop loop;
    barrier b(N);
    int second_ok = 0, second_broken = 0, third = 0, count = 0;
    auto body = [&]() -> coro<void> {
        co_await b.wait();
        if (++count == int(N)) {
            co_await b.reset();
            co_await b.wait();
        } else {
            try {
                co_await b.wait();
                ++second_ok;
            } catch (const std::exception&) {
                ++second_broken;
            }
        }
        co_await b.wait();
        ++third;
    };
    loop.run_until_complete(run_parties(N, body));
    EXPECT_FALSE(b.broken());
    EXPECT_EQ(second_ok, int(N) - 1);
    EXPECT_EQ(second_broken, 0);
    EXPECT_EQ(third, int(N));
    EXPECT_EQ(b.n_waiting(), 0u);
}

TEST(BarrierSteps, AbortBreaksItForGood) {
    test_loop loop;
    barrier b(1);
    loop.run_until_complete([&]() -> coro<void> {
        auto a = create_task(b.abort());
        co_await sleep(0);
        EXPECT_TRUE(a.done());
        EXPECT_EQ(b.n_waiting(), 0u);
        EXPECT_TRUE(b.broken());
        EXPECT_THROW(co_await b.wait(), broken_barrier_error);
    }());
}

// A party raising inside the barrier aborts it: every other party's next wait is broken.
TEST(BarrierSteps, AbortAfterAnExceptionBreaksEveryoneElse) {
    test_loop loop;
    barrier b(N);
    int passed = 0, broken = 0;
    auto body = [&]() -> coro<void> {
        bool failed = false;  // a party failed inside: it aborts (outside the handler)
        try {
            std::size_t i = co_await b.wait();
            if (i == N / 2) throw std::runtime_error("party failed");
            co_await b.wait();
            ++passed;
        } catch (const broken_barrier_error&) {
            ++broken;
        } catch (const std::runtime_error&) {
            failed = true;
        }
        if (failed) co_await b.abort();
    };
    loop.run_until_complete(run_parties(N, body));
    EXPECT_TRUE(b.broken());
    EXPECT_EQ(passed, 0);
    EXPECT_EQ(broken, int(N) - 1);
    EXPECT_EQ(b.n_waiting(), 0u);
}

// ... and a reset after everyone has left (synchronised on a second barrier) makes it
// usable again.
TEST(BarrierSteps, ResetAfterAnAbortMakesItUsableAgain) {
    test_loop loop;
    barrier b1(N), b2(N);
    int passed = 0, broken = 0, after = 0;
    auto body = [&]() -> coro<void> {
        bool failed = false;
        try {
            std::size_t i = co_await b1.wait();
            if (i == N / 2) throw std::runtime_error("party failed");
            co_await b1.wait();
            ++passed;
        } catch (const broken_barrier_error&) {
            ++broken;
        } catch (const std::runtime_error&) {
            failed = true;
        }
        if (failed) co_await b1.abort();
        if (co_await b2.wait() == N / 2) co_await b1.reset();
        co_await b2.wait();
        co_await b1.wait();
        ++after;
    };
    loop.run_until_complete(run_parties(N, body));
    EXPECT_FALSE(b1.broken());
    EXPECT_EQ(passed, 0);
    EXPECT_EQ(broken, int(N) - 1);
    EXPECT_EQ(after, int(N));
    EXPECT_EQ(b1.n_waiting(), 0u);
}

}  // namespace
}  // namespace duet::test
