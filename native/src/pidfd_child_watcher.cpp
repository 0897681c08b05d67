// pidfd_child_watcher: a pidfd (pidfd_open) per child, watched with the running loop's
// add_reader. The pidfd turns readable when the child exits (and stays so until reaped);
// then waitpid(pid, WNOHANG) reaps it and the callback runs in the same loop callback.
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include <duet/child_watchers_native.hpp>
#include <duet/sockets.hpp>

#include "watcher_util.hpp"

namespace duet {

using namespace watcher_detail;

struct pidfd_child_watcher::state : child_table {
    state() : child_table("pidfd_child_watcher") {}
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
        const int fd = std::exchange(it->second.fd, -1);
        it->second.reaped = true;
        loop->remove_reader(fd);
        ::close(fd);
    }
    // Already a loop callback on the delivering loop: run the handler now.
    deliver_here(st, *loop, pid, e);
}

// Stops watching h's pidfd and closes it (on the loop thread, the loop alive).
void drop_fd(handler& h) noexcept {
    if (h.fd < 0) return;
    try {
        h.loop->remove_reader(h.fd);
    } catch (...) {  // a closed loop watches nothing
    }
    ::close(std::exchange(h.fd, -1));
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
    for (auto& [pid, h] : st_->handlers)
        if (h.fd >= 0) ::close(std::exchange(h.fd, -1));
    st_->handlers.clear();
}

void pidfd_child_watcher::add_child_handler(int pid, child_callback cb) {
    auto* loop = running_loop();
    if (!loop) throw_no_running_loop(name(), pid);
    std::unique_lock g(st_->m);
    if (auto it = st_->handlers.find(pid); it != st_->handlers.end()) {
        it->second.cb = std::move(cb);  // replaces; the pidfd stays on the loop that watches it
        return;
    }
    // pidfds are always close-on-exec.
    const int fd = pidfd_open(pid);
    if (fd < 0) {
        if (errno != ESRCH) throw os_error(errno, "pidfd_open pid " + std::to_string(pid));
        // No such process: reaped elsewhere already.
        st_->handlers[pid] = handler{std::move(cb), loop, true, -1};
        g.unlock();
        post_exit(st_, *loop, pid, exit_info{255, true});
        return;
    }
    auto& h = st_->handlers[pid];
    h = handler{std::move(cb), loop, false, fd};
    try {
        loop->add_reader(fd, [st = st_, pid] { on_readable(st, pid); });
    } catch (...) {
        ::close(fd);
        st_->handlers.erase(pid);
        throw;
    }
}

bool pidfd_child_watcher::remove_child_handler(int pid) {
    std::lock_guard g(st_->m);
    auto it = st_->handlers.find(pid);
    if (it == st_->handlers.end()) return false;
    drop_fd(it->second);
    st_->handlers.erase(it);
    return true;
}

void pidfd_child_watcher::attach_loop(abstract_event_loop* loop) {
    (void)loop;
}

void pidfd_child_watcher::close() {
    std::lock_guard g(st_->m);
    for (auto& [pid, h] : st_->handlers) drop_fd(h);
    st_->handlers.clear();
}

}  // namespace duet
