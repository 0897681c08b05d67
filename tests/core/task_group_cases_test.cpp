// task_group in the cases test_asyncio's test_taskgroups.py numbers 13-19: nested groups
// crashing in either order, a body that delays or converts its cancellation, and errors
// raised from a body's cleanup. Scenarios after CPython's Lib/test/test_asyncio.
#include <set>
#include <stdexcept>
#include <string>
#include <typeindex>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

struct my_error : std::runtime_error {
    my_error() : std::runtime_error("my_error") {}
};

coro<void> crash_after(double t) {
    co_await sleep(t);
    throw std::invalid_argument("crash after " + std::to_string(t));
}

coro<void> divide_by_zero_after(double t) {
    co_await sleep(t);
    throw std::domain_error("division by zero");
}

// The types of an exception group's direct members.
std::set<std::type_index> member_types(const exception_group& eg) {
    std::set<std::type_index> types;
    for (const auto& e : eg.exceptions()) {
        try {
            std::rethrow_exception(e);
        } catch (const exception_group&) {
            types.insert(typeid(exception_group));
        } catch (const my_error&) {
            types.insert(typeid(my_error));
        } catch (const std::invalid_argument&) {
            types.insert(typeid(std::invalid_argument));
        } catch (const std::domain_error&) {
            types.insert(typeid(std::domain_error));
        } catch (...) {
            types.insert(typeid(void));
        }
    }
    return types;
}

// test_taskgroup_13: the outer group's child crashes first; the inner group's child is
// cancelled with it, so only the outer crash is reported.
TEST(TaskGroupCases, OuterCrashFirstCancelsTheInnerGroup) {
    test_loop loop;
    auto inner = [](task_group& g2) -> coro<void> {
        g2.create_task(crash_after(10));
        co_return;
    };
    auto outer = [&](task_group& g1) -> coro<void> {
        g1.create_task(crash_after(0.1));
        co_await with_task_group(inner);
    };
    loop.run_until_complete([&]() -> coro<void> {
        try {
            co_await create_task(with_task_group(outer));
            ADD_FAILURE() << "no exception group";
        } catch (const exception_group& eg) {
            EXPECT_EQ(member_types(eg), (std::set<std::type_index>{typeid(std::invalid_argument)}));
        }
        EXPECT_EQ(get_running_loop().time(), 0.1);
    }());
}

// test_taskgroup_14: the inner group's child crashes first: the outer group reports the
// inner group's exception group, nested.
TEST(TaskGroupCases, InnerCrashFirstNestsItsGroup) {
    test_loop loop;
    auto inner = [](task_group& g2) -> coro<void> {
        g2.create_task(crash_after(0.1));
        co_return;
    };
    auto outer = [&](task_group& g1) -> coro<void> {
        g1.create_task(crash_after(10));
        co_await with_task_group(inner);
    };
    loop.run_until_complete([&]() -> coro<void> {
        try {
            co_await create_task(with_task_group(outer));
            ADD_FAILURE() << "no exception group";
        } catch (const exception_group& eg) {
            EXPECT_EQ(member_types(eg), (std::set<std::type_index>{typeid(exception_group)}));
            if (eg.size() == 1) {
                try {
                    std::rethrow_exception(eg.exceptions()[0]);
                } catch (const exception_group& nested) {
                    EXPECT_EQ(member_types(nested), (std::set<std::type_index>{typeid(std::invalid_argument)}));
                } catch (...) {
                    ADD_FAILURE() << "not a group";
                }
            }
        }
    }());
}

// test_taskgroup_15 and _16 (as Python 3.13 has them): the task is cancelled from outside
// while its group's body sleeps; the body keeps sleeping in its handler and a child
// crashes meanwhile: the crash has priority, so the task (directly, or a task awaiting it)
// ends with the group's error, not cancelled.
class TaskGroupDelayedCancel : public ::testing::TestWithParam<bool> {};

