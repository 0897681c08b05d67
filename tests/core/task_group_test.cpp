// task_group (asyncio.TaskGroup) and exception_group, on the virtual clock.
#include <stdexcept>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

using vloop = virtual_event_loop;

template <class E = std::runtime_error>
coro<void> fail_after(double d, std::string what) {
    co_await sleep(d);
    throw E(what);
}

struct probe {
    bool cancelled = false;
    bool finished = false;
};

coro<void> probed(probe& p, double d) {
    try {
        co_await sleep(d);
    } catch (const cancelled_error&) {
        p.cancelled = true;
        throw;
    }
    p.finished = true;
}

std::vector<std::string> whats(const exception_group& eg) {
    std::vector<std::string> out;
    for (const auto& e : eg.exceptions()) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            out.push_back(x.what());
        }
    }
    return out;
}

// ---------------------------------------------------------------- exception_group

TEST(ExceptionGroup, MessageMembersAndTypeTests) {
    auto a = std::make_exception_ptr(std::invalid_argument("a"));
    auto b = std::make_exception_ptr(std::out_of_range("b"));
    auto c = std::make_exception_ptr(std::logic_error("c"));
    exception_group inner("inner", {b, c});
    exception_group eg("unhandled errors in a TaskGroup", {a, std::make_exception_ptr(inner)});
    EXPECT_STREQ(eg.what(), "unhandled errors in a TaskGroup (2 sub-exceptions)");
    EXPECT_STREQ(exception_group("m", {a}).what(), "m (1 sub-exception)");
    EXPECT_EQ(eg.message(), "unhandled errors in a TaskGroup");
    EXPECT_EQ(eg.size(), 2u);
    static_assert(std::is_base_of_v<std::exception, exception_group>);

    EXPECT_TRUE(eg.contains<std::invalid_argument>());
    EXPECT_TRUE(eg.contains<std::out_of_range>()) << "looks into nested groups";
    EXPECT_TRUE(eg.contains<std::logic_error>());
    EXPECT_FALSE(eg.contains<std::runtime_error>());

    auto [match, rest] = eg.split<std::out_of_range>();
    ASSERT_TRUE(match && rest);
    // The match keeps the nesting: a group holding a group holding b.
    ASSERT_EQ(match->size(), 1u);
    EXPECT_TRUE(exception_group::holds<exception_group>(match->exceptions()[0]));
    EXPECT_EQ(rest->size(), 2u) << "a, and the inner group reduced to c";
    EXPECT_FALSE(rest->contains<std::out_of_range>());
    EXPECT_TRUE(rest->contains<std::logic_error>());

    auto all = eg.split<std::exception>();
    EXPECT_TRUE(all.match && !all.rest);
    EXPECT_FALSE(eg.subgroup<std::runtime_error>().has_value());
    ASSERT_TRUE(eg.subgroup<std::invalid_argument>().has_value());

    std::vector<std::string> logic;
    eg.for_each<std::logic_error>([&](const std::logic_error& e) { logic.push_back(e.what()); });
    EXPECT_EQ(logic, (std::vector<std::string>{"a", "b", "c"}));

    EXPECT_THROW(exception_group("empty", {}), std::invalid_argument);
    EXPECT_THROW(exception_group("null", {nullptr}), std::invalid_argument);
}

// ---------------------------------------------------------------- task_group

TEST(TaskGroup, WaitsForEveryChildIncludingThoseChildrenCreate) {
    vloop loop;
    std::vector<std::string> ended;
    // Children must not use the body's locals (they end when the body returns, children
    // may run on): the coroutine lambdas live out here.
    auto grandchild = [&]() -> coro<void> {
        co_await sleep(0.3);
        ended.push_back("grandchild");
    };
    auto spawner = [&](task_group& tg) -> coro<void> {
        co_await sleep(0.2);
        tg.create_task(grandchild());
        ended.push_back("spawner");
    };
    auto main_coro = [&]() -> coro<int> {
        task<int> a;
        int r = co_await with_task_group([&](task_group& tg) -> coro<int> {
            a = tg.create_task(value_after(0.1, 1));
            tg.create_task(spawner(tg), "spawner");
            co_return 10;
        });
        EXPECT_EQ(get_running_loop().time(), 0.5) << "the group waited for the grandchild too";
        EXPECT_TRUE(a.done());
        co_return r + a.result();
    };
    EXPECT_EQ(loop.run_until_complete(main_coro()), 11);
    EXPECT_EQ(ended, (std::vector<std::string>{"spawner", "grandchild"}));
}

