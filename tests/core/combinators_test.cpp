// gather, shield, wait, wait_for, as_completed: asyncio's observable behaviour. Anything
// that depends on time runs on the virtual clock, where deadlines are exact.
#include <cmath>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

using vloop = virtual_event_loop;

coro<int> fail_after(double d, std::string what) {
    co_await sleep(d);
    throw std::runtime_error(what);
}

// Records whether it was cancelled; optionally takes `cleanup` seconds to unwind.
struct probe {
    bool started = false;
    bool cancelled = false;
    bool finished = false;
    double cleanup_done_at = -1;
};

coro<int> probed(probe& p, double d, int v, double cleanup = 0) {
    p.started = true;
    std::exception_ptr cancellation;
    try {
        co_await sleep(d);
    } catch (const cancelled_error&) {
        cancellation = std::current_exception();
    }
    if (cancellation) {
        p.cancelled = true;
        if (cleanup > 0) {
            // The task's cancellation was delivered; it may now await again.
            co_await sleep(cleanup);
        }
        p.cleanup_done_at = get_running_loop().time();
        std::rethrow_exception(cancellation);
    }
    p.finished = true;
    co_return v;
}

// ---------------------------------------------------------------- gather

TEST(Gather, ResultsInArgumentOrderWhateverTheCompletionOrder) {
    vloop loop;
    auto main_coro = [&]() -> coro<std::tuple<int, int, int>> {
        co_return co_await gather(value_after(0.3, 1), value_after(0.1, 2), value_after(0.2, 3));
    };
    auto r = loop.run_until_complete(main_coro());
    EXPECT_EQ(r, std::make_tuple(1, 2, 3));
    EXPECT_EQ(loop.time(), 0.3);
}

TEST(Gather, MixedArgumentsVoidIsMonostate) {
    test_loop loop;
    auto f = loop.create_future<std::string>();
    auto main_coro = [&]() -> coro<void> {
        auto t = create_task(value_after(0, 4));
        loop.call_soon([&] { f.set_result("text"); });
        auto [a, b, c, d] = co_await gather(t, sleep(0), f, value_after(0, 5));
        static_assert(std::is_same_v<decltype(b), std::monostate>);
        EXPECT_EQ(a, 4);
        EXPECT_EQ(c, "text");
        EXPECT_EQ(d, 5);
    };
    loop.run_until_complete(main_coro());
}

TEST(Gather, RangeOfCoroutinesAndOfTasks) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        std::vector<coro<int>> cs;
        for (int i = 0; i < 5; ++i) cs.push_back(value_after(0.1 * (5 - i), i));
        std::vector<int> r = co_await gather(std::move(cs));
        EXPECT_EQ(r, (std::vector<int>{0, 1, 2, 3, 4}));
        std::vector<task<int>> ts;
        for (int i = 0; i < 3; ++i) ts.push_back(create_task(value_after(0.1 * (3 - i), 10 + i)));
        const std::vector<int> expected{10, 11, 12};
        EXPECT_EQ(co_await gather(ts), expected);
        EXPECT_EQ(ts[1].result(), 11) << "a caller's task keeps its value";
        std::vector<coro<void>> vs;
        vs.push_back(sleep(0.1));
        std::vector<std::monostate> v = co_await gather(std::move(vs));
        EXPECT_EQ(v.size(), 1u);
    };
    loop.run_until_complete(main_coro());
}

