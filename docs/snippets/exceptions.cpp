// docs/exceptions.md
#include <stdexcept>
#include <string>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

duet::coro<void> fail(std::string what) {
    co_await duet::sleep(0.001);
    throw std::runtime_error(what);
}

duet::coro<bool> exceptions_demo() {
    // cancelled_error is not a std::exception: a catch-all for errors does not swallow it.
    auto t = duet::create_task(duet::sleep(3600));
    co_await duet::sleep(0);
    t.cancel();
    bool kept_apart = false;
    try {
        co_await t;
    } catch (const std::exception&) {
        kept_apart = false;
    } catch (const duet::cancelled_error&) {
        kept_apart = true;
    }

    // invalid_state_error: asking a pending future for its result.
    auto f = duet::get_running_loop().create_future<int>();
    bool invalid = false;
    try {
        (void)f.result();
    } catch (const duet::invalid_state_error&) {
        invalid = true;
    }

    // exception_group: a task group's failures, all of them, split by type.
    bool grouped = false;
    try {
        co_await duet::with_task_group([&](duet::task_group& tg) -> duet::coro<void> {
            tg.create_task(fail("one"));
            tg.create_task(fail("two"));
            co_return;
        });
    } catch (const duet::exception_group& eg) {
        auto [match, rest] = eg.split<std::runtime_error>();
        grouped = match && !rest && eg.exceptions().size() == 2;
    }
    co_return kept_apart&& invalid&& grouped;
}

}  // namespace

DUET_SNIPPET(exceptions_kinds) {
    return duet::run(exceptions_demo());
}