TEST(TaskGroup, EmptyGroupAndBodyThatAwaitsItsChildren) {
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        co_await with_task_group([](task_group&) -> coro<void> { co_return; });
        int sum = co_await with_task_group([](task_group& tg) -> coro<int> {
            auto a = tg.create_task(value_after(0.1, 1));
            auto b = tg.create_task(value_after(0.2, 2));
            EXPECT_EQ(tg.size(), 2u);
            co_return co_await a + co_await b;
        });
        EXPECT_EQ(sum, 3);
    };
    loop.run_until_complete(main_coro());
}

TEST(TaskGroup, FirstFailureCancelsSiblingsAndBody) {
    vloop loop;
    handler_log log;
    log.install(loop);
    probe sibling, body_probe;
    auto main_coro = [&]() -> coro<void> {
        try {
            co_await with_task_group([&](task_group& tg) -> coro<void> {
                tg.create_task(fail_after(0.1, "child failed"));
                tg.create_task(probed(sibling, 1));
                co_await probed(body_probe, 5);
            });
            ADD_FAILURE() << "no exception";
        } catch (const exception_group& eg) {
            EXPECT_STREQ(eg.what(), "unhandled errors in a TaskGroup (1 sub-exception)");
            EXPECT_EQ(whats(eg), (std::vector<std::string>{"child failed"})) << "cancellations are not collected";
        }
        EXPECT_EQ(get_running_loop().time(), 0.1);
        EXPECT_EQ(current_task()->cancelling(), 0) << "the group took back the cancellation it made";
        co_await sleep(0.5);  // the parent is not cancelled any more
    };
    loop.run_until_complete(main_coro());
    EXPECT_TRUE(sibling.cancelled);
    EXPECT_TRUE(body_probe.cancelled);
    EXPECT_TRUE(log.calls.empty()) << "the children's exceptions are retrieved";
}

TEST(TaskGroup, EveryFailureIsCollectedInCompletionOrder) {
    vloop loop;
    // Fails while being cancelled: still a failure.
    auto fails_when_cancelled = []() -> coro<void> {
        try {
            co_await sleep(1);
        } catch (const cancelled_error&) {
        }
        throw std::logic_error("during cancellation");
    };
    auto main_coro = [&]() -> coro<void> {
        try {
            co_await with_task_group([&](task_group& tg) -> coro<void> {
                tg.create_task(fail_after<std::invalid_argument>(0.2, "second"));
                tg.create_task(fail_after<std::out_of_range>(0.1, "first"));
                tg.create_task(fails_when_cancelled());
                tg.create_task(fail_after(0.1, "same time"));
                co_return;
            });
        } catch (const exception_group& eg) {
            EXPECT_EQ(whats(eg), (std::vector<std::string>{"first", "same time", "during cancellation"}));
            EXPECT_TRUE(eg.contains<std::out_of_range>());
            EXPECT_FALSE(eg.contains<std::invalid_argument>()) << "cancelled before it failed";
        }
    };
    loop.run_until_complete(main_coro());
}

TEST(TaskGroup, ABodyFailureIsCollectedAfterTheChildren) {
    vloop loop;
    probe child;
    auto fails_when_cancelled = []() -> coro<void> {
        try {
            co_await sleep(1);
        } catch (const cancelled_error&) {
        }
        throw std::runtime_error("child, when cancelled");
    };
    auto main_coro = [&]() -> coro<void> {
        try {
            co_await with_task_group([&](task_group& tg) -> coro<void> {
                tg.create_task(probed(child, 1));
                co_await sleep(0.1);
                throw std::runtime_error("body failed");
            });
        } catch (const exception_group& eg) {
            EXPECT_EQ(whats(eg), (std::vector<std::string>{"body failed"}));
        }
        EXPECT_EQ(get_running_loop().time(), 0.1);
        try {
            co_await with_task_group([&](task_group& tg) -> coro<void> {
                tg.create_task(fails_when_cancelled());
                co_await sleep(0.1);
                throw std::runtime_error("body");
            });
        } catch (const exception_group& eg) {
            EXPECT_EQ(whats(eg), (std::vector<std::string>{"child, when cancelled", "body"}));
        }
    };
    loop.run_until_complete(main_coro());
    EXPECT_TRUE(child.cancelled);
}

