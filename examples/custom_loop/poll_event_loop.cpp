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

poll_backend::poll_backend(base_event_loop& loop) : loop_(loop) {
    // The self-pipe: another thread writes a byte, poll() sees the read end readable.
    // Both ends are non-blocking: the loop drains without blocking, and a thread calling
    // call_soon_threadsafe never blocks on a full pipe (full means a wake is pending).
    int fds[2];
    if (::pipe(fds) != 0) throw_errno("poll_backend: pipe");
    wake_read_ = fds[0];
    wake_write_ = fds[1];
    for (int fd : fds) {
        int fl = ::fcntl(fd, F_GETFL);
        if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
            int e = errno;
            ::close(fds[0]);
            ::close(fds[1]);
            throw std::system_error(e, std::generic_category(), "poll_backend: fcntl");
        }
    }
}

poll_backend::~poll_backend() {
    close();
}

double poll_backend::now() const noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// wake() has nothing to do: run() only waits in poll() right after process() returned the
// current plan, and nothing else runs on the loop thread in between. (A host that sleeps
// somewhere else — a GUI toolkit's loop, say — would re-arm its timer there.)

void poll_backend::run() {
    for (;;) {
        // The core runs before the first wait, so stop() before run_forever() still
        // gets exactly one iteration, as in asyncio.
        wake_plan p = loop_.process();
        if (loop_.stop_requested()) return;
        if (pollfds_dirty_) rebuild_pollfds();
        int timeout = poll_timeout(p);
        if (timeout != 0) ++blocking_polls_;
        int n = ::poll(pollfds_.data(), pollfds_.size(), timeout);
        if (n < 0) {
            if (errno == EINTR) continue;  // a signal: just take another turn
            throw_errno("poll_backend: poll");
        }
        if (n > 0) dispatch_ready_fds();
    }
}

int poll_backend::poll_timeout(wake_plan p) const noexcept {
    if (p.ready) return 0;
    if (std::isinf(p.deadline)) return -1;  // idle: only an fd or another thread can wake us
    // Round up: poll() counts whole milliseconds, and waking a little late is harmless
    // while waking early would only cost a wasted turn (process() never runs a timer
    // before its deadline either way).
    double ms = std::ceil((p.deadline - now()) * 1e3);
    if (ms <= 0) return 0;
    if (ms >= INT_MAX) return INT_MAX;  // ~24 days (a huge delay): wake, find nothing due, wait again
    return static_cast<int>(ms);
}

void poll_backend::rebuild_pollfds() {
    pollfds_.clear();
    pollfds_.push_back({wake_read_, POLLIN, 0});
    for (auto [fd, events] : watched_) {
        short ev = static_cast<short>(((events & fd_readable) ? POLLIN : 0) | ((events & fd_writable) ? POLLOUT : 0));
        pollfds_.push_back({fd, ev, 0});
    }
    pollfds_dirty_ = false;
}

void poll_backend::dispatch_ready_fds() {
    // Drain the wake pipe before process() drains the thread-safe queue: a thread that
    // queues after that drain sees the queue empty again and writes a fresh byte, so no
    // wake is lost. (Draining after process() could swallow such a byte.)
    if (pollfds_[0].revents != 0) drain_wake_pipe();
    for (std::size_t i = 1; i < pollfds_.size(); ++i) {
        short ev = pollfds_[i].revents;
        int fd = pollfds_[i].fd;
        if (ev == 0) continue;
        if (ev & POLLNVAL) {
            // The fd was closed while registered. Polling it again would spin, so drop its
            // reader and writer, and tell the exception handler so that the mistake is not
            // silent.
            loop_.remove_reader(fd);
            loop_.remove_writer(fd);
            exception_context ctx;
            ctx.message = "poll_backend: fd " + std::to_string(fd) + " was closed while registered; watch removed";
            ctx.exception = std::make_exception_ptr(std::system_error(EBADF, std::generic_category(), "poll"));
            loop_.call_exception_handler(ctx);
            continue;
        }
        // POLLHUP and POLLERR count as both: the callbacks find out which by reading or
        // writing. The loop queues them as ordinary callbacks (never run inline from here).
        unsigned ready = 0;
        if (ev & (POLLIN | POLLHUP | POLLERR)) ready |= fd_readable;
        if (ev & (POLLOUT | POLLHUP | POLLERR)) ready |= fd_writable;
        loop_.fd_ready(fd, ready);
    }
}

void poll_backend::drain_wake_pipe() noexcept {
    char buf[256];
    while (::read(wake_read_, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf)) {
    }
}

void poll_backend::wake_threadsafe() noexcept {
    // Called from any thread, so keep that thread's errno as it was.
    int saved = errno;
    const char b = 1;
    // EAGAIN means the pipe is full: the loop has unread wake bytes already.
    while (::write(wake_write_, &b, 1) < 0 && errno == EINTR) {
    }
    errno = saved;
}

void poll_backend::close() noexcept {
    if (wake_read_ < 0) return;
    watched_.clear();
    pollfds_.clear();
    ::close(wake_read_);
    ::close(wake_write_);
    wake_read_ = wake_write_ = -1;
}

void poll_backend::watch_fd(int fd, unsigned events) {
    if (fd == wake_read_ || fd == wake_write_)
        throw std::invalid_argument("fd " + std::to_string(fd) + " is the poll loop's own wake pipe");
    if (events == 0)
        watched_.erase(fd);
    else
        watched_[fd] = events;
    pollfds_dirty_ = true;
}

}  // namespace duet::examples
