// What the browser backend asks of the JS host, counted by Module.duet.stats(): a turn
// runs many loop iterations per macrotask, and the setTimeout follows the earliest
// deadline only when it changes.
#include <vector>

#include <emscripten/emscripten.h>
#include <gtest/gtest.h>

#include <duet/duet.hpp>

namespace duet::test {
namespace {

EM_JS(int, host_macrotasks, (), { return Module.duet.stats().macrotasks; });
EM_JS(int, host_timeouts, (), { return Module.duet.stats().timeouts; });
EM_JS(int, host_armed_timeouts, (), { return Module.duet.stats().armedTimeouts; });

coro<void> yield_times(int n) {
    for (int i = 0; i < n; ++i) co_await yield_now();
}

TEST(BrowserBackend, ManyIterationsPerMacrotask) {
    event_loop loop;
    int before = host_macrotasks();
    loop.run_until_complete(yield_times(10000));
    int used = host_macrotasks() - before;
    EXPECT_LT(used, 200) << "10000 yields should need a handful of turns, not one macrotask each";
    loop.close();
}

TEST(BrowserBackend, OneTimeoutForABatchOfTimers) {
    event_loop loop;
    int before = host_timeouts();
    loop.run_until_complete([]() -> coro<void> {
        std::vector<task<void>> sleepers;
        for (int i = 0; i < 100; ++i) sleepers.push_back(create_task(sleep(0.01)));
        for (auto& t : sleepers) co_await t;
    }());
    EXPECT_LE(host_timeouts() - before, 5) << "100 sleeps of the same length share the earliest deadline";
    loop.close();
}

TEST(BrowserBackend, EarlierDeadlineReplacesTheTimeout) {
    event_loop loop;
    std::vector<int> order;
    loop.call_later(0.05, [&] { order.push_back(2); });
    loop.call_later(0.01, [&] { order.push_back(1); });
    loop.call_later(0.06, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
    loop.close();
}

TEST(BrowserBackend, HostLoopStopsAndRestarts) {
    auto& host = wasm::host_loop();
    ASSERT_TRUE(host.is_running());
    host.call_soon([&] { host.stop(); });
    event_loop loop;
    loop.run_until_complete(sleep(0.005));  // the host loop gets turns meanwhile
    EXPECT_FALSE(host.is_running());
    EXPECT_TRUE(wasm::host_loop().is_running());  // restarted on demand
    auto t = wasm::spawn(sleep(0.001, 7));
    EXPECT_EQ(loop.run_until_complete([](task<int> w) -> coro<int> {
        while (!w.done()) co_await sleep(0.001);
        co_return w.result();
    }(t)),
              7);
    loop.close();
}

TEST(BrowserBackend, NoTimeoutOutlivesTheRun) {
    event_loop loop;
    loop.call_later(3600, [] {});
    loop.call_later(0.002, [&] { loop.call_later(0.001, [&] { loop.stop(); }); });
    loop.run_forever();  // the last turn saw the hour-long timer next, then stopped
    EXPECT_EQ(host_armed_timeouts(), 0);
    loop.run_until_complete(sleep(0.001));
    EXPECT_EQ(host_armed_timeouts(), 0);
    loop.close();
}

coro<void> wait_done(basic_future f) {
    while (!f.done()) co_await sleep(0.001);
}

TEST(BrowserBackend, StartHandsALoopToTheHost) {
    event_loop driver;  // blocks this test; the host drives `mine` meanwhile
    {
        event_loop mine;
        wasm::start(mine);
        EXPECT_EQ(&wasm::host_loop(), &mine);
        EXPECT_TRUE(mine.is_running());
        auto t = mine.create_task(sleep(0.002, 5));
        driver.run_until_complete(wait_done(t));
        EXPECT_EQ(t.result(), 5);
        mine.stop();
        driver.run_until_complete(sleep(0.002));
        EXPECT_FALSE(mine.is_running());
        mine.close();
    }
    auto& fresh = wasm::host_loop();  // `mine` is gone: a new host loop
    EXPECT_TRUE(fresh.is_running());
    EXPECT_FALSE(fresh.is_closed());
    auto t = wasm::spawn(sleep(0.001, 6));
    driver.run_until_complete(wait_done(t));
    EXPECT_EQ(t.result(), 6);
    driver.close();
}

}  // namespace
}  // namespace duet::test
