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
        t.owned = detail::new_backend_event_loop();
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
    return detail::new_backend_event_loop();
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
