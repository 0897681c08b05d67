// Timeouts: asyncio.timeout() and asyncio.wait_for().
#include <cstdio>

#include <duet/duet.hpp>

duet::coro<int> slow_answer() {
    co_await duet::sleep(1.0);
    co_return 42;
}

duet::coro<void> main_coro() {
    try {
        int v = co_await duet::timeout(0.1).run(slow_answer());
        std::printf("got %d (not expected)\n", v);
    } catch (const duet::timeout_error&) {
        std::puts("timeout(0.1): the body was cancelled and timeout_error raised");
    }
    try {
        co_await duet::wait_for(slow_answer(), 0.05);
    } catch (const duet::timeout_error&) {
        std::puts("wait_for(0.05): timed out after the inner coroutine was cancelled");
    }
    int v = co_await duet::wait_for(slow_answer(), 2.0);
    std::printf("wait_for(2.0): %d\n", v);
}

int main() {
    duet::run(main_coro());
}
