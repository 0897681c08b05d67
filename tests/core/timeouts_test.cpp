// timeout / timeout_at / timeout_scope (asyncio.Timeout), on the virtual clock.
#include <stdexcept>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

using vloop = virtual_event_loop;

TEST(Timeout, ExpiryCancelsTheBodyAndRaisesTimeoutErrorAtTheScope) {
    vloop loop;
    bool cleanup_ran = false;
    auto body = [&]() -> coro<int> {
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
            cleanup_ran = true;
            throw;
        }
        co_return 1;
    };
    auto main_coro = [&]() -> coro<void> {
        auto t = timeout(0.25);
        EXPECT_EQ(t.when(), 0.25);
        EXPECT_EQ(t.get_state(), timeout_scope::state::created);
        EXPECT_THROW(co_await t.run(body()), timeout_error);
        EXPECT_EQ(get_running_loop().time(), 0.25);
        EXPECT_TRUE(t.expired());
        EXPECT_EQ(t.get_state(), timeout_scope::state::expired);
        EXPECT_STREQ(timeout_scope::state_name(t.get_state()), "expired");
        EXPECT_EQ(current_task()->cancelling(), 0) << "the scope's own cancellation is taken back";
        co_await sleep(0.1);  // and the task is not cancelled any more
    };
    loop.run_until_complete(main_coro());
    EXPECT_TRUE(cleanup_ran);
}

TEST(Timeout, BodyInTimeReturnsItsValue) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto t = timeout(1);
        EXPECT_EQ(co_await t.run(value_after(0.5, 3)), 3);
        EXPECT_FALSE(t.expired());
        EXPECT_EQ(t.get_state(), timeout_scope::state::exited);
        EXPECT_STREQ(timeout_scope::state_name(t.get_state()), "finished");
        // The timer is gone: nothing fires at t = 1.
        co_await sleep(2);
        EXPECT_EQ(current_task()->cancelling(), 0);
        co_await timeout(std::nullopt).run(sleep(100));  // no deadline
        using namespace std::chrono_literals;
        EXPECT_EQ(co_await timeout(500ms).run(value_after(0.1, 4)), 4);
    };
    loop.run_until_complete(main_coro());
    EXPECT_DOUBLE_EQ(loop.time(), 102.6);
}

TEST(Timeout, RunTakesFuturesAndTasks) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto [a, b] = co_await timeout(1).run(gather(value_after(0.1, 1), value_after(0.2, 2)));
        EXPECT_EQ(a + b, 3);
        auto t = create_task(value_after(5, 3));
        EXPECT_THROW(co_await timeout(0.5).run(t), timeout_error);
        EXPECT_TRUE(t.cancelled()) << "cancelling the body cancels the task it awaits";
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.7);
        // A stored coroutine of an rvalue scope carries the scope along.
        auto later = timeout(0.1).run(value_after(1, 4));
        EXPECT_THROW(co_await later, timeout_error);
    };
    loop.run_until_complete(main_coro());
}

TEST(Timeout, TimeoutAtUsesAnAbsoluteDeadline) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        co_await sleep(1);
        auto t = timeout_at(1.5);
        EXPECT_THROW(co_await t.run(sleep(5)), timeout_error);
        EXPECT_EQ(get_running_loop().time(), 1.5);
        auto past = timeout_at(0.5);  // already passed: expires on the next iteration
        EXPECT_THROW(co_await past.run(sleep(5)), timeout_error);
        EXPECT_EQ(get_running_loop().time(), 1.5);
    };
    loop.run_until_complete(main_coro());
}

TEST(Timeout, WithTimeoutGivesTheBodyItsScope) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        int r = co_await with_timeout(1.0, [&](timeout_scope& t) -> coro<int> {
            co_await sleep(0.8);
            t.reschedule(*t.when() + 1);  // more time
            co_await sleep(0.8);
            co_return 7;
        });
        EXPECT_EQ(r, 7);
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 1.6);
        EXPECT_THROW(co_await with_timeout(0.5, []() -> coro<void> { co_await sleep(1); }), timeout_error);
        double at = get_running_loop().time() + 0.25;
        EXPECT_THROW(co_await with_timeout_at(at, []() -> coro<void> { co_await sleep(1); }), timeout_error);
        EXPECT_EQ(get_running_loop().time(), at);
        // run() also takes the callable; its captures live until the body ends. (Named
        // first: g++ 12 miscompiles a lambda temporary with a non-trivial capture inside
        // a co_await expression, constructing and destroying it at different places.)
        auto scope = timeout(0.1);
        std::string text = "kept";
        auto body = [text]() -> coro<std::string> {
            co_await sleep(0);
            co_return text;
        };
        std::string got = co_await scope.run(body);
        EXPECT_EQ(got, "kept");
    };
    loop.run_until_complete(main_coro());
}

TEST(Timeout, RescheduleMovesOrRemovesTheDeadline) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto t = timeout(0.1);
        co_await t.run([&]() -> coro<void> {
            t.reschedule(std::nullopt);
            EXPECT_FALSE(t.when().has_value());
            co_await sleep(1);
        });
        EXPECT_FALSE(t.expired());
        EXPECT_EQ(get_running_loop().time(), 1.0);

        auto u = timeout(10);
        EXPECT_THROW(co_await u.run([&]() -> coro<void> {
            co_await sleep(0.5);
            u.reschedule(get_running_loop().time());  // now: expires on the next iteration
            co_await sleep(1);
        }),
                     timeout_error);
        EXPECT_EQ(get_running_loop().time(), 1.5);
        EXPECT_TRUE(u.expired());
    };
    loop.run_until_complete(main_coro());
}

