// pidfd_child_watcher: a pidfd (pidfd_open) per child. The pidfd turns readable when the
// child exits (and stays so until reaped); then waitpid(pid, WNOHANG) reaps it and the
// callback runs in the same loop callback.
//
// The pidfds of one loop sit in one epoll set of the watcher's (a "poller"), which the loop
// watches with add_reader once, for as long as the loop keeps that callback: an exit costs
// epoll_ctl(ADD) and close(), not a loop watch set up and torn down per child (with libuv
// that is seven epoll_ctl/ioctl calls and a handle allocation per child). Closing a pidfd
// takes it out of the set; a duplicate of the spawner's pidfd (cheaper than pidfd_open)
// shares its file with the spawner's fd, so it is taken out explicitly. The poller is owned by the loop's reader
// callback: when the loop drops it (close, destruction, or remove_reader on close()), the poller closes its epoll fd
// and the weak reference here expires, so a later loop at the same address gets a new one.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <duet/child_watchers_native.hpp>
#include <duet/contextvars.hpp>
#include <duet/sockets.hpp>

#include "watcher_util.hpp"

namespace duet {

using namespace watcher_detail;

namespace {

struct poller {
    int epfd = -1;
    abstract_event_loop* loop = nullptr;
    poller() = default;
    poller(const poller&) = delete;
    poller& operator=(const poller&) = delete;
    ~poller() {
        if (epfd >= 0) ::close(epfd);
    }
};

}  // namespace

struct pidfd_child_watcher::state : child_table {
    state() : child_table("pidfd_child_watcher") {}
    std::map<abstract_event_loop*, std::weak_ptr<poller>> pollers;  // under m
};

namespace {

int pidfd_open(int pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

// Stops watching h's pidfd (st->m held). Closing an fd of its own also takes it out of the
// poller's set; a duplicate shares its file with the spawner's fd, so it leaves explicitly.
void release_fd(pidfd_child_watcher::state& st, handler& h) noexcept {
    if (h.fd < 0) return;
    if (h.fd_shared) {
        if (auto it = st.pollers.find(h.loop); it != st.pollers.end()) {
            if (auto p = it->second.lock()) ::epoll_ctl(p->epfd, EPOLL_CTL_DEL, h.fd, nullptr);
        }
    }
    ::close(std::exchange(h.fd, -1));
}

void on_readable(const std::shared_ptr<pidfd_child_watcher::state>& st, int pid) {
    abstract_event_loop* loop = nullptr;
    exit_info e;
    {
        std::lock_guard g(st->m);
        auto it = st->handlers.find(pid);
        if (st->closed || it == st->handlers.end() || it->second.fd < 0) return;
        auto r = try_reap(pid);
        if (!r) return;  // not exited yet (readable for another reason): keep watching
        e = *r;
        loop = it->second.loop;
        release_fd(*st, it->second);
        it->second.reaped = true;
    }
    // Already a loop callback on the delivering loop: run the handler now.
    deliver_here(st, *loop, pid, e);
}

// The exits the poller's epoll set reports, handled one by one (each takes the lock).
void on_poller_ready(const std::shared_ptr<pidfd_child_watcher::state>& st, int epfd) {
    epoll_event evs[64];
    int n;
    do {
        n = ::epoll_wait(epfd, evs, 64, 0);
    } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; ++i) on_readable(st, static_cast<int>(evs[i].data.u64));
}

// The poller of `loop` (st->m held), made and watched by the loop on first use.
std::shared_ptr<poller> poller_for(const std::shared_ptr<pidfd_child_watcher::state>& st, abstract_event_loop& loop) {
    if (auto it = st->pollers.find(&loop); it != st->pollers.end()) {
        if (auto p = it->second.lock()) return p;
        st->pollers.erase(it);
    }
    auto p = std::make_shared<poller>();
    p->loop = &loop;
    p->epfd = ::epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) throw os_error(errno, "pidfd_child_watcher: epoll_create1");
    // The callback holds the poller: the loop's copy decides how long it lives. It serves
    // every spawner on this loop, so it runs in none's context (each transport has its own).
    const detail::no_context_scope shared;
    loop.add_reader(p->epfd, [st, p, epfd = p->epfd] { on_poller_ready(st, epfd); });
    st->pollers[&loop] = p;
    return p;
}

}  // namespace