// sleep() and event::wait() are frameless awaitables; every entry point that takes a
// coroutine takes them too, as the coroutine they stand for.
TEST(LazyAwaitable, SleepGoesWhereverACoroutineGoes) {
    vloop loop;
    coro<void> stored = sleep(0.5);  // converts to the coroutine it stands for
    loop.run_until_complete(std::move(stored));
    EXPECT_DOUBLE_EQ(loop.time(), 0.5);
    loop.run_until_complete(sleep(0.25));
    EXPECT_DOUBLE_EQ(loop.time(), 0.75);
    auto main_coro = [&]() -> coro<void> {
        const double t0 = loop.time();
        auto t = create_task(sleep(1));
        co_await gather(sleep(0.25), sleep(0.5), t);
        EXPECT_DOUBLE_EQ(loop.time() - t0, 1.0) << "gather waited for the longest";
        bool timed_out = false;
        try {
            co_await wait_for(sleep(10), 2.0);
        } catch (const timeout_error&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_DOUBLE_EQ(loop.time() - t0, 3.0);
        co_await timeout(1).run(sleep(0.5));
        co_await shield(sleep(0.5));
        co_await with_task_group([&](task_group& tg) -> coro<void> {
            tg.create_task(sleep(1));
            co_return;
        });
        EXPECT_DOUBLE_EQ(loop.time() - t0, 5.0);
        bool rejected = false;
        try {
            co_await sleep(std::nan(""));
        } catch (const std::invalid_argument& e) {
            rejected = std::string(e.what()).find("NaN") != std::string::npos;
        }
        EXPECT_TRUE(rejected) << "co_await sleep(NaN) raises at once";
        EXPECT_DOUBLE_EQ(loop.time() - t0, 5.0);
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(loop.base().scheduled_timer_count(), 0u) << "wait_for's cancelled sleep left no timer";
    run(sleep(0));  // duet::run, on a fresh loop
}

TEST(LazyAwaitable, EventWaitGoesWhereverACoroutineGoes) {
    vloop loop;
    event ev;
    int woken = 0;
    auto main_coro = [&]() -> coro<void> {
        bool timed_out = false;
        try {
            co_await wait_for(ev.wait(), 1.0);
        } catch (const timeout_error&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out) << "nobody set the event";
        auto t = create_task(ev.wait());
        auto g = gather(ev.wait(), ev.wait());
        auto setter = [&]() -> coro<void> {
            co_await sleep(1);
            ++woken;
            ev.set();
        };
        auto s = create_task(setter());
        co_await timeout(5).run(ev.wait());
        EXPECT_DOUBLE_EQ(loop.time(), 2.0);
        co_await g;
        co_await t;
        co_await s;
        co_await ev.wait();  // set: no suspension
        EXPECT_DOUBLE_EQ(loop.time(), 2.0);
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(woken, 1);
}

TEST(Gather, ManyChildrenKeepTheirPositions) {
    // 10,000 children: gather's per-child links (32 B each) outgrow a plain allocation
    // (natively they become a mapped buffer); small enough for wasm's fixed 16 MiB heap.
    // The children finish in reverse order.
    vloop loop;
    constexpr int n = 10'000;
    auto main_coro = [&]() -> coro<void> {
        std::vector<coro<int>> cs;
        cs.reserve(n);
        for (int i = 0; i < n; ++i) cs.push_back(value_after(0.001 * (n - i), i));
        std::vector<int> r = co_await gather(std::move(cs));
        std::vector<int> expected(n);
        std::iota(expected.begin(), expected.end(), 0);
        EXPECT_TRUE(r == expected) << "some of the " << n << " results are missing or out of place";
    };
    loop.run_until_complete(main_coro());
    EXPECT_DOUBLE_EQ(loop.time(), 0.001 * n);
}

TEST(Gather, MoveOnlyResults) {
    test_loop loop;
    auto make = [](int v) -> coro<std::unique_ptr<int>> {
        co_await sleep(0);
        co_return std::make_unique<int>(v);
    };
    auto main_coro = [&]() -> coro<int> {
        auto [a, b] = co_await gather(make(1), make(2));
        std::vector<coro<std::unique_ptr<int>>> cs;
        cs.push_back(make(3));
        auto v = co_await gather(std::move(cs));
        co_return *a + *b + *v[0];
    };
    EXPECT_EQ(loop.run_until_complete(main_coro()), 6);
}

TEST(Gather, FirstFailureCompletesAtOnceOthersRunOnAndAreNotReported) {
    vloop loop;
    handler_log log;
    log.install(loop);
    probe slow;
    double failed_at = -1;
    std::string what;
    auto main_coro = [&]() -> coro<void> {
        try {
            co_await gather(fail_after(0.1, "first"), probed(slow, 0.5, 1), fail_after(0.2, "second"));
        } catch (const std::runtime_error& e) {
            what = e.what();
            failed_at = get_running_loop().time();
        }
        co_await sleep(1);
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(what, "first");
    EXPECT_EQ(failed_at, 0.1);
    EXPECT_TRUE(slow.finished) << "the other children are not cancelled";
    EXPECT_FALSE(slow.cancelled);
    EXPECT_TRUE(log.calls.empty()) << "the later failure counts as retrieved: " << log.messages().size();
}

TEST(Gather, ReturnExceptionsPlacesEachOutcomeByPosition) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto victim = create_task(value_after(10, 0));
        auto canceller = [&]() -> coro<void> {
            co_await sleep(0.1);
            victim.cancel("stop");
        };
        auto [a, b, c, d] =
            co_await gather(return_exceptions, value_after(0.3, 1), fail_after(0.2, "boom"), victim, canceller());
        EXPECT_TRUE(a.has_value());
        EXPECT_EQ(a.value(), 1);
        EXPECT_TRUE(b.has_exception());
        EXPECT_THROW(b.value(), std::runtime_error);
        EXPECT_TRUE(exception_group::holds<std::runtime_error>(b.exception()));
        EXPECT_TRUE(c.cancelled());
        EXPECT_EQ(c.cancellation().message(), "stop");
        EXPECT_THROW(c.value(), cancelled_error);
        EXPECT_TRUE(d.has_value());
        static_assert(std::is_same_v<decltype(d), outcome<void>>);
        EXPECT_EQ(get_running_loop().time(), 0.3) << "return_exceptions waits for every child";

        std::vector<coro<int>> cs;
        cs.push_back(value_after(0.1, 7));
        cs.push_back(fail_after(0.1, "x"));
        auto v = co_await gather(return_exceptions, std::move(cs));
        EXPECT_EQ(v.size(), 2u);
        EXPECT_EQ(v.at(0).value(), 7);
        EXPECT_TRUE(v.at(1).has_exception());
    };
    loop.run_until_complete(main_coro());
}

TEST(Gather, CancellingTheGatherCancelsEveryChild) {
    vloop loop;
    probe p1, p2;
    auto main_coro = [&]() -> coro<void> {
        auto g = gather(probed(p1, 1, 1), probed(p2, 2, 2));
        co_await sleep(0.1);
        EXPECT_TRUE(g.cancel("enough"));
        std::string msg;
        try {
            co_await g;
        } catch (const cancelled_error& e) {
            msg = e.message();
        }
        EXPECT_EQ(msg, "enough");
        EXPECT_FALSE(g.cancelled()) << "as asyncio: it ends with cancelled_error as its exception";
        EXPECT_TRUE(p1.cancelled);
        EXPECT_TRUE(p2.cancelled);
        EXPECT_FALSE(g.cancel()) << "done already";
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(loop.time(), 0.1);
}

TEST(Gather, CancellingTheAwaitingTaskCancelsEveryChild) {
    vloop loop;
    probe p1, p2;
    auto body = [&]() -> coro<void> { co_await gather(probed(p1, 1, 1), probed(p2, 2, 2)); };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0.1));
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.cancelled());
    EXPECT_TRUE(p1.cancelled);
    EXPECT_TRUE(p2.cancelled);
}

