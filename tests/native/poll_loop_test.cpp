// The custom poll(2) loop of examples/custom_loop (basic_event_loop<poll_backend>): fd
// watching through its backend, and the host duties the backend implements itself
// (blocking, waking, timers, stop).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>

#include "poll_event_loop.hpp"

namespace duet::examples {
namespace {

using namespace std::chrono_literals;

// A pipe whose ends close with the test.
struct test_pipe {
    int r = -1, w = -1;
    test_pipe() {
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("pipe");
        r = fds[0];
        w = fds[1];
        ::fcntl(r, F_SETFL, ::fcntl(r, F_GETFL) | O_NONBLOCK);
    }
    ~test_pipe() {
        close_read();
        close_write();
    }
    void put(const std::string& s) const { ASSERT_EQ(::write(w, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
    std::string take() const {
        char buf[256];
        ssize_t n = ::read(r, buf, sizeof buf);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }
    void close_read() {
        if (r >= 0) ::close(r);
        r = -1;
    }
    void close_write() {
        if (w >= 0) ::close(w);
        w = -1;
    }
};

// Stops the loop after `seconds` and remembers that it had to.
struct watchdog {
    bool fired = false;
    timer_handle h;
    watchdog(poll_event_loop& loop, double seconds) {
        h = loop.call_later(seconds, [this, &loop] {
            fired = true;
            loop.stop();
        });
    }
};

TEST(PollLoopReader, ReadablePipeRunsCallbackOnTheRunningLoop) {
    poll_event_loop loop;
    test_pipe p;
    p.put("hi");
    std::string got;
    abstract_event_loop* running = nullptr;
    loop.add_reader(p.r, [&] {
        got = p.take();
        running = running_loop();
        loop.stop();
    });
    watchdog dog(loop, 5);
    loop.run_forever();
    EXPECT_FALSE(dog.fired);
    EXPECT_EQ(got, "hi");
    EXPECT_EQ(running, &loop);
}

TEST(PollLoopReader, ArgumentsAreBound) {
    poll_event_loop loop;
    test_pipe p;
    p.put("x");
    int seen = 0;
    loop.add_reader(
        p.r,
        [&](int v) {
            seen = v;
            (void)p.take();
            loop.stop();
        },
        42);
    loop.run_forever();
    EXPECT_EQ(seen, 42);
}

TEST(PollLoopReader, DataWrittenByAnotherThreadWakesABlockedLoop) {
    poll_event_loop loop;
    test_pipe p;
    std::string got;
    loop.add_reader(p.r, [&] {
        got = p.take();
        loop.stop();
    });
    // No timer is pending: the loop sleeps in poll() until the pipe becomes readable.
    std::thread writer([&] {
        std::this_thread::sleep_for(20ms);
        p.put("late");
    });
    loop.run_forever();
    writer.join();
    EXPECT_EQ(got, "late");
}

TEST(PollLoopReader, EndOfFileIsReadable) {
    poll_event_loop loop;
    test_pipe p;
    p.close_write();
    ssize_t n = -2;
    loop.add_reader(p.r, [&] {
        char c;
        n = ::read(p.r, &c, 1);
        loop.remove_reader(p.r);
        loop.stop();
    });
    watchdog dog(loop, 5);
    loop.run_forever();
    EXPECT_FALSE(dog.fired);
    EXPECT_EQ(n, 0);
}

TEST(PollLoopReader, CallbackRunsAsALoopCallback) {
    // Its exceptions go to the exception handler, and it runs after the callbacks that
    // were already queued when poll() saw the fd readable. A budget of one iteration per
    // turn makes the loop poll (with timeout 0) while "second" is still queued.
    poll_event_loop loop;
    loop.set_process_budget(1, 0);
    test_pipe p;
    std::vector<std::string> order;
    std::vector<std::string> errors;
    loop.set_exception_handler([&](abstract_event_loop&, const exception_context& c) { errors.push_back(c.message); });
    loop.add_reader(p.r, [&] {
        order.push_back("reader");
        (void)p.take();
        loop.remove_reader(p.r);
        loop.call_soon([&] { loop.stop(); });
        throw std::runtime_error("reader failed");
    });
    loop.call_soon([&] {
        order.push_back("first");
        p.put("x");
        loop.call_soon([&] { order.push_back("second"); });
    });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "reader"}));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "Exception in callback");
}

TEST(PollLoopReader, SecondAddReaderReplacesTheFirst) {
    poll_event_loop loop;
    test_pipe p;
    p.put("x");
    int first = 0, second = 0;
    loop.add_reader(p.r, [&] { ++first; });
    loop.add_reader(p.r, [&] {
        ++second;
        (void)p.take();
        loop.stop();
    });
    loop.run_forever();
    EXPECT_EQ(first, 0);
    EXPECT_EQ(second, 1);
    EXPECT_TRUE(loop.remove_reader(p.r));
    EXPECT_FALSE(loop.remove_reader(p.r));
}

TEST(PollLoopReader, RejectsBadDescriptors) {
    poll_event_loop loop;
    EXPECT_THROW(loop.add_reader(-1, [] {}), std::invalid_argument);
}

TEST(PollLoopReader, ClosedDescriptorIsReportedAndRemoved) {
    poll_event_loop loop;
    test_pipe p;
    int calls = 0;
    std::vector<std::string> errors;
    loop.set_exception_handler([&](abstract_event_loop&, const exception_context& c) { errors.push_back(c.message); });
    int fd = p.r;
    loop.add_reader(fd, [&] { ++calls; });
    p.close_read();  // a user error: the fd goes away while watched
    loop.call_later(0.02, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(calls, 0);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find("fd " + std::to_string(fd)), std::string::npos) << errors[0];
    EXPECT_FALSE(loop.remove_reader(fd));
}

TEST(PollLoopRemoveReader, ReturnsWhetherAReaderWasRegistered) {
    poll_event_loop loop;
    test_pipe p;
    EXPECT_FALSE(loop.remove_reader(p.r));
    loop.add_reader(p.r, [] {});
    EXPECT_TRUE(loop.remove_reader(p.r));
    EXPECT_FALSE(loop.remove_reader(p.r));
}

TEST(PollLoopRemoveReader, StopsFurtherCallbacks) {
    poll_event_loop loop;
    test_pipe p;
    p.put("stays unread");  // stays readable: only removal can stop the callbacks
    int calls = 0;
    bool removed = false;
    loop.add_reader(p.r, [&] {
        ++calls;
        removed = loop.remove_reader(p.r);
    });
    loop.call_later(0.03, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(removed);
}

TEST(PollLoopRemoveReader, BeforeRunningNothingIsCalled) {
    poll_event_loop loop;
    test_pipe p;
    p.put("x");
    int calls = 0;
    loop.add_reader(p.r, [&] { ++calls; });
    EXPECT_TRUE(loop.remove_reader(p.r));
    loop.call_later(0.02, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(calls, 0);
}

TEST(PollLoopRemoveReader, ClosedLoop) {
    poll_event_loop loop;
    test_pipe p;
    loop.add_reader(p.r, [] {});
    loop.close();
    EXPECT_FALSE(loop.remove_reader(p.r));  // close() dropped it; asyncio returns False too
    EXPECT_THROW(loop.add_reader(p.r, [] {}), std::runtime_error);
}

TEST(PollLoopThreadsafe, WakesABlockedLoop) {
    poll_event_loop loop;
    std::atomic<bool> ran{false};
    std::thread t([&] {
        std::this_thread::sleep_for(20ms);
        loop.call_soon_threadsafe([&] {
            ran = true;
            loop.stop();
        });
    });
    loop.run_forever();  // nothing scheduled: blocks in poll(-1) until the thread wakes it
    t.join();
    EXPECT_TRUE(ran);
}

TEST(PollLoopThreadsafe, ManyThreadsLoseNoWake) {
    poll_event_loop loop;
    constexpr int threads = 4, per_thread = 10000;
    int count = 0;
    // A lost wake would leave callbacks queued while the loop sleeps; the watchdog would
    // then be what ends the run.
    watchdog dog(loop, 20);
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i)
        ts.emplace_back([&] {
            for (int j = 0; j < per_thread; ++j) {
                loop.call_soon_threadsafe([&] {
                    if (++count == threads * per_thread) loop.stop();
                });
                if (j % 64 == 0) std::this_thread::yield();
            }
        });
    loop.run_forever();
    for (auto& t : ts) t.join();
    EXPECT_FALSE(dog.fired);
    EXPECT_EQ(count, threads * per_thread);
}

TEST(PollLoopThreadsafe, PingPongLosesNoWake) {
    // Each thread posts one callback and waits for it to run before posting the next, so
    // every post finds the queue empty and must wake the loop, often just as the loop is
    // about to go back to sleep.
    poll_event_loop loop;
    constexpr int threads = 2, rounds = 3000;
    std::atomic<bool> give_up{false};
    std::atomic<int> acked[threads] = {};
    int finished = 0;
    watchdog dog(loop, 20);
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i)
        ts.emplace_back([&, i] {
            for (int j = 1; j <= rounds && !give_up; ++j) {
                loop.call_soon_threadsafe([&, i, j] {
                    acked[i] = j;
                    if (j == rounds && ++finished == threads) loop.stop();
                });
                while (acked[i] != j && !give_up) std::this_thread::yield();
            }
        });
    loop.run_forever();
    give_up = true;
    for (auto& t : ts) t.join();
    EXPECT_FALSE(dog.fired);
    EXPECT_EQ(finished, threads);
}

TEST(PollLoopThreadsafe, QueuedBeforeRunIsRunByRun) {
    poll_event_loop loop;
    bool ran = false;
    std::thread([&] { loop.call_soon_threadsafe([&] { ran = true; }); }).join();
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    EXPECT_TRUE(ran);
}

TEST(PollLoopTimers, FireInOrderAndNeverEarly) {
    poll_event_loop loop;
    const std::vector<double> delays = {0.03, 0.01, 0.02, 0.01, 0.0, 0.025, 0.005};
    std::vector<timer_handle> handles(delays.size());
    struct fired {
        std::size_t index;
        double at;
    };
    std::vector<fired> log;
    for (std::size_t i = 0; i < delays.size(); ++i)
        handles[i] = loop.call_later(delays[i], [&, i] {
            log.push_back({i, loop.time()});
            if (log.size() == delays.size()) loop.stop();
        });
    loop.run_forever();
    ASSERT_EQ(log.size(), delays.size());
    std::vector<std::size_t> expected(delays.size());
    for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = i;
    std::stable_sort(expected.begin(), expected.end(),
                     [&](std::size_t x, std::size_t y) { return handles[x].when() < handles[y].when(); });
    for (std::size_t k = 0; k < log.size(); ++k) {
        EXPECT_EQ(log[k].index, expected[k]) << "position " << k;
        EXPECT_GE(log[k].at, handles[log[k].index].when()) << "timer " << log[k].index << " fired early";
    }
}

TEST(PollLoopTimers, WaitingLoopBlocksInsteadOfSpinning) {
    // A loop waiting 50 ms for a timer (after a thread-safe wake, whose pipe byte must be
    // drained) blocks in poll() a few times at most; one that kept polling with timeout 0
    // (an undrained pipe, a lost deadline) would count none, or spin through thousands.
    poll_event_loop loop;
    std::thread([&] { loop.call_soon_threadsafe([] {}); }).join();
    loop.call_later(0.05, [&] { loop.stop(); });
    std::size_t before = loop.backend().blocking_polls();
    loop.run_forever();
    std::size_t polls = loop.backend().blocking_polls() - before;
    EXPECT_GE(polls, 1u);
    EXPECT_LE(polls, 5u);
}

TEST(PollLoopTimers, CancelledTimerDoesNotFire) {
    poll_event_loop loop;
    bool ran = false;
    auto h = loop.call_later(0.01, [&] { ran = true; });
    loop.call_later(0.02, [&] { loop.stop(); });
    h.cancel();
    loop.run_forever();
    EXPECT_FALSE(ran);
}

TEST(PollLoopTimers, SleepingTasks) {
    poll_event_loop loop;
    auto body = [](poll_event_loop& l) -> coro<double> {
        double start = l.time();
        co_await sleep(0.01);
        co_await sleep(0.005);
        co_return l.time() - start;
    };
    double elapsed = loop.run_until_complete(body(loop));
    EXPECT_GE(elapsed, 0.015);
}

TEST(PollLoopStop, BeforeRunForeverRunsExactlyOneIteration) {
    poll_event_loop loop;
    std::vector<std::string> order;
    loop.call_soon([&] {
        order.push_back("a");
        loop.call_soon([&] { order.push_back("b"); });
    });
    loop.stop();
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<std::string>{"a"}));
    EXPECT_FALSE(loop.is_running());
    // The next run picks up where the last one stopped.
    loop.call_soon([&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));
}

TEST(PollLoopStop, BeforeRunForeverWithNothingScheduledReturns) {
    poll_event_loop loop;
    loop.stop();
    loop.run_forever();  // would block in poll(-1) if the stop were lost
    EXPECT_FALSE(loop.is_running());
}

TEST(PollLoopClose, DestructorClosesAndTimeIsMonotonic) {
    double a, b;
    {
        poll_event_loop loop;
        a = loop.time();
        b = loop.time();
        EXPECT_FALSE(loop.is_closed());
    }
    EXPECT_LE(a, b);
}

}  // namespace
}  // namespace duet::examples
