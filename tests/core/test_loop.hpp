// The one header of shared test helpers.
//
// Two kinds of suites use it (tests/CMakeLists.txt builds each kind into one binary per
// target):
// - the semantics suites (futures, tasks, combinators, locks, ...) run once, on the
//   virtual clock: `test_loop` is duet::virtual_event_loop, so time-dependent behaviour is
//   exact and instant;
// - the loop-contract suites are typed tests (TYPED_TEST_SUITE(Suite, contract_loops))
//   that run against every loop of the target: uv, poll and virtual natively; the browser
//   loop and virtual under Emscripten. (No name generator: CMake 3.25's
//   gtest_discover_tests names typed tests by the type, Suite.Test<duet::...>, and cannot
//   parse generated names.)
#pragma once

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>
#include <duet/event_loop.hpp>
#include <duet/virtual_clock.hpp>

#ifdef DUET_TEST_HAS_POLL_LOOP
#include <poll_event_loop.hpp>  // examples/custom_loop
#endif

// Threads exist natively (and in a wasm build with pthreads, which the suite does not use).
#if !defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__)
#define DUET_TEST_HAS_THREADS 1
#endif

namespace duet::test {

// The loop of the semantics suites.
using test_loop = virtual_event_loop;

// Every loop of this target, for the loop-contract suites.
using contract_loops = ::testing::Types<event_loop, virtual_event_loop
#ifdef DUET_TEST_HAS_POLL_LOOP
                                        ,
                                        examples::poll_event_loop
#endif
                                        >;

// Runs `c` to completion on a fresh loop of type Loop, then closes the loop.
template <class Loop = test_loop, class T>
T run_on_new_loop(coro<T> c) {
    Loop loop;
    if constexpr (std::is_void_v<T>) {
        loop.run_until_complete(std::move(c));
        loop.close();
    } else {
        T v = loop.run_until_complete(std::move(c));
        loop.close();
        return v;
    }
}

// Records exception-handler calls instead of printing them.
struct handler_log {
    std::vector<exception_context> calls;
    void install(abstract_event_loop& loop) {
        loop.set_exception_handler([this](abstract_event_loop&, const exception_context& c) { calls.push_back(c); });
    }
    std::vector<std::string> messages() const {
        std::vector<std::string> m;
        for (auto& c : calls) m.push_back(c.message);
        return m;
    }
};

// A coroutine that sleeps `d` seconds, then returns `v`.
inline coro<int> value_after(double d, int v) {
    co_await sleep(d);
    co_return v;
}

// what() of a std::exception, "cancelled" for a cancellation.
inline std::string error_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (const cancelled_error&) {
        return "cancelled";
    }
}

// The message of the std::runtime_error `f()` raises, or "no error".
template <class F>
std::string runtime_error_of(F&& f) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace duet::test
