// Unix signals on the uv loop (asyncio's add_signal_handler / remove_signal_handler): the
// callback runs as a loop callback on the loop's thread, never inside the signal handler;
// asyncio's checks; the default disposition comes back on removal and at loop close.
#include <signal.h>

#include <atomic>
#include <csignal>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>
#include <duet/event_loop.hpp>

#include "fd_count.hpp"
#include "signal_test_util.hpp"

namespace duet::test {
namespace {

using nettest::disposition_is_default;

int open_fd_count() {
    return nettest::count_fds();
}

// libuv's signal pipes are opened before any count.
void warm_up() {
    nettest::open_libuv_signal_fds();
}

class Signals : public ::testing::Test {
protected:
    void TearDown() override {
        if (loop_ && !loop_->is_closed()) loop_->close();
        loop_.reset();
        EXPECT_EQ(open_fd_count(), fds_before_) << "an fd leaked";
        EXPECT_TRUE(disposition_is_default(SIGUSR1));
    }
    // Runs the loop until stop() or 20 s (then fails).
    void run_until_stopped() { nettest::run_until_stopped(loop()); }
    event_loop& loop() { return *loop_; }
    int fds_before_ = (warm_up(), open_fd_count());
    std::optional<event_loop> loop_{std::in_place};
};

TEST_F(Signals, RaisedSignalRunsTheCallbackOnTheLoopThreadWithItsArguments) {
    std::vector<int> got;
    std::thread::id thread;
    abstract_event_loop* ran_on = nullptr;
    loop().add_signal_handler(
        SIGUSR1,
        [&](int a, const std::string& b) {
            got.push_back(a);
            EXPECT_EQ(b, "bound");
            thread = std::this_thread::get_id();
            ran_on = running_loop();
            loop().stop();
        },
        42, std::string("bound"));
    EXPECT_FALSE(disposition_is_default(SIGUSR1));
    loop().call_soon([] { ::raise(SIGUSR1); });
    run_until_stopped();
    EXPECT_EQ(got, std::vector<int>{42});
    EXPECT_EQ(thread, std::this_thread::get_id());
    EXPECT_EQ(ran_on, &loop());
    EXPECT_TRUE(loop().remove_signal_handler(SIGUSR1));
}

context_var<std::string> signal_var("signal_var");

// As asyncio's handler handle: the callback runs in a copy of the context current at
// add_signal_handler (here a task's), and what it sets does not reach the thread.
TEST_F(Signals, CallbackRunsInTheContextOfItsRegistration) {
    std::string seen;
    auto registrar = [&]() -> coro<void> {
        signal_var.set("registrar");
        get_running_loop().add_signal_handler(SIGUSR1, [&] {
            seen = signal_var.get("none");
            signal_var.set("set by the handler");
            loop().stop();
        });
        co_return;
    };
    loop().run_until_complete(registrar());
    loop().call_soon([] { ::raise(SIGUSR1); });
    run_until_stopped();
    EXPECT_EQ(seen, "registrar");
    EXPECT_EQ(signal_var.get("none"), "none");
    EXPECT_TRUE(loop().remove_signal_handler(SIGUSR1));
}

// The callback is a loop callback: queued with call_soon, so an exception from it goes to
// the exception handler as any callback's does.
TEST_F(Signals, ExceptionFromTheCallbackGoesToTheHandler) {
    std::vector<std::string> messages;
    loop().set_exception_handler([&](abstract_event_loop&, const exception_context& c) {
        messages.push_back(c.message);
        loop().stop();
    });
    loop().add_signal_handler(SIGUSR1, [] { throw std::runtime_error("from the signal callback"); });
    loop().call_soon([] { ::raise(SIGUSR1); });
    run_until_stopped();
    EXPECT_EQ(messages.size(), 1u);
    loop().remove_signal_handler(SIGUSR1);
}

TEST_F(Signals, SecondAddReplacesTheCallback) {
    std::vector<std::string> calls;
    loop().add_signal_handler(SIGUSR1, [&] { calls.push_back("first"); });
    loop().add_signal_handler(SIGUSR1, [&] {
        calls.push_back("second");
        loop().stop();
    });
    loop().call_soon([] { ::raise(SIGUSR1); });
    run_until_stopped();
    EXPECT_EQ(calls, std::vector<std::string>{"second"});
    EXPECT_TRUE(loop().remove_signal_handler(SIGUSR1));
}

TEST_F(Signals, RemoveReturnsTrueThenFalseAndRestoresTheDefault) {
    EXPECT_FALSE(loop().remove_signal_handler(SIGUSR1));
    loop().add_signal_handler(SIGUSR1, [] {});
    EXPECT_FALSE(disposition_is_default(SIGUSR1));
    EXPECT_TRUE(loop().remove_signal_handler(SIGUSR1));
    EXPECT_TRUE(disposition_is_default(SIGUSR1));
    EXPECT_FALSE(loop().remove_signal_handler(SIGUSR1));
    // SIGINT goes back to SIG_DFL too (asyncio restores Python's default_int_handler).
    loop().add_signal_handler(SIGINT, [] {});
    EXPECT_TRUE(loop().remove_signal_handler(SIGINT));
    EXPECT_TRUE(disposition_is_default(SIGINT));
}

TEST_F(Signals, InvalidNumbersAreRefused) {
    for (int sig : {0, -1, NSIG, NSIG + 5}) {
        try {
            loop().add_signal_handler(sig, [] {});
            ADD_FAILURE() << "signal " << sig << " accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_EQ(std::string(e.what()), "invalid signal number " + std::to_string(sig));
        }
        EXPECT_THROW(loop().remove_signal_handler(sig), std::invalid_argument);
    }
}

TEST_F(Signals, SigkillAndSigstopCannotBeCaught) {
    for (auto [sig, name] : {std::pair{SIGKILL, "SIGKILL"}, std::pair{SIGSTOP, "SIGSTOP"}}) {
        try {
            loop().add_signal_handler(sig, [] {});
            ADD_FAILURE() << name << " accepted";
        } catch (const std::runtime_error& e) {
            std::string m = e.what();
            EXPECT_NE(m.find(name), std::string::npos) << m;
            EXPECT_NE(m.find("cannot be caught"), std::string::npos) << m;
        }
        EXPECT_FALSE(loop().remove_signal_handler(sig));
        EXPECT_TRUE(disposition_is_default(sig));
    }
}

TEST_F(Signals, ClosedLoopRefuses) {
    loop().close();
    EXPECT_THROW(loop().add_signal_handler(SIGUSR1, [] {}), std::runtime_error);
    EXPECT_FALSE(loop().remove_signal_handler(SIGUSR1));
}

TEST_F(Signals, HandlersLeftAtCloseAreRemovedSilently) {
    std::vector<std::string> messages;
    loop().set_exception_handler(
        [&](abstract_event_loop&, const exception_context& c) { messages.push_back(c.message); });
    loop().add_signal_handler(SIGUSR1, [] {});
    loop().add_signal_handler(SIGUSR2, [] {});
    EXPECT_FALSE(disposition_is_default(SIGUSR1));
    loop().close();
    EXPECT_TRUE(disposition_is_default(SIGUSR1));
    EXPECT_TRUE(disposition_is_default(SIGUSR2));
    EXPECT_TRUE(messages.empty());
    EXPECT_FALSE(loop().remove_signal_handler(SIGUSR1));
}

// Two loops, one signal: each loop's handler runs (libuv delivers to every watcher), and
// the disposition stays until the last one is removed.
TEST_F(Signals, TwoLoopsShareASignal) {
    event_loop other;
    int here = 0, there = 0;
    loop().add_signal_handler(SIGUSR1, [&] { ++here; });
    other.add_signal_handler(SIGUSR1, [&] {
        ++there;
        other.stop();
    });
    ::raise(SIGUSR1);
    auto dog = other.call_later(20.0, [&] { other.stop(); });
    other.run_forever();
    dog.cancel();
    EXPECT_EQ(there, 1);
    EXPECT_TRUE(loop().remove_signal_handler(SIGUSR1));
    EXPECT_FALSE(disposition_is_default(SIGUSR1));  // `other` still watches it
    EXPECT_TRUE(other.remove_signal_handler(SIGUSR1));
    EXPECT_TRUE(disposition_is_default(SIGUSR1));
    other.close();
    (void)here;
}

}  // namespace
}  // namespace duet::test
