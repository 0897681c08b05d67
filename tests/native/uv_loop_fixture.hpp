// A GoogleTest fixture that owns a uv event loop and checks that no fd leaks (/proc/self/fd
// counted before the loop exists and after it is closed), for the stream tests that need
// nothing more (net_test_util.hpp's net_test also records the exception handler).
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include <gtest/gtest.h>

#include <duet/duet.hpp>
#include <duet/event_loop.hpp>

#include "fd_count.hpp"

namespace duet::nettest {

class uv_loop_fixture : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        event_loop warm_up;  // libuv's process-wide fds come with the first loop
        warm_up.close();
    }
    void SetUp() override {
        fds_before_ = count_fds();
        loop_ = std::make_unique<event_loop>();
    }
    void TearDown() override {
        loop_->close();
        loop_.reset();
        EXPECT_EQ(count_fds(), fds_before_) << "an fd leaked";
    }
    // Runs c on the loop; `limit` seconds guard against a hang.
    template <class T>
    T run(coro<T> c, double limit = 60) {
        return loop_->run_until_complete(wait_for(std::move(c), limit));
    }
    abstract_event_loop& loop() { return *loop_; }

private:
    int fds_before_ = 0;
    std::unique_ptr<event_loop> loop_;
};

// The port a server listens on (its first socket), 0 if none.
inline std::uint16_t port_of(const std::shared_ptr<server>& s) {
    auto socks = s->sockets();
    return socks.empty() ? 0 : socks.front().port;
}

}  // namespace duet::nettest
