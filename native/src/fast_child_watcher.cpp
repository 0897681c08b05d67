// fast_child_watcher: SIGCHLD through the attached loop's add_signal_handler, then
// waitpid(-1, WNOHANG) until nothing is left: O(1) per exit whatever the number of
// children, but it reaps EVERY child of the process, including other code's (as asyncio's
// documentation warns). Exits of pids nobody registered are kept, so a handler added later
// still fires; the code that spawned such a child loses it to this watcher.
#include <sys/wait.h>

#include <cerrno>
#include <utility>
#include <vector>

#include <duet/child_watchers_native.hpp>
#include <duet/detail/sigchld_owner.hpp>

#include "watcher_util.hpp"

namespace duet {

using namespace watcher_detail;

struct fast_child_watcher::state : sigchld_table {
    state() : sigchld_table("fast_child_watcher") {}
};

namespace {

// Reaps every exited child; registered ones are queued on the attached loop, the others
// kept. With `check_registered`, also asks each registered pid (after a detachment: one
// reaped elsewhere meanwhile is reported as 255).
void sweep(const std::shared_ptr<fast_child_watcher::state>& st, bool check_registered) {
    std::vector<std::pair<int, exit_info>> exited;
    abstract_event_loop* loop = nullptr;
    {
        std::lock_guard g(st->m);
        loop = st->loop;
        if (!loop || st->closed) return;
        for (;;) {
            int status = 0;
            const int pid = ::waitpid(-1, &status, WNOHANG);
            if (pid == 0) break;
            if (pid < 0) {
                if (errno == EINTR) continue;
                break;  // ECHILD: no children
            }
            const int rc = returncode_of(status);
            auto it = st->handlers.find(pid);
            if (it != st->handlers.end() && !it->second.reaped) {
                it->second.reaped = true;
                exited.emplace_back(pid, exit_info{rc, false});
            } else {
                st->zombies[pid] = rc;
            }
        }
        if (check_registered) {
            for (auto& [pid, h] : st->handlers) {
                if (h.reaped) continue;
                if (auto e = take_exit(*st, pid)) {
                    h.reaped = true;
                    exited.emplace_back(pid, *e);
                }
            }
        }
    }
    for (auto& [pid, e] : exited) post_exit(st, *loop, pid, e);
}

}  // namespace

fast_child_watcher::fast_child_watcher() : st_(std::make_shared<state>()) {}

fast_child_watcher::~fast_child_watcher() {
    destroy_sigchld_table(*st_);
}

void fast_child_watcher::add_child_handler(int pid, child_callback cb) {
    add_sigchld_handler(st_, pid, std::move(cb));
}

bool fast_child_watcher::remove_child_handler(int pid) {
    return remove_handler(*st_, pid);
}

void fast_child_watcher::attach_loop(abstract_event_loop* loop) {
    attach_sigchld_loop(
        st_, loop, [st = st_] { sweep(st, false); }, [this] { sweep(st_, true); });
}

bool fast_child_watcher::is_active() const {
    return is_attached(*st_);
}

void fast_child_watcher::close() {
    close_sigchld_table(st_);
}

}  // namespace duet
