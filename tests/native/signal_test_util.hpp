// Helpers of the signal suites (signal_test.cpp and transport_contract_test.cpp's
// signal part): whether a signal's disposition is back to the default, and running a loop
// until a signal's callback stops it.
#pragma once

#include <signal.h>

#include <gtest/gtest.h>

#include <duet/duet.hpp>

namespace duet::nettest {

// Whether `sig` has the default disposition (SIG_DFL, no SA_SIGINFO handler).
inline bool disposition_is_default(int sig) {
    struct sigaction old {};
    ::sigaction(sig, nullptr, &old);
    return !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
}

// Runs `loop` until stop() or 20 s (then fails).
inline void run_until_stopped(abstract_event_loop& loop) {
    bool timed_out = false;
    auto dog = loop.call_later(20.0, [&] {
        timed_out = true;
        loop.stop();
    });
    loop.run_forever();
    dog.cancel();
    EXPECT_FALSE(timed_out) << "the loop was not stopped";
}

}  // namespace duet::nettest
