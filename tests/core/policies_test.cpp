// Event loop policies.
#include "test_loop.hpp"

namespace duet::test {
namespace {

// Restores the default policy however a test ends.
struct policy_reset {
    ~policy_reset() { set_event_loop_policy(nullptr); }
};

TEST(Policy, DefaultPolicyOneLoopPerThread) {
    policy_reset r;
    set_event_loop_policy(nullptr);
    auto& p = get_event_loop_policy();
    auto& a = get_event_loop();
    EXPECT_EQ(&a, &get_event_loop()) << "the same loop every time in this thread";
    EXPECT_EQ(&a, &p.get_event_loop());
    auto fresh = new_event_loop();
    EXPECT_NE(fresh.get(), &a);
    set_event_loop(fresh.get());
    EXPECT_EQ(&get_event_loop(), fresh.get());
    set_event_loop(nullptr);
    EXPECT_THROW(get_event_loop(), std::runtime_error) << "explicitly unset: no implicit loop";
#ifndef __EMSCRIPTEN__
    std::string error;
    std::thread([&] {
        try {
            get_event_loop();
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
    }).join();
    EXPECT_EQ(error, "There is no current event loop in this thread.");
#endif
}

TEST(Policy, GetEventLoopInsideACoroutineIsTheRunningLoop) {
    test_loop loop;
    abstract_event_loop* seen = nullptr;
    auto body = [&]() -> coro<void> {
        seen = &get_event_loop();
        co_return;
    };
    loop.run_until_complete(body());
    EXPECT_EQ(seen, &loop);
}

// asyncio's "Custom Policies" example, in C++.
class counting_policy : public default_event_loop_policy {
public:
    int gets = 0;
    int made = 0;
    abstract_event_loop& get_event_loop() override {
        ++gets;
        return default_event_loop_policy::get_event_loop();
    }
    std::unique_ptr<abstract_event_loop> new_event_loop() override {
        ++made;
        return default_event_loop_policy::new_event_loop();
    }
};

TEST(Policy, CustomPolicyDerivedFromTheDefault) {
    policy_reset r;
    auto owned = std::make_unique<counting_policy>();
    auto* p = owned.get();
    set_event_loop_policy(std::move(owned));
    EXPECT_EQ(&get_event_loop_policy(), p);
    auto& l = get_event_loop();
    EXPECT_EQ(&l, &get_event_loop());
    EXPECT_EQ(p->gets, 2);
    auto add = []() -> coro<int> { co_return 2; };
    EXPECT_EQ(p->made, 1) << "the main thread's implicit loop comes from the policy's new_event_loop()";
    EXPECT_EQ(run(add()), 2) << "duet::run makes its loop through the policy";
    EXPECT_EQ(p->made, 2);
    set_event_loop_policy(nullptr);
    EXPECT_NE(&get_event_loop_policy(), static_cast<abstract_event_loop_policy*>(p));
}

}  // namespace
}  // namespace duet::test