TEST(TaskGroup, AnOutsideCancellationIsAPlainCancellation) {
    vloop loop;
    probe child;
    std::exception_ptr seen;
    auto body = [&]() -> coro<void> {
        try {
            co_await with_task_group([&](task_group& tg) -> coro<void> {
                tg.create_task(probed(child, 10));
                co_return;  // the body ends at once: the group waits for the child
            });
        } catch (...) {
            seen = std::current_exception();
            throw;
        }
    };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0.1));
    t.cancel("outside");
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(t.cancelled());
    EXPECT_TRUE(child.cancelled);
    EXPECT_FALSE(exception_group::holds<exception_group>(seen));
    EXPECT_TRUE(exception_group::holds<cancelled_error>(seen));
    EXPECT_EQ(t.cancelling(), 1);
}

TEST(TaskGroup, AnOutsideCancellationOfTheBodyIsAPlainCancellation) {
    vloop loop;
    probe child;
    auto body = [&]() -> coro<void> {
        co_await with_task_group([&](task_group& tg) -> coro<void> {
            tg.create_task(probed(child, 10));
            co_await sleep(5);
        });
    };
    auto t = loop.create_task(body());
    loop.run_until_complete(sleep(0.1));
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(child.cancelled);
}

TEST(TaskGroup, ParentCancellingCountIsRestoredAfterAFailure) {
    // CPython gh-116720: after a group that failed (and cancelled its parent to stop the
    // body), the parent's cancelling() must be back where it was, so an enclosing
    // timeout or group does not mistake the next cancellation for its own.
    vloop loop;
    auto main_coro = [&]() -> coro<void> {
        auto me = *current_task();
        EXPECT_EQ(me.cancelling(), 0);
        for (int i = 0; i < 3; ++i) {
            try {
                co_await with_task_group([&](task_group& tg) -> coro<void> {
                    tg.create_task(fail_after(0.1, "x"));
                    co_await sleep(1);
                });
            } catch (const exception_group&) {
            }
            EXPECT_EQ(me.cancelling(), 0) << "round " << i;
        }
        // An enclosing timeout still recognises its own expiry afterwards.
        EXPECT_THROW(co_await timeout(0.2).run([]() -> coro<void> {
            try {
                co_await with_task_group([](task_group& tg) -> coro<void> {
                    tg.create_task(fail_after(0.1, "y"));
                    co_await sleep(1);
                });
            } catch (const exception_group&) {
            }
            co_await sleep(1);
        }),
                     timeout_error);
        EXPECT_EQ(me.cancelling(), 0);
    };
    loop.run_until_complete(main_coro());
}

TEST(TaskGroup, AnErrorAndAnOutsideCancellationKeepTheCancellation) {
    // CPython's test_error_and_cancel (gh-116720): the failure wins (exception_group),
    // but the outside cancellation is not lost: cancelling() stays 1 and the parent is
    // cancelled again at its next await.
    vloop loop;
    event ev;
    bool after_group_reached = false;
    int cancelling_in_handler = -1;
    auto raise_error = [&]() -> coro<void> {
        ev.set();
        co_await sleep(0);
        throw std::runtime_error("child");
    };
    auto inner = [&]() -> coro<void> {
        try {
            co_await with_task_group([&](task_group& tg) -> coro<void> {
                tg.create_task(raise_error());
                co_await sleep(1);
                ADD_FAILURE() << "the sleep in the group should have been cancelled";
            });
        } catch (const exception_group& eg) {
            EXPECT_TRUE(eg.contains<std::runtime_error>());
            cancelling_in_handler = current_task()->cancelling();
        }
        EXPECT_EQ(current_task()->cancelling(), 1);
        co_await sleep(1);
        after_group_reached = true;
    };
    auto outer = [&]() -> coro<void> {
        auto t = create_task(inner());
        co_await ev.wait();
        EXPECT_EQ(t.cancelling(), 0);
        t.cancel();
        EXPECT_EQ(t.cancelling(), 1);
        EXPECT_THROW(co_await t, cancelled_error);
        EXPECT_TRUE(t.cancelled());
    };
    loop.run_until_complete(outer());
    EXPECT_EQ(cancelling_in_handler, 1);
    EXPECT_FALSE(after_group_reached) << "the sleep after the group is cancelled";
}

