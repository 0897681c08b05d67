// The task registry (all_tasks, current_task, register/enter/leave/unregister_task),
// third-party tasks, task factories that throw, and awaiting an untyped task.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

coro<int> add_one(int x) {
    co_return x + 1;
}

// A task that is not a duet::task: a state machine driven by loop callbacks, made
// visible to all_tasks / current_task through the task lifetime functions, as asyncio's
// "Extending" page asks of third-party tasks.
class callback_task final : public abstract_task {
public:
    callback_task(abstract_event_loop& loop, std::string name, int steps)
        : loop_(loop), name_(std::move(name)), steps_(steps) {}

    abstract_event_loop& get_loop() const noexcept override { return loop_; }
    bool done() const noexcept override { return steps_ == 0; }
    std::string get_name() const override {
        if (broken_name_) throw std::runtime_error("no name today");
        return name_;
    }

    void start() {
        register_task(*this);
        loop_.call_soon([this] { step(); });
    }
    // What current_task() said during each step.
    std::vector<std::string> seen_current;
    bool broken_name_ = false;

private:
    void step() {
        enter_task(loop_, *this);
        auto cur = current_task();
        seen_current.push_back(cur ? cur->get_name() : "none");
        leave_task(loop_, *this);
        if (--steps_ == 0)
            unregister_task(*this);
        else
            loop_.call_soon([this] { step(); });
    }

    abstract_event_loop& loop_;
    std::string name_;
    int steps_;
};

TEST(TaskRegistry, RegisteringADoneTaskThenDroppingItLeavesNoFreedNode) {
    test_loop loop;
    {
        auto t = loop.create_task(add_one(1));
        EXPECT_EQ(loop.run_until_complete(t), 2);
        // Done and no longer the loop's: only this reference keeps it.
        register_task(t);
    }
    // Freed now, its registry entry with it; the next task may reuse its block.
    auto next = loop.create_task(sleep(10), "next");
    auto all = all_tasks(loop);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0], next);
    next.cancel();
    EXPECT_THROW(loop.run_until_complete(next), cancelled_error);
    EXPECT_TRUE(all_tasks(loop).empty());
    loop.close();
}

TEST(TaskRegistry, DuetTasksAnswerThroughTheirReference) {
    test_loop loop;
    auto t = loop.create_task(sleep(10), "iface");
    task_ref r = t;
    EXPECT_TRUE(r.is_duet_task());
    EXPECT_EQ(r.get(), nullptr) << "no third-party interface behind a duet task";
    EXPECT_EQ(r.get_name(), "iface");
    EXPECT_FALSE(r.done());
    EXPECT_EQ(&r.get_loop(), static_cast<abstract_event_loop*>(&loop));
    EXPECT_TRUE(r.registered());
    auto all = all_tasks(loop);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0], r) << "the same task, from the registry";
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(r.done());
    EXPECT_FALSE(r.registered()) << "a task leaves the registry when it ends";
}

// A new task takes its registry place only when a step leaves it suspended; until then
// all_tasks finds it through its queued first step, or as the running task.
bool lists(const std::vector<task_ref>& all, const task_ref& t) {
    for (auto& x : all)
        if (x == t) return true;
    return false;
}

TEST(TaskRegistry, NewTasksAreListedBeforeAndDuringTheirFirstStep) {
    test_loop loop;
    std::vector<task_ref> seen_inside;
    task<void> b;
    auto body = [&]() -> coro<void> {
        seen_inside = all_tasks();
        co_await sleep(10);
    };
    auto a = loop.create_task(sleep(10), "a");
    b = loop.create_task(body(), "b");
    auto c = loop.create_task(add_one(1), "c");
    EXPECT_TRUE(task_ref(a).registered());
    EXPECT_TRUE(task_ref(b).registered());
    auto before = all_tasks(loop);
    EXPECT_EQ(before.size(), 3u);
    EXPECT_TRUE(lists(before, a) && lists(before, b) && lists(before, c));
    EXPECT_EQ(loop.run_until_complete(c), 2);
    // Inside b's first step: a (already suspended), b itself (running), c (queued).
    EXPECT_EQ(seen_inside.size(), 3u);
    EXPECT_TRUE(lists(seen_inside, a) && lists(seen_inside, b) && lists(seen_inside, c));
    auto after = all_tasks(loop);
    EXPECT_EQ(after.size(), 2u) << "c is done; a and b sleep";
    EXPECT_TRUE(lists(after, a) && lists(after, b));
    EXPECT_FALSE(task_ref(c).registered());
    a.cancel();
    b.cancel();
    EXPECT_THROW(loop.run_until_complete(b), cancelled_error);
    EXPECT_TRUE(all_tasks(loop).empty());
}

