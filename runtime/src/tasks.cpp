#include <atomic>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <duet/base_events.hpp>
#include <duet/detail/debug.hpp>
#include <duet/tasks.hpp>

namespace duet {
namespace detail {

namespace {
// Task numbers come from a process-wide counter in blocks of 1024 per thread: unique, in
// creation order within a thread, and no locked instruction per task.
std::atomic<std::uint32_t> task_counter{0};
constexpr std::uint32_t task_id_block = 1024;
struct task_ids {
    std::uint32_t next = 0, end = 0;
};
thread_local task_ids local_task_ids;
std::uint32_t next_task_id() noexcept {
    task_ids& ids = local_task_ids;
    if (ids.next == ids.end) [[unlikely]] {
        ids.next = task_counter.fetch_add(task_id_block, std::memory_order_relaxed) + 1;
        ids.end = ids.next + task_id_block;
    }
    return ids.next++;
}

bool is_cancellation(const std::exception_ptr& e, std::string& msg) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const cancelled_error& c) {
        msg = c.message();
        return true;
    } catch (...) {
        return false;
    }
}
}  // namespace

// A loop's registry: its duet tasks in a vector, each task knowing its index (removal
// moves the last one into the hole: O(1), no links in the task); third-party tasks in
// an intrusive list of their own.
struct task_registry {
    static void link(base_event_loop& loop, abstract_task& t) noexcept {
        if (!t.linked()) t.link_after(loop.tasks_);
    }
    static void unlink(abstract_task& t) noexcept { t.unlink(); }
    static abstract_task& from(task_link* l) noexcept { return static_cast<abstract_task&>(*l); }

    // register_task: a place now.
    static void link(base_event_loop& loop, task_core& t) {
        if (t.has_registry_place()) return;
        auto& v = loop.duet_tasks_;
        v.push_back(&t);
        if (t.reg_index_ == task_core::pending_registration) --loop.pending_registrations_;
        t.reg_index_ = static_cast<std::uint32_t>(v.size() - 1);
    }
    // create_task: registered, with room for its place reserved.
    static void link_new(base_event_loop& loop, task_core& t) {
        auto& v = loop.duet_tasks_;
        const std::size_t need = v.size() + loop.pending_registrations_ + 1;
        if (need > v.capacity()) v.reserve(need < 8 ? 16 : 2 * need);
        ++loop.pending_registrations_;
        t.reg_index_ = task_core::pending_registration;
    }
    // A step left a new task suspended: it takes its place (in the room reserved for it).
    static void settle(base_event_loop& loop, task_core& t) noexcept {
        auto& v = loop.duet_tasks_;
        if (!v.push_back_in_capacity(&t)) return;  // (cannot happen: the room is reserved)
        --loop.pending_registrations_;
        t.reg_index_ = static_cast<std::uint32_t>(v.size() - 1);
    }
    static void unlink(base_event_loop& loop, task_core& t) noexcept {
        if (t.reg_index_ == task_core::pending_registration) {
            --loop.pending_registrations_;
            t.reg_index_ = task_core::not_registered;
            return;
        }
        if (!t.has_registry_place()) return;
        auto& v = loop.duet_tasks_;
        task_core* last = v.back();
        v[t.reg_index_] = last;
        last->reg_index_ = t.reg_index_;
        v.pop_back();
        t.reg_index_ = task_core::not_registered;
    }
    static void forget_all(base_event_loop& loop) noexcept {
        for (task_core* t : loop.duet_tasks_) t->reg_index_ = task_core::not_registered;
        loop.pending_registrations_ = 0;
        loop.duet_tasks_.clear();
        for (task_link* l = loop.tasks_.next; l != &loop.tasks_;) {
            task_link* next = l->next;
            l->unlink();
            l = next;
        }
    }
};

void link_task(base_event_loop& loop, task_core* t) {
    task_registry::link(loop, *t);
}
void register_new_task(base_event_loop& loop, task_core* t) {
    task_registry::link_new(loop, *t);
}
void unlink_task(base_event_loop& loop, task_core* t) noexcept {
    task_registry::unlink(loop, *t);
}
void forget_registry(base_event_loop& loop) noexcept {
    task_registry::forget_all(loop);
}

// 96 bytes for task_state<void>: the pool's size class is what a suspended task costs.
static_assert(sizeof(task_core) <= 88, "a task is most of what a suspended task costs: keep it in 88 bytes");

