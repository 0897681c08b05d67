// docs/extending.md: a third-party task (a callback state machine) the loop knows about,
// and a task factory.
#include <string>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

// Counts down in loop callbacks; registered, so all_tasks() lists it and, while a step
// runs, current_task() names it.
class countdown_task : public duet::abstract_task {
public:
    countdown_task(duet::abstract_event_loop& loop, int steps) : loop_(loop), left_(steps) {
        duet::register_task(*this);
        loop_.call_soon([this] { step(); });
    }
    duet::abstract_event_loop& get_loop() const noexcept override { return loop_; }
    bool done() const noexcept override { return left_ == 0; }
    std::string get_name() const override { return "countdown"; }
    bool saw_itself = false;

private:
    void step() {
        duet::enter_task(loop_, *this);
        auto cur = duet::current_task();
        saw_itself = saw_itself || (cur && cur->get_name() == "countdown");
        --left_;
        duet::leave_task(loop_, *this);
        if (left_ > 0) {
            loop_.call_soon([this] { step(); });
        } else {
            duet::unregister_task(*this);
        }
    }
    duet::abstract_event_loop& loop_;
    int left_;
};

duet::coro<bool> extending_demo() {
    auto& loop = duet::get_running_loop();
    countdown_task t(loop, 3);
    bool listed = false;
    for (const auto& r : duet::all_tasks()) listed = listed || r.get_name() == "countdown";
    while (!t.done()) co_await duet::sleep(0);

    // A task factory decides how each new task starts: here, eagerly.
    loop.set_task_factory(duet::eager_task_factory);
    int ran = 0;
    auto body = [&]() -> duet::coro<void> {
        ++ran;  // runs inside create_task
        co_return;
    };
    auto e = duet::create_task(body());
    bool eager = ran == 1 && e.done();
    loop.set_task_factory(nullptr);
    co_return listed&& t.saw_itself&& eager;
}

}  // namespace

DUET_SNIPPET(extending_third_party_task) {
    return duet::run(extending_demo());
}