TEST(TaskRegistry, AnEagerTaskSeesItsCreatorDuringBothFirstSteps) {
    test_loop loop;
    loop.set_task_factory(&eager_task_factory);
    std::vector<task_ref> seen;
    std::optional<task_ref> creator;
    auto child = [&]() -> coro<void> {
        seen = all_tasks();
        co_await sleep(1);
    };
    auto main_coro = [&]() -> coro<void> {
        creator = current_task();
        // Still in main's own first step: the eager child runs its first step right here.
        auto t = create_task(child());
        EXPECT_EQ(seen.size(), 2u);
        EXPECT_TRUE(lists(seen, *creator)) << "the creator, in the middle of its first step";
        EXPECT_TRUE(lists(seen, t));
        co_await t;
    };
    loop.run_until_complete(main_coro());
    EXPECT_TRUE(all_tasks(loop).empty());
}

TEST(TaskRegistry, UnregisteringANewTaskHidesItUntilRegisteredAgain) {
    test_loop loop;
    auto t = loop.create_task(sleep(10), "hidden");
    unregister_task(t);
    EXPECT_FALSE(task_ref(t).registered());
    EXPECT_TRUE(all_tasks(loop).empty()) << "its queued first step does not list it";
    loop.run_until_complete(sleep(0));
    EXPECT_FALSE(task_ref(t).registered()) << "suspending does not register it again";
    EXPECT_TRUE(all_tasks(loop).empty());
    register_task(t);
    ASSERT_EQ(all_tasks(loop).size(), 1u);
    EXPECT_EQ(all_tasks(loop)[0], task_ref(t));
    t.cancel();
    EXPECT_THROW(loop.run_until_complete(t), cancelled_error);
    EXPECT_TRUE(all_tasks(loop).empty());
}

TEST(TaskRegistry, ClosingTheLoopReleasesTasksThatNeverRan) {
    auto guard = std::make_shared<int>(1);
    std::weak_ptr<int> seen = guard;
    auto holds = [](std::shared_ptr<int> g) -> coro<int> {
        co_await sleep(1);
        co_return *g;
    };
    std::vector<std::string> reports;
    {
        test_loop loop;
        loop.set_exception_handler(
            [&](abstract_event_loop&, const exception_context& ctx) { reports.push_back(ctx.message); });
        auto never_ran = loop.create_task(holds(std::move(guard)));
        EXPECT_FALSE(seen.expired());
        loop.close();
        EXPECT_TRUE(seen.expired()) << "closing the loop let go of the task's coroutine";
        EXPECT_FALSE(never_ran.done());
    }
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0], "Task was destroyed but it is pending!");
}

TEST(TaskRegistry, ThirdPartyTaskIsListedAndCurrentWhileEntered) {
    test_loop loop;
    callback_task cb(loop, "cb", 3);
    cb.start();
    std::size_t listed_during = 0;
    bool found_it = false;
    auto watcher = [&]() -> coro<void> {
        co_await sleep(0);
        auto all = all_tasks();
        listed_during = all.size();
        for (auto& t : all)
            if (t == task_ref(cb)) {
                found_it = true;
                EXPECT_FALSE(t.is_duet_task());
                EXPECT_EQ(t.get_name(), "cb");
                EXPECT_FALSE(t.done());
                EXPECT_THROW(t.cancel(), std::invalid_argument) << "not a duet task";
            }
    };
    loop.run_until_complete(watcher());
    EXPECT_EQ(listed_during, 2u) << "the watcher and cb";
    EXPECT_TRUE(found_it);
    loop.run_until_complete(sleep(0.01));
    EXPECT_TRUE(cb.done());
    EXPECT_EQ(cb.seen_current, (std::vector<std::string>{"cb", "cb", "cb"}));
    EXPECT_FALSE(cb.registered());
    EXPECT_TRUE(all_tasks(loop).empty());
    EXPECT_FALSE(current_task(loop).has_value());
    loop.close();
}

