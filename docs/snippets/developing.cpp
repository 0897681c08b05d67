// docs/developing.md: debug mode.
#include <string>
#include <thread>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

duet::coro<bool> debug_demo() {
    auto& loop = duet::get_running_loop();
    loop.base().set_slow_callback_duration(0.005);
    // Blocks the loop for 20 ms: stderr gets "duet: Executing callback <its type> took 0.020 seconds".
    loop.call_soon([] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); });
    co_await duet::sleep(0.001);
    co_return loop.get_debug();
}

}  // namespace

DUET_SNIPPET(developing_debug_mode) {
    // duet::run(main, true) is asyncio.run(main(), debug=True); DUET_DEBUG=1 turns it on for
    // every new loop.
    return duet::run(debug_demo(), true);
}
