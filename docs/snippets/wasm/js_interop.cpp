// docs/js-interop.md (wasm only: compiled, not run, by the wasm build's tests/docs).
#include <string>

#include <duet/duet.hpp>

namespace {

// A JS promise awaited from a coroutine: fetch() and Response.text() are plain JS calls.
duet::coro<std::string> fetch_text(std::string url) {
    duet::js_value response = co_await duet::js::await_promise(duet::js_value::global("fetch")(url));
    if (!response["ok"].as_bool())
        throw std::runtime_error("fetch " + url + ": HTTP " + response["status"].as_string());
    co_return co_await duet::js::await_promise<std::string>(response.call("text"));
}

// A JS function called from C++, its exception caught as duet::js_error.
double parse_json_number(const std::string& text) {
    try {
        return duet::js_value::global("JSON").call("parse", text).as_number();
    } catch (const duet::js_error& e) {  // e.name() == "SyntaxError"
        return -1;
    }
}

duet::coro<double> add_later(double a, double b) {
    co_await duet::sleep(0.01);
    co_return a + b + parse_json_number("0");
}

}  // namespace

// JS: `await duet.wrap(mod, 'fetch_text')('data.txt')`, `await add(1, 2)`, and
// `add.withSignal(controller.signal, 1, 2)` to cancel the task from JS.
DUET_EXPORT_ASYNC(fetch_text, fetch_text)
DUET_EXPORT_ASYNC(add_later, add_later)
