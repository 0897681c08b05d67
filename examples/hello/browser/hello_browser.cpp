// hello.cpp for a page: the main thread must never block, so main() starts the coroutine
// as a task on the module's host loop and returns; the browser's event loop runs it.
#include <chrono>
#include <cstdio>

#include <duet/duet.hpp>

using namespace std::chrono_literals;

duet::coro<void> main_coro() {
    std::puts("Hello ...");
    co_await duet::sleep(1s);
    std::puts("... World!");
}

int main() {
    duet::wasm::spawn(main_coro());
}
