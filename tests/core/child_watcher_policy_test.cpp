// The child-watcher half of the policy, target-neutral: with no default watcher registered
// (Emscripten, or a program that unregistered it) get_child_watcher raises
// not_supported_error; a policy that predates watchers says so, naming itself.
#include "test_loop.hpp"

namespace duet::test {
namespace {

struct policy_reset {
    ~policy_reset() { set_event_loop_policy(nullptr); }
};

TEST(ChildWatcherPolicyCore, NoRegisteredWatcherIsNotSupported) {
    policy_reset r;
    const auto saved = set_default_child_watcher_factory(nullptr);
    set_event_loop_policy(nullptr);
    try {
        get_child_watcher();
        ADD_FAILURE() << "get_child_watcher made a watcher without a factory";
    } catch (const not_supported_error& e) {
        EXPECT_STREQ(e.what(), "subprocesses/child watchers are not supported on this target");
    }
    EXPECT_THROW(new_default_child_watcher(), not_supported_error);
    set_default_child_watcher_factory(saved);
}

struct bare_policy : abstract_event_loop_policy {
    abstract_event_loop& get_event_loop() override { throw std::runtime_error("unused"); }
    void set_event_loop(abstract_event_loop*) override {}
    std::unique_ptr<abstract_event_loop> new_event_loop() override { return nullptr; }
};

TEST(ChildWatcherPolicyCore, APolicyWithoutWatcherAccessorsNamesItself) {
    policy_reset r;
    set_event_loop_policy(std::make_unique<bare_policy>());
    try {
        get_child_watcher();
        ADD_FAILURE() << "no error";
    } catch (const not_supported_error& e) {
        EXPECT_NE(std::string(e.what()).find("bare_policy"), std::string::npos) << e.what();
    }
    EXPECT_THROW(set_child_watcher(nullptr), not_supported_error);
}

}  // namespace
}  // namespace duet::test
