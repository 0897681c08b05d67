#include "poll_event_loop.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <ctime>
#include <stdexcept>
#include <string>
#include <system_error>

namespace duet::examples {

namespace {

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

poll_event_loop::poll_event_loop() {
    // The self-pipe: another thread writes a byte, poll() sees the read end readable.
    // Both ends are non-blocking: the loop drains without blocking, and a thread calling
    // call_soon_threadsafe never blocks on a full pipe (full means a wake is pending).
    int fds[2];
    if (::pipe(fds) != 0) throw_errno("poll_event_loop: pipe");
    wake_read_ = fds[0];
    wake_write_ = fds[1];
    for (int fd : fds) {
        int fl = ::fcntl(fd, F_GETFL);
        if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
            int e = errno;
            ::close(fds[0]);
            ::close(fds[1]);
            throw std::system_error(e, std::generic_category(), "poll_event_loop: fcntl");
        }
    }
}

poll_event_loop::~poll_event_loop() {
    if (!is_closed()) close();
}

double poll_event_loop::time() const noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The base calls this when work appears or an earlier timer is added outside process().
// Nothing to do here: host_run() only waits in poll() right after process() returned the
// current plan, and nothing else runs on the loop thread in between. (A host that
// sleeps somewhere else — a GUI toolkit's loop, say — would re-arm its timer here.)
void poll_event_loop::host_wake(wake_plan) {}

void poll_event_loop::host_run() {
    for (;;) {
        // The core runs before the first wait, so stop() before run_forever() still
        // gets exactly one iteration, as in asyncio.
        wake_plan p = process();
        if (stop_requested()) return;
        if (pollfds_dirty_) rebuild_pollfds();
        int timeout = poll_timeout(p);
        if (timeout != 0) ++blocking_polls_;
        int n = ::poll(pollfds_.data(), pollfds_.size(), timeout);
        if (n < 0) {
            if (errno == EINTR) continue;  // a signal: just take another turn
            throw_errno("poll_event_loop: poll");
        }
        if (n > 0) dispatch_ready_fds();
    }
}

int poll_event_loop::poll_timeout(wake_plan p) const noexcept {
    if (p.ready) return 0;
    if (std::isinf(p.deadline)) return -1;  // idle: only a reader or another thread can wake us
    // Round up: poll() counts whole milliseconds, and waking a little late is harmless
    // while waking early would only cost a wasted turn (process() never runs a timer
    // before its deadline either way).
    double ms = std::ceil((p.deadline - time()) * 1e3);
    if (ms <= 0) return 0;
    if (ms >= INT_MAX) return INT_MAX;  // ~24 days: wake, find nothing due, wait again
    return static_cast<int>(ms);
}

void poll_event_loop::rebuild_pollfds() {
    pollfds_.clear();
    polled_.clear();
    pollfds_.push_back({wake_read_, POLLIN, 0});
    polled_.push_back(nullptr);
    for (auto& [fd, r] : readers_) {
        pollfds_.push_back({fd, POLLIN, 0});
        polled_.push_back(r);
    }
    pollfds_dirty_ = false;
}

void poll_event_loop::dispatch_ready_fds() {
    // Drain the wake pipe before process() drains the thread-safe queue: a thread that
    // queues after that drain sees the queue empty again and writes a fresh byte, so no
    // wake is lost. (Draining after process() could swallow such a byte.)
    if (pollfds_[0].revents != 0) drain_wake_pipe();
    for (std::size_t i = 1; i < pollfds_.size(); ++i) {
        short ev = pollfds_[i].revents;
        const std::shared_ptr<reader>& r = polled_[i];
        if (ev == 0 || !r->active) continue;
        if (ev & POLLNVAL) {
            // The fd was closed while registered. Polling it again would spin, so drop the
            // reader, and tell the exception handler so that the mistake is not silent.
            remove_reader(r->fd);
            exception_context ctx;
            ctx.message =
                "poll_event_loop: fd " + std::to_string(r->fd) + " was closed while registered; reader removed";
            ctx.exception = std::make_exception_ptr(std::system_error(EBADF, std::generic_category(), "poll"));
            call_exception_handler(ctx);
            continue;
        }
        // POLLIN, POLLHUP or POLLERR: the callback finds out which by reading. It runs as
        // an ordinary loop callback in the next iteration — with the running loop set,
        // its exceptions going to the exception handler, and after the callbacks that
        // were already queued — never inline from here. A reader removed before then is
        // skipped (asyncio cancels its handle).
        call_soon([r] {
            if (r->active) r->fn();
        });
    }
}

void poll_event_loop::drain_wake_pipe() noexcept {
    char buf[256];
    while (::read(wake_read_, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf)) {
    }
}

void poll_event_loop::host_wake_threadsafe() noexcept {
    // Called from any thread, so keep that thread's errno as it was.
    int saved = errno;
    const char b = 1;
    // EAGAIN means the pipe is full: the loop has unread wake bytes already.
    while (::write(wake_write_, &b, 1) < 0 && errno == EINTR) {
    }
    errno = saved;
}

void poll_event_loop::host_close() noexcept {
    for (auto& [fd, r] : readers_) r->active = false;
    readers_.clear();
    pollfds_.clear();
    polled_.clear();
    ::close(wake_read_);
    ::close(wake_write_);
    wake_read_ = wake_write_ = -1;
}

void poll_event_loop::add_reader_cb(int fd, callback fn) {
    check_open_for("add_reader");
    if (fd < 0) throw std::invalid_argument("add_reader: invalid fd " + std::to_string(fd));
    if (fd == wake_read_ || fd == wake_write_)
        throw std::invalid_argument("add_reader: fd " + std::to_string(fd) + " is the loop's own wake pipe");
    auto r = std::make_shared<reader>(reader{fd, std::move(fn)});
    auto [it, inserted] = readers_.try_emplace(fd, r);
    if (!inserted) {
        it->second->active = false;  // replaced, as in asyncio
        it->second = std::move(r);
    }
    pollfds_dirty_ = true;
}

bool poll_event_loop::remove_reader(int fd) {
    auto it = readers_.find(fd);
    if (it == readers_.end()) return false;
    it->second->active = false;
    readers_.erase(it);
    pollfds_dirty_ = true;
    return true;
}

}  // namespace duet::examples