TEST_P(TaskGroupDelayedCancel, AChildCrashWinsOverAnOutsideCancellation) {
    const bool nested_in_a_task = GetParam();
    test_loop loop;
    auto body = [](task_group& g1) -> coro<void> {
        g1.create_task(divide_by_zero_after(0.3));
        bool cancelled = false;
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
            cancelled = true;
        }
        if (cancelled) {
            co_await sleep(0.5);
            throw cancelled_error();
        }
    };
    auto group_runner = [&]() -> coro<void> { co_await with_task_group(body); };
    auto outer_runner = [&]() -> coro<void> {
        auto t = create_task(group_runner());
        co_await t;
    };
    loop.run_until_complete([&]() -> coro<void> {
        auto r = nested_in_a_task ? create_task(outer_runner()) : create_task(group_runner());
        co_await sleep(0.1);
        EXPECT_FALSE(r.done());
        r.cancel();
        try {
            co_await r;
            ADD_FAILURE() << "no exception group";
        } catch (const exception_group& eg) {
            EXPECT_EQ(member_types(eg), (std::set<std::type_index>{typeid(std::domain_error)}));
        } catch (const cancelled_error&) {
            ADD_FAILURE() << "cancelled: the child's error should have had priority";
        }
        EXPECT_FALSE(r.cancelled());
        EXPECT_EQ(get_running_loop().time(), 0.3) << "the crash cut the handler's sleep short";
    }());
}

INSTANTIATE_TEST_SUITE_P(DirectlyOrNested, TaskGroupDelayedCancel, ::testing::Bool());

// test_taskgroup_17: a group with no children, its body cancelled from outside: the
// body's handler runs and the task ends cancelled.
TEST(TaskGroupCases, AnEmptyGroupsBodyCancelledFromOutside) {
    test_loop loop;
    int num = 0;
    auto body = [&](task_group&) -> coro<void> {
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
            num += 10;
            throw;
        }
    };
    auto runner = [&]() -> coro<void> { co_await with_task_group(body); };
    loop.run_until_complete([&]() -> coro<void> {
        auto r = create_task(runner());
        co_await sleep(0.1);
        EXPECT_FALSE(r.done());
        r.cancel();
        EXPECT_THROW(co_await r, cancelled_error);
    }());
    EXPECT_EQ(num, 10);
}

// test_taskgroup_18: a body that turns its cancellation into an error: the group reports
// the error (in a group), not a cancellation.
TEST(TaskGroupCases, ABodyTurningItsCancellationIntoAnErrorReportsTheError) {
    test_loop loop;
    int num = 0;
    auto body = [&](task_group&) -> coro<void> {
        bool cancelled = false;
        try {
            co_await sleep(10);
        } catch (const cancelled_error&) {
            cancelled = true;
        }
        if (cancelled) {
            num += 10;
            throw my_error();
        }
    };
    auto runner = [&]() -> coro<void> { co_await with_task_group(body); };
    loop.run_until_complete([&]() -> coro<void> {
        auto r = create_task(runner());
        co_await sleep(0.1);
        EXPECT_FALSE(r.done());
        r.cancel();
        try {
            co_await r;
            ADD_FAILURE() << "no exception group";
        } catch (const exception_group& eg) {
            EXPECT_EQ(member_types(eg), (std::set<std::type_index>{typeid(my_error)}));
        } catch (const cancelled_error&) {
            ADD_FAILURE() << "a cancellation, not the body's error";
        }
    }());
    EXPECT_EQ(num, 10);
}

// test_taskgroup_19: a child crashes, which cancels the body; the body's cleanup raises:
// both errors are reported.
TEST(TaskGroupCases, AnErrorFromTheBodysCleanupIsReportedWithTheCrash) {
    test_loop loop;
    auto nested = []() -> coro<void> {
        try {
            co_await sleep(10);
        } catch (...) {
        }
        throw my_error();  // as Python's `finally: raise MyExc`
    };
    auto body = [&](task_group& g) -> coro<void> {
        g.create_task(divide_by_zero_after(0.1));
        co_await nested();
    };
    loop.run_until_complete([&]() -> coro<void> {
        try {
            co_await create_task(with_task_group(body));
            ADD_FAILURE() << "no exception group";
        } catch (const exception_group& eg) {
            EXPECT_EQ(member_types(eg), (std::set<std::type_index>{typeid(my_error), typeid(std::domain_error)}));
        }
    }());
}

}  // namespace
}  // namespace duet::test
