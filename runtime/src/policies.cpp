#include <atomic>
#include <stdexcept>

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
}  // namespace

abstract_event_loop& default_event_loop_policy::get_event_loop() {
    std::lock_guard g(m_);
    auto& t = threads_[std::this_thread::get_id()];
    if (!t.loop && !t.set_called && std::this_thread::get_id() == main_thread) {
        t.owned = new_default_event_loop();
        t.loop = t.owned.get();
    }
    if (!t.loop) throw std::runtime_error("There is no current event loop in this thread.");
    return *t.loop;
}

void default_event_loop_policy::set_event_loop(abstract_event_loop* loop) {
    std::lock_guard g(m_);
    auto& t = threads_[std::this_thread::get_id()];
    t.set_called = true;
    if (t.owned && t.owned.get() != loop) t.owned.reset();
    t.loop = loop;
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
