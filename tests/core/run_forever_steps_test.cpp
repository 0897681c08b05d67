// Driving a loop by hand with run_forever_setup / run_once / run_forever_cleanup (asyncio's
// _run_forever_setup / _run_once / _run_forever_cleanup): the loop is the running loop
// exactly from set-up to clean-up, and set-up refuses what run_forever refuses.
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "no error";
}

TEST(RunForeverSteps, DriveALoopByHand) {
    virtual_event_loop loop;
    std::vector<abstract_event_loop*> seen;
    auto body = [&]() -> coro<int> {
        seen.push_back(running_loop());
        co_await sleep(1.5);
        seen.push_back(running_loop());
        co_return 3;
    };
    auto t = loop.create_task(body());
    t.add_done_callback([&](future<int>&) { loop.stop(); });
    EXPECT_EQ(running_loop(), nullptr);

    loop.run_forever_setup();
    EXPECT_EQ(running_loop(), &loop);
    EXPECT_TRUE(loop.is_running());
    int turns = 0;
    while (!loop.stop_requested()) {
        ASSERT_LT(++turns, 100);
        wake_plan p = loop.run_once();
        EXPECT_EQ(running_loop(), &loop);
        // This host's wait: the virtual clock jumps to the next deadline.
        if (!p.ready && p.deadline != __builtin_inf()) loop.backend().advance(p.deadline - loop.time());
    }
    loop.run_forever_cleanup();

    EXPECT_EQ(running_loop(), nullptr);
    EXPECT_FALSE(loop.is_running());
    EXPECT_FALSE(loop.stop_requested());
    EXPECT_EQ(seen, (std::vector<abstract_event_loop*>{&loop, &loop}));
    EXPECT_EQ(t.result(), 3);
    EXPECT_DOUBLE_EQ(loop.time(), 1.5);
    // The loop runs normally afterwards.
    EXPECT_EQ(loop.run_until_complete([]() -> coro<int> { co_return 4; }()), 4);
}

TEST(RunForeverSteps, SetupRefusesWhatRunForeverRefuses) {
    virtual_event_loop a, b, closed;
    closed.close();
    EXPECT_EQ(error_of([&] { closed.run_forever_setup(); }), "Event loop is closed");

    a.run_forever_setup();
    EXPECT_EQ(error_of([&] { a.run_forever_setup(); }), "This event loop is already running");
    EXPECT_EQ(error_of([&] { a.run_forever(); }), "This event loop is already running");
    EXPECT_EQ(error_of([&] { b.run_forever_setup(); }), "Cannot run the event loop while another loop is running");
    EXPECT_FALSE(b.is_running());
    a.run_forever_cleanup();
    EXPECT_EQ(running_loop(), nullptr);

    b.run_forever_setup();
    EXPECT_EQ(running_loop(), &b);
    b.run_forever_cleanup();
    EXPECT_EQ(running_loop(), nullptr);
}

TEST(RunForeverSteps, RunOnceNeedsSetup) {
    virtual_event_loop loop;
    bool ran = false;
    loop.call_soon([&] { ran = true; });
    EXPECT_THROW(loop.run_once(), std::runtime_error);
    EXPECT_FALSE(ran);
    loop.run_forever_cleanup();  // nothing to clean up: harmless
    EXPECT_FALSE(loop.is_running());
}

TEST(RunForeverSteps, StopBeforeSetupRunsOneTurn) {
    virtual_event_loop loop;
    std::vector<int> order;
    loop.call_soon([&] {
        order.push_back(1);
        loop.call_soon([&] { order.push_back(2); });
    });
    loop.stop();
    loop.run_forever_setup();
    loop.run_once();
    EXPECT_TRUE(loop.stop_requested());
    loop.run_forever_cleanup();
    EXPECT_EQ(order, (std::vector<int>{1}));
}

}  // namespace
}  // namespace duet::test