task_core::task_core(base_event_loop* loop, co::coroutine_handle<> root) noexcept
    : future_core(loop, true), done_link(waiting_task), root_(root), resume_(root), id_(next_task_id()) {}

abstract_event_loop& task_core::get_loop() const noexcept {
    return *loop_;
}

task_core::~task_core() {
    if (detail::debug_tracking()) forget_site(static_cast<future_core*>(this), nullptr);
    // Registered means its loop is alive (a loop's destructor empties its registry).
    if (reg_index_ != not_registered) unlink_task(*loop_, this);
    leave_fut_waiter();
    // A direct waiter lives in the frame: destroying the frame unlinks it.
    waiter_ = 0;
    if (root_) root_.destroy();
}

std::string task_core::name() const {
    return cold_ && !cold_->name.empty() ? cold_->name : "Task-" + std::to_string(id_);
}

void task_core::set_name(std::string n) {
    if (!n.empty() || cold_) cold().name = std::move(n);
}

int task_core::uncancel() noexcept {
    if (num_cancels_requested_ > 0) {
        if (--num_cancels_requested_ == 0) must_cancel_ = false;
    }
    return static_cast<int>(num_cancels_requested_);
}

bool task_core::cancel(std::string msg) {
    log_exception_ = false;
    if (done()) return false;
    ++num_cancels_requested_;
    if (future_core* f = fut_waiter()) {
        if (f->cancel(msg)) return true;
        // Cancelled already (by an earlier cancel() or by its owner): the task wakes with
        // the future's own cancellation and message, as asyncio's step throws it as it is.
        if (f->cancelled()) return true;
    }
    // A cancellation already delivered to a direct wait: it is what the task will throw.
    if (inject_cancel_) return true;
    must_cancel_ = true;
    if (!msg.empty() || cold_) cold().pending_cancel = std::move(msg);
    // Suspended on a direct waiter: stop waiting and wake up to throw the cancellation
    // (what cancelling the awaited future does for a future waiter).
    if (direct_waiter()) interrupt_direct_wait();
    return true;
}

void task_core::interrupt_direct_wait() noexcept {
    direct_wait* w = direct_waiter();
    // The wait may keep the task (it then wakes it itself).
    if (w->on_signal(w, direct_wait::signal::cancel)) return;
    waiter_ = 0;
    // Delivered, as asyncio's cancel of the awaited future is: the task throws it when it
    // resumes, whatever uncancel() or another cancel() does before that (the wait is gone:
    // resuming without the exception would pass a sleep early or a lock not acquired).
    must_cancel_ = false;
    inject_cancel_ = true;
    wake_soon();
}

void task_core::wake_soon() noexcept {
    add_ref();
    loop_->push_ready(&wakeup_thunk, this);
}

std::string task_core::take_pending_cancel() noexcept {
    return cold_ ? std::move(cold_->pending_cancel) : std::string();
}

void task_core::wakeup_thunk(void* self, bool run) noexcept {
    auto* t = static_cast<task_core*>(self);
    if (run) t->step();
    t->release();
}

std::exception_ptr task_core::base_tier_error() noexcept {
    if (state_ != status::failed || !is_base_tier(*error_slot())) return nullptr;
    return *error_slot();
}

void task_core::step() noexcept {
    if (done() || !root_) [[unlikely]] {
        step_after_done();
        return;
    }
    // Woken by a wait that wants to look again (a queue's get finding the item taken
    // meanwhile, a condition's wait re-acquiring its lock): it may keep the task suspended.
    if ((waiter_ & 2) && recheck_direct_wait()) return;
    base_event_loop& lp = *loop_;
    if (must_cancel_) {
        must_cancel_ = false;
        // An awaited future cancelled meanwhile (by its owner) wakes the task with its own
        // cancellation, as asyncio's step keeps the CancelledError it was woken with.
        future_core* f = fut_waiter();
        if (!(f && f->cancelled())) inject_cancel_ = true;
    }
    leave_fut_waiter();
    // No direct waiter is left here: wake_direct() and interrupt_direct_wait() clear it
    // before they schedule this step, and nothing else wakes a task parked on one.
    // (No reference of its own: its caller, wakeup_thunk, holds the scheduled step's.)
    if (!started_) {
        started_ = true;
        if (inject_cancel_) {
            // Cancelled before it ever ran: the body never starts (asyncio throws into
            // the unstarted coroutine, which ends it at once).
            inject_cancel_ = false;
            root_.destroy();
            root_ = nullptr;
            unlink_task(lp, this);
            cancel_self(take_pending_cancel());
            if (loop_owned_) {
                loop_owned_ = false;
                release();
            }
            return;
        }
    }
    task_core* outer = lp.current_task_;
    // A step inside another's (an eager task's first): the outer one, suspended in the
    // middle of its step, takes its registry place now, where all_tasks looks for it.
    if (outer && outer->reg_index_ == pending_registration) [[unlikely]]
        task_registry::settle(lp, *outer);
    lp.current_task_ = this;
    {
        context_scope in_task_context(&ctx_);
        resume_trampoline(resume_);
    }
    lp.current_task_ = outer;
    if (root_.done()) {
        finish_from_root();
        return;
    }
    if (reg_index_ == pending_registration) task_registry::settle(lp, *this);
    if (must_cancel_ && fut_waiter()) {
        if (fut_waiter()->cancel(cold_ ? cold_->pending_cancel : std::string())) must_cancel_ = false;
    }
    // Cancelled while it ran, now suspended on a direct waiter: wake it to throw.
    if (must_cancel_ && direct_waiter()) interrupt_direct_wait();
}