TEST(TaskGroup, NestedGroupsNestTheirExceptionGroups) {
    vloop loop;
    probe outer_child;
    auto main_coro = [&]() -> coro<void> {
        try {
            co_await with_task_group([&](task_group& outer) -> coro<void> {
                outer.create_task(probed(outer_child, 1));
                co_await with_task_group([&](task_group& inner) -> coro<void> {
                    inner.create_task(fail_after<std::out_of_range>(0.1, "deep"));
                    co_await sleep(1);
                });
            });
        } catch (const exception_group& eg) {
            EXPECT_EQ(eg.size(), 1u);
            EXPECT_TRUE(exception_group::holds<exception_group>(eg.exceptions().at(0)));
            EXPECT_TRUE(eg.contains<std::out_of_range>());
            int n = 0;
            eg.for_each<std::out_of_range>([&](const std::out_of_range& e) {
                EXPECT_STREQ(e.what(), "deep");
                ++n;
            });
            EXPECT_EQ(n, 1);
        }
        EXPECT_EQ(current_task()->cancelling(), 0);
    };
    loop.run_until_complete(main_coro());
    EXPECT_TRUE(outer_child.cancelled);

    // A child that runs a failing group of its own: its exception_group is collected.
    auto second = [&]() -> coro<void> {
        auto child = []() -> coro<void> {
            co_await with_task_group([](task_group& tg) -> coro<void> {
                tg.create_task(fail_after(0.1, "grandchild"));
                co_return;
            });
        };
        try {
            co_await with_task_group([&](task_group& tg) -> coro<void> {
                tg.create_task(child());
                co_return;
            });
        } catch (const exception_group& eg) {
            EXPECT_EQ(eg.size(), 1u);
            EXPECT_TRUE(exception_group::holds<exception_group>(eg.exceptions().at(0)));
            EXPECT_TRUE(eg.contains<std::runtime_error>());
        }
    };
    loop.run_until_complete(second());
}