TEST(Gather, AChildCancelledAloneEndsTheGatherWithCancelledErrorButNotCancelled) {
    vloop loop;
    probe other;
    auto main_coro = [&]() -> coro<void> {
        auto victim = create_task(value_after(10, 0));
        auto g = gather(victim, probed(other, 0.5, 1));
        co_await sleep(0.1);
        victim.cancel("only me");
        bool got_cancelled = false;
        try {
            co_await g;
        } catch (const cancelled_error& e) {
            got_cancelled = true;
            EXPECT_EQ(e.message(), "only me");
        }
        EXPECT_TRUE(got_cancelled);
        EXPECT_TRUE(g.done());
        EXPECT_FALSE(g.cancelled()) << "asyncio: the gathering future itself was not cancelled";
        EXPECT_THROW(std::rethrow_exception(g.exception()), cancelled_error);
        co_await sleep(1);
        EXPECT_TRUE(other.finished) << "siblings are not cancelled";
    };
    // The await of g raised cancelled_error inside main: catch it there, so main ends fine.
    loop.run_until_complete(main_coro());
}

TEST(Gather, ACancelledGatherStaysCancelledEvenIfAChildSwallowsIt) {
    vloop loop;
    auto stubborn = []() -> coro<int> {
        try {
            co_await sleep(1);
        } catch (const cancelled_error&) {
        }
        co_return 5;
    };
    auto main_coro = [&]() -> coro<void> {
        auto g = gather(return_exceptions, stubborn(), value_after(1, 1));
        co_await sleep(0.1);
        g.cancel();
        EXPECT_THROW(co_await g, cancelled_error);
    };
    loop.run_until_complete(main_coro());
}

TEST(Gather, EmptyGatherIsDoneAtOnce) {
    test_loop loop;
    auto main_coro = [&]() -> coro<void> {
        auto g = gather();
        EXPECT_TRUE(g.done());
        static_assert(std::is_same_v<decltype(g), future<std::tuple<>>>);
        auto r = gather(std::vector<task<int>>{});
        EXPECT_TRUE(r.done());
        EXPECT_TRUE((co_await r).empty());
        auto re = gather(return_exceptions, std::vector<coro<int>>{});
        EXPECT_TRUE(re.done());
        co_await g;
    };
    loop.run_until_complete(main_coro());
}

TEST(Gather, DoneFuturesAreGatheredWithoutALoopTrip) {
    test_loop loop;
    auto a = loop.create_future<int>();
    auto b = loop.create_future<int>();
    a.set_result(1);
    b.set_result(2);
    auto g = gather(a, b);
    EXPECT_TRUE(g.done());
    EXPECT_EQ(g.result(), std::make_tuple(1, 2));
}

TEST(Gather, EagerChildrenDoneAtCreationCompleteTheGatherAtOnce) {
    test_loop loop;
    loop.set_task_factory(eager_task_factory);
    auto quick = [](int v) -> coro<int> { co_return v; };
    auto main_coro = [&]() -> coro<void> {
        auto g = gather(quick(1), quick(2));
        EXPECT_TRUE(g.done());
        auto [a, b] = co_await g;
        EXPECT_EQ(a + b, 3);
        auto broken = []() -> coro<int> {
            throw std::logic_error("eager failure");
            co_return 0;
        };
        auto h = gather(broken(), quick(3));
        EXPECT_TRUE(h.done());
        EXPECT_THROW(co_await h, std::logic_error);
    };
    loop.run_until_complete(main_coro());
}