void task_core::step_after_done() noexcept {
    if (!root_) return;
    // Completed through the future while its coroutine still waited to run (asyncio's
    // Future.set_result(task, ...)): the step cannot run; say so once, let the coroutine go.
    intrusive_ptr<future_core> keep(this);
    exception_context ctx;
    ctx.message = "Exception in callback Task step";
    ctx.exception = std::make_exception_ptr(invalid_state_error("step(): already done: Task " + name()));
    ctx.task = basic_task(keep);
    abandon();
    if (loop_owned_) {
        loop_owned_ = false;
        release();
    }
    loop_->call_exception_handler(ctx);
}

void task_core::discard_unstarted() noexcept {
    abandon();
    reported_ = true;  // never "destroyed but pending": it never existed for anyone
    if (loop_owned_) {
        loop_owned_ = false;
        release();
    }
}

void task_core::finish_from_root() noexcept {
    // A value is kept only if the task finishes with it (a pending cancel() wins).
    std::exception_ptr ex = harvest_root(!must_cancel_);
    root_.destroy();
    root_ = nullptr;
    unlink_task(*loop_, this);
    if (!ex) {
        if (must_cancel_) {
            must_cancel_ = false;
            cancel_self(take_pending_cancel());
        } else {
            finish_with_result();
        }
    } else if (std::string msg; is_cancellation(ex, msg)) {
        cancel_self(std::move(msg));
    } else {
        // The task records a base-tier exception as its own (done, not cancelled) and
        // the run ends with it, as asyncio's __step re-raises SystemExit.
        if (is_base_tier(ex)) [[unlikely]]
            loop_->raise_base_exception(ex);
        finish_with_exception(std::move(ex));
    }
    if (loop_owned_) {
        loop_owned_ = false;
        release();
    }
}

void task_core::suspend_on(future_core& f, co::coroutine_handle<> h) {
    if (&f == this) throw std::runtime_error("Task cannot await on itself: " + name());
    if (&f.loop() != loop_) throw std::runtime_error("Task " + name() + " got Future attached to a different loop");
    resume_ = h;
    f.add_ref();
    waiter_ = reinterpret_cast<std::uintptr_t>(&f);
    f.add_waiter(this);
}

void task_core::suspend_yield(co::coroutine_handle<> h) {
    resume_ = h;
    wake_soon();
}

void task_core::suspend_direct(direct_wait* w, co::coroutine_handle<> h) {
    resume_ = h;
    waiter_ = reinterpret_cast<std::uintptr_t>(w) | 1;
}

void task_core::wake_direct(direct_wait* w, bool recheck) noexcept {
    if (direct_waiter() != w) return;
    waiter_ = recheck ? reinterpret_cast<std::uintptr_t>(w) | 3 : 0;
    wake_soon();
}

bool task_core::recheck_direct_wait() noexcept {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the word is a tagged pointer
    auto* w = reinterpret_cast<direct_wait*>(waiter_ & ~std::uintptr_t{3});
    waiter_ = 0;
    if (!w->on_signal(w, must_cancel_ ? direct_wait::signal::recheck_cancelling : direct_wait::signal::recheck))
        return false;
    waiter_ = reinterpret_cast<std::uintptr_t>(w) | 1;  // suspended on it again
    return true;
}

