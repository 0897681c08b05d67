// docs/fibers.md: a stackful task awaiting from deep inside ordinary functions.
#include <string>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

// Plain recursion, no coroutine in sight: every level waits on the loop.
int sum_tree(int depth) {
    if (depth == 0) return 1;
    duet::await(duet::sleep(0));  // suspends this fiber's whole stack, not the loop
    return 1 + sum_tree(depth - 1) + sum_tree(depth - 1);
}

int cancellable() {
    try {
        duet::await(duet::sleep(3600));
    } catch (const duet::cancelled_error&) {
        return -1;  // a fiber may swallow its cancellation, like a coroutine
    }
    return 0;
}

duet::coro<bool> fibers_demo() {
    duet::task<int> t = duet::spawn_fiber(sum_tree, 4);
    int nodes = co_await duet::wait_for(t, 5.0);  // a task like any other
    auto c = duet::spawn_fiber(duet::fiber_options{.name = "sleeper"}, cancellable);
    co_await duet::sleep(0);
    c.cancel();
    int r = co_await c;
    co_return nodes == 31 && r == -1 && c.get_name() == "sleeper";
}

}  // namespace

DUET_SNIPPET(fibers_spawn) {
    return duet::run(fibers_demo());
}
