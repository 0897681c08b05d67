// safe_child_watcher: SIGCHLD through the attached loop's add_signal_handler (so the sweep
// runs as a loop callback), then waitpid(pid, WNOHANG) for each registered pid: O(n) per
// SIGCHLD, and it never touches children it was not asked about. As asyncio's, it needs the
// main thread's loop.
#include <string>
#include <utility>
#include <vector>

#include <duet/child_watchers_native.hpp>
#include <duet/detail/sigchld_owner.hpp>
#include <duet/policies.hpp>

#include "watcher_util.hpp"

namespace duet {

using namespace watcher_detail;

struct safe_child_watcher::state : sigchld_table {
    state() : sigchld_table("safe_child_watcher") {}
};

namespace {

// Reaps every registered pid that has exited and queues its delivery on the attached loop.
void sweep(const std::shared_ptr<safe_child_watcher::state>& st) {
    std::vector<std::pair<int, exit_info>> exited;
    abstract_event_loop* loop = nullptr;
    {
        std::lock_guard g(st->m);
        loop = st->loop;
        if (!loop || st->closed) return;
        for (auto& [pid, h] : st->handlers) {
            if (h.reaped) continue;
            if (auto e = try_reap(pid)) {
                h.reaped = true;
                exited.emplace_back(pid, *e);
            }
        }
    }
    for (auto& [pid, e] : exited) post_exit(st, *loop, pid, e);
}

}  // namespace

safe_child_watcher::safe_child_watcher() : st_(std::make_shared<state>()) {}

safe_child_watcher::~safe_child_watcher() {
    destroy_sigchld_table(*st_);
}

void safe_child_watcher::add_child_handler(int pid, child_callback cb) {
    add_sigchld_handler(st_, pid, std::move(cb));
}

bool safe_child_watcher::remove_child_handler(int pid) {
    return remove_handler(*st_, pid);
}

void safe_child_watcher::attach_loop(abstract_event_loop* loop) {
    if (loop && !detail::is_main_thread())
        throw std::runtime_error(
            "safe_child_watcher needs the main thread's event loop (attach_loop was called from another thread); "
            "with loops in other threads use multi_loop_child_watcher, pidfd_child_watcher or threaded_child_watcher");
    attach_sigchld_loop(
        st_, loop, [st = st_] { sweep(st); }, [this] { sweep(st_); });
}

bool safe_child_watcher::is_active() const {
    return is_attached(*st_);
}

void safe_child_watcher::close() {
    close_sigchld_table(st_);
}

}  // namespace duet
