// pidfd_child_watcher keeps one epoll set of pidfds per loop, watched by that loop for as
// long as the loop keeps the watch: these cases check its lifetime. One watcher serves a
// loop that is closed and then a new loop built in the same storage (same address): the
// new loop must get its own watch, else its children are never reported. close() with the
// loop alive drops the watch (no fd left once the loop is closed too), and children
// registered on two loops in turn are each delivered by their own loop.
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
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

// The epoll entries in this process naming an fd that is no longer open: what closing a
// duplicate without taking it out of the set leaves behind (its file lives on in the
// other fd, and so does the entry).
int stale_epoll_entries() {
    // The listed fds are checked once nothing of this function's own is open (reading
    // /proc opens fds, which would take the lowest numbers: a stale entry's among them).
    std::vector<int> listed;
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return -1;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char target[64] = {};
        const std::string link = std::string("/proc/self/fd/") + e->d_name;
        if (::readlink(link.c_str(), target, sizeof target - 1) < 0) continue;
        if (std::string(target) != "anon_inode:[eventpoll]") continue;
        std::ifstream info(std::string("/proc/self/fdinfo/") + e->d_name);
        std::string word;
        while (info >> word) {
            int fd = -1;
            if (word == "tfd:" && info >> fd) listed.push_back(fd);
        }
    }
    ::closedir(d);
    int stale = 0;
    for (int fd : listed) stale += ::fcntl(fd, F_GETFD) == -1 ? 1 : 0;
    return stale;
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

// add_child_handler(pid, pidfd, cb), as duet's spawner calls it: the watcher watches a copy
// of the caller's pidfd. The exit is delivered once, the caller's pidfd stays the caller's,
// and neither a reaped nor a removed child leaves an entry in the poller's set.
TEST_F(PidfdPoller, AHandlerOnTheCallersPidfdWatchesACopy) {
    pidfd_child_watcher w;
    event_loop loop;
    int calls = 0;
    auto body = [&]() -> coro<void> {
        const int pid = spawn_exit(7);
        const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
        if (pidfd < 0) {
            ADD_FAILURE() << "pidfd_open";
            co_return;
        }
        auto done = get_running_loop().create_future<int>();
        w.add_child_handler(pid, pidfd, [&, done](int, int rc) mutable {
            ++calls;
            done.set_result(rc);
        });
        auto f = done;
        EXPECT_EQ(co_await wait_for(f, 15.0), 7);
        co_await sleep(0.02);  // guard: an entry left in the set would keep reporting
        EXPECT_EQ(calls, 1);
        EXPECT_NE(::fcntl(pidfd, F_GETFD), -1) << "the caller's pidfd was closed";
        EXPECT_EQ(stale_epoll_entries(), 0);
        ::close(pidfd);

        // Removed before it exits: no entry left either, and the callback never runs.
        const int pid2 = spawn_exit(8);
        const int pidfd2 = static_cast<int>(::syscall(SYS_pidfd_open, pid2, 0));
        w.add_child_handler(pid2, pidfd2, [&](int, int) { ++calls; });
        EXPECT_TRUE(w.remove_child_handler(pid2));
        EXPECT_EQ(stale_epoll_entries(), 0);
        int status = 0;
        EXPECT_EQ(::waitpid(pid2, &status, 0), pid2);
        ::close(pidfd2);
        co_await sleep(0.02);
        EXPECT_EQ(calls, 1);
    };
    loop.run_until_complete(body());
    w.close();
    loop.close();
}

}  // namespace
}  // namespace duet::test
