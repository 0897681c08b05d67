// What the subprocess suites share (subprocess_test.cpp, subprocess_steps_test.cpp): the
// helper child's path, a co_return-ing assertion, child and option helpers.
#pragma once

#include <sys/wait.h>

#include <exception>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>

#include "fd_count.hpp"

#ifndef DUET_CHILD_HELPER
#error "DUET_CHILD_HELPER must name the child_helper program"
#endif

namespace duet::subtest {

using nettest::count_fds;

inline const std::string helper = DUET_CHILD_HELPER;

// ASSERT_* return from the function, which a coroutine may not: this co_returns.
#define CO_ASSERT_TRUE(c)                                  \
    do {                                                   \
        if (!(c)) {                                        \
            ADD_FAILURE() << "assertion failed: " << (#c); \
            co_return;                                     \
        }                                                  \
    } while (0)

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

}  // namespace duet::subtest
