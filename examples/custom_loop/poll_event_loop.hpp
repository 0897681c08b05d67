// A custom event loop written the way asyncio's "Extending" chapter describes: derive from
// the shared base (duet::base_event_loop) and implement its host hooks. This one waits
// with plain poll(2), so it needs nothing but POSIX, and it adds the one I/O primitive a
// user typically writes a loop for: watching file descriptors (asyncio's add_reader).
//
// Everything else — the ready queue, the timer heap, tasks, futures, the fairness rule,
// call_soon_threadsafe's queue — is the base's; the hooks only decide how to wait.
#pragma once

#include <poll.h>

#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <duet/base_events.hpp>

namespace duet::examples {

class poll_event_loop final : public base_event_loop {
public:
    poll_event_loop();
    // base_event_loop's destructor cannot reach our hooks (by then this part is gone),
    // so the most-derived class closes the loop while host_close() still exists.
    ~poll_event_loop() override;

    // CLOCK_MONOTONIC, in seconds.
    double time() const noexcept override;

    // asyncio's add_reader: run f(a...) as a loop callback each iteration in which `fd`
    // is readable (EOF and errors count as readable, so the callback sees them by
    // reading). A second add_reader for the same fd replaces the first. Loop thread only.
    template <class F, class... A>
    void add_reader(int fd, F&& f, A&&... a) {
        if constexpr (sizeof...(A) == 0)
            add_reader_cb(fd, std::forward<F>(f));
        else
            add_reader_cb(fd, [f = std::forward<F>(f), ... a = std::forward<A>(a)]() mutable { std::invoke(f, a...); });
    }
    // Stops watching `fd`; a callback already queued for it does not run. Returns whether
    // a reader was registered. Loop thread only.
    bool remove_reader(int fd);
    // How many times the loop has blocked in poll(2) with a non-zero timeout: a loop that
    // waits properly blocks once per wake-up instead of spinning.
    std::size_t blocking_polls() const noexcept { return blocking_polls_; }

protected:
    void host_wake(wake_plan p) override;
    void host_run() override;
    void host_wake_threadsafe() noexcept override;
    void host_close() noexcept override;

private:
    struct reader {
        int fd;
        callback fn;
        bool active = true;  // false once removed or replaced: a queued dispatch is dropped
    };

    void add_reader_cb(int fd, callback fn);
    int poll_timeout(wake_plan p) const noexcept;
    void rebuild_pollfds();
    void dispatch_ready_fds();
    void drain_wake_pipe() noexcept;

    int wake_read_ = -1;  // self-pipe for host_wake_threadsafe()
    int wake_write_ = -1;
    std::map<int, std::shared_ptr<reader>> readers_;
    // What the next poll() watches: [0] is the wake pipe, then one slot per reader.
    std::vector<pollfd> pollfds_;
    std::vector<std::shared_ptr<reader>> polled_;
    bool pollfds_dirty_ = true;
    std::size_t blocking_polls_ = 0;
};

}  // namespace duet::examples