TEST(TaskGroup, CreatingTasksAfterTheEndOrWhileAbortingIsAnError) {
    vloop loop;
    std::string while_aborting, after_end;
    auto main_coro = [&]() -> coro<void> {
        try {
            co_await with_task_group([&](task_group& tg) -> coro<void> {
                tg.create_task(fail_after(0.1, "x"));
                try {
                    co_await sleep(1);
                } catch (const cancelled_error&) {
                    while_aborting = runtime_error_of([&] { tg.create_task(value_after(0, 1)); });
                    throw;
                }
            });
        } catch (const exception_group&) {
        }
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(while_aborting, "TaskGroup is shutting down");

    // A group that has finished refuses new tasks.
    auto finished = [&]() -> coro<void> {
        task_group tg;
        tg.enter();
        tg.create_task(value_after(0.1, 1));
        co_await tg.exit(nullptr);
        after_end = runtime_error_of([&] { tg.create_task(value_after(0, 1)); });
        task_group never;
        EXPECT_EQ(runtime_error_of([&] { never.create_task(value_after(0, 1)); }), "TaskGroup has not been entered");
        tg.enter();
    };
    EXPECT_THROW(loop.run_until_complete(finished()), std::runtime_error) << "entered twice";
    EXPECT_EQ(after_end, "TaskGroup is finished");
}

TEST(TaskGroup, ChildrenCreatedWhileTheGroupWaitsAreAccepted) {
    vloop loop;
    int runs = 0;
    auto chain = [&](auto& self, task_group& tg, int n) -> coro<void> {
        co_await sleep(0.1);
        ++runs;
        if (n > 0) tg.create_task(self(self, tg, n - 1));
    };
    auto main_coro = [&]() -> coro<void> {
        co_await with_task_group([&](task_group& tg) -> coro<void> {
            tg.create_task(chain(chain, tg, 4));
            co_return;
        });
        EXPECT_DOUBLE_EQ(get_running_loop().time(), 0.5);
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(runs, 5);
}

TEST(TaskGroup, OutsideATaskIsAnError) {
    vloop loop;
    task_group tg;
    try {
        tg.enter();
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "TaskGroup cannot determine the parent task");
    }
}

TEST(TaskGroup, TimeoutAroundAGroupIsATimeout) {
    vloop loop;
    probe a, b;
    auto main_coro = [&]() -> coro<void> {
        EXPECT_THROW(co_await timeout(0.3).run(with_task_group([&](task_group& tg) -> coro<void> {
            tg.create_task(probed(a, 1));
            tg.create_task(probed(b, 2));
            co_return;
        })),
                     timeout_error);
        EXPECT_EQ(get_running_loop().time(), 0.3);
        EXPECT_EQ(current_task()->cancelling(), 0);
    };
    loop.run_until_complete(main_coro());
    EXPECT_TRUE(a.cancelled);
    EXPECT_TRUE(b.cancelled);
}

TEST(TaskGroup, ManyChildrenReuseTheirSlots) {
    vloop loop;
    long sum = 0;
    auto child = [&sum](int i) -> coro<void> {
        co_await sleep(0.01 * (i % 7));
        sum += i;
    };
    auto main_coro = [&]() -> coro<void> {
        co_await with_task_group([&](task_group& tg) -> coro<void> {
            for (int round = 0; round < 10; ++round) {
                for (int i = 0; i < 100; ++i) tg.create_task(child(i));
                co_await sleep(0.1);
            }
        });
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(sum, 10 * 4950);
}

TEST(TaskGroup, EagerChildrenThatFinishAtOnce) {
    vloop loop;
    loop.set_task_factory(eager_task_factory);
    auto quick = []() -> coro<int> { co_return 1; };
    auto broken = []() -> coro<int> {
        throw std::out_of_range("at once");
        co_return 0;
    };
    probe body_probe;
    auto main_coro = [&]() -> coro<void> {
        int r = co_await with_task_group([&](task_group& tg) -> coro<int> {
            auto t = tg.create_task(quick());
            EXPECT_TRUE(t.done());
            EXPECT_EQ(tg.size(), 0u) << "a child done at creation is not tracked";
            co_return t.result();
        });
        EXPECT_EQ(r, 1);
        try {
            co_await with_task_group([&](task_group& tg) -> coro<void> {
                tg.create_task(broken());  // fails inside create_task: the body is cancelled
                co_await probed(body_probe, 1);
            });
        } catch (const exception_group& eg) {
            EXPECT_TRUE(eg.contains<std::out_of_range>());
        }
        EXPECT_EQ(get_running_loop().time(), 0.0);
        EXPECT_EQ(current_task()->cancelling(), 0);
    };
    loop.run_until_complete(main_coro());
    EXPECT_TRUE(body_probe.cancelled);
}

context_var<std::string> request_id("request_id");

TEST(TaskGroup, ChildrenSeeTheirCreatorsContextOrAGivenOne) {
    vloop loop;
    std::vector<std::string> seen;
    auto reader = [&]() -> coro<void> {
        co_await sleep(0);
        seen.push_back(request_id.get("none"));
    };
    auto main_coro = [&]() -> coro<void> {
        auto token = request_id.set("outer");
        context other;
        other.run([] { request_id.set("given"); });
        co_await with_task_group([&](task_group& tg) -> coro<void> {
            tg.create_task(reader());
            tg.create_task(reader(), "with-context", other);
            co_return;
        });
        request_id.reset(token);
    };
    loop.run_until_complete(main_coro());
    EXPECT_EQ(seen, (std::vector<std::string>{"outer", "given"}));
}

}  // namespace
}  // namespace duet::test
