// docs/policies.md
#include <memory>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

int loops_made = 0;

// asyncio's "Custom Policies": derive from the default policy and adjust what it makes.
class counting_policy : public duet::default_event_loop_policy {
public:
    std::unique_ptr<duet::abstract_event_loop> new_event_loop() override {
        ++loops_made;
        auto loop = duet::default_event_loop_policy::new_event_loop();
        loop->base().set_slow_callback_duration(0.5);
        return loop;
    }
};

duet::coro<double> slow_threshold() {
    co_return duet::get_running_loop().base().slow_callback_duration();
}

}  // namespace

DUET_SNIPPET(policies_custom) {
    duet::set_event_loop_policy(std::make_unique<counting_policy>());
    double threshold = duet::run(slow_threshold());  // duet::run asks the policy for its loop
    duet::set_event_loop_policy(nullptr);            // back to the default policy
    return loops_made == 1 && threshold == 0.5;
}
