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

struct fast_child_watcher::state : child_table {
    state() : child_table("fast_child_watcher") {}
    abstract_event_loop* loop = nullptr;  // attached
    std::map<int, int> zombies;           // reaped, not registered (yet): pid -> returncode
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
                std::optional<exit_info> e;
                if (auto z = st->zombies.find(pid); z != st->zombies.end()) {
                    e = exit_info{z->second, false};
                    st->zombies.erase(z);
                } else {
                    e = try_reap(pid);
                }
                if (e) {
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
    // No loop calls (a loop may be gone): a handler left on a live loop finds the state
    // closed and does nothing.
    {
        std::lock_guard g(st_->m);
        st_->closed = true;
        st_->handlers.clear();
    }
    detail::sigchld::release_watcher(st_.get());
}

void fast_child_watcher::add_child_handler(int pid, child_callback cb) {
    std::optional<exit_info> e;
    abstract_event_loop* loop = nullptr;
    {
        std::lock_guard g(st_->m);
        auto& h = st_->handlers[pid];
        h.cb = std::move(cb);
        loop = st_->loop;
        // Reaped by an earlier sweep, or exited already? (While detached, attach_loop finds out.)
        if (loop && !h.reaped) {
            if (auto z = st_->zombies.find(pid); z != st_->zombies.end()) {
                e = exit_info{z->second, false};
                st_->zombies.erase(z);
            } else {
                e = try_reap(pid);
            }
            if (e) h.reaped = true;
        }
    }
    if (e) post_exit(st_, *loop, pid, *e);
}

bool fast_child_watcher::remove_child_handler(int pid) {
    std::lock_guard g(st_->m);
    return st_->handlers.erase(pid) > 0;
}

void fast_child_watcher::attach_loop(abstract_event_loop* loop) {
    abstract_event_loop* old = nullptr;
    {
        std::lock_guard g(st_->m);
        old = st_->loop;
    }
    if (loop != old) {
        move_sigchld_handler(st_.get(), name(), old, loop, [st = st_] { sweep(st, false); });
        std::lock_guard g(st_->m);
        st_->loop = loop;
    }
    // Children that exited while detached (or during the switch).
    if (loop) sweep(st_, true);
}

bool fast_child_watcher::is_active() const {
    std::lock_guard g(st_->m);
    return st_->loop != nullptr;
}

void fast_child_watcher::close() {
    try {
        attach_loop(nullptr);
    } catch (...) {  // detaching only removes: nothing to report
    }
    std::lock_guard g(st_->m);
    st_->handlers.clear();
    st_->zombies.clear();
}

}  // namespace duet
