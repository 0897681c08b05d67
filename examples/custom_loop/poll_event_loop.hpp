// A custom event loop written the way duet extends loops (asyncio's "Extending"): a
// backend type, plugged into the shared loop as duet::basic_event_loop<poll_backend>. This
// one waits with plain poll(2), so it needs nothing but POSIX, and it can watch file
// descriptors, so add_reader/add_writer work on it.
//
// Everything else — the ready queue, the timer heap, tasks, futures, the fairness rule,
// call_soon_threadsafe's queue, the readers' and writers' callbacks — is the base's; the
// backend only decides how to wait, and says which fds became ready.
#pragma once

#include <poll.h>

#include <cstddef>
#include <map>
#include <vector>

#include <duet/base_events.hpp>

namespace duet::examples {

class poll_backend {
public:
    static constexpr const char* name = "poll";  // names the loop in error messages

    explicit poll_backend(base_event_loop& loop);
    ~poll_backend();
    poll_backend(const poll_backend&) = delete;
    poll_backend& operator=(const poll_backend&) = delete;

    // ---- the loop_backend concept
    // CLOCK_MONOTONIC, in seconds.
    double now() const noexcept;
    // The plan changed outside process(): nothing to do, see poll_event_loop.cpp.
    void wake(wake_plan) noexcept {}
    // Turns of the core and poll(2) waits, until stop().
    void run();
    // Any thread: a byte into the self-pipe wakes a poll() in progress.
    void wake_threadsafe() noexcept;
    void close() noexcept;
    // ---- the optional capability: watching fds (fd_readable / fd_writable; 0 stops).
    void watch_fd(int fd, unsigned events);

    // How many times the loop has blocked in poll(2) with a non-zero timeout: a loop that
    // waits properly blocks once per wake-up instead of spinning.
    std::size_t blocking_polls() const noexcept { return blocking_polls_; }

private:
    int poll_timeout(wake_plan p) const noexcept;
    void rebuild_pollfds();
    void dispatch_ready_fds();
    void drain_wake_pipe() noexcept;

    base_event_loop& loop_;
    int wake_read_ = -1;  // self-pipe for wake_threadsafe()
    int wake_write_ = -1;
    std::map<int, unsigned> watched_;  // fd -> fd_readable | fd_writable
    // What the next poll() watches: [0] is the wake pipe, then one slot per watched fd.
    std::vector<pollfd> pollfds_;
    bool pollfds_dirty_ = true;
    std::size_t blocking_polls_ = 0;
};

// The loop itself: the shared implementation with this backend plugged in.
using poll_event_loop = basic_event_loop<poll_backend>;

}  // namespace duet::examples
