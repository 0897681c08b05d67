// The JS bridge under node, in an ASYNCIFY build (the test loop blocks between turns):
// js_value, awaiting JS promises from tasks, and JS awaiting exported coroutines (which
// run on the module's host loop while the test loop is suspended).
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <emscripten/emscripten.h>
#include <gtest/gtest.h>

#include <duet/duet.hpp>

namespace duet::test {
namespace {

// Evaluates a JS expression; `Module` is in scope.
EM_JS(int, eval_to_handle, (const char* src),
      { return Module.duet.toHandle(new Function('Module', 'return (' + UTF8ToString(src) + ');')(Module)); });
EM_JS(int, js_side_live_handles, (), { return Module.duet.liveHandles(); });
EM_JS(int, js_side_pending_calls, (), { return Module.duet.pendingCalls(); });

js_value js(const char* src) {
    return js_value::adopt(eval_to_handle(src));
}

template <class T>
T run_here(coro<T> c) {
    event_loop loop;
    if constexpr (std::is_void_v<T>) {
        loop.run_until_complete(std::move(c));
        loop.close();
    } else {
        T v = loop.run_until_complete(std::move(c));
        loop.close();
        return v;
    }
}

// ---- js_value

TEST(JsValue, ConvertsPrimitives) {
    EXPECT_TRUE(js_value().is_undefined());
    EXPECT_EQ(js_value().type_of(), "undefined");
    auto n = js_value::number(2.5);
    EXPECT_TRUE(n.is_number());
    EXPECT_EQ(n.as_number(), 2.5);
    EXPECT_EQ(static_cast<double>(n), 2.5);
    EXPECT_EQ(n.as_string(), "2.5");
    auto s = js_value::string("h\xc3\xa9llo \xe2\x9c\x93");
    EXPECT_TRUE(s.is_string());
    EXPECT_EQ(static_cast<std::string>(s), "h\xc3\xa9llo \xe2\x9c\x93");
    EXPECT_EQ(js_value::string("").as_string(), "");
    EXPECT_TRUE(js_value::boolean(true).as_bool());
    EXPECT_TRUE(js_value::boolean(false).is_bool());
    EXPECT_FALSE(static_cast<bool>(js_value::boolean(false)));
    EXPECT_TRUE(js_value::null().is_null());
    EXPECT_EQ(js_value::null().type_of(), "object");
    EXPECT_FALSE(js_value::null().is_object());
    EXPECT_EQ(js("1n").type(), js_type::bigint);
    EXPECT_EQ(js("Symbol('s')").type_of(), "symbol");
    EXPECT_TRUE(js("'12'").as_number() == 12);
}

TEST(JsValue, PropertiesAndCalls) {
    auto o = js_value::object();
    o.set("a", js_value::number(1));
    o.set("b", js_value::string("two"));
    EXPECT_EQ(o["a"].as_number(), 1);
    EXPECT_EQ(o["b"].as_string(), "two");
    EXPECT_TRUE(o["missing"].is_undefined());
    EXPECT_EQ(js("[10, 20, 30]")[1].as_number(), 20);
    EXPECT_EQ(js_value::global("Math").call("max", 1, 7.5, 3).as_number(), 7.5);
    EXPECT_EQ(js("(a, b) => a + b")(2, 3).as_number(), 5);
    EXPECT_EQ(js("(a, b) => a + b")("x", std::string("y")).as_string(), "xy");
    EXPECT_TRUE(js("(v) => v")(o).strict_equals(o));
    EXPECT_TRUE(js("Promise.resolve(1)").is_thenable());
    EXPECT_FALSE(o.is_thenable());
}

TEST(JsValue, JsExceptionsBecomeJsError) {
    try {
        js("() => { throw new RangeError('nope'); }")();
        FAIL() << "expected js_error";
    } catch (const js_error& e) {
        EXPECT_EQ(e.name(), "RangeError");
        EXPECT_EQ(e.message(), "nope");
        EXPECT_STREQ(e.what(), "RangeError: nope");
        EXPECT_NE(e.stack().find("nope"), std::string::npos);
        EXPECT_EQ(e.reason()["message"].as_string(), "nope");
    }
    try {
        js_value::null().get("x");
        FAIL() << "expected js_error";
    } catch (const js_error& e) {
        EXPECT_EQ(e.name(), "TypeError");
    }
    EXPECT_THROW(js_value::number(1).call("nosuchmethod"), js_error);
    try {
        js("({ toString() { throw new Error('no string'); } })").as_string();
        FAIL() << "expected js_error";
    } catch (const js_error& e) {
        EXPECT_EQ(e.message(), "no string");
    }
}

TEST(JsValue, HandlesAreReleasedWithTheirOwner) {
    int base = js::live_handles();
    EXPECT_EQ(js_side_live_handles(), base);
    {
        auto a = js_value::number(1);
        auto b = js_value::string("x");
        auto c = a.clone();
        EXPECT_EQ(js::live_handles(), base + 3);
        EXPECT_EQ(js_side_live_handles(), base + 3);
        js_value moved = std::move(a);
        EXPECT_EQ(js::live_handles(), base + 3);
        EXPECT_TRUE(a.is_undefined());  // NOLINT(bugprone-use-after-move): moved-from is undefined
        moved = std::move(b);
        EXPECT_EQ(js::live_handles(), base + 2);
        EXPECT_TRUE(moved.strict_equals(js_value::string("x")));
    }
    EXPECT_EQ(js::live_handles(), base);
    EXPECT_EQ(js_side_live_handles(), base);
}

// ---- awaiting JS promises

TEST(AwaitPromise, FulfilledNumber) {
    auto v = run_here([]() -> coro<double> {
        co_return co_await js::await_promise<double>(js("new Promise(r => setTimeout(() => r(42.5), 5))"));
    }());
    EXPECT_EQ(v, 42.5);
}

TEST(AwaitPromise, FulfilledString) {
    auto v = run_here([]() -> coro<std::string> {
        co_return co_await js::await_promise<std::string>(
            js("new Promise(r => setTimeout(() => r('h\\u00e9llo'), 1))"));
    }());
    EXPECT_EQ(v, "h\xc3\xa9llo");
}

TEST(AwaitPromise, FulfilledObjectHandle) {
    int base = js::live_handles();
    run_here([]() -> coro<void> {
        js_value o = co_await js::await_promise(js("new Promise(r => setTimeout(() => r({a: 1, b: 'two'}), 1))"));
        EXPECT_TRUE(o.is_object());
        EXPECT_EQ(o["a"].as_number(), 1);
        EXPECT_EQ(o["b"].as_string(), "two");
    }());
    EXPECT_EQ(js::live_handles(), base);
}

TEST(AwaitPromise, ResolvedPromisesAndPlainValues) {
    auto v = run_here([]() -> coro<double> {
        double a = co_await js::await_promise<double>(js("Promise.resolve(3)"));
        double b = co_await js::await_promise<double>(js_value::number(4));  // not a promise
        bool c = co_await js::await_promise<bool>(js("Promise.resolve(true)"));
        co_await js::await_promise<void>(js("Promise.resolve('ignored')"));
        co_return a + b + (c ? 100 : 0);
    }());
    EXPECT_EQ(v, 107);
}

TEST(AwaitPromise, RejectionBecomesJsError) {
    run_here([]() -> coro<void> {
        try {
            co_await js::await_promise(
                js("new Promise((_, no) => setTimeout(() => no(new TypeError('bad input')), 1))"));
            ADD_FAILURE() << "expected js_error";
        } catch (const js_error& e) {
            EXPECT_EQ(e.name(), "TypeError");
            EXPECT_EQ(e.message(), "bad input");
            EXPECT_STREQ(e.what(), "TypeError: bad input");
            EXPECT_NE(e.stack().find("TypeError: bad input"), std::string::npos) << e.stack();
            EXPECT_TRUE(e.reason().is_object());
        }
    }());
}

TEST(AwaitPromise, RejectionWithCustomErrorAndNonError) {
    run_here([]() -> coro<void> {
        try {
            co_await js::await_promise<double>(
                js("(() => { class Oops extends Error { constructor(m) { super(m); this.name = 'Oops'; } };"
                   " return Promise.reject(new Oops('custom')); })()"));
            ADD_FAILURE() << "expected js_error";
        } catch (const js_error& e) {
            EXPECT_EQ(e.name(), "Oops");
            EXPECT_EQ(e.message(), "custom");
        }
        try {
            co_await js::await_promise<double>(js("Promise.reject('plain text')"));
            ADD_FAILURE() << "expected js_error";
        } catch (const js_error& e) {
            EXPECT_EQ(e.name(), "Error");
            EXPECT_EQ(e.message(), "plain text");
            EXPECT_EQ(e.stack(), "");
            EXPECT_EQ(e.reason().as_string(), "plain text");
        }
    }());
}

TEST(AwaitPromise, WrongTypeIsTypeError) {
    run_here([]() -> coro<void> {
        try {
            co_await js::await_promise<double>(js("Promise.resolve('x')"));
            ADD_FAILURE() << "expected js_error";
        } catch (const js_error& e) {
            EXPECT_EQ(e.name(), "TypeError");
            EXPECT_NE(e.message().find("string, not a number"), std::string::npos) << e.message();
        }
    }());
}

// Numbers, booleans and ignored values take a fast path from JS (no handle); the others,
// and every type mismatch, the general one.
TEST(AwaitPromise, PrimitiveFulfilmentsAndTheirTypeErrors) {
    int base = js::live_handles();
    run_here([]() -> coro<void> {
        EXPECT_EQ(co_await js::await_promise<double>(js("Promise.resolve(-0.5)")), -0.5);
        EXPECT_EQ(co_await js::await_promise<int>(js("Promise.resolve(7)")), 7);
        EXPECT_TRUE(std::isnan(co_await js::await_promise<double>(js("Promise.resolve(NaN)"))));
        EXPECT_TRUE(co_await js::await_promise<bool>(js("Promise.resolve(true)")));
        EXPECT_FALSE(co_await js::await_promise<bool>(js("Promise.resolve(false)")));
        js_value n = co_await js::await_promise(js("Promise.resolve(2.5)"));
        EXPECT_TRUE(n.is_number());
        EXPECT_EQ(n.as_number(), 2.5);
        js_value b = co_await js::await_promise(js("Promise.resolve(false)"));
        EXPECT_TRUE(b.is_bool());
        EXPECT_TRUE((co_await js::await_promise(js("Promise.resolve()"))).is_undefined());
        co_await js::await_promise<void>(js("Promise.resolve(Symbol('s'))"));
        co_await js::await_promise<void>(js("Promise.resolve({a: 1})"));
        EXPECT_EQ(co_await js::await_promise<std::string>(js("Promise.resolve('s')")), "s");

        auto type_error = []<class T>(future<T> f, const char* expected) -> coro<void> {
            try {
                co_await f;
                ADD_FAILURE() << "expected js_error";
            } catch (const js_error& e) {
                EXPECT_EQ(e.name(), "TypeError");
                EXPECT_NE(e.message().find(expected), std::string::npos) << e.message();
            }
        };
        co_await type_error(js::await_promise<std::string>(js("Promise.resolve(1)")), "a number, not a string");
        co_await type_error(js::await_promise<bool>(js("Promise.resolve(1)")), "a number, not a boolean");
        co_await type_error(js::await_promise<double>(js("Promise.resolve(true)")), "a boolean, not a number");
        co_await type_error(js::await_promise<double>(js("Promise.resolve()")), "a undefined, not a number");
        co_await type_error(js::await_promise<double>(js_value::null()), "a object, not a number");
        co_await type_error(js::await_promise<double>(js("Promise.resolve(1n)")), "a bigint, not a number");
    }());
    EXPECT_EQ(js::live_handles(), base);
}

// A rejection with a primitive takes the general path whatever the awaited type.
TEST(AwaitPromise, PrimitiveRejections) {
    run_here([]() -> coro<void> {
        try {
            co_await js::await_promise<double>(js("Promise.reject(3)"));
            ADD_FAILURE() << "expected js_error";
        } catch (const js_error& e) {
            EXPECT_EQ(e.name(), "Error");
            EXPECT_EQ(e.message(), "3");
            EXPECT_EQ(e.reason().as_number(), 3);
        }
        try {
            co_await js::await_promise<void>(js("Promise.reject(false)"));
            ADD_FAILURE() << "expected js_error";
        } catch (const js_error& e) {
            EXPECT_EQ(e.message(), "false");
        }
    }());
}

// The JS side reuses the handlers of settled awaits: outcomes arriving in any order, some
// never, still reach the right futures.
TEST(AwaitPromise, InterleavedOutcomesReachTheirFutures) {
    int base = js::live_handles();
    run_here([]() -> coro<void> {
        auto make =
            js("(i) => new Promise((ok, no) => setTimeout(() => i % 3 == 0 ? no(new Error('e' + i)) :"
               " ok(i % 3 == 1 ? i : i % 2 == 0), (i * 7) % 11))");
        auto never = js("new Promise(() => {})");
        std::vector<future<double>> nums;
        std::vector<future<bool>> bools;
        std::vector<future<js_value>> errs;
        std::vector<future<double>> pending;
        for (int i = 0; i < 60; ++i) {
            if (i % 3 == 0)
                errs.push_back(js::await_promise(make(i)));
            else if (i % 3 == 1)
                nums.push_back(js::await_promise<double>(make(i)));
            else
                bools.push_back(js::await_promise<bool>(make(i)));
            if (i % 10 == 0) pending.push_back(js::await_promise<double>(never));
        }
        for (int k = 0; k < 20; ++k) {
            int i = 3 * k;
            try {
                co_await errs[static_cast<std::size_t>(k)];
                ADD_FAILURE() << "expected js_error";
            } catch (const js_error& e) {
                EXPECT_EQ(e.message(), "e" + std::to_string(i));
            }
            EXPECT_EQ(co_await nums[static_cast<std::size_t>(k)], i + 1);
            EXPECT_EQ(co_await bools[static_cast<std::size_t>(k)], (i + 2) % 2 == 0);
        }
        for (auto& f : pending) {
            EXPECT_FALSE(f.done());
            f.cancel();
        }
    }());
    EXPECT_EQ(js::live_handles(), base);
}

coro<double> await_all_in_order(int n) {
    double sum = 0;
    std::vector<future<double>> fs;
    for (int i = 0; i < n; ++i) {
        auto make = js("(i) => new Promise(r => setTimeout(() => r(i), i % 7))");
        fs.push_back(js::await_promise<double>(make(i)));
    }
    for (auto& f : fs) sum += co_await f;
    co_return sum;
}

coro<double> await_chain(int id, int n) {
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += co_await js::await_promise<double>(js_value::number(id * 1000 + i));
    co_return sum;
}

TEST(AwaitPromise, ManyPromises) {
    int base = js::live_handles();
    EXPECT_EQ(run_here(await_all_in_order(500)), 499.0 * 500 / 2);
    auto total = run_here([]() -> coro<double> {
        std::vector<task<double>> tasks;
        for (int t = 0; t < 50; ++t) tasks.push_back(create_task(await_chain(t, 20)));
        double s = 0;
        for (auto& t : tasks) s += co_await t;
        co_return s;
    }());
    // sum over t<50, i<20 of (1000 t + i)
    EXPECT_EQ(total, 1000.0 * 20 * (49 * 50 / 2) + 50 * (19 * 20 / 2));
    EXPECT_EQ(js::live_handles(), base);
}

TEST(AwaitPromise, CancelledTaskIgnoresTheLaterSettlement) {
    int base = js::live_handles();
    run_here([]() -> coro<void> {
        auto slow_ok = js("new Promise(r => setTimeout(() => r(1), 30))");
        auto slow_fail = js("new Promise((_, no) => setTimeout(() => no(new Error('late')), 30))");
        auto waiter = [](js_value p) -> coro<double> { co_return co_await js::await_promise<double>(p); };
        auto a = create_task(waiter(std::move(slow_ok)));
        auto b = create_task(waiter(std::move(slow_fail)));
        co_await sleep(0.005);
        EXPECT_FALSE(a.done());
        a.cancel("stop");
        b.cancel();
        try {
            co_await a;
            ADD_FAILURE() << "expected cancelled_error";
        } catch (const cancelled_error& c) {
            EXPECT_EQ(c.message(), "stop");
        }
        EXPECT_TRUE(a.cancelled());
        EXPECT_THROW(co_await b, cancelled_error);
        co_await sleep(0.06);  // both promises settle now, into cancelled futures
    }());
    EXPECT_EQ(js::live_handles(), base);
}

TEST(AwaitPromise, SettlingAfterTheLoopIsGoneIsHarmless) {
    int base = js::live_handles();
    {
        event_loop gone;
        auto f = js::promise_future<double>(js("new Promise(r => setTimeout(() => r(5), 10))"), gone);
        gone.close();
    }
    run_here<void>(sleep(0.03));
    {
        // A loop whose liveness was just checked (a settled await), then destroyed.
        event_loop gone;
        EXPECT_EQ(gone.run_until_complete(js::promise_future<double>(js("Promise.resolve(1)"), gone)), 1);
        auto f = js::promise_future<double>(js("new Promise(r => setTimeout(() => r(5), 10))"), gone);
        auto g =
            js::promise_future<js_value>(js("new Promise((_, no) => setTimeout(() => no(new Error()), 10))"), gone);
    }
    run_here<void>(sleep(0.03));
    EXPECT_EQ(js::live_handles(), base);
}

// ---- exported coroutines, awaited from JS (they run on the host loop)

coro<double> add_later(double a, double b) {
    co_await sleep(0.002);
    co_return a + b;
}
coro<std::string> greet(std::string name, bool loud) {
    co_await yield_now();
    co_return (loud ? "HELLO, " : "hello, ") + name;
}
coro<void> fail_with(std::string message) {
    co_await sleep(0.001);
    throw std::runtime_error(message);
}
coro<void> sleep_forever() {
    co_await sleep(3600);
}
coro<js_value> box(double x) {
    auto o = js_value::object();
    o.set("x", js_value::number(x));
    co_return o;
}
coro<double> relay(js_value promise) {
    co_return 2 * co_await js::await_promise<double>(promise);
}

}  // namespace

DUET_EXPORT_ASYNC(test_add, add_later)
DUET_EXPORT_ASYNC(test_greet, greet)
DUET_EXPORT_ASYNC(test_fail, fail_with)
DUET_EXPORT_ASYNC(test_forever, sleep_forever)
DUET_EXPORT_ASYNC(test_box, box)
DUET_EXPORT_ASYNC(test_relay, relay)

namespace {

// The JS expression's promise settles with a string describing the outcome.
std::string outcome(const char* expr) {
    std::string src = std::string("(") + expr + ").then(v => 'ok:' + (typeof v == 'object' ? JSON.stringify(v) : v), " +
                      "e => 'err:' + e.name + ':' + e.message + ':' + (e instanceof Error))";
    return run_here([](std::string s) -> coro<std::string> {
        co_return co_await js::await_promise<std::string>(js(s.c_str()));
    }(std::move(src)));
}

TEST(ExportAsync, ResolvesWithTheResult) {
    EXPECT_EQ(outcome("Module.duet.wrap('test_add')(2, 3.5)"), "ok:5.5");
    EXPECT_EQ(outcome("Module.duet.wrap('test_greet')('ada', true)"), "ok:HELLO, ada");
    EXPECT_EQ(outcome("Module.duet.callAsync('test_greet', ['bob', false])"), "ok:hello, bob");
    EXPECT_EQ(outcome("Module.duet.wrap('test_box')(7)"), "ok:{\"x\":7}");
    EXPECT_EQ(outcome("Module.duet.wrap('test_relay')(new Promise(r => setTimeout(() => r(21), 2)))"), "ok:42");
    EXPECT_EQ(js_side_pending_calls(), 0);
}

TEST(ExportAsync, CppExceptionRejectsWithError) {
    EXPECT_EQ(outcome("Module.duet.wrap('test_fail')('kaput')"), "err:Error:kaput:true");
}

TEST(ExportAsync, JsErrorPassesThroughAsTheOriginalValue) {
    int base = js::live_handles();
    EXPECT_EQ(
        outcome("(() => { const e = new SyntaxError('orig'); return Module.duet.wrap('test_relay')("
                "Promise.reject(e)).catch(x => { if (x !== e) throw new Error('not the same object'); throw x; });"
                " })()"),
        "err:SyntaxError:orig:true");
    EXPECT_EQ(js::live_handles(), base);
}

TEST(ExportAsync, BadArgumentsRejectWithTypeError) {
    EXPECT_EQ(outcome("Module.duet.wrap('test_add')('a', 1)"),
              "err:TypeError:argument 1 is a string, not a number:true");
    EXPECT_EQ(outcome("Module.duet.wrap('test_add')(1)"), "err:TypeError:argument 2 is a undefined, not a number:true");
    EXPECT_EQ(outcome("Module.duet.wrap('no_such_export')()"),
              "err:TypeError:duet: no coroutine exported as \"no_such_export\" (DUET_EXPORT_ASYNC):true");
}

TEST(ExportAsync, AbortSignalCancelsTheTask) {
    EXPECT_EQ(outcome("(() => { const ac = new AbortController();"
                      " const p = Module.duet.wrap('test_forever').withSignal(ac.signal);"
                      " setTimeout(() => ac.abort(), 5); return p; })()"),
              "err:CancelledError:cancelled from JS (AbortSignal):true");
    EXPECT_EQ(outcome("(() => { const ac = new AbortController(); ac.abort();"
                      " return Module.duet.callAsync('test_add', [1, 2], {signal: ac.signal}); })()"),
              "err:CancelledError:cancelled from JS (AbortSignal):true");
    EXPECT_EQ(js_side_pending_calls(), 0);
}

TEST(ExportAsync, HostLoopKeepsRunningBetweenCalls) {
    auto& host = wasm::host_loop();
    EXPECT_TRUE(host.is_running());
    auto t = wasm::spawn(add_later(1, 1));
    EXPECT_EQ(outcome("Module.duet.wrap('test_add')(20, 22)"), "ok:42");
    EXPECT_TRUE(t.done());
    EXPECT_EQ(t.result(), 2);
}

}  // namespace
}  // namespace duet::test
