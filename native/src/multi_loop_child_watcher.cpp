// multi_loop_child_watcher: its own process-wide SIGCHLD handler, which only writes a byte
// to a self-pipe (async-signal-safe); a reaper thread waits on the pipe, then does
// waitpid(pid, WNOHANG) for each registered pid and hands each exit to the loop that
// registered it (call_soon_threadsafe), whatever thread that loop runs in. The previous
// disposition of SIGCHLD comes back on close.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <duet/child_watchers_native.hpp>
#include <duet/detail/sigchld_owner.hpp>
#include <duet/sockets.hpp>

#include "watcher_util.hpp"

namespace duet {

using namespace watcher_detail;

struct multi_loop_child_watcher::state : child_table {
    state() : child_table("multi_loop_child_watcher") {}
    bool installed = false;
    int rfd = -1;
    int wfd = -1;
    std::atomic<bool> stopping{false};
    std::thread reaper;
    struct sigaction saved {};
};

namespace {

// The write end of the installed watcher's self-pipe (one owner of SIGCHLD at a time).
std::atomic<int> signal_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler reads it");

void on_sigchld(int) {
    const int saved_errno = errno;
    const int fd = signal_fd.load(std::memory_order_relaxed);
    if (fd >= 0) {
        const char b = 0;
        [[maybe_unused]] const auto n = ::write(fd, &b, 1);  // full pipe: a wake-up is pending anyway
    }
    errno = saved_errno;
}

void poke(int wfd) noexcept {
    const char b = 0;
    [[maybe_unused]] const auto n = ::write(wfd, &b, 1);
}

void sweep(const std::shared_ptr<multi_loop_child_watcher::state>& st) {
    struct exited {
        abstract_event_loop* loop;
        int pid;
        exit_info e;
    };
    std::vector<exited> out;
    {
        std::lock_guard g(st->m);
        for (auto& [pid, h] : st->handlers) {
            if (h.reaped) continue;
            if (auto e = try_reap(pid)) {
                h.reaped = true;
                out.push_back({h.loop, pid, *e});
            }
        }
    }
    for (auto& x : out) post_exit(st, *x.loop, x.pid, x.e);
}

void reaper_main(const std::shared_ptr<multi_loop_child_watcher::state>& st, int rfd) {
    // Signals go to the program's other threads.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    for (;;) {
        pollfd p{rfd, POLLIN, 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) {
            std::perror("duet: multi_loop_child_watcher: poll on its SIGCHLD pipe");
            return;
        }
        char buf[256];
        while (::read(rfd, buf, sizeof buf) > 0) {
        }
        if (st->stopping.load(std::memory_order_acquire)) return;
        try {
            sweep(st);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "duet: multi_loop_child_watcher: %s\n", e.what());
        }
    }
}

}  // namespace

multi_loop_child_watcher::multi_loop_child_watcher() : st_(std::make_shared<state>()) {}

multi_loop_child_watcher::~multi_loop_child_watcher() {
    close();  // touches no loop
}

void multi_loop_child_watcher::add_child_handler(int pid, child_callback cb) {
    auto* loop = running_loop();
    if (!loop) throw_no_running_loop(name(), pid);
    std::lock_guard g(st_->m);
    auto& h = st_->handlers[pid];
    h.cb = std::move(cb);
    h.loop = loop;
    // The reaper checks at once: the child may have exited already.
    if (st_->installed && !h.reaped) poke(st_->wfd);
}

bool multi_loop_child_watcher::remove_child_handler(int pid) {
    std::lock_guard g(st_->m);
    return st_->handlers.erase(pid) > 0;
}

void multi_loop_child_watcher::attach_loop(abstract_event_loop* loop) {
    (void)loop;  // delivers to each pid's registering loop; the first call installs
    std::lock_guard g(st_->m);
    if (st_->installed) return;
    detail::sigchld::claim_for_watcher(st_.get(), name());
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        const int err = errno;
        detail::sigchld::release_watcher(st_.get());
        throw os_error(err, "pipe2 (multi_loop_child_watcher's SIGCHLD pipe)");
    }
    auto undo = [&] {
        signal_fd.store(-1);
        ::close(p[0]);
        ::close(p[1]);
        detail::sigchld::release_watcher(st_.get());
    };
    signal_fd.store(p[1]);
    struct sigaction sa {};
    sa.sa_handler = &on_sigchld;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (::sigaction(SIGCHLD, &sa, &st_->saved) < 0) {
        const int err = errno;
        undo();
        throw os_error(err, "sigaction SIGCHLD (multi_loop_child_watcher)");
    }
    st_->stopping.store(false);
    try {
        st_->reaper = std::thread(reaper_main, st_, p[0]);
    } catch (const std::system_error& e) {
        ::sigaction(SIGCHLD, &st_->saved, nullptr);
        undo();
        throw std::system_error(e.code(), "multi_loop_child_watcher: starting the reaper thread");
    }
    st_->rfd = p[0];
    st_->wfd = p[1];
    st_->installed = true;
    poke(p[1]);  // children registered before the attach
}

bool multi_loop_child_watcher::is_active() const {
    std::lock_guard g(st_->m);
    return st_->installed;
}

void multi_loop_child_watcher::close() {
    std::thread reaper;
    int rfd = -1;
    int wfd = -1;
    {
        std::lock_guard g(st_->m);
        st_->handlers.clear();
        if (!st_->installed) return;
        st_->installed = false;
        ::sigaction(SIGCHLD, &st_->saved, nullptr);
        signal_fd.store(-1);
        st_->stopping.store(true, std::memory_order_release);
        poke(st_->wfd);
        reaper = std::move(st_->reaper);
        rfd = std::exchange(st_->rfd, -1);
        wfd = std::exchange(st_->wfd, -1);
    }
    reaper.join();  // outside the lock: its last sweep may be waiting for it
    ::close(rfd);
    ::close(wfd);
    detail::sigchld::release_watcher(st_.get());
}

}  // namespace duet
