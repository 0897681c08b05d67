// A program outside duet's tree: runs a coroutine on duet's default loop (whose
// registration must survive installation) and prints the library's version.
#include <chrono>
#include <cstdio>

#include <duet/duet.hpp>

namespace {
duet::coro<int> answer() {
    co_await duet::sleep(std::chrono::milliseconds(1));
    co_return 42;
}
}  // namespace

int main() {
    const int result = duet::run(answer());
    std::printf("consumer: result %d, duet %s (header %s)\n", result, duet::version(), DUET_VERSION_STRING);
    return result == 42 ? 0 : 1;
}
