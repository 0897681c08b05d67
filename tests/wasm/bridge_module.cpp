// A module built the way a page ships one (no ASYNCIFY, MODULARIZE): exported coroutines
// that page/bridge_checks.js drives from node and from headless Chromium.
#include <stdexcept>
#include <string>
#include <vector>

#include <duet/duet.hpp>

namespace {

using namespace duet;

coro<double> sleep_value(double ms, double value) {
    co_await sleep(ms / 1000);
    co_return value;
}

// Timers run in deadline order, whatever order they were scheduled in; call_soon first.
coro<std::string> timer_order() {
    auto& loop = get_running_loop();
    std::string order;
    auto done = loop.create_future<void>();
    loop.call_later(0.020, [&] {
        order += "late";
        done.set_result();
    });
    loop.call_later(0.005, [&] { order += "early,"; });
    loop.call_soon([&] { order += "soon,"; });
    co_await done;
    co_return order;
}

coro<double> square_after(int i, double ms) {
    co_await sleep(ms / 1000);
    co_return i* i;
}

// Several tasks finishing in reverse order; results come back in creation order.
coro<std::string> gather_squares(double n) {
    std::vector<task<double>> tasks;
    for (int i = 0; i < static_cast<int>(n); ++i) tasks.push_back(create_task(square_after(i, (n - i) * 2)));
    std::string out;
    for (auto& t : tasks) out += (out.empty() ? "" : ",") + std::to_string(static_cast<int>(co_await t));
    co_return out;
}

coro<double> double_js_number(js_value promise) {
    co_return 2 * co_await js::await_promise<double>(promise);
}

// Awaits the same (settled) promise n times: each await is one JS continuation.
coro<double> sum_awaits(js_value promise, double n) {
    double sum = 0;
    for (int i = 0; i < static_cast<int>(n); ++i) sum += co_await js::await_promise<double>(promise);
    co_return sum;
}

coro<std::string> describe_js_error(js_value promise) {
    try {
        co_await js::await_promise(promise);
    } catch (const js_error& e) {
        co_return e.name() + "|" + e.message();
    }
    co_return "no error";
}

coro<void> rethrow_js(js_value promise) {
    co_await js::await_promise(promise);
}

coro<void> throw_cpp(std::string message) {
    co_await yield_now();
    throw std::runtime_error(message);
}

coro<void> throw_timeout() {
    co_await sleep(0.001);
    throw timeout_error();
}

coro<void> wait_forever() {
    co_await sleep(3600);
}

coro<std::string> echo(double d, std::string s, bool b, js_value v) {
    co_return std::to_string(static_cast<int>(d * 10)) + "|" + s + "|" + (b ? "true" : "false") + "|" + v.type_of();
}

coro<double> yield_many(double n) {
    for (int i = 0; i < static_cast<int>(n); ++i) co_await yield_now();
    co_return n;
}

coro<double> live_handles() {
    co_return js::live_handles();
}

}  // namespace

DUET_EXPORT_ASYNC(sleep_value, sleep_value)
DUET_EXPORT_ASYNC(timer_order, timer_order)
DUET_EXPORT_ASYNC(gather_squares, gather_squares)
DUET_EXPORT_ASYNC(double_js_number, double_js_number)
DUET_EXPORT_ASYNC(sum_awaits, sum_awaits)
DUET_EXPORT_ASYNC(describe_js_error, describe_js_error)
DUET_EXPORT_ASYNC(rethrow_js, rethrow_js)
DUET_EXPORT_ASYNC(throw_cpp, throw_cpp)
DUET_EXPORT_ASYNC(throw_timeout, throw_timeout)
DUET_EXPORT_ASYNC(wait_forever, wait_forever)
DUET_EXPORT_ASYNC(echo, echo)
DUET_EXPORT_ASYNC(live_handles, live_handles)
DUET_EXPORT_ASYNC(yield_many, yield_many)

// Blocking needs ASYNCIFY, which this module lacks: both spellings must refuse. A plain
// export (JS calls it outside any running loop); returns a handle to the messages.
extern "C" EMSCRIPTEN_KEEPALIVE int blocking_refused() {
    std::string out;
    {
        duet::event_loop loop;
        loop.set_exception_handler([](duet::abstract_event_loop&, const duet::exception_context&) {});
        try {
            loop.run_until_complete(duet::sleep(0));
            out += "run_until_complete ran";
        } catch (const duet::not_supported_error& e) {
            out += e.what();
        }
    }
    out += "\n";
    try {
        duet::run(duet::sleep(0));
        out += "duet::run ran";
    } catch (const duet::not_supported_error& e) {
        out += e.what();
    }
    return duet::js_value::string(out).release();
}

// Fibers need ASYNCIFY too: spawn_fiber refuses, naming what enables them. A plain export
// that returns a handle to the message.
extern "C" EMSCRIPTEN_KEEPALIVE int fibers_refused() {
    std::string out = duet::fibers_supported() ? "fibers_supported() is true; " : "";
    try {
        duet::wasm::host_loop().spawn_fiber([] { return 1; });
        out += "spawn_fiber ran";
    } catch (const duet::not_supported_error& e) {
        out += e.what();
    }
    return duet::js_value::string(out).release();
}

int main() {
    // Starts the module's host loop; everything else arrives through the exports.
    duet::wasm::host_loop();
}
