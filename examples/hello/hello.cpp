// asyncio's Hello World:
//     async def main():
//         print('Hello ...')
//         await asyncio.sleep(1)
//         print('... World!')
//     asyncio.run(main())
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
    duet::run(main_coro());
}