TEST(TaskRegistry, ThirdPartyEnterAndLeaveErrors) {
    test_loop loop;
    callback_task cb(loop, "cb", 1);
    std::string enter_error, leave_error, leave_none_error;
    auto main_task = [&]() -> coro<void> {
        try {
            enter_task(loop, cb);
        } catch (const std::runtime_error& e) {
            enter_error = e.what();
        }
        try {
            leave_task(loop, cb);
        } catch (const std::runtime_error& e) {
            leave_error = e.what();
        }
        co_return;
    };
    loop.run_until_complete(loop.create_task(main_task(), "main"));
    EXPECT_EQ(enter_error, "Cannot enter into task cb while another task main is being executed.");
    EXPECT_EQ(leave_error, "Leaving task cb does not match the current task main.");
    try {
        leave_task(loop, cb);
    } catch (const std::runtime_error& e) {
        leave_none_error = e.what();
    }
    EXPECT_EQ(leave_none_error, "Leaving task cb does not match the current task None.");

    // A third-party task entered: a duet task cannot be entered on top of it.
    auto t = loop.create_task(add_one(1), "duet");
    enter_task(loop, cb);
    ASSERT_TRUE(current_task(loop).has_value());
    EXPECT_EQ(*current_task(loop), task_ref(cb));
    EXPECT_THROW(enter_task(loop, t), std::runtime_error);
    EXPECT_THROW(leave_task(loop, t), std::runtime_error);
    leave_task(loop, cb);
    EXPECT_FALSE(current_task(loop).has_value());
    EXPECT_EQ(loop.run_until_complete(t), 2);
}

TEST(TaskRegistry, ThirdPartyTaskDestroyedWhileRegisteredLeavesTheRegistry) {
    test_loop loop;
    {
        callback_task cb(loop, "short-lived", 5);
        register_task(cb);
        register_task(cb);
        EXPECT_EQ(all_tasks(loop).size(), 1u);
    }
    EXPECT_TRUE(all_tasks(loop).empty());
    loop.close();
}

TEST(TaskRegistry, ThirdPartyTaskOutlivingItsLoopIsUnregistered) {
    auto loop = std::make_unique<test_loop>();
    callback_task cb(*loop, "outlives", 5);
    register_task(cb);
    loop->close();
    loop.reset();
    EXPECT_FALSE(cb.registered());
}

TEST(TaskFactory, ThrowingFactoryLeavesNothingBehind) {
    test_loop loop;
    handler_log log;
    log.install(loop);
    auto token = std::make_shared<int>(0);
    bool ran = false;
    auto body = []([[maybe_unused]] std::shared_ptr<int> held, bool* flag) -> coro<void> {
        *flag = true;
        co_return;
    };
    loop.set_task_factory([](abstract_event_loop&, basic_task&) -> task_start { throw std::runtime_error("factory"); });
    EXPECT_THROW(loop.create_task(body(token, &ran)), std::runtime_error);
    EXPECT_EQ(token.use_count(), 1) << "the coroutine frame (and what it holds) is freed";
    EXPECT_TRUE(all_tasks(loop).empty());
    loop.set_task_factory(nullptr);
    loop.run_until_complete(sleep(0));
    EXPECT_FALSE(ran);
    loop.close();
    EXPECT_TRUE(log.calls.empty()) << (log.calls.empty() ? "" : log.calls[0].message);
}

coro<int> fail_later(const char* what) {
    co_await sleep(0);
    throw std::runtime_error(what);
}

TEST(TaskAwait, CoAwaitUntypedTaskWaitsAndRethrows) {
    test_loop loop;
    std::string caught;
    bool cancelled = false;
    bool waited = false;
    auto body = [&]() -> coro<void> {
        basic_task ok = create_task(add_one(41));
        co_await ok;
        waited = ok.done();
        basic_task bad = create_task(fail_later("boom"));
        try {
            co_await bad;
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
        auto sleeper = create_task(sleep(10));
        // What all_tasks() returns can be awaited too.
        for (auto& t : all_tasks())
            if (t == sleeper) {
                t.cancel();
                try {
                    co_await t;
                } catch (const cancelled_error&) {
                    cancelled = true;
                }
            }
    };
    loop.run_until_complete(body());
    EXPECT_TRUE(waited);
    EXPECT_EQ(caught, "boom");
    EXPECT_TRUE(cancelled);
}

TEST(TaskAwait, CoAwaitThirdPartyTaskIsRefused) {
    test_loop loop;
    callback_task cb(loop, "cb", 1);
    auto body = [&]() -> coro<void> {
        task_ref r(cb);
        co_await r;
    };
    EXPECT_THROW(loop.run_until_complete(body()), std::invalid_argument);
}

}  // namespace
}  // namespace duet::test