TEST(Timeout, NestedScopesWithTheSameDeadlineOnlyTheOuterRaises) {
    vloop loop;
    std::vector<std::string> seen;
    auto main_coro = [&]() -> coro<void> {
        auto outer = timeout(0.5);
        auto inner = timeout(0.5);
        try {
            co_await outer.run([&]() -> coro<void> {
                try {
                    co_await inner.run(sleep(10));
                } catch (const timeout_error&) {
                    seen.push_back("inner timeout_error");
                    throw;
                } catch (const cancelled_error&) {
                    seen.push_back("inner cancelled_error");
                    throw;
                }
            });
        } catch (const timeout_error&) {
            seen.push_back("outer timeout_error");
        }
        EXPECT_TRUE(outer.expired());
        EXPECT_TRUE(inner.expired()) << "both expired; only the outer converted";
        EXPECT_EQ(current_task()->cancelling(), 0);
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(seen, (std::vector<std::string>{"inner cancelled_error", "outer timeout_error"}));
}

TEST(Timeout, AnInnerScopeExpiringFirstIsHandledInside) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto outer = timeout(1);
        std::string r = co_await outer.run([&]() -> coro<std::string> {
            try {
                co_await timeout(0.2).run(sleep(10));
            } catch (const timeout_error&) {
                co_return "inner expired";
            }
            co_return "no";
        });
        EXPECT_EQ(r, "inner expired");
        EXPECT_FALSE(outer.expired());
        EXPECT_EQ(get_running_loop().time(), 0.2);
    };
    loop.run_until_complete(main_coro());
}

TEST(Timeout, AnOutsideCancellationStaysACancellation) {
    vloop loop;
    std::exception_ptr seen;
    auto body = [&]() -> coro<void> {
        try {
            co_await timeout(10).run(sleep(100));
        } catch (...) {
            seen = std::current_exception();
            throw;
        }
    };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(1));
    t.cancel("from outside");
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(error_of(seen), "cancelled");
}

TEST(Timeout, AnOutsideCancellationAtTheDeadlineStaysACancellation) {
    vloop loop;
    std::exception_ptr seen;
    auto scope = std::make_unique<timeout_scope>(std::optional<double>(1.0));
    auto body = [&]() -> coro<void> {
        try {
            co_await scope->run(sleep(100));
        } catch (...) {
            seen = std::current_exception();
            throw;
        }
    };
    auto t = loop.create_task(body());
    // Scheduled after the scope's timer, at the same instant: both cancel the task.
    loop.call_at(1.0, [&] { t.cancel(); });
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_EQ(error_of(seen), "cancelled");
    EXPECT_TRUE(scope->expired());
    EXPECT_EQ(t.cancelling(), 1) << "the outside request is still counted";
}

TEST(Timeout, ASwallowedCancellationEndsTheScopeNormally) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto t = timeout(0.1);
        int r = co_await t.run([]() -> coro<int> {
            try {
                co_await sleep(1);
            } catch (const cancelled_error&) {
            }
            co_return 9;
        });
        EXPECT_EQ(r, 9);
        EXPECT_TRUE(t.expired());
        EXPECT_EQ(current_task()->cancelling(), 0);
        co_await sleep(0.1);
    };
    loop.run_until_complete(main_coro());
}

TEST(Timeout, AnErrorInTheBodyIsNotConverted) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        // The body fails on its own before the deadline.
        EXPECT_THROW(co_await timeout(1).run([]() -> coro<void> {
            co_await sleep(0.1);
            throw std::logic_error("own");
        }),
                     std::logic_error);
        // The body turns the cancellation into another error while unwinding.
        EXPECT_THROW(co_await timeout(0.1).run([]() -> coro<void> {
            try {
                co_await sleep(1);
            } catch (const cancelled_error&) {
                throw std::logic_error("while cancelled");
            }
        }),
                     std::logic_error);
        EXPECT_EQ(current_task()->cancelling(), 0);
    };
    loop.run_until_complete(main_coro());
}

TEST(Timeout, MisuseIsReportedWithAsyncioMessages) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto t = timeout(1);
        EXPECT_EQ(runtime_error_of([&] { t.reschedule(2); }), "Timeout has not been entered");
        co_await t.run(sleep(0));
        EXPECT_EQ(runtime_error_of([&] { t.reschedule(2); }), "Cannot change state of finished Timeout");
        std::string again;
        try {
            co_await t.run(sleep(0));
        } catch (const std::runtime_error& e) {
            again = e.what();
        }
        EXPECT_EQ(again, "Timeout has already been entered");

        auto u = timeout(0.1);
        std::string expiring;
        EXPECT_THROW(co_await u.run([&]() -> coro<void> {
            try {
                co_await sleep(1);
            } catch (const cancelled_error&) {
                expiring = runtime_error_of([&] { u.reschedule(5); });
                throw;
            }
        }),
                     timeout_error);
        EXPECT_EQ(expiring, "Cannot change state of expiring Timeout");
        EXPECT_EQ(runtime_error_of([&] { u.reschedule(5); }), "Cannot change state of expired Timeout");
    };
    loop.run_until_complete(main_coro());
}

TEST(Timeout, OutsideATaskIsAnError) {
    vloop loop;
    std::string error;
    loop.call_soon([&] {
        // A coroutine driven by hand, not by a task.
        auto c = timeout(1).run(sleep(0));
        auto driver = [](coro<void> inner, std::string& err) -> coro<void> {
            try {
                co_await std::move(inner);
            } catch (const std::runtime_error& e) {
                err = e.what();
            }
        };
        auto d = driver(std::move(c), error);
        auto h = d.release();
        detail::resume_trampoline(h);
        h.destroy();
    });
    loop.run_until_complete(sleep(0));
    EXPECT_EQ(error, "Timeout should be used inside a task");
}

}  // namespace
}  // namespace duet::test
