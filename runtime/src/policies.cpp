#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>

#include <duet/detail/debug.hpp>
#include <duet/exceptions.hpp>
#include <duet/policies.hpp>

namespace duet {

namespace {
const std::thread::id main_thread = std::this_thread::get_id();

std::mutex& policy_mutex() {
    static std::mutex m;
    return m;
}
std::unique_ptr<abstract_event_loop_policy>& policy_slot() {
    static std::unique_ptr<abstract_event_loop_policy> p;
    return p;
}
using detail::type_name;
}  // namespace

namespace detail {
bool is_main_thread() noexcept {
    return std::this_thread::get_id() == main_thread;
}
}  // namespace detail

abstract_child_watcher& abstract_event_loop_policy::get_child_watcher() {
    throw not_supported_error("get_child_watcher: the event loop policy " + type_name(typeid(*this)) +
                              " has no child watchers (override get_child_watcher and set_child_watcher)");
}

// The parameter is a sink in the overrides (they keep the watcher); here nothing takes it.
// NOLINTNEXTLINE(performance-unnecessary-value-param)
void abstract_event_loop_policy::set_child_watcher(std::shared_ptr<abstract_child_watcher> /*w*/) {
    throw not_supported_error("set_child_watcher: the event loop policy " + type_name(typeid(*this)) +
                              " has no child watchers (override get_child_watcher and set_child_watcher)");
}

abstract_event_loop* default_event_loop_policy::main_loop() {
    std::lock_guard g(m_);
    auto it = threads_.find(main_thread);
    return it == threads_.end() ? nullptr : it->second.loop;
}

abstract_child_watcher& default_event_loop_policy::get_child_watcher() {
    std::shared_ptr<abstract_child_watcher> w;
    {
        std::lock_guard g(watcher_m_);
        if (watcher_) return *watcher_;
        w = new_default_child_watcher();
        watcher_ = w;
    }
    // Attached outside the lock: attach_loop may install a signal handler on the loop.
    if (detail::is_main_thread())
        if (auto* l = main_loop()) w->attach_loop(l);
    return *w;
}

void default_event_loop_policy::set_child_watcher(std::shared_ptr<abstract_child_watcher> w) {
    // Attached first: a watcher that cannot attach (SIGCHLD owned elsewhere) is not installed.
    if (w && detail::is_main_thread())
        if (auto* l = main_loop()) w->attach_loop(l);
    std::shared_ptr<abstract_child_watcher> old;
    {
        std::lock_guard g(watcher_m_);
        old = std::exchange(watcher_, std::move(w));
    }
    // asyncio closes the watcher it replaces.
    if (old && old != watcher_) old->close();
}

abstract_event_loop& default_event_loop_policy::get_event_loop() {
    {
        std::lock_guard g(m_);
        auto& t = threads_[std::this_thread::get_id()];
        if (t.loop) return *t.loop;
        if (t.set_called || std::this_thread::get_id() != main_thread)
            throw std::runtime_error("There is no current event loop in this thread.");
    }
    // As asyncio 3.12/3.13's self.set_event_loop(self.new_event_loop()): a derived policy's
    // overrides make the loop and see it installed. The policy owns it. Both calls are made
    // outside the lock (an override may call back into the policy).
    std::unique_ptr<abstract_event_loop> made = new_event_loop();
    if (!made) throw std::runtime_error("get_event_loop: the policy's new_event_loop() returned no loop");
    abstract_event_loop* loop = made.get();
    std::unique_ptr<abstract_event_loop> dropped;
    {
        std::lock_guard g(m_);
        auto& t = threads_[std::this_thread::get_id()];
        dropped = std::exchange(t.owned, std::move(made));
    }
    set_event_loop(loop);
    return *loop;
}

void default_event_loop_policy::set_event_loop(abstract_event_loop* loop) {
    // A loop the policy made and now drops dies last, after the watcher has moved off it.
    std::unique_ptr<abstract_event_loop> dropped;
    {
        std::lock_guard g(m_);
        auto& t = threads_[std::this_thread::get_id()];
        t.set_called = true;
        if (t.owned && t.owned.get() != loop) dropped = std::move(t.owned);
        t.loop = loop;
    }
    // As asyncio 3.12: the main thread's loop is the one the watcher delivers to.
    if (!detail::is_main_thread()) return;
    std::shared_ptr<abstract_child_watcher> w;
    {
        std::lock_guard g(watcher_m_);
        w = watcher_;
    }
    if (w) w->attach_loop(loop);
}

std::unique_ptr<abstract_event_loop> default_event_loop_policy::new_event_loop() {
    return new_default_event_loop();
}

namespace {
// Constant-initialised, so a registration made while another translation unit is still
// being initialised cannot be lost to initialisation order.
constinit std::atomic<loop_factory> default_factory{nullptr};
}  // namespace

loop_factory set_default_loop_factory(loop_factory f) noexcept {
    return default_factory.exchange(f, std::memory_order_acq_rel);
}

std::unique_ptr<abstract_event_loop> new_default_event_loop() {
    loop_factory f = default_factory.load(std::memory_order_acquire);
    if (!f)
        throw std::runtime_error(
            "duet: no default event loop is registered: link the target library (duet::duet in CMake), which "
            "registers duet::event_loop, or install a policy that makes loops (set_event_loop_policy)");
    return f();
}

abstract_event_loop_policy& get_event_loop_policy() {
    std::lock_guard g(policy_mutex());
    auto& p = policy_slot();
    if (!p) p = std::make_unique<default_event_loop_policy>();
    return *p;
}

void set_event_loop_policy(std::unique_ptr<abstract_event_loop_policy> p) {
    std::lock_guard g(policy_mutex());
    policy_slot() = p ? std::move(p) : std::make_unique<default_event_loop_policy>();
}

abstract_event_loop& get_event_loop() {
    if (auto* l = running_loop()) return *l;
    return get_event_loop_policy().get_event_loop();
}

void set_event_loop(abstract_event_loop* loop) {
    get_event_loop_policy().set_event_loop(loop);
}

std::unique_ptr<abstract_event_loop> new_event_loop() {
    return get_event_loop_policy().new_event_loop();
}

}  // namespace duet
