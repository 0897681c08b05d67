// What the five child watchers share: waitpid with its status turned into a returncode, and
// the table of registered handlers with the delivery rule (the handler registered for the
// pid when the delivery runs on the loop gets it; a removed one never runs).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <duet/child_watchers.hpp>
#include <duet/events.hpp>

namespace duet::watcher_detail {

// A reaped child: its returncode, and whether it was unknown (ECHILD: reaped elsewhere,
// reported as 255 with a warning).
struct exit_info {
    int returncode = 0;
    bool unknown = false;
};

// The returncode of a waitpid status: exit status, or -N for signal N.
int returncode_of(int status) noexcept;
// waitpid(pid, WNOHANG): empty while pid runs.
std::optional<exit_info> try_reap(int pid);
// waitpid(pid, 0), retried on EINTR.
exit_info reap_blocking(int pid);

struct handler {
    abstract_child_watcher::child_callback cb;
    abstract_event_loop* loop = nullptr;  // the loop that delivers (pidfd, threaded, multi_loop)
    bool reaped = false;                  // the exit is on its way: do not waitpid again
    int fd = -1;                          // pidfd_child_watcher's pidfd
    bool fd_shared = false;               // fd is a duplicate: its file is the spawner's too
};

struct child_table {
    explicit child_table(const char* name) : watcher(name) {}
    const char* watcher;
    std::mutex m;
    std::map<int, handler> handlers;
    bool closed = false;
};

// The state of the two SIGCHLD watchers (safe_child_watcher, fast_child_watcher): the
// attached loop, and the exits fast_child_watcher's waitpid(-1) reaped before anyone
// registered their pid (always empty for safe_child_watcher).
struct sigchld_table : child_table {
    using child_table::child_table;
    abstract_event_loop* loop = nullptr;  // attached
    std::map<int, int> zombies;           // pid -> returncode
};

// With t.m held: pid's exit if known already (a kept zombie, or waitpid(pid, WNOHANG)).
std::optional<exit_info> take_exit(sigchld_table& t, int pid);
// add_child_handler of a SIGCHLD watcher: registers cb for pid (replacing any) and, when a
// loop is attached, posts an exit that is already known. (While detached, attach_loop's
// sweep finds it.)
void add_sigchld_handler(const std::shared_ptr<sigchld_table>& t, int pid, abstract_child_watcher::child_callback cb);
// Moves the watcher's SIGCHLD handler to `loop` (or none), then runs `sweep` for the
// children that exited while detached or during the switch.
void attach_sigchld_loop(const std::shared_ptr<sigchld_table>& t, abstract_event_loop* loop,
                         const std::function<void()>& on_sigchld, const std::function<void()>& sweep);
// A SIGCHLD watcher's destructor: no loop calls (a loop may be gone); a handler left on a
// live loop finds the table closed and does nothing.
void destroy_sigchld_table(sigchld_table& t) noexcept;
// close(): detaches (nothing to report), forgets handlers and kept exits.
void close_sigchld_table(const std::shared_ptr<sigchld_table>& t);
bool is_attached(sigchld_table& t);
bool remove_handler(child_table& t, int pid);

// Runs, on `loop`'s thread, the delivery of pid's exit: takes the handler registered for pid
// (none: removed meanwhile, nothing happens), warns if the pid was unknown, then calls it.
void deliver_here(const std::shared_ptr<child_table>& t, abstract_event_loop& loop, int pid, exit_info e);
// Queues deliver_here on loop from any thread (call_soon_threadsafe). If the loop is closed
// the handler is dropped with a warning on stderr (there is no loop to report through).
void post_exit(const std::shared_ptr<child_table>& t, abstract_event_loop& loop, int pid, exit_info e);

// Moves the SIGCHLD handler of the watcher `token` from loop `from` to loop `to` (either may
// be null), claiming SIGCHLD first when `to` is set (std::runtime_error naming the owner)
// and giving it up when `to` is null. Nothing changes if installing on `to` fails.
void move_sigchld_handler(const void* token, const char* watcher, abstract_event_loop* from, abstract_event_loop* to,
                          std::function<void()> on_sigchld);

// std::runtime_error for add_child_handler without a running loop.
[[noreturn]] void throw_no_running_loop(const char* watcher, int pid);

}  // namespace duet::watcher_detail
