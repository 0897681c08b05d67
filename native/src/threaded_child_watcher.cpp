// threaded_child_watcher: a thread per child, blocked in waitpid(pid); the exit goes to the
// registering loop through call_soon_threadsafe. The thread ends right after reaping; the
// watcher joins finished threads on its next add_child_handler and on close.
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <duet/child_watchers_native.hpp>

#include "watcher_util.hpp"

namespace duet {

using namespace watcher_detail;

struct threaded_child_watcher::state : child_table {
    state() : child_table("threaded_child_watcher") {}
    std::map<unsigned long, std::thread> threads;  // started, not joined yet
    std::vector<unsigned long> finished;           // threads that have ended their work
    std::set<int> waiting;                         // pids a thread is blocked on
    unsigned long next = 0;
    int running = 0;

    // Joins the threads that have finished (under m: they no longer need it).
    void join_finished() {
        for (unsigned long id : finished) {
            auto it = threads.find(id);
            if (it == threads.end()) continue;  // detached by close()
            it->second.join();
            threads.erase(it);
        }
        finished.clear();
    }
};

namespace {

void wait_for_child(const std::shared_ptr<threaded_child_watcher::state>& st, int pid, unsigned long id) {
    const exit_info e = reap_blocking(pid);
    abstract_event_loop* loop = nullptr;
    {
        std::lock_guard g(st->m);
        st->waiting.erase(pid);
        if (auto it = st->handlers.find(pid); it != st->handlers.end()) {
            it->second.reaped = true;
            loop = it->second.loop;
        }
    }
    if (loop) post_exit(st, *loop, pid, e);
    std::lock_guard g(st->m);
    st->finished.push_back(id);
    --st->running;
}

}  // namespace

threaded_child_watcher::threaded_child_watcher() : st_(std::make_shared<state>()) {}

threaded_child_watcher::~threaded_child_watcher() {
    close();
}

void threaded_child_watcher::add_child_handler(int pid, child_callback cb) {
    auto* loop = running_loop();
    if (!loop) throw_no_running_loop(name(), pid);
    std::lock_guard g(st_->m);
    st_->join_finished();
    auto [it, fresh] = st_->handlers.try_emplace(pid);
    it->second.cb = std::move(cb);
    it->second.loop = loop;
    // A thread already waits for pid, or has reaped it and is delivering: replaced only.
    if (!fresh || st_->waiting.count(pid)) return;
    const unsigned long id = st_->next++;
    try {
        st_->threads.emplace(id, std::thread(wait_for_child, st_, pid, id));
    } catch (const std::system_error& x) {
        st_->handlers.erase(pid);
        throw std::system_error(
            x.code(), std::string(name()) + ": starting the thread that waits for pid " + std::to_string(pid));
    }
    st_->waiting.insert(pid);
    ++st_->running;
}

bool threaded_child_watcher::remove_child_handler(int pid) {
    std::lock_guard g(st_->m);
    // The waiting thread (if any) still reaps pid; its delivery then finds no handler.
    return st_->handlers.erase(pid) > 0;
}

void threaded_child_watcher::attach_loop(abstract_event_loop* loop) {
    (void)loop;
}

void threaded_child_watcher::close() {
    std::lock_guard g(st_->m);
    st_->handlers.clear();
    st_->join_finished();
    // Threads still blocked on a live child cannot be interrupted: they hold the state,
    // reap their child when it exits, and end.
    for (auto& [id, t] : st_->threads) t.detach();
    st_->threads.clear();
}

int threaded_child_watcher::running_threads() const {
    std::lock_guard g(st_->m);
    return st_->running;
}

}  // namespace duet
