// docs/runners.md
#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

duet::coro<int> answer() {
    co_await duet::sleep(0.001);
    co_return 42;
}

duet::coro<void> leave_a_task_behind(int& cleaned_up) {
    duet::create_task([](int& flag) -> duet::coro<void> {
        try {
            co_await duet::sleep(3600);
        } catch (const duet::cancelled_error&) {
            ++flag;  // duet::run cancels what main left behind and waits for it
            throw;
        }
    }(cleaned_up));
    co_return;
}

}  // namespace

DUET_SNIPPET(runners_run) {
    int v = duet::run(answer());  // asyncio.run(answer())
    int cleaned_up = 0;
    duet::run(leave_a_task_behind(cleaned_up));
    return v == 42 && cleaned_up == 1;
}

DUET_SNIPPET(runners_runner) {
    // asyncio.Runner: several coroutines on one loop, closed at the end of the scope.
    duet::runner r;
    int a = r.run(answer());
    int b = r.run(answer());
    bool open = !r.get_loop().is_closed();
    r.close();  // cancels leftovers, closes (and frees) the loop; the destructor would too
    return a + b == 84 && open;
}
