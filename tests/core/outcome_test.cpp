// duet::outcome<T>: a value (T, T&, void, move-only T), an exception or a cancellation.
#include <memory>
#include <stdexcept>
#include <string>

#include "test_loop.hpp"

namespace duet::test {
namespace {

TEST(Outcome, HoldsAValueAnExceptionOrACancellation) {
    auto v = outcome<std::string>::success("x");
    EXPECT_TRUE(v.has_value());
    EXPECT_EQ(v.value(), "x");
    EXPECT_EQ(v.exception(), nullptr);

    auto e = outcome<int>::failure(std::make_exception_ptr(std::runtime_error("bad")));
    EXPECT_TRUE(e.has_exception());
    EXPECT_THROW(e.value(), std::runtime_error);
    EXPECT_THROW((void)e.cancellation(), std::logic_error);

    auto c = outcome<int>::failure(std::make_exception_ptr(cancelled_error("stop")));
    EXPECT_TRUE(c.cancelled()) << "a cancelled_error makes a cancellation";
    EXPECT_EQ(c.cancellation().message(), "stop");
    EXPECT_THROW(c.value(), cancelled_error);

    outcome<int> empty;
    EXPECT_TRUE(empty.empty());
    EXPECT_THROW(empty.value(), std::logic_error);
}

TEST(Outcome, CaptureKeepsWhatACallReturnedOrThrew) {
    auto ok = outcome<int>::capture([] { return 4; });
    EXPECT_EQ(ok.take(), 4);
    auto bad = outcome<void>::capture([] { throw std::invalid_argument("no"); });
    EXPECT_THROW(bad.take(), std::invalid_argument);
    auto fine = outcome<void>::capture([] {});
    EXPECT_TRUE(fine.has_value());
    EXPECT_NO_THROW(fine.take());
}

TEST(Outcome, MoveOnlyAndReferenceValues) {
    auto m = outcome<std::unique_ptr<int>>::success(std::make_unique<int>(3));
    auto moved = std::move(m);
    std::unique_ptr<int> p = moved.take();
    EXPECT_EQ(*p, 3);
    static_assert(!std::is_copy_constructible_v<outcome<std::unique_ptr<int>>>);

    int x = 1;
    auto r = outcome<int&>::success(x);
    r.value() = 5;
    EXPECT_EQ(x, 5);
    auto r2 = r;
    EXPECT_EQ(&r2.take(), &x);
}

TEST(Outcome, FuturesSizeDidNotGrow) {
    // A future's result is an outcome_storage: one union of the value and the exception,
    // the future's status saying which.
    EXPECT_LE(sizeof(detail::future_state<void>), 48u);
    EXPECT_LE(sizeof(detail::future_state<int>), 48u);
    EXPECT_LE(sizeof(detail::task_state<void>), 128u);
    EXPECT_LE(sizeof(detail::task_state<int>), 128u);
}

}  // namespace
}  // namespace duet::test