TEST(Gather, TheSameTaskTwiceRunsOnce) {
    test_loop loop;
    int runs = 0;
    auto counted = [&]() -> coro<int> {
        ++runs;
        co_await sleep(0);
        co_return 42;
    };
    auto main_coro = [&]() -> coro<void> {
        auto t = create_task(counted());
        auto [x, y] = co_await gather(t, t);
        EXPECT_EQ(x, 42);
        EXPECT_EQ(y, 42);
        std::vector<task<int>> ts{t, t, t};
        auto v = co_await gather(ts);
        const std::vector<int> expected{42, 42, 42};
        EXPECT_EQ(v, expected);
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(runs, 1);
}

// Repeats found in one pass: a pending future through its latest registration (another
// gather's, then this one's), a done one through its mark.
TEST(Gather, ARangeRepeatingPendingAndDoneFuturesWaitsForEachOnce) {
    test_loop loop;
    auto p = loop.create_future<int>();
    auto q = loop.create_future<int>();
    auto d = loop.create_future<int>();
    d.set_result(3);
    const std::vector<future<int>> just_p{p};
    const std::vector<future<int>> repeats{p, d, p, q, d, q};
    std::vector<int> order;
    std::vector<int> results;
    std::vector<int> other_results;
    auto main_coro = [&]() -> coro<void> {
        auto other = gather(just_p);
        q.add_done_callback([&](future<int>&) { order.push_back(0); });
        auto g = gather(repeats);
        q.add_done_callback([&](future<int>&) { order.push_back(2); });
        g.add_done_callback([&](basic_future&) { order.push_back(1); });
        q.set_result(2);
        co_await sleep(0);
        EXPECT_FALSE(g.done()) << "p is waited for";
        p.set_result(1);
        results = co_await g;
        EXPECT_TRUE(other.done());
        other_results = co_await other;
        const std::vector<future<int>> just_d{d};
        auto [done, pending] = co_await wait(just_d);
        EXPECT_EQ(done.size(), 1u) << "no mark left on the future that was done already";
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(results, (std::vector<int>{1, 3, 1, 2, 3, 2}));
    EXPECT_EQ(order, (std::vector<int>{0, 2, 1})) << "q's callbacks in registration order, then the gather's";
    EXPECT_EQ(other_results, (std::vector<int>{1}));
}

// asyncio's _GatheringFuture.cancel asks every position: a task given twice is asked
// twice (and a gather of the range form the same).
TEST(Gather, CancellingAGatherAsksEveryPositionOfARepeatedTask) {
    vloop loop;
    probe p;
    auto main_coro = [&]() -> coro<void> {
        auto t = create_task(probed(p, 1, 7));
        auto g = gather(t, t);
        co_await sleep(0.1);
        EXPECT_TRUE(g.cancel());
        EXPECT_EQ(t.cancelling(), 2);
        EXPECT_THROW(co_await g, cancelled_error);
        EXPECT_TRUE(t.cancelled());

        probe q;
        auto u = create_task(probed(q, 1, 8));
        std::vector<task<int>> three{u, u, u};
        auto gr = gather(std::move(three));
        co_await sleep(0.1);
        EXPECT_TRUE(gr.cancel());
        EXPECT_EQ(u.cancelling(), 3);
        EXPECT_THROW(co_await gr, cancelled_error);
        EXPECT_TRUE(q.cancelled);
    };
    loop.run_until_complete(main_coro());
}

// Once its result is built, a gather holds no reference to its children: a task's value
// goes with the task's last handle, not with the gather's future.
TEST(Gather, ADoneGatherLetsGoOfItsChildren) {
    vloop loop;
    auto make = []() -> coro<std::shared_ptr<int>> {
        co_await sleep(0);
        co_return std::make_shared<int>(5);
    };
    auto main_coro = [&]() -> coro<void> {
        std::weak_ptr<int> seen_tuple, seen_range;
        future<std::tuple<std::shared_ptr<int>, std::shared_ptr<int>>> g;
        future<std::vector<std::shared_ptr<int>>> gr;
        {
            auto t = create_task(make());
            g = gather(t, t);
            auto [a, b] = co_await g;
            EXPECT_EQ(a, b);
            seen_tuple = t.result();
        }
        {
            auto u = create_task(make());
            std::vector<task<std::shared_ptr<int>>> two{u, u};
            gr = gather(std::move(two));
            co_await gr;
            seen_range = u.result();
        }
        // The gathers' results hold copies: take them out. The gathers themselves are
        // still alive, but they let go of their tasks when they finished.
        EXPECT_FALSE(seen_tuple.expired());
        (void)g.take_result();
        (void)gr.take_result();
        EXPECT_TRUE(g.done() && gr.done());
        EXPECT_TRUE(seen_tuple.expired()) << "the tuple gather kept its child";
        EXPECT_TRUE(seen_range.expired()) << "the range gather kept its child";
    };
    loop.run_until_complete(main_coro());
}

TEST(Gather, NestedGatherPropagatesACancellation) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto victim = create_task(value_after(10, 0));
        auto inner = gather(victim, value_after(0.2, 1));
        auto outer = gather(return_exceptions, inner, value_after(0.3, 2));
        co_await sleep(0.1);
        victim.cancel();
        auto [a, b] = co_await outer;
        EXPECT_TRUE(a.cancelled()) << "a child ending with cancelled_error counts as cancelled";
        EXPECT_EQ(b.value(), 2);
    };
    loop.run_until_complete(main_coro());
}

