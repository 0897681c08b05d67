// asyncio's gather example: three factorials computed concurrently.
//     async def factorial(name, number): ...
//     L = await asyncio.gather(factorial("A", 2), factorial("B", 3), factorial("C", 4))
#include <cstdio>
#include <string>

#include <duet/duet.hpp>

duet::coro<long> factorial(std::string name, int number) {
    long f = 1;
    for (int i = 2; i <= number; ++i) {
        std::printf("Task %s: Compute factorial(%d), currently i=%d...\n", name.c_str(), number, i);
        co_await duet::sleep(0.1);
        f *= i;
    }
    std::printf("Task %s: factorial(%d) = %ld\n", name.c_str(), number, f);
    co_return f;
}

duet::coro<void> main_coro() {
    auto [a, b, c] = co_await duet::gather(factorial("A", 2), factorial("B", 3), factorial("C", 4));
    std::printf("[%ld, %ld, %ld]\n", a, b, c);
}

int main() {
    duet::run(main_coro());
}
