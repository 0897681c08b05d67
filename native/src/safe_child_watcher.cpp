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

struct safe_child_watcher::state : child_table {
    state() : child_table("safe_child_watcher") {}
    abstract_event_loop* loop = nullptr;  // attached
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
    // No loop calls (a loop may be gone): the handler left on a live loop finds the state
    // closed and does nothing.
    {
        std::lock_guard g(st_->m);
        st_->closed = true;
        st_->handlers.clear();
    }
    detail::sigchld::release_watcher(st_.get());
}

void safe_child_watcher::add_child_handler(int pid, child_callback cb) {
    std::optional<exit_info> e;
    abstract_event_loop* loop = nullptr;
    {
        std::lock_guard g(st_->m);
        auto& h = st_->handlers[pid];
        h.cb = std::move(cb);
        loop = st_->loop;
        // Exited already? (While detached, the sweep on attach_loop finds out.)
        if (loop && !h.reaped) {
            e = try_reap(pid);
            if (e) h.reaped = true;
        }
    }
    if (e) post_exit(st_, *loop, pid, *e);
}

bool safe_child_watcher::remove_child_handler(int pid) {
    std::lock_guard g(st_->m);
    return st_->handlers.erase(pid) > 0;
}

void safe_child_watcher::attach_loop(abstract_event_loop* loop) {
    if (loop && !detail::is_main_thread())
        throw std::runtime_error(
            "safe_child_watcher needs the main thread's event loop (attach_loop was called from another thread); "
            "with loops in other threads use multi_loop_child_watcher, pidfd_child_watcher or threaded_child_watcher");
    abstract_event_loop* old = nullptr;
    {
        std::lock_guard g(st_->m);
        old = st_->loop;
    }
    if (loop != old) {
        move_sigchld_handler(st_.get(), name(), old, loop, [st = st_] { sweep(st); });
        std::lock_guard g(st_->m);
        st_->loop = loop;
    }
    // Children that exited while detached (or during the switch).
    if (loop) sweep(st_);
}

bool safe_child_watcher::is_active() const {
    std::lock_guard g(st_->m);
    return st_->loop != nullptr;
}

void safe_child_watcher::close() {
    try {
        attach_loop(nullptr);
    } catch (...) {  // detaching only removes: nothing to report
    }
    std::lock_guard g(st_->m);
    st_->handlers.clear();
}

}  // namespace duet
