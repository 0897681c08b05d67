// Time-dependent semantics, exact on the virtual clock (these run in every build of the
// suite, whatever its default loop).
#include <random>

#include "test_loop.hpp"

namespace duet::test {
namespace {

TEST(VirtualClock, SleepsAreExactAndInstant) {
    virtual_event_loop loop;
    EXPECT_EQ(loop.time(), 0.0);
    loop.run_until_complete(sleep(10));
    EXPECT_EQ(loop.time(), 10.0);
    loop.run_until_complete(sleep(0.25));
    EXPECT_EQ(loop.time(), 10.25);
}

TEST(VirtualClock, ConcurrentSleepsEndAtTheLongest) {
    virtual_event_loop loop;
    std::vector<std::pair<int, double>> ends;
    auto sleeper = [&](int id, double d) -> coro<void> {
        co_await sleep(d);
        ends.emplace_back(id, loop.time());
    };
    auto main_coro = [&]() -> coro<void> {
        auto a = create_task(sleeper(1, 0.1));
        auto b = create_task(sleeper(2, 0.15));
        auto c = create_task(sleeper(3, 0.05));
        co_await a;
        co_await b;
        co_await c;
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(loop.time(), 0.15);
    EXPECT_EQ(ends, (std::vector<std::pair<int, double>>{{3, 0.05}, {1, 0.1}, {2, 0.15}}));
}

TEST(VirtualClock, TimersRunAtTheirDeadlineExactlyTiesInSchedulingOrder) {
    virtual_event_loop loop;
    std::vector<std::pair<int, double>> fired;
    loop.call_at(2.0, [&] { fired.emplace_back(1, loop.time()); });
    loop.call_at(1.0, [&] { fired.emplace_back(2, loop.time()); });
    loop.call_at(2.0, [&] { fired.emplace_back(3, loop.time()); });
    loop.call_later(1.0, [&] { fired.emplace_back(4, loop.time()); });
    loop.call_at(3.0, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(fired, (std::vector<std::pair<int, double>>{{2, 1.0}, {4, 1.0}, {1, 2.0}, {3, 2.0}}));
}

TEST(VirtualClock, ManyRandomTimersFireInOrderNeverEarly) {
    virtual_event_loop loop;
    std::mt19937 rng(1234);
    std::uniform_real_distribution<double> d(0.0, 1.0);
    std::vector<double> whens;
    double last = -1;
    bool in_order = true;
    int early = 0;
    for (int i = 0; i < 20000; ++i) {
        auto h = std::make_shared<timer_handle>();
        *h = loop.call_later(d(rng), [&, h] {
            if (h->when() < last) in_order = false;
            if (loop.time() < h->when()) ++early;
            last = h->when();
        });
    }
    loop.call_at(2.0, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_TRUE(in_order);
    EXPECT_EQ(early, 0);
    EXPECT_EQ(loop.scheduled_timer_count(), 0u);
}

TEST(VirtualClock, CancelledTimersAreCompacted) {
    virtual_event_loop loop;
    std::vector<timer_handle> hs;
    for (int i = 0; i < 10000; ++i) hs.push_back(loop.call_later(100.0 + i, [] {}));
    EXPECT_EQ(loop.scheduled_timer_count(), 10000u);
    for (int i = 0; i < 9000; ++i) hs[i].cancel();
    // Compaction keeps cancelled timers from ever being the majority.
    EXPECT_LE(loop.scheduled_timer_count(), 2000u) << "cancelled timers must have been dropped";
    EXPECT_GE(loop.scheduled_timer_count(), 1000u);
    int ran = 0;
    for (int i = 9000; i < 10000; ++i) hs[i].cancel();
    loop.call_later(1.0, [&] { ++ran; });
    loop.run_until_complete(sleep(2));
    EXPECT_EQ(ran, 1);
    EXPECT_EQ(loop.time(), 2.0);
}

TEST(VirtualClock, AdvanceMovesTimeForward) {
    virtual_event_loop loop;
    loop.backend().advance(5);
    EXPECT_EQ(loop.time(), 5.0);
    loop.backend().advance(-3);
    EXPECT_EQ(loop.time(), 5.0);
    bool ran = false;
    loop.call_later(1.0, [&] { ran = true; });
    loop.run_until_complete(sleep(2));
    EXPECT_TRUE(ran);
    EXPECT_EQ(loop.time(), 7.0);
}

TEST(VirtualClock, CancelDuringSleepEndsAtCancelTime) {
    virtual_event_loop loop;
    auto t = loop.create_task(sleep(100));
    loop.call_later(3.0, [&] { t.cancel("enough"); });
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_EQ(loop.time(), 3.0);
}

}  // namespace
}  // namespace duet::test
