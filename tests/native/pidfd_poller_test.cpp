// pidfd_child_watcher keeps one epoll set of pidfds per loop, watched by that loop for as
// long as the loop keeps the watch: these cases check its lifetime. One watcher serves a
// loop that is closed and then a new loop built in the same storage (same address): the
// new loop must get its own watch, else its children are never reported. close() with the
// loop alive drops the watch (no fd left once the loop is closed too), and children
// registered on two loops in turn are each delivered by their own loop.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>

#include "fd_count.hpp"

extern char** environ;

namespace duet::test {
namespace {

int spawn_exit(int code) {
    std::string cmd = "exit " + std::to_string(code);
    char sh[] = "/bin/sh";
    char c[] = "-c";
    char* args[] = {sh, c, cmd.data(), nullptr};
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, sh, nullptr, nullptr, args, environ);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn /bin/sh");
    return pid;
}

// Registers a child exiting with `code` on the running loop; returns its returncode.
coro<int> child_returncode(pidfd_child_watcher& w, int code) {
    auto done = get_running_loop().create_future<int>();
    w.add_child_handler(spawn_exit(code), [done](int, int rc) mutable { done.set_result(rc); });
    auto f = done;
    co_return co_await wait_for(f, 15.0);
}

class PidfdPoller : public ::testing::Test {
protected:
    void SetUp() override {
        if (!pidfd_child_watcher::available()) GTEST_SKIP() << "no pidfd_open in this kernel";
        auto l = std::make_unique<event_loop>();  // warm-up: the loop's own fds come and go
        l->close();
        fds_before_ = nettest::count_fds();
    }
    void TearDown() override {
        if (IsSkipped()) return;
        int st = 0;
        EXPECT_EQ(::waitpid(-1, &st, WNOHANG), -1) << "a child is left";
        EXPECT_EQ(nettest::count_fds(), fds_before_) << "an fd leaked";
    }
    int fds_before_ = 0;
};

TEST_F(PidfdPoller, NewLoopAtTheSameAddressGetsItsOwnWatch) {
    pidfd_child_watcher w;
    std::optional<event_loop> loop;
    const void* first = nullptr;
    for (int round = 0; round < 3; ++round) {
        loop.emplace();
        if (round == 0) first = &*loop;
        EXPECT_EQ(static_cast<const void*>(&*loop), first);  // the case this test is about
        EXPECT_EQ(loop->run_until_complete(child_returncode(w, 3 + round)), 3 + round) << "round " << round;
        loop->close();
        loop.reset();
    }
    w.close();
}

TEST_F(PidfdPoller, CloseDropsTheWatchWhileTheLoopLives) {
    event_loop loop;
    {
        pidfd_child_watcher w;
        EXPECT_EQ(loop.run_until_complete(child_returncode(w, 5)), 5);
        w.close();
        // A watcher made after close() on the same loop works as the first did.
        pidfd_child_watcher w2;
        EXPECT_EQ(loop.run_until_complete(child_returncode(w2, 6)), 6);
        w2.close();
    }
    loop.close();
}

TEST_F(PidfdPoller, TwoLoopsInTurnEachDeliverTheirOwn) {
    pidfd_child_watcher w;
    event_loop a;
    event_loop b;
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(a.run_until_complete(child_returncode(w, 10 + i)), 10 + i);
        EXPECT_EQ(b.run_until_complete(child_returncode(w, 20 + i)), 20 + i);
    }
    w.close();
    a.close();
    b.close();
}

}  // namespace
}  // namespace duet::test