void task_core::throw_if_cancel_injected() {
    if (inject_cancel_) {
        inject_cancel_ = false;
        throw cancelled_error(take_pending_cancel());
    }
}

void task_core::abandon() noexcept {
    leave_fut_waiter();
    waiter_ = 0;  // a direct waiter is unlinked when the frame goes, below
    unlink_task(*loop_, this);
    // Its loop is closing: the coroutine can never resume, so its locals go now.
    if (root_) std::exchange(root_, nullptr).destroy();
    // Nor can the task finish: its done callbacks will never run. Drop them and what they
    // hold; a callback holding something that holds this task (a gather or a shield over
    // it, a callback capturing the task) would otherwise keep both alive for ever.
    drop_links();
}

void task_core::last_release() noexcept {
    if (state_ == status::pending && !reported_) {
        reported_ = true;
        refs_ = 1;
        if (base_event_loop::alive(loop_)) {
            exception_context ctx;
            ctx.message = "Task was destroyed but it is pending!";
            source_site site{};
            if (debug_tracking() && find_site(static_cast<future_core*>(this), &site))
                ctx.message += " (created at " + std::string(site.file) + ":" + std::to_string(site.line) + ")";
            ctx.task = basic_task(intrusive_ptr<future_core>(this));
            loop_->call_exception_handler(ctx);
        }
        if (--refs_ != 0) return;
        if (reg_index_ != not_registered) unlink_task(*loop_, this);
        delete this;
        return;
    }
    future_core::last_release();
}

task_core* current_task_core() noexcept {
    base_event_loop* l = running_base_loop;
    return l ? l->current_task_ : nullptr;
}

task_core* suspend_current_task_on(future_core& f, co::coroutine_handle<> h) {
    task_core* t = current_task_core();
    if (!t) throw std::runtime_error("duet: co_await on a future outside a task (wrap the coroutine in a task)");
    t->suspend_on(f, h);
    return t;
}

task_core* suspend_current_task_direct(direct_wait* w, co::coroutine_handle<> h) {
    task_core* t = current_task_core();
    if (!t) throw std::runtime_error("duet: co_await outside a task (wrap the coroutine in a task)");
    t->suspend_direct(w, h);
    return t;
}

void wake_direct_waiter(task_core* t, direct_wait* w, bool recheck) noexcept {
    t->wake_direct(w, recheck);
}

task_core* suspend_current_task_yield(co::coroutine_handle<> h) {
    task_core* t = current_task_core();
    if (!t) throw std::runtime_error("duet: yield outside a task (wrap the coroutine in a task)");
    t->suspend_yield(h);
    return t;
}

void throw_if_cancel_injected(task_core* t) {
    if (t) t->throw_if_cancel_injected();
}

}  // namespace detail

task_ref::task_ref(basic_task t) noexcept : basic_task(std::move(t)) {}

bool task_ref::cancel(std::string msg) {
    if (!is_duet_task())
        throw std::invalid_argument("cancel: " + (t_ ? t_->get_name() : std::string("null task")) +
                                    " is not a duet task");
    return basic_task::cancel(std::move(msg));
}

namespace {
void check_not_null(const task_ref& t) {
    if (!t) throw std::invalid_argument("null task");
}
detail::task_core* duet_core(const task_ref& t) noexcept {
    return static_cast<detail::task_core*>(t.core());
}
// The task the loop runs now, duet's or a third-party one entered with enter_task.
std::optional<task_ref> running_task_of(base_event_loop& b) {
    if (b.current_task_) return task_ref(basic_task(detail::intrusive_ptr<detail::future_core>(b.current_task_)));
    if (b.entered_task_) return task_ref(*b.entered_task_);
    return std::nullopt;
}
}  // namespace

