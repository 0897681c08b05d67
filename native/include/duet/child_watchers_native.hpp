// The five child watchers of asyncio's "Process Watchers" (Python 3.12/3.13), natively.
// Each is a class in its own source file (native/src/<name>.cpp); all share
// abstract_child_watcher's contract (duet/child_watchers.hpp):
// - the callback gets (pid, returncode): the exit status, or -N for a child killed by
//   signal N; a pid already reaped elsewhere gives 255, after a warning through the loop's
//   call_exception_handler;
// - a child that exited before add_child_handler still fires; a second handler for a pid
//   replaces the first; remove_child_handler forgets it (the callback never runs, and the
//   child is left for its owner to reap);
// - callbacks run as loop callbacks, never inside add_child_handler or a signal handler.
//
// Which one to pick:
// - pidfd_child_watcher (the default where the kernel has pidfd_open, Linux >= 5.3): a
//   pidfd per child, polled by the loop running add_child_handler. No signals, no threads.
// - threaded_child_watcher (the fallback default): a thread per child blocking in
//   waitpid(pid); delivers to the loop running add_child_handler. No signals.
// - safe_child_watcher: SIGCHLD through the attached loop (which must be the main thread's),
//   then waitpid(pid, WNOHANG) for each registered pid: O(n) per SIGCHLD.
// - multi_loop_child_watcher: its own process-wide SIGCHLD handler (a self-pipe and a
//   reaper thread), then waitpid(pid, WNOHANG) per registered pid; delivers to the loop that
//   registered each pid, in any thread. Restores the previous SIGCHLD disposition on close.
// - fast_child_watcher: SIGCHLD through the attached loop, then waitpid(-1, WNOHANG): O(1)
//   per exit, but it reaps EVERY child of the process, also other code's (their exit
//   statuses are kept for a handler added later, and are lost to that code's own waitpid).
//
// SIGCHLD has one owner (duet/detail/sigchld_owner.hpp): while safe, fast or multi_loop is
// attached, loop.add_signal_handler(SIGCHLD, ...) raises std::runtime_error naming it, and
// attaching one of them while the user handles SIGCHLD (or another of them is attached)
// raises naming the owner. pidfd and threaded do not use SIGCHLD.
//
// The add/remove/attach/close calls run on the thread of the loop concerned. Close a
// watcher (or let its handlers be delivered or removed) before destroying a loop it
// delivers to; destroying a watcher closes what it owns (fds, its SIGCHLD claim, its
// threads) without calling into loops.
#pragma once

#include <memory>
#include <string_view>

#include <duet/child_watchers.hpp>

namespace duet {

class pidfd_child_watcher final : public abstract_child_watcher {
public:
    pidfd_child_watcher();
    ~pidfd_child_watcher() override;
    pidfd_child_watcher(const pidfd_child_watcher&) = delete;
    pidfd_child_watcher& operator=(const pidfd_child_watcher&) = delete;

    // Needs a running loop (the one that polls the pidfd and runs cb); std::runtime_error
    // without one. std::system_error if pidfd_open fails other than for a reaped pid.
    void add_child_handler(int pid, child_callback cb) override;
    // As add_child_handler, for a child whose pidfd the caller holds (duet's spawner has one
    // from the clone): the watcher watches a duplicate of it instead of opening its own. The
    // caller keeps pidfd.
    void add_child_handler(int pid, int pidfd, child_callback cb);
    bool remove_child_handler(int pid) override;
    void attach_loop(abstract_event_loop* loop) override;  // nothing to do
    bool is_active() const override { return true; }
    void close() override;
    const char* name() const noexcept override { return "pidfd_child_watcher"; }

    // Whether this kernel has pidfd_open.
    static bool available() noexcept;

    struct state;

private:
    std::shared_ptr<state> st_;
};

class threaded_child_watcher final : public abstract_child_watcher {
public:
    threaded_child_watcher();
    ~threaded_child_watcher() override;
    threaded_child_watcher(const threaded_child_watcher&) = delete;
    threaded_child_watcher& operator=(const threaded_child_watcher&) = delete;

    // Needs a running loop (cb runs there); starts a thread for pid unless one already
    // waits for it. std::system_error if no thread can be started.
    void add_child_handler(int pid, child_callback cb) override;
    bool remove_child_handler(int pid) override;
    void attach_loop(abstract_event_loop* loop) override;  // nothing to do
    bool is_active() const override { return true; }
    // Joins the threads whose child was reaped; a thread still waiting for a live child is
    // detached and ends once that child exits (it reaps it, so no zombie is left).
    void close() override;
    const char* name() const noexcept override { return "threaded_child_watcher"; }
    // Threads started and not yet finished (for tests and diagnostics).
    int running_threads() const;

    struct state;

private:
    std::shared_ptr<state> st_;
};

class safe_child_watcher final : public abstract_child_watcher {
public:
    safe_child_watcher();
    ~safe_child_watcher() override;
    safe_child_watcher(const safe_child_watcher&) = delete;
    safe_child_watcher& operator=(const safe_child_watcher&) = delete;

    void add_child_handler(int pid, child_callback cb) override;
    bool remove_child_handler(int pid) override;
    // From the main thread only (std::runtime_error otherwise): installs the SIGCHLD
    // handler on loop (claiming SIGCHLD) and checks every registered pid, delivering the
    // exits that happened while detached. Null detaches and gives SIGCHLD up.
    void attach_loop(abstract_event_loop* loop) override;
    bool is_active() const override;
    void close() override;
    const char* name() const noexcept override { return "safe_child_watcher"; }

    struct state;

private:
    std::shared_ptr<state> st_;
};

class fast_child_watcher final : public abstract_child_watcher {
public:
    fast_child_watcher();
    ~fast_child_watcher() override;
    fast_child_watcher(const fast_child_watcher&) = delete;
    fast_child_watcher& operator=(const fast_child_watcher&) = delete;

    void add_child_handler(int pid, child_callback cb) override;
    bool remove_child_handler(int pid) override;
    // Installs the SIGCHLD handler on loop (claiming SIGCHLD) and reaps what exited while
    // detached; null detaches and gives SIGCHLD up.
    void attach_loop(abstract_event_loop* loop) override;
    bool is_active() const override;
    void close() override;
    const char* name() const noexcept override { return "fast_child_watcher"; }

    struct state;

private:
    std::shared_ptr<state> st_;
};

class multi_loop_child_watcher final : public abstract_child_watcher {
public:
    multi_loop_child_watcher();
    ~multi_loop_child_watcher() override;
    multi_loop_child_watcher(const multi_loop_child_watcher&) = delete;
    multi_loop_child_watcher& operator=(const multi_loop_child_watcher&) = delete;

    // Needs a running loop (cb runs there, whatever thread it runs in).
    void add_child_handler(int pid, child_callback cb) override;
    bool remove_child_handler(int pid) override;
    // The first attach (any loop, or null, as asyncio) installs the process-wide SIGCHLD
    // handler and the reaper thread; later ones change nothing.
    void attach_loop(abstract_event_loop* loop) override;
    bool is_active() const override;
    // Restores the previous SIGCHLD disposition and joins the reaper thread.
    void close() override;
    const char* name() const noexcept override { return "multi_loop_child_watcher"; }

    struct state;

private:
    std::shared_ptr<state> st_;
};

// A new watcher chosen by name: "pidfd", "threaded", "safe", "fast" or "multi_loop" (for
// command-line switches and configuration). Another name: std::invalid_argument naming it
// and the five.
std::shared_ptr<abstract_child_watcher> make_child_watcher(std::string_view name);

}  // namespace duet