TEST(Gather, FuturesOfDifferentLoopsAreRejected) {
    test_loop loop;
    test_loop other;
    auto a = loop.create_future<int>();
    auto b = other.create_future<int>();
    EXPECT_THROW(gather(a, b), std::invalid_argument);
}

TEST(Gather, ARangeWithFuturesOfDifferentLoopsIsRejectedAndLeavesThemAsTheyWere) {
    test_loop loop;
    test_loop other;
    auto a = loop.create_future<int>();
    auto b = loop.create_future<int>();
    auto finished = loop.create_future<int>();
    finished.set_result(3);
    auto stranger = other.create_future<int>();
    std::vector<future<int>> mixed{a, b, finished, a, finished, stranger};
    EXPECT_THROW(gather(mixed), std::invalid_argument);
    // The refused gather let go of a and b and cleared every mark: wait() (which finds
    // repeats by mark) sees the finished future, and a gather of a and b still waits for a
    // repeated future once, and finishes.
    const std::vector<future<int>> just_finished{finished};
    auto main_coro = [&]() -> coro<std::vector<int>> {
        auto [done, pending] = co_await wait(just_finished);
        EXPECT_EQ(done.size(), 1u) << "no mark left on the finished future";
        auto g = gather(std::vector<future<int>>{a, b, a});
        b.set_result(2);
        co_await sleep(0);
        EXPECT_FALSE(g.done()) << "a is waited for";
        a.set_result(1);
        co_return co_await g;
    };
    EXPECT_EQ(loop.run_until_complete(main_coro()), (std::vector<int>{1, 2, 1}));
}

TEST(Gather, UnretrievedGatherFailureIsReported) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    auto main_coro = [&]() -> coro<void> {
        {
            auto g = gather(fail_after(0, "lost"));
            while (!g.done()) co_await sleep(0);
        }
        co_await sleep(0);
    };
    loop.run_until_complete(main_coro());
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(log.calls[0].message, "Future exception was never retrieved");
}

TEST(Gather, PendingWhenTheLoopClosesLeaksNothing) {
    auto sentinel = std::make_shared<int>(0);
    {
        test_loop loop;
        loop.set_exception_handler([](abstract_event_loop&, const exception_context&) {});
        auto body = [&]() -> coro<void> {
            auto g = gather(value_after(1000, 1), value_after(1000, 2));
            g.add_done_callback([sentinel](basic_future&) {});
            auto s = shield(value_after(1000, 3));
            s.add_done_callback([sentinel](basic_future&) {});
            co_await g;
        };
        loop.create_task(body());
        loop.run_until_complete(sleep(0));
        EXPECT_EQ(sentinel.use_count(), 3);
        loop.close();
    }
    EXPECT_EQ(sentinel.use_count(), 1) << "the gather and the shield were freed with their children";
}

// ---------------------------------------------------------------- shield

TEST(Shield, MirrorsTheInnerResultAndException) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        EXPECT_EQ(co_await shield(value_after(0.1, 5)), 5);
        EXPECT_THROW(co_await shield(fail_after(0.1, "x")), std::runtime_error);
        auto victim = create_task(value_after(1, 0));
        auto s = shield(victim);
        victim.cancel();
        EXPECT_THROW(co_await s, cancelled_error);
        EXPECT_TRUE(s.cancelled()) << "an inner cancellation cancels the outer";
        auto done = create_task(value_after(0, 9));
        co_await done;
        auto same = shield(done);
        EXPECT_TRUE(same == done) << "a done inner is returned as it is";
    };
    loop.run_until_complete(main_coro());
}

TEST(Shield, CancellingTheOuterDoesNotCancelTheInner) {
    vloop loop;
    probe p;
    auto inner = loop.create_task(probed(p, 0.5, 7));
    auto body = [&]() -> coro<int> { co_return co_await shield(inner); };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0.1));
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(loop.time(), 0.1);
    EXPECT_FALSE(inner.done());
    EXPECT_EQ(loop.run_until_complete(inner), 7);
    EXPECT_FALSE(p.cancelled);
    EXPECT_EQ(loop.time(), 0.5);
}

TEST(Shield, ShieldedCoroutineRunsToTheEndAfterTheOuterIsCancelled) {
    vloop loop;
    handler_log log;
    log.install(loop);
    bool finished = false;
    auto work = [&]() -> coro<void> {
        co_await sleep(0.3);
        finished = true;
        throw std::runtime_error("late failure");
    };
    auto body = [&]() -> coro<void> { co_await shield(work()); };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0.1));
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    loop.run_until_complete(sleep(1));
    EXPECT_TRUE(finished);
    // As asyncio: once the outer is cancelled the shield stops listening, so a failure
    // nobody else awaits is reported when the inner task goes away.
    ASSERT_EQ(log.calls.size(), 1u);
    EXPECT_EQ(log.calls[0].message, "Task exception was never retrieved");
}

// ---------------------------------------------------------------- wait

template <class R>
concept can_wait = requires(R r) {
    wait(std::move(r));
};
static_assert(can_wait<std::vector<task<int>>>);
static_assert(!can_wait<std::vector<coro<int>>>, "bare coroutines are refused at compile time");

