// Fibers (spawn_fiber / duet::await): stackful tasks, on the virtual clock. Both targets:
// natively on Boost.Context, in wasm (ASYNCIFY test builds) on emscripten fibers.
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_loop.hpp"

#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>
#endif

namespace duet::test {
namespace {

using vloop = virtual_event_loop;

// Sets a flag when destroyed: shows that a fiber's stack unwound.
struct dtor_flag {
    bool* flag;
    explicit dtor_flag(bool* f) : flag(f) {}
    dtor_flag(const dtor_flag&) = delete;
    dtor_flag& operator=(const dtor_flag&) = delete;
    ~dtor_flag() { *flag = true; }
};

int add_later(int a, int b) {
    duet::await(sleep(0.5));
    return a + b;
}

int throws_after_await() {
    duet::await(sleep(0.1));
    throw std::invalid_argument("bad input");
}

// Recursion that awaits at the bottom, `n` frames deep (each frame keeps a little stack).
int deep(int n, int& max_depth) {
    volatile char pad[64] = {};
    pad[0] = static_cast<char>(n);
    if (n == 0) {
        duet::await(sleep(0.01));
        return 0;
    }
    max_depth = std::max(max_depth, n);
    return 1 + deep(n - 1, max_depth) + (pad[0] == static_cast<char>(n) ? 0 : 1);
}

coro<int> coroutine_awaiting_fiber(int v) {
    auto t = spawn_fiber([v] {
        duet::await(sleep(0.1));
        return v * 2;
    });
    int r = co_await t;
    co_return r + 1;
}

TEST(Fiber, ValueAndExceptionThroughTheTask) {
    vloop loop;
    auto t = loop.spawn_fiber(add_later, 2, 3);
    auto bad = loop.spawn_fiber(throws_after_await);
    EXPECT_EQ(loop.run_until_complete(future<int>(t)), 5);
    EXPECT_THROW(loop.run_until_complete(future<int>(bad)), std::invalid_argument);
    EXPECT_TRUE(bad.done());
    EXPECT_FALSE(bad.cancelled());
    loop.close();
}

TEST(Fiber, AwaitsEveryKindOfAwaitable) {
    auto body = []() -> coro<std::string> {
        lock lk;
        event ev;
        queue<int> q;
        auto t = spawn_fiber([&] {
            std::string log;
            duet::await(sleep(0.1));                                  // sleep_op
            log += std::to_string(duet::await(value_after(0.1, 1)));  // coro<int>
            auto inner = create_task(value_after(0.1, 2));
            log += std::to_string(duet::await(inner));  // task<int>
            duet::await(lk.acquire());                  // lock wait
            lk.release();
            duet::await(ev.wait());  // event wait
            log += std::to_string(duet::await(q.get()));
            duet::await(yield_now());
            return log;
        });
        co_await sleep(1);
        ev.set();
        co_await q.put(3);
        co_return co_await t;
    };
    EXPECT_EQ(run_on_new_loop(body()), "123");
}

TEST(Fiber, AwaitFromAThousandFramesDeep) {
    vloop loop;
    int max_depth = 0;
    // 1 MiB: ASan's redzones make each of deep()'s frames several times larger, and
    // 256 KiB overflowed there; the point here is the depth, not the stack size.
    auto t = loop.spawn_fiber(fiber_options{1024 * 1024, 256 * 1024, {}}, [&] { return deep(1000, max_depth); });
    EXPECT_EQ(loop.run_until_complete(future<int>(t)), 1000);
    EXPECT_EQ(max_depth, 1000);
    loop.close();
}

TEST(Fiber, TenThousandFibersAliveAtOnce) {
    auto body = []() -> coro<long> {
        event go;
        int alive = 0;
        std::vector<task<int>> ts;
        ts.reserve(10000);
        fiber_options small;
        small.stack_size = 16 * 1024;
        small.asyncify_stack_size = 1024;
        for (int i = 0; i < 10000; ++i)
            ts.push_back(spawn_fiber(small, [&go, &alive, i] {
                ++alive;
                duet::await(go.wait());
                --alive;
                return i;
            }));
        co_await sleep(0.1);
        EXPECT_EQ(alive, 10000);
        go.set();
        auto all = co_await gather(std::move(ts));
        EXPECT_EQ(alive, 0);
        long sum = 0;
        for (int v : all) sum += v;
        co_return sum;
    };
    EXPECT_EQ(run_on_new_loop(body()), 10000L * 9999 / 2);
}

TEST(Fiber, CancelWhileBlockedUnwindsTheStack) {
    vloop loop;
    bool unwound = false;
    bool after_await = false;
    auto t = loop.spawn_fiber([&] {
        dtor_flag guard(&unwound);
        duet::await(sleep(100));
        after_await = true;
    });
    auto canceller = [](task<void> f) -> coro<void> {
        co_await sleep(1);
        EXPECT_TRUE(f.cancel("stop it"));
        EXPECT_EQ(f.cancelling(), 1);
    };
    loop.run_until_complete(canceller(t));
    try {
        loop.run_until_complete(future<void>(t));
        ADD_FAILURE() << "no cancellation";
    } catch (const cancelled_error& e) {
        EXPECT_EQ(e.message(), "stop it");
    }
    EXPECT_TRUE(unwound);
    EXPECT_FALSE(after_await);
    EXPECT_TRUE(t.cancelled());
    EXPECT_LT(loop.time(), 50.0);
    loop.close();
}

TEST(Fiber, CatchesTheCancellationAndReturnsAValue) {
    auto body = []() -> coro<int> {
        auto t = spawn_fiber([] {
            try {
                duet::await(sleep(100));
            } catch (const cancelled_error& e) {
                EXPECT_EQ(e.message(), "late");
                duet::await(sleep(0.1));  // awaiting again works
                return 7;
            }
            return 0;
        });
        co_await sleep(1);
        t.cancel("late");
        int r = co_await t;
        EXPECT_FALSE(t.cancelled());
        EXPECT_EQ(t.cancelling(), 1);
        co_return r;
    };
    EXPECT_EQ(run_on_new_loop(body()), 7);
}

TEST(Fiber, Uncancel) {
    auto body = []() -> coro<int> {
        auto t = spawn_fiber([] {
            int rounds = 0;
            for (;;) {
                try {
                    duet::await(sleep(10));
                    return rounds;
                } catch (const cancelled_error&) {
                    ++rounds;
                    EXPECT_EQ(current_task()->cancelling(), 1);
                    EXPECT_EQ(current_task()->uncancel(), 0);
                }
            }
        });
        co_await sleep(1);
        t.cancel();
        co_await sleep(1);
        t.cancel();
        co_return co_await t;
    };
    EXPECT_EQ(run_on_new_loop(body()), 2);
}

TEST(Fiber, IsATaskLikeAnyOther) {
    context_var<std::string> who("who");
    auto body = [&who]() -> coro<void> {
        auto tok = who.set("parent");
        int callbacks = 0;
        fiber_options named;
        named.name = "parser";
        task<void> t = spawn_fiber(named, [&] {
            auto me = current_task();
            EXPECT_TRUE(me.has_value());
            EXPECT_EQ(me->get_name(), "parser");
            auto all = all_tasks();
            EXPECT_NE(std::find(all.begin(), all.end(), *me), all.end());
            EXPECT_EQ(who.get(), "parent");  // a copy of the spawner's context
            who.set("fiber");
            duet::await(sleep(0.1));
            EXPECT_EQ(who.get(), "fiber");
        });
        EXPECT_EQ(t.get_name(), "parser");
        t.add_done_callback([&callbacks](const basic_future&) { ++callbacks; });
        co_await t;
        co_await sleep(0);
        EXPECT_EQ(callbacks, 1);
        EXPECT_EQ(who.get(), "parent");  // the fiber's set stayed in its copy
        who.reset(tok);
    };
    run_on_new_loop(body());
}

TEST(Fiber, InATaskGroupWhoseSiblingFails) {
    auto body = []() -> coro<void> {
        bool unwound = false;
        bool cancelled = false;
        try {
            co_await with_task_group([&](task_group& tg) -> coro<void> {
                tg.spawn_fiber([&] {
                    dtor_flag guard(&unwound);
                    try {
                        duet::await(sleep(100));
                    } catch (const cancelled_error&) {
                        cancelled = true;
                        throw;
                    }
                });
                tg.create_task([]() -> coro<void> {
                    co_await sleep(1);
                    throw std::runtime_error("sibling failed");
                }());
                co_return;
            });
            ADD_FAILURE() << "no exception_group";
        } catch (const exception_group& eg) {
            EXPECT_EQ(eg.exceptions().size(), 1u);
            EXPECT_TRUE(eg.contains<std::runtime_error>());
        }
        EXPECT_TRUE(unwound);
        EXPECT_TRUE(cancelled);
        EXPECT_LT(get_running_loop().time(), 50.0);
    };
    run_on_new_loop(body());
}

TEST(Fiber, WaitForTimesOut) {
    auto body = []() -> coro<void> {
        bool unwound = false;
        auto t = spawn_fiber([&] {
            dtor_flag guard(&unwound);
            duet::await(sleep(100));
        });
        EXPECT_THROW(co_await wait_for(t, 1.0), timeout_error);
        EXPECT_TRUE(t.cancelled());
        EXPECT_TRUE(unwound);
        // And a fiber is a timeout's body's awaitable like any task.
        auto quick = spawn_fiber([] {
            duet::await(sleep(0.5));
            return 4;
        });
        EXPECT_EQ(co_await wait_for(quick, 1.0), 4);
    };
    run_on_new_loop(body());
}

TEST(Fiber, AwaitsACoroutineThatAwaitsAFiber) {
    vloop loop;
    auto t = loop.spawn_fiber([] { return duet::await(coroutine_awaiting_fiber(20)); });
    EXPECT_EQ(loop.run_until_complete(future<int>(t)), 41);
    loop.close();
}

// An eager task factory starts a fiber spawned by a fiber on the spawner's own stack (a
// nested switch); both go on as usual after that.
TEST(Fiber, EagerFiberSpawnedFromAFiber) {
    vloop loop;
    loop.set_task_factory(eager_task_factory);
    auto outer = loop.spawn_fiber([] {
        std::vector<int> order;
        auto inner = spawn_fiber([&order] {
            order.push_back(1);
            duet::await(sleep(0.1));
            order.push_back(3);
            return 10;
        });
        order.push_back(2);  // the inner fiber ran up to its await already
        int v = duet::await(inner);
        order.push_back(4);
        EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
        return v + 1;
    });
    EXPECT_EQ(loop.run_until_complete(future<int>(outer)), 11);
    loop.close();
}

TEST(Fiber, GatherTakesFibersAndCoroutines) {
    auto body = []() -> coro<int> {
        auto a = spawn_fiber(add_later, 1, 2);
        auto [x, y] = co_await gather(std::move(a), value_after(0.2, 10));
        co_return x + y;
    };
    EXPECT_EQ(run_on_new_loop(body()), 13);
}

TEST(Fiber, LoopClosedWithLiveFibers) {
    bool unwound = false;
    bool got_cancel = false;
    handler_log log;
    {
        vloop loop;
        log.install(loop);
        auto t = loop.spawn_fiber([&] {
            dtor_flag guard(&unwound);
            try {
                duet::await(sleep(100));
            } catch (const cancelled_error&) {
                got_cancel = true;
                throw;
            }
        });
        loop.run_until_complete(sleep(1));
        EXPECT_FALSE(unwound);
        loop.close();
        EXPECT_TRUE(unwound);
        EXPECT_TRUE(got_cancel);
    }
    auto msgs = log.messages();
    EXPECT_NE(std::find(msgs.begin(), msgs.end(), "Task was destroyed but it is pending!"), msgs.end());
}

TEST(Fiber, RunCancelsLiveFibersAndLetsThemFinish) {
    bool unwound = false;
    int r = duet::run([&]() -> coro<int> {
        spawn_fiber([&] {
            dtor_flag guard(&unwound);
            duet::await(sleep(1000));
        });
        co_await sleep(0.1);
        co_return 3;
    }());
    EXPECT_EQ(r, 3);
    EXPECT_TRUE(unwound);
}

TEST(Fiber, AwaitOutsideAFiberIsAnError) {
    try {
        duet::await(sleep(1));
        ADD_FAILURE() << "no error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("outside a fiber"), std::string::npos);
    }
    // From a coroutine task too (co_await is the way there).
    auto body = []() -> coro<void> {
        EXPECT_THROW(duet::await(sleep(1)), std::runtime_error);
        co_return;
    };
    run_on_new_loop(body());
}

TEST(Fiber, ErrorsOfAnAwaitReachTheFiber) {
    auto body = []() -> coro<void> {
        auto t = spawn_fiber([] {
            // A task awaiting itself is refused by the task machinery, inside the fiber.
            EXPECT_THROW(duet::await(*current_task()), std::runtime_error);
            EXPECT_THROW(duet::await(sleep(std::nan(""))), std::invalid_argument);
            return 1;
        });
        EXPECT_EQ(co_await t, 1);
    };
    run_on_new_loop(body());
}

TEST(Fiber, CancelledBeforeItStartedNeverRuns) {
    vloop loop;
    bool ran = false;
    auto t = loop.spawn_fiber([&] { ran = true; });
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(future<void>(t)), cancelled_error);
    EXPECT_FALSE(ran);
    loop.close();
}

#ifdef __EMSCRIPTEN__
// Evaluates a JS expression into a js_value.
EM_JS(int, fiber_test_eval, (const char* src), { return Module.duet.toHandle(eval(UTF8ToString(src))); });
js_value js(const char* src) {
    return js_value::adopt(fiber_test_eval(src));
}

// A JS promise awaited from a fiber, some frames deep (node and Chromium run this suite).
double await_js_at_depth(int n) {
    if (n == 0) return duet::await(js::await_promise<double>(js("new Promise(r => setTimeout(() => r(42.5), 5))")));
    return await_js_at_depth(n - 1);
}

TEST(FiberWasm, AwaitsAJsPromise) {
    event_loop loop;
    auto t = loop.spawn_fiber([] {
        double v = await_js_at_depth(20);
        try {
            duet::await(js::await_promise<double>(js("Promise.reject(new TypeError('no'))")));
        } catch (const js_error& e) {
            EXPECT_EQ(e.name(), "TypeError");
            v += 1;
        }
        return v;
    });
    EXPECT_EQ(loop.run_until_complete(future<double>(t)), 43.5);
    loop.close();
}

// Fibers on the module's host loop are swapped from JS callbacks (its timers) while main
// is suspended in a blocking run of another loop: main's pending rewind must survive.
TEST(FiberWasm, SwapsFromHostCallbacksWhileMainBlocks) {
    auto t = wasm::host_loop().spawn_fiber([] {
        int steps = 0;
        for (int i = 0; i < 5; ++i) {
            duet::await(sleep(0.005));
            ++steps;
        }
        return steps;
    });
    event_loop loop;
    loop.run_until_complete([](task<int> f) -> coro<void> {
        for (int i = 0; i < 1000 && !f.done(); ++i) co_await sleep(0.005);
    }(t));
    loop.close();
    ASSERT_TRUE(t.done());
    EXPECT_EQ(t.result(), 5);
}
#else
// Natively each fiber has its own exception state: two fibers suspended inside catch
// handlers, interleaved, each rethrow their own exception afterwards.
std::string await_in_handler(const char* what, double d) {
    try {
        throw std::runtime_error(what);
    } catch (...) {
        duet::await(sleep(d));
        EXPECT_EQ(std::uncaught_exceptions(), 0);
        try {
            throw;
        } catch (const std::runtime_error& e) {
            return e.what();
        }
    }
}

TEST(FiberNative, AwaitInsideACatchHandler) {
    auto body = []() -> coro<std::string> {
        auto a = spawn_fiber(await_in_handler, "a", 0.1);
        auto b = spawn_fiber(await_in_handler, "b", 0.2);
        try {
            throw std::logic_error("main");
        } catch (const std::logic_error&) {
            // the fibers run while this coroutine's own handler is active elsewhere
        }
        auto [x, y] = co_await gather(std::move(a), std::move(b));
        co_return x + y;
    };
    EXPECT_EQ(run_on_new_loop(body()), "ab");
}

TEST(FiberNative, StacksAreReusedAndGuarded) {
    // Many short fibers in a row run on pooled stacks (nothing to observe but that they
    // work); a deep recursion well inside the stack size works.
    auto body = []() -> coro<int> {
        int total = 0;
        for (int i = 0; i < 2000; ++i) total += co_await spawn_fiber([i] { return i % 3; });
        co_return total;
    };
    EXPECT_EQ(run_on_new_loop(body()), 1999);
}
#endif

}  // namespace
}  // namespace duet::test
