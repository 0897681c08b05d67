// The child-watcher free functions, the default watcher's factory and the SIGCHLD owner
// record (detail/sigchld_owner.hpp). The watchers themselves are native (native/src).
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

#include <duet/child_watchers.hpp>
#include <duet/detail/sigchld_owner.hpp>
#include <duet/exceptions.hpp>
#include <duet/policies.hpp>

namespace duet {

namespace {
// Constant-initialised, as the loop factory is: a registration made during another
// translation unit's static initialisation cannot be lost.
constinit std::atomic<child_watcher_factory> watcher_factory{nullptr};
}  // namespace

child_watcher_factory set_default_child_watcher_factory(child_watcher_factory f) noexcept {
    return watcher_factory.exchange(f, std::memory_order_acq_rel);
}

std::shared_ptr<abstract_child_watcher> new_default_child_watcher() {
    child_watcher_factory f = watcher_factory.load(std::memory_order_acquire);
    if (!f) throw not_supported_error("subprocesses/child watchers are not supported on this target");
    return f();
}

abstract_child_watcher& get_child_watcher() {
    return get_event_loop_policy().get_child_watcher();
}

void set_child_watcher(std::shared_ptr<abstract_child_watcher> w) {
    get_event_loop_policy().set_child_watcher(std::move(w));
}

namespace detail::sigchld {

namespace {

struct owner_record {
    std::mutex m;
    const void* watcher = nullptr;
    std::string watcher_name;
    std::set<const void*> user_loops;
};

owner_record& record() {
    static owner_record r;
    return r;
}

thread_local const void* installing = nullptr;

}  // namespace

void claim_for_watcher(const void* token, const char* watcher_name) {
    auto& r = record();
    std::lock_guard g(r.m);
    if (r.watcher == token) return;
    if (r.watcher)
        throw std::runtime_error(std::string(watcher_name) + ": SIGCHLD is owned by " + r.watcher_name +
                                 " (one SIGCHLD child watcher at a time: close it first, or use "
                                 "pidfd_child_watcher / threaded_child_watcher, which need no SIGCHLD)");
    if (!r.user_loops.empty())
        throw std::runtime_error(
            std::string(watcher_name) +
            ": SIGCHLD is owned by a handler set with loop.add_signal_handler(SIGCHLD, ...) (remove "
            "it with remove_signal_handler(SIGCHLD) first, or use pidfd_child_watcher / "
            "threaded_child_watcher, which need no SIGCHLD)");
    r.watcher = token;
    r.watcher_name = watcher_name;
}

void release_watcher(const void* token) noexcept {
    auto& r = record();
    std::lock_guard g(r.m);
    if (r.watcher != token) return;
    r.watcher = nullptr;
    r.watcher_name.clear();
}

install_scope::install_scope(const void* token) noexcept : saved_(installing) {
    installing = token;
}

install_scope::~install_scope() {
    installing = saved_;
}

bool note_user_handler(const void* loop, const char* method) {
    auto& r = record();
    std::lock_guard g(r.m);
    if (installing && installing == r.watcher) return true;
    if (r.watcher)
        throw std::runtime_error(std::string(method) + ": SIGCHLD is owned by " + r.watcher_name +
                                 ", the child watcher that reaps children on it; close that watcher (or use "
                                 "pidfd_child_watcher / threaded_child_watcher) to handle SIGCHLD yourself");
    r.user_loops.insert(loop);
    return false;
}

void drop_user_handler(const void* loop) noexcept {
    auto& r = record();
    std::lock_guard g(r.m);
    if (installing && installing == r.watcher) return;
    r.user_loops.erase(loop);
}

}  // namespace detail::sigchld

}  // namespace duet