TEST(Wait, AllCompletedEndsWithTheLast) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        std::vector<task<int>> ts{create_task(value_after(0.1, 1)), create_task(value_after(0.15, 2))};
        auto [done, pending] = co_await wait(ts);
        EXPECT_EQ(get_running_loop().time(), 0.15);
        EXPECT_EQ(done.size(), 2u);
        EXPECT_TRUE(pending.empty());
        EXPECT_EQ(done[0].result() + done[1].result(), 3);
    };
    loop.run_until_complete(main_coro());
}

TEST(Wait, FirstCompletedCancelsNothing) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto a = create_task(value_after(0.1, 1));
        auto b = create_task(value_after(0.2, 2));
        std::vector<task<int>> ab{a, b};
        auto [done, pending] = co_await wait(ab, return_when::first_completed);
        EXPECT_EQ(get_running_loop().time(), 0.1);
        EXPECT_EQ(done.size(), 1u);
        EXPECT_EQ(pending.size(), 1u);
        EXPECT_TRUE(done.at(0) == a);
        EXPECT_TRUE(pending.at(0) == b);
        EXPECT_EQ(co_await b, 2);
    };
    loop.run_until_complete(main_coro());
}

TEST(Wait, FirstExceptionReturnsAtTheFirstFailure) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        std::vector<task<int>> ts{create_task(value_after(0.1, 1)), create_task(fail_after(0.2, "x")),
                                  create_task(value_after(0.5, 3))};
        auto [done, pending] = co_await wait(ts, return_when::first_exception);
        EXPECT_EQ(get_running_loop().time(), 0.2);
        EXPECT_EQ(done.size(), 2u);
        EXPECT_EQ(pending.size(), 1u);
        // Without any failure FIRST_EXCEPTION waits for all.
        std::vector<task<int>> ok{create_task(value_after(0.1, 1)), create_task(value_after(0.3, 2))};
        auto [d2, p2] = co_await wait(ok, return_when::first_exception);
        EXPECT_EQ(d2.size(), 2u);
        EXPECT_TRUE(p2.empty());
        EXPECT_EQ(get_running_loop().time(), 0.5);
        co_await ts[2];
    };
    loop.run_until_complete(main_coro());
}

TEST(Wait, CancellationCountsAsCompletionNotAsException) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto a = create_task(value_after(1, 1));
        auto b = create_task(value_after(0.5, 2));
        loop.call_later(0.1, [a]() mutable { a.cancel(); });
        std::vector<task<int>> ab{a, b};
        auto [done, pending] = co_await wait(ab, return_when::first_exception);
        EXPECT_EQ(get_running_loop().time(), 0.5);
        EXPECT_EQ(done.size(), 2u);
    };
    loop.run_until_complete(main_coro());
}

TEST(Wait, TimeoutCancelsNothing) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto a = create_task(value_after(0.1, 1));
        auto b = create_task(value_after(1, 2));
        std::vector<task<int>> ab{a, b};
        auto [done, pending] = co_await wait(ab, return_when::all_completed, 0.05);
        EXPECT_EQ(get_running_loop().time(), 0.05);
        EXPECT_TRUE(done.empty());
        EXPECT_EQ(pending.size(), 2u);
        using namespace std::chrono_literals;
        auto r2 = co_await wait(ab, return_when::all_completed, 100ms);
        EXPECT_EQ(r2.done.size(), 1u);
        EXPECT_FALSE(b.cancelled());
        EXPECT_EQ(co_await b, 2);
    };
    loop.run_until_complete(main_coro());
}

TEST(Wait, EmptyIsInvalidAndDuplicatesCountOnce) {
    test_loop loop;
    auto main_coro = [&]() -> coro<void> {
        EXPECT_THROW(co_await wait(std::vector<task<int>>{}), std::invalid_argument);
        auto t = create_task(value_after(0, 1));
        std::vector<task<int>> ttt{t, t, t};
        auto [done, pending] = co_await wait(ttt);
        EXPECT_EQ(done.size(), 1u);
        // Futures done already: the result comes after one loop iteration.
        auto f = get_running_loop().create_future<int>();
        f.set_result(3);
        std::vector<future<int>> fs{f};
        auto r = co_await wait(fs);
        EXPECT_EQ(r.done.size(), 1u);
    };
    loop.run_until_complete(main_coro());
}

TEST(Wait, MixedTypesThroughBasicFuture) {
    test_loop loop;
    auto main_coro = [&]() -> coro<void> {
        auto a = create_task(value_after(0, 1));
        auto b = create_task(sleep(0));
        auto f = get_running_loop().create_future<std::string>();
        f.set_result("s");
        // Futures of different result types: a range of basic_future. (Built before the
        // co_await: g++ 12 cannot put an initializer list in an expression that awaits.)
        std::vector<basic_future> all{a, b, f};
        auto [done, pending] = co_await wait(all);
        EXPECT_EQ(done.size(), 3u);
        static_assert(std::is_same_v<decltype(done), std::vector<basic_future>>);
    };
    loop.run_until_complete(main_coro());
}