bool pidfd_child_watcher::available() noexcept {
    static const bool ok = [] {
        const int fd = pidfd_open(static_cast<int>(::getpid()));
        if (fd < 0) return false;
        ::close(fd);
        return true;
    }();
    return ok;
}

pidfd_child_watcher::pidfd_child_watcher() : st_(std::make_shared<state>()) {}

pidfd_child_watcher::~pidfd_child_watcher() {
    // No loop calls here (a loop may be gone): closing a pidfd ends its epoll watch.
    std::lock_guard g(st_->m);
    st_->closed = true;
    for (auto& [pid, h] : st_->handlers) release_fd(*st_, h);
    st_->handlers.clear();
}

void pidfd_child_watcher::add_child_handler(int pid, child_callback cb) {
    add_child_handler(pid, -1, std::move(cb));
}

void pidfd_child_watcher::add_child_handler(int pid, int pidfd, child_callback cb) {
    auto* loop = running_loop();
    if (!loop) throw_no_running_loop(name(), pid);
    std::unique_lock g(st_->m);
    if (auto it = st_->handlers.find(pid); it != st_->handlers.end()) {
        it->second.cb = std::move(cb);  // replaces; the pidfd stays on the loop that watches it
        return;
    }
    // pidfds are always close-on-exec (and so is the duplicate).
    const bool shared = pidfd >= 0;
    const int fd = shared ? ::fcntl(pidfd, F_DUPFD_CLOEXEC, 3) : pidfd_open(pid);
    if (fd < 0 && shared)
        throw os_error(errno, "pidfd_child_watcher: duplicating the pidfd of pid " + std::to_string(pid));
    if (fd < 0) {
        if (errno != ESRCH) throw os_error(errno, "pidfd_open pid " + std::to_string(pid));
        // No such process: reaped elsewhere already.
        st_->handlers[pid] = handler{std::move(cb), loop, true, -1};
        g.unlock();
        post_exit(st_, *loop, pid, exit_info{255, true});
        return;
    }
    try {
        auto p = poller_for(st_, *loop);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = static_cast<std::uint64_t>(pid);
        if (::epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
            throw os_error(errno, "pidfd_child_watcher: watching pid " + std::to_string(pid));
    } catch (...) {
        ::close(fd);
        throw;
    }
    st_->handlers[pid] = handler{std::move(cb), loop, false, fd, shared};
}

bool pidfd_child_watcher::remove_child_handler(int pid) {
    std::lock_guard g(st_->m);
    auto it = st_->handlers.find(pid);
    if (it == st_->handlers.end()) return false;
    release_fd(*st_, it->second);
    st_->handlers.erase(it);
    return true;
}

void pidfd_child_watcher::attach_loop(abstract_event_loop* loop) {
    (void)loop;
}

void pidfd_child_watcher::close() {
    std::vector<std::shared_ptr<poller>> pollers;
    {
        std::lock_guard g(st_->m);
        for (auto& [pid, h] : st_->handlers) release_fd(*st_, h);
        st_->handlers.clear();
        for (auto& [loop, w] : st_->pollers)
            if (auto p = w.lock()) pollers.push_back(std::move(p));
        st_->pollers.clear();
    }
    // Outside the lock: remove_reader drops the loop's callback (and with the last reference
    // the poller); as for every call here, on the loops' thread.
    for (auto& p : pollers) {
        try {
            p->loop->remove_reader(p->epfd);
        } catch (...) {  // a closed loop watches nothing
        }
    }
}

}  // namespace duet
