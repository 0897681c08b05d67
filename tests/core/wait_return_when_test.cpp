// wait() with a return_when outside the enum: std::invalid_argument naming the value
// (asyncio: ValueError "Invalid return_when value").
#include <stdexcept>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

TEST(WaitReturnWhen, AValueOutsideTheEnumIsRejected) {
    virtual_event_loop loop;
    std::string what;
    auto main_coro = [&]() -> coro<void> {
        std::vector<task<void>> ts{create_task(sleep(1))};
        try {
            co_await wait(ts, static_cast<return_when>(7));
        } catch (const std::invalid_argument& e) {
            what = e.what();
        }
        EXPECT_FALSE(ts[0].done()) << "nothing waited for";
        ts[0].cancel();
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(what, "Invalid return_when value: 7");
}

}  // namespace
}  // namespace duet::test
