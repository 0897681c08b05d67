// C++ coroutines exported to JS and shipped as an npm package (duet_js_module in
// CMakeLists.txt): consumer.mjs / consumer.cjs call them from node, index.html from a page.
// Each export returns a Promise in JS; its withSignal(signal, ...) variant cancels the
// C++ task when the AbortSignal aborts.
#include <string>

#include <duet/duet.hpp>

namespace {

// Awaits a JS promise (a name the page or node looks up), sleeps like asyncio.sleep, and
// returns a value: JS gets a Promise<string>.
duet::coro<std::string> greet(duet::js_value name, double delay_ms) {
    std::string who = co_await duet::js::await_promise<std::string>(name);
    co_await duet::sleep(delay_ms / 1000);
    co_return "Hello, " + who + "!";
}

// asyncio.wait_for on a JS promise: whether it settles within timeout_ms.
duet::coro<bool> settles_within(duet::js_value promise, double timeout_ms) {
    try {
        co_await duet::wait_for(duet::js::await_promise<void>(promise), timeout_ms / 1000);
    } catch (const duet::timeout_error&) {
        co_return false;
    }
    co_return true;
}

// `text` repeated `times` times, one piece per loop turn.
duet::coro<std::string> repeat(std::string text, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) {
        out += text;
        co_await duet::sleep(0);
    }
    co_return out;
}

// A long sleep: JS cancels it with an AbortSignal (the promise rejects with CancelledError).
duet::coro<void> nap(double ms) {
    co_await duet::sleep(ms / 1000);
}

}  // namespace

DUET_EXPORT_ASYNC(greet, greet)
DUET_EXPORT_ASYNC(settles_within, settles_within)
DUET_EXPORT_ASYNC(repeat, repeat)
DUET_EXPORT_ASYNC(nap, nap)

// No main(): the module only exports coroutines; they run on the host loop (the page's or
// node's event loop).
