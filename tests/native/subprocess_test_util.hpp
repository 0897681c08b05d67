// What the subprocess suites share (subprocess_test.cpp, subprocess_steps_test.cpp): the
// helper child's path, a co_return-ing assertion, child and option helpers.
#pragma once

#include <sys/wait.h>

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>
#include <duet/event_loop.hpp>

#include "co_assert.hpp"
#include "fd_count.hpp"

#ifndef DUET_CHILD_HELPER
#error "DUET_CHILD_HELPER must name the child_helper program"
#endif

namespace duet::subtest {

using nettest::count_fds;

inline const std::string helper = DUET_CHILD_HELPER;

// Whether this process has a child (running or a zombie), without reaping it.
inline bool has_children() {
    siginfo_t si{};
    return ::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

inline std::string what_of(const std::exception_ptr& e) {
    try {
        if (e) std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "(not a std::exception)";
    }
    return "(none)";
}

// The arguments as a named call (g++ 12 cannot compile a braced list inside co_await).
template <class... S>
std::vector<std::string> args(S... s) {
    return std::vector<std::string>{std::string(s)...};
}

inline subprocess_options piped(bool in, bool out, bool err = false) {
    subprocess_options o;
    if (in) o.std_in = subprocess::pipe;
    if (out) o.std_out = subprocess::pipe;
    if (err) o.std_err = subprocess::pipe;
    return o;
}

// The loop of a subprocess test and its checks, for a fixture deriving from Base (a
// GoogleTest fixture type): a fresh uv loop whose exception handler records into
// `errors`; at the end no fd left open, no child left behind and no recorded error.
template <class Base>
class subprocess_fixture : public Base {
protected:
    // From SetUp (check HasFatalFailure() after it).
    void open_loop() {
        // libuv opens a process-wide pipe with its first loop (for signals): open it first.
        nettest::open_libuv_process_fds();
        ASSERT_FALSE(has_children()) << "a child was left by an earlier test";
        fds_before_ = count_fds();
        loop_ = std::make_unique<event_loop>();
        loop_->set_exception_handler([this](abstract_event_loop&, const exception_context& c) {
            errors.push_back(c.message + (c.exception ? " | " + what_of(c.exception) : std::string()));
        });
        set_event_loop(loop_.get());
    }
    // Lets a child killed at the end of a test be reaped.
    void settle_children() {
        if (!loop_ || !has_children()) return;
        try {
            loop_->run_until_complete(wait_for(settle(), 5.0));
        } catch (...) {
        }
    }
    // From TearDown: closes the loop and checks what is left.
    void close_loop() {
        set_event_loop(nullptr);
        if (loop_) loop_->close();
        loop_.reset();
        EXPECT_EQ(count_fds(), fds_before_) << "file descriptors leaked";
        EXPECT_FALSE(has_children()) << "a child was left behind";
        for (const auto& e : errors) ADD_FAILURE() << "exception handler: " << e;
    }
    static coro<void> settle() {
        while (has_children()) co_await duet::sleep(0.002);
        // The watchers deliver exits as loop callbacks; the transports then close pipes.
        for (int i = 0; i < 5; ++i) co_await duet::sleep(0);
    }
    template <class C>
    auto run(C&& c) {
        return loop_->run_until_complete(duet::wait_for(std::forward<C>(c), run_limit));
    }
    template <class C>
    auto run(C&& c, double timeout) {
        return loop_->run_until_complete(duet::wait_for(std::forward<C>(c), timeout));
    }
    event_loop& loop() { return *loop_; }

    std::vector<std::string> errors;
    double run_limit = 20;  // seconds a run() may take

private:
    std::unique_ptr<event_loop> loop_;
    int fds_before_ = 0;
};

}  // namespace duet::subtest
