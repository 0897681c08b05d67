// The one way to extend duet's loops: a backend type used as basic_event_loop<Backend>.
// base_event_loop cannot be subclassed to override its host hooks; a capability a backend
// lacks is known at compile time and raises not_supported_error naming the backend; the
// target library registers the default loop (no link cycle with the runtime).
#include <string>
#include <type_traits>

#include "test_loop.hpp"

namespace duet::test {
namespace {

// A would-be loop that overrides everything the old hook interface had: it cannot be made,
// because only basic_event_loop may construct a base_event_loop.
class rogue_loop : public base_event_loop {
public:
    double time() const noexcept override { return 0; }
    bool remove_reader(int) override { return false; }
    bool remove_writer(int) override { return false; }

protected:
    void add_fd_callback(int, unsigned, callback) override {}

private:
    void host_wake(wake_plan) override {}
    void host_run() override {}
    void host_wake_threadsafe() noexcept override {}
    void host_close() noexcept override {}
};
static_assert(!std::is_default_constructible_v<rogue_loop>);

// A minimal backend: the concept's required hooks only.
struct minimal_backend {
    static constexpr const char* name = "minimal";
    explicit minimal_backend(base_event_loop& l) : loop(l) {}
    double now() const noexcept { return clock; }
    void wake(wake_plan) {}
    void run() {
        while (!loop.stop_requested()) {
            wake_plan p = loop.process();
            if (!p.ready && p.deadline != __builtin_inf()) clock = p.deadline;
        }
    }
    void wake_threadsafe() noexcept {}
    void close() noexcept { closed = true; }
    base_event_loop& loop;
    double clock = 0;
    bool closed = false;
};
static_assert(loop_backend<minimal_backend>);
static_assert(!fd_watching_backend<minimal_backend>);

TEST(LoopExtension, AMinimalBackendMakesAWholeLoop) {
    basic_event_loop<minimal_backend> loop;
    auto body = []() -> coro<int> {
        co_await sleep(2);
        co_return 6;
    };
    EXPECT_EQ(loop.run_until_complete(body()), 6);
    EXPECT_DOUBLE_EQ(loop.time(), 2.0);
    loop.close();
    EXPECT_TRUE(loop.backend().closed);
}

TEST(LoopExtension, AMissingCapabilityNamesTheMethodAndTheBackend) {
    basic_event_loop<minimal_backend> loop;
    try {
        loop.add_writer(3, [] {});
        FAIL() << "add_writer did not raise";
    } catch (const not_supported_error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("add_writer"), std::string::npos) << m;
        EXPECT_NE(m.find("\"minimal\""), std::string::npos) << m;
    }
}

TEST(LoopExtension, TheTargetLibraryRegistersTheDefaultLoop) {
    set_event_loop_policy(nullptr);
    auto loop = new_event_loop();
    EXPECT_NE(dynamic_cast<event_loop*>(loop.get()), nullptr);
    loop->close();
    // Without a registration the default policy says what is missing.
    loop_factory registered = set_default_loop_factory(nullptr);
    ASSERT_NE(registered, nullptr);
    std::string m;
    try {
        new_event_loop();
    } catch (const std::runtime_error& e) {
        m = e.what();
    }
    set_default_loop_factory(registered);
    EXPECT_NE(m.find("no default event loop is registered"), std::string::npos) << m;
}

}  // namespace
}  // namespace duet::test
