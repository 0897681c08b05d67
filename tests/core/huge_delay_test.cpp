// Huge delays (sleep(seconds::max()), sleep(2^55), sleep(inf), call_later(1e300)) neither
// spin nor hang a loop: its backend clamps what its host's timer can take (libuv's integer
// milliseconds, setTimeout's 2^31-1 ms, poll's int) and re-arms when the clamped timer
// fires early. Run on every loop of the suite (real time on uv, poll and the browser).
#include <chrono>
#include <cmath>
#include <limits>

#include "test_loop.hpp"

namespace duet::test {
namespace {

template <class L>
class HugeDelay : public ::testing::Test {};
TYPED_TEST_SUITE(HugeDelay, contract_loops);

// A turn per wake-up: the short main coroutine needs a handful; a loop re-arming a 0 ms
// (or 1 ms) timer would take a turn per millisecond, or never return at all.
constexpr std::size_t max_turns = 40;

coro<int> short_main() {
    co_await sleep(0.1);
    co_return 7;
}

template <class Loop, class Delay>
void expect_huge_sleep_is_harmless(Delay delay) {
    Loop loop;
    auto sleeper = loop.create_task(sleep(delay), "sleeper");
    std::size_t before = loop.turns();
    EXPECT_EQ(loop.run_until_complete(short_main()), 7);
    EXPECT_LE(loop.turns() - before, max_turns) << "the loop spun while a huge sleep was pending";
    EXPECT_FALSE(sleeper.done());
    // Still cancellable.
    sleeper.cancel();
    EXPECT_THROW(loop.run_until_complete(sleeper), cancelled_error);
    EXPECT_TRUE(sleeper.cancelled());
    loop.close();
}

TYPED_TEST(HugeDelay, SleepSecondsMax) {
    // seconds::max() is about 9.2e18 s as double seconds: finite, and time() + it is too.
    static_assert(std::chrono::duration<double>(std::chrono::seconds::max()).count() > 9e18);
    expect_huge_sleep_is_harmless<TypeParam>(std::chrono::seconds::max());
}

TYPED_TEST(HugeDelay, SleepTwoToThe55) {
    expect_huge_sleep_is_harmless<TypeParam>(std::ldexp(1.0, 55));
}

TYPED_TEST(HugeDelay, SleepInfinity) {
    expect_huge_sleep_is_harmless<TypeParam>(std::numeric_limits<double>::infinity());
}

TYPED_TEST(HugeDelay, CallLater1e300) {
    TypeParam loop;
    bool ran = false;
    auto h = loop.call_later(1e300, [&] { ran = true; });
    EXPECT_TRUE(std::isfinite(h.when()));
    std::size_t before = loop.turns();
    EXPECT_EQ(loop.run_until_complete(short_main()), 7);
    EXPECT_LE(loop.turns() - before, max_turns) << "the loop spun while a huge timer was pending";
    EXPECT_FALSE(ran);
    h.cancel();
    loop.run_until_complete(sleep(0));
    EXPECT_FALSE(ran);
    loop.close();
}

}  // namespace
}  // namespace duet::test