std::optional<task_ref> current_task() {
    return current_task(get_running_loop());
}
std::optional<task_ref> current_task(abstract_event_loop& loop) {
    return running_task_of(loop.base());
}
std::vector<task_ref> all_tasks() {
    return all_tasks(get_running_loop());
}
std::vector<task_ref> all_tasks(abstract_event_loop& loop) {
    auto& b = loop.base();
    std::vector<task_ref> out;
    out.reserve(b.duet_tasks_.size() + b.pending_registrations_);
    auto add = [&](detail::task_core* t) {
        if (!t->done()) out.emplace_back(basic_task(detail::intrusive_ptr<detail::future_core>(t)));
    };
    for (detail::task_core* t : b.duet_tasks_) add(t);
    // New tasks without their place yet: the running one, and those whose first step is
    // queued (once each: a new task has one queued step).
    if (b.pending_registrations_ != 0) {
        detail::task_core* running = b.current_task_;
        if (running && running->awaiting_registry_place()) add(running);
        b.queued().for_each([&](const detail::ready_entry& e) {
            if (e.fn != &detail::task_core::wakeup_thunk) return;
            auto* t = static_cast<detail::task_core*>(e.arg);
            if (t != running && t->awaiting_registry_place()) add(t);
        });
    }
    for (detail::task_link* l = b.tasks_.next; l != &b.tasks_; l = l->next) {
        abstract_task& t = detail::task_registry::from(l);
        if (!t.done()) out.emplace_back(t);
    }
    return out;
}

void register_task(const task_ref& t) {
    check_not_null(t);
    if (auto* tc = duet_core(t))
        detail::task_registry::link(tc->loop(), *tc);
    else
        detail::task_registry::link(t.get()->get_loop().base(), *t.get());
}
void unregister_task(const task_ref& t) {
    check_not_null(t);
    if (auto* tc = duet_core(t))
        detail::task_registry::unlink(tc->loop(), *tc);
    else
        detail::task_registry::unlink(*t.get());
}

void enter_task(abstract_event_loop& loop, const task_ref& t) {
    check_not_null(t);
    auto& b = loop.base();
    if (auto cur = running_task_of(b))
        throw std::runtime_error("Cannot enter into task " + t.get_name() + " while another task " + cur->get_name() +
                                 " is being executed.");
    // duet's own tasks go where awaits look for them; the others only answer current_task.
    if (auto* tc = duet_core(t))
        b.current_task_ = tc;
    else
        b.entered_task_ = t.get();
}
void leave_task(abstract_event_loop& loop, const task_ref& t) {
    check_not_null(t);
    auto& b = loop.base();
    auto cur = running_task_of(b);
    if (!cur || !(*cur == t))
        throw std::runtime_error("Leaving task " + t.get_name() + " does not match the current task " +
                                 (cur ? cur->get_name() : std::string("None")) + ".");
    b.current_task_ = nullptr;
    b.entered_task_ = nullptr;
}

// sleep(d): d <= 0 is asyncio's bare yield; otherwise a timer wakes the task itself, with
// no future in between. The timer is armed, capturing this awaiter's address, only here:
// before, the awaiter may still be copied.
void detail::sleep_awaiter::await_suspend(co::coroutine_handle<> h) {
    if (when <= 0) {
        task_ = detail::suspend_current_task_yield(h);
        return;
    }
    base_event_loop* loop = detail::running_base_loop;
    if (!loop) throw std::runtime_error("no running event loop");
    task_core* t = detail::current_task_core();
    if (!t) throw std::runtime_error("duet: co_await outside a task (wrap the coroutine in a task)");
    when += loop->time();
    fire = &on_due;
    loop->add_timer(this);  // if this throws, nothing is armed
    t->suspend_direct(this, h);
    task_ = t;
}

void detail::sleep_awaiter::await_resume() const {
    if (std::isnan(when)) throw std::invalid_argument("sleep: delay is NaN");
    detail::throw_if_cancel_injected(task_);
}

void detail::sleep_awaiter::disarm() noexcept {
    task_->loop().remove_timer(this);
}

bool detail::sleep_awaiter::on_signal(direct_wait* self, signal s) noexcept {
    auto* a = static_cast<sleep_awaiter*>(self);
    if (s == signal::cancel && a->in_heap()) a->disarm();
    return false;
}

void detail::sleep_awaiter::on_due(void* self, bool run) noexcept {
    // Not run: a closing loop dropping its queue, when the awaiter may be gone already.
    // Run: the task is still suspended here (a cancellation queues its wake-up after
    // this entry), so the awaiter is alive.
    if (!run) return;
    auto* a = static_cast<sleep_awaiter*>(static_cast<timer_entry*>(self));
    detail::wake_direct_waiter(a->task_, a);
}

namespace {
// The coroutine a sleep_op stands for (create_task(sleep(1)) and the like).
coro<void> sleep_coro(double seconds) {
    co_await detail::sleep_awaiter(seconds);
}
}  // namespace

coro<void> sleep_op::as_coro() && {
    return sleep_coro(delay_);
}

}  // namespace duet