TEST(Wait, CancellingTheWaiterLeavesTheFuturesAlone) {
    vloop loop;
    auto a = loop.create_task(value_after(1, 1));
    auto body = [&]() -> coro<void> {
        std::vector<task<int>> just_a{a};
        co_await wait(just_a);
    };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0.1));
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_FALSE(a.cancelled());
    EXPECT_EQ(loop.run_until_complete(a), 1);
}

// ---------------------------------------------------------------- wait_for

TEST(WaitFor, ReturnsInTime) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        EXPECT_EQ(co_await wait_for(value_after(0.1, 1), 0.2), 1);
        auto t = create_task(value_after(0.1, 2));
        EXPECT_EQ(co_await wait_for(t, 0.2), 2);
        co_await wait_for(sleep(0.05), 1.0);
        EXPECT_EQ(co_await wait_for(value_after(5, 3), std::nullopt), 3) << "no timeout: a plain await";
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 5.25);
    };
    loop.run_until_complete(main_coro());
}

TEST(WaitFor, TimeoutCancelsTheInnerAndWaitsForItsCleanup) {
    vloop loop;
    probe p, q;
    double raised_at = -1;
    auto main_coro = [&]() -> coro<void> {
        try {
            co_await wait_for(probed(p, 1, 1, 0.05), 0.1);
        } catch (const timeout_error&) {
            raised_at = get_running_loop().time();
        }
        EXPECT_TRUE(p.cancelled);
        EXPECT_DOUBLE_EQ(p.cleanup_done_at, 0.15);
        EXPECT_DOUBLE_EQ(raised_at, 0.15) << "timeout_error only after the inner finished unwinding";
        auto t = create_task(probed(q, 1, 1, 0.05));
        EXPECT_THROW(co_await wait_for(t, 0.1), timeout_error);
        EXPECT_TRUE(t.cancelled());
        EXPECT_DOUBLE_EQ(q.cleanup_done_at, 0.3);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.3);
        EXPECT_EQ(current_task()->cancelling(), 0) << "the timeout's cancellation is taken back";
    };
    loop.run_until_complete(main_coro());
}

TEST(WaitFor, NonPositiveTimeoutNeverStartsACoroutine) {
    vloop loop;
    probe p;
    auto main_coro = [&]() -> coro<void> {
        EXPECT_THROW(co_await wait_for(probed(p, 1, 1), 0), timeout_error);
        EXPECT_FALSE(p.started);
        EXPECT_THROW(co_await wait_for(probed(p, 1, 1), -1), timeout_error);
        EXPECT_FALSE(p.started);
        auto f = get_running_loop().create_future<int>();
        f.set_result(8);
        EXPECT_EQ(co_await wait_for(f, 0), 8) << "a done future gives its result";
        auto g = get_running_loop().create_future<int>();
        EXPECT_THROW(co_await wait_for(g, 0), timeout_error);
        EXPECT_TRUE(g.cancelled());
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(loop.time(), 0.0);
}

TEST(WaitFor, SwallowedCancellationReturnsTheValue) {
    vloop loop;
    auto stubborn = [](int v) -> coro<int> {
        try {
            co_await sleep(1);
        } catch (const cancelled_error&) {
        }
        co_return v;
    };
    auto main_coro = [&]() -> coro<void> {
        EXPECT_EQ(co_await wait_for(stubborn(4), 0.1), 4);
        EXPECT_EQ(get_running_loop().time(), 0.1);
        auto t = create_task(stubborn(5));
        EXPECT_EQ(co_await wait_for(t, 0.1), 5);
        auto started = create_task(stubborn(6));
        co_await sleep(0);
        EXPECT_EQ(co_await wait_for(started, 0), 6) << "a started task that swallows it";
    };
    loop.run_until_complete(main_coro());
}

TEST(WaitFor, CancellingTheOuterCancelsTheInner) {
    vloop loop;
    probe p;
    auto inner = loop.create_task(probed(p, 1, 1));
    auto body = [&]() -> coro<int> { co_return co_await wait_for(inner, 0.5); };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0.1));
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error) << "a cancellation, not a timeout";
    EXPECT_TRUE(inner.cancelled());
    EXPECT_TRUE(p.cancelled);
    EXPECT_EQ(loop.time(), 0.1);
}

TEST(WaitFor, NoSpuriousTimeoutWhenTheInnerCompletesInTheDeadlineIteration) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto& lp = get_running_loop();
        auto f = lp.create_future<int>();
        // Scheduled before wait_for's own timer, at the same instant: the result is set,
        // then the deadline passes in the same iteration, before the task wakes up.
        lp.call_later(0.1, [f]() mutable { f.set_result(7); });
        EXPECT_EQ(co_await wait_for(f, 0.1), 7);
        EXPECT_EQ(lp.time(), 0.1);
        auto g = lp.create_future<int>();
        lp.call_later(0.1, [g]() mutable { g.set_exception(std::make_exception_ptr(std::logic_error("own"))); });
        EXPECT_THROW(co_await wait_for(g, 0.1), std::logic_error) << "its own outcome, not a timeout";
        EXPECT_EQ(current_task()->cancelling(), 0);
    };
    loop.run_until_complete(main_coro());
}

