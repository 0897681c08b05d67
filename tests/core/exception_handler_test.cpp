// What happens when an exception handler itself fails (asyncio's messages): a custom
// handler that throws is reported once to the default handler, with the context it was
// given; a default handler that throws is reported on stderr; the loop goes on.
#include <stdexcept>
#include <string>

#include "test_loop.hpp"

namespace duet::test {
namespace {

std::size_t count(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

// A third-party task whose name cannot be computed: the default handler, naming the
// context's task, fails (asyncio's default handler fails the same way on a bad repr()).
class nameless_task final : public abstract_task {
public:
    explicit nameless_task(abstract_event_loop& loop) : loop_(loop) {}
    abstract_event_loop& get_loop() const noexcept override { return loop_; }
    bool done() const noexcept override { return false; }
    std::string get_name() const override { throw std::runtime_error("no name"); }

private:
    abstract_event_loop& loop_;
};

TEST(ExceptionHandler, CustomHandlerThatThrowsIsReportedOnceWithTheOriginalContext) {
    test_loop loop;
    int custom_calls = 0;
    loop.set_exception_handler([&](abstract_event_loop&, const exception_context&) {
        ++custom_calls;
        throw std::runtime_error("ham");
    });
    bool after = false;
    loop.call_soon([] { throw std::runtime_error("spam"); });
    loop.call_soon([&] {
        after = true;
        loop.stop();
    });
    testing::internal::CaptureStderr();
    loop.run_forever();
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(after) << "the loop goes on";
    EXPECT_EQ(custom_calls, 1);
    EXPECT_EQ(count(err, "duet: "), 1u) << "the default handler is called once:\n" << err;
    EXPECT_NE(err.find("Unhandled error in exception handler"), std::string::npos) << err;
    EXPECT_NE(err.find("ham"), std::string::npos) << "the handler's exception:\n" << err;
    EXPECT_NE(err.find("context: Exception in callback"), std::string::npos) << "the original context:\n" << err;
}

TEST(ExceptionHandler, TheContextFieldCarriesTheOriginal) {
    exception_context original;
    original.message = "Exception in callback";
    original.exception = std::make_exception_ptr(std::runtime_error("spam"));
    exception_context failed;
    failed.message = "Unhandled error in exception handler";
    failed.context = std::make_shared<const exception_context>(original);
    ASSERT_TRUE(failed.context);
    EXPECT_EQ(failed.context->message, "Exception in callback");
}

TEST(ExceptionHandler, DefaultHandlerThatThrowsIsReportedOnStderr) {
    test_loop loop;
    nameless_task bad(loop);
    bool after = false;
    loop.call_soon([&] {
        exception_context ctx;
        ctx.message = "something went wrong";
        ctx.task = task_ref(bad);
        loop.call_exception_handler(ctx);  // noexcept: must not terminate
    });
    loop.call_soon([&] {
        after = true;
        loop.stop();
    });
    testing::internal::CaptureStderr();
    loop.run_forever();
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(after) << "the loop goes on";
    EXPECT_NE(err.find("Exception in default exception handler"), std::string::npos) << err;
    EXPECT_EQ(err.find("while handling"), std::string::npos) << err;
}

TEST(ExceptionHandler, BothHandlersFailing) {
    test_loop loop;
    nameless_task bad(loop);
    loop.set_exception_handler([](abstract_event_loop&, const exception_context&) { throw std::runtime_error("ham"); });
    exception_context ctx;
    ctx.message = "something went wrong";
    ctx.task = task_ref(bad);
    testing::internal::CaptureStderr();
    loop.call_exception_handler(ctx);
    std::string err = testing::internal::GetCapturedStderr();
    // The default handler is given the failed context, whose original names the task.
    EXPECT_NE(err.find("Exception in default exception handler while handling an unexpected error in custom "
                       "exception handler"),
              std::string::npos)
        << err;
}

}  // namespace
}  // namespace duet::test
