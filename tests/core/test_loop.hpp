// The loop this build of the core suite runs against (chosen by CMake), and helpers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>
#include DUET_TEST_LOOP_HEADER

namespace duet::test {

using test_loop = DUET_TEST_LOOP_TYPE;

// Runs `c` to completion on a fresh loop of the suite's kind, then closes the loop.
template <class T>
T run_on_new_loop(coro<T> c) {
    test_loop loop;
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

}  // namespace duet::test