// ---------------------------------------------------------------- as_completed

TEST(AsCompleted, YieldsInCompletionOrder) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        std::vector<coro<int>> cs;
        cs.push_back(value_after(0.3, 3));
        cs.push_back(value_after(0.1, 1));
        cs.push_back(value_after(0.2, 2));
        auto ac = as_completed(std::move(cs));
        EXPECT_EQ(ac.remaining(), 3u);
        std::vector<std::pair<int, double>> got;
        while (auto f = co_await ac.next()) got.emplace_back(f->result(), get_running_loop().time());
        EXPECT_EQ(got, (std::vector<std::pair<int, double>>{{1, 0.1}, {2, 0.2}, {3, 0.3}}));
        EXPECT_EQ(ac.remaining(), 0u);
        EXPECT_FALSE((co_await ac.next()).has_value());
    };
    loop.run_until_complete(main_coro());
}

TEST(AsCompleted, ExceptionsAreInTheHandedOutFuture) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto a = create_task(fail_after(0.1, "bad"));
        auto b = create_task(value_after(0.2, 2));
        auto ac = as_completed(std::vector<task<int>>{b, a, b});
        EXPECT_EQ(ac.remaining(), 2u) << "duplicates count once";
        auto first = co_await ac.next();
        EXPECT_TRUE(first.has_value());
        EXPECT_TRUE(first.value() == a) << "the caller's own task is handed back";
        EXPECT_THROW(first->result(), std::runtime_error);
        auto second = co_await ac.next();
        EXPECT_EQ(second->result(), 2);
    };
    loop.run_until_complete(main_coro());
}

TEST(AsCompletedTimeout, RaisesForWhatIsPendingAndCancelsNothing) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto fast = create_task(value_after(0.1, 1));
        auto slow = create_task(value_after(0.5, 2));
        auto slower = create_task(value_after(0.6, 3));
        auto ac = as_completed(std::vector<task<int>>{slow, fast, slower}, 0.2);
        auto f = co_await ac.next();
        EXPECT_EQ(f->result(), 1);
        EXPECT_THROW(co_await ac.next(), timeout_error);
        EXPECT_EQ(get_running_loop().time(), 0.2);
        EXPECT_THROW(co_await ac.next(), timeout_error) << "one timeout per item still pending";
        EXPECT_FALSE((co_await ac.next()).has_value());
        EXPECT_FALSE(slow.cancelled());
        EXPECT_EQ(co_await slower, 3);
    };
    loop.run_until_complete(main_coro());
}

TEST(AsCompleted, CompletedBeforeTheTimeoutComeFirst) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        std::vector<coro<int>> cs;
        cs.push_back(value_after(0.1, 1));
        cs.push_back(value_after(0.15, 2));
        cs.push_back(value_after(1, 3));
        auto ac = as_completed(std::move(cs), 0.2);
        co_await sleep(0.5);  // nobody asks until after the deadline
        EXPECT_EQ((co_await ac.next())->result(), 1);
        EXPECT_EQ((co_await ac.next())->result(), 2);
        EXPECT_THROW(co_await ac.next(), timeout_error);
        EXPECT_FALSE((co_await ac.next()).has_value());
        co_await sleep(1);  // the slow one was not cancelled: let it end
    };
    loop.run_until_complete(main_coro());
}

TEST(AsCompleted, EmptyAndConcurrentConsumers) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto none = as_completed(std::vector<task<int>>{}, 1.0);
        EXPECT_FALSE((co_await none.next()).has_value());
        std::vector<coro<int>> cs;
        cs.push_back(value_after(0.2, 2));
        cs.push_back(value_after(0.1, 1));
        auto ac = as_completed(std::move(cs));
        std::vector<int> got;
        auto consumer = [&]() -> coro<void> {
            auto f = co_await ac.next();
            got.push_back(f->result());
        };
        auto c1 = create_task(consumer());
        auto c2 = create_task(consumer());
        co_await gather(c1, c2);
        EXPECT_EQ(got, (std::vector<int>{1, 2}));
    };
    loop.run_until_complete(main_coro());
}

TEST(AsCompleted, ACancelledConsumerPassesItsItemOn) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto src = create_task(value_after(0.1, 1));
        auto ac = as_completed(std::vector<task<int>>{src});
        int got = 0;
        auto consumer = [&]() -> coro<void> {
            auto f = co_await ac.next();
            got = f->result();
        };
        auto c1 = create_task(consumer());
        auto c2 = create_task(consumer());
        // Runs right after as_completed's own callback has woken c1, before c1 runs.
        src.add_done_callback([&](basic_future&) { c1.cancel(); });
        std::vector<task<void>> consumers{c1, c2};
        co_await wait(consumers);
        EXPECT_TRUE(c1.cancelled());
        EXPECT_EQ(got, 1) << "the item went to the other consumer";
    };
    loop.run_until_complete(main_coro());
}

}  // namespace
}  // namespace duet::test
