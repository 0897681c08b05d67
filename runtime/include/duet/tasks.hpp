// asyncio.Task: a future that drives a coroutine; plus the task registry, sleep and yield.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <duet/contextvars.hpp>
#include <duet/coro.hpp>
#include <duet/detail/timer_heap.hpp>
#include <duet/futures.hpp>
#include <duet/handles.hpp>

namespace duet {

class base_event_loop;
class abstract_event_loop;
class basic_task;
class abstract_task;

namespace detail {

class task_core;

// A node of a loop's task registry: an intrusive, circular, doubly linked list whose
// sentinel the loop holds. Leaving it needs no loop, so an object can always leave it
// (at the latest when it is destroyed).
struct task_link {
    task_link* prev = nullptr;
    task_link* next = nullptr;
    bool linked() const noexcept { return prev != nullptr; }
    void link_after(task_link& head) noexcept {
        prev = &head;
        next = head.next;
        head.next->prev = this;
        head.next = this;
    }
    void unlink() noexcept {
        if (!prev) return;
        prev->next = next;
        next->prev = prev;
        prev = next = nullptr;
    }
};

// The registry's access to abstract_task's private parts (see tasks.cpp).
struct task_registry;

}  // namespace detail

// What a third-party task implementation (one that create_task did not make: a state
// machine driven by callbacks, say) provides so that its loop can list it (all_tasks) and
// name it as the running task (current_task): its loop, whether it is done, and a name;
// its address is its identity. It derives from this and calls register_task /
// enter_task / leave_task / unregister_task as asyncio's "Task lifetime support" asks.
// Registration never outlives the object: the destructor unregisters it, as does
// destroying its loop. (duet's own tasks answer the same questions through task_ref,
// without this interface's vtable and links: a task costs its size in memory.)
class abstract_task : private detail::task_link {
public:
    abstract_task() = default;
    abstract_task(const abstract_task&) = delete;
    abstract_task& operator=(const abstract_task&) = delete;
    virtual ~abstract_task() { unlink(); }

    virtual abstract_event_loop& get_loop() const noexcept = 0;
    virtual bool done() const noexcept = 0;
    virtual std::string get_name() const = 0;
    // Whether register_task put it in its loop's registry (and nothing took it out).
    bool registered() const noexcept { return linked(); }

private:
    friend struct detail::task_registry;
};

namespace detail {

// The non-template part of a task: its step (asyncio's Task.__step), cancellation
// bookkeeping, name and registry entry (an index into its loop's list of tasks); its
// private done_link is what a future it awaits keeps in its registration list. Its flags
// and cancel count live in future_core's spare bytes.
class task_core : public future_core, private done_link {
public:
    task_core(base_event_loop* loop, co::coroutine_handle<> root) noexcept;
    ~task_core() override;

    abstract_event_loop& get_loop() const noexcept;
    std::string get_name() const { return name(); }
    // In its loop's registry (all_tasks lists it while it is not done).
    bool registered() const noexcept {
        return reg_index_ < pending_registration || (reg_index_ == pending_registration && !done());
    }
    // A new task, registered but without its registry place yet (see reg_index_).
    bool awaiting_registry_place() const noexcept { return reg_index_ == pending_registration; }
    bool loop_owned() const noexcept { return loop_owned_; }
    void set_loop_owned(bool on) noexcept { loop_owned_ = on; }

    bool cancel(std::string msg) override;
    int cancelling() const noexcept { return static_cast<int>(num_cancels_requested_); }
    int uncancel() noexcept;
    std::string name() const;
    void set_name(std::string n);
    co::coroutine_handle<> coro() const noexcept { return root_; }
    // Tasks are numbered as they are created (32 bits: unique among 4 billion tasks).
    std::uint32_t id() const noexcept { return id_; }

    // The base-tier exception (see exceptions.md) the task failed with, or null.
    std::exception_ptr base_tier_error() noexcept;

    // Runs the coroutine until it next suspends or ends.
    void step() noexcept;
    static void wakeup_thunk(void* self, bool run) noexcept;
    // The link that queues this task on the future it awaits (see done_link).
    done_link* wait_link() noexcept { return this; }
    static task_core* from_wait_link(done_link* l) noexcept { return static_cast<task_core*>(l); }

    // Used by awaiters (see coro.hpp).
    void suspend_on(future_core& f, co::coroutine_handle<> h);
    void suspend_yield(co::coroutine_handle<> h);
    void suspend_direct(direct_wait* w, co::coroutine_handle<> h);
    void wake_direct(direct_wait* w, bool recheck) noexcept;
    void throw_if_cancel_injected();

    // Releases the coroutine of a task that will never run again (its loop closed).
    void abandon() noexcept;
    // A task that never started and never will (its task factory threw): gone without a
    // trace, as if create_task had not been called.
    void discard_unstarted() noexcept;

    // The context the task runs in (null until something is set in it).
    detail::context_slot ctx_;

protected:
    // The finished root coroutine's exception if it ended with one; otherwise, if
    // `take_value`, its value is moved into the result slot.
    virtual std::exception_ptr harvest_root(bool take_value) noexcept = 0;
    void last_release() noexcept override;

private:
    friend struct task_registry;
    void finish_from_root() noexcept;
    // A step scheduled before something completed the task from outside (a future-level
    // set_result): reported once, then the coroutine is released.
    void step_after_done() noexcept;
    void wake_soon() noexcept;
    // Stops a direct wait because of a cancellation; the task wakes and throws it.
    void interrupt_direct_wait() noexcept;

    co::coroutine_handle<> root_;
    co::coroutine_handle<> resume_;
    std::string take_pending_cancel() noexcept;

    // What the task is suspended on: a future (asyncio's _fut_waiter), or an awaiter that
    // wakes it directly; at most one is set.
    // One tagged word (a task costs its size in memory): a future the task holds a
    // reference to; or (tag 1) a direct_wait; or (tag 3) a direct_wait that woke the task
    // and is to be rechecked before the task resumes (see direct_wait::signal::recheck).
    std::uintptr_t waiter_ = 0;
    future_core* fut_waiter() const noexcept {
        return (waiter_ & 1) ? nullptr : reinterpret_cast<future_core*>(waiter_);  // NOLINT(performance-no-int-to-ptr)
    }
    direct_wait* direct_waiter() const noexcept {
        // NOLINTNEXTLINE(performance-no-int-to-ptr): the word is a tagged pointer
        return (waiter_ & 3) == 1 ? reinterpret_cast<direct_wait*>(waiter_ & ~std::uintptr_t{3}) : nullptr;
    }
    // Runs a pending recheck: true if the task stays suspended.
    bool recheck_direct_wait() noexcept;
    // Stops waiting on the future (if any): unregisters and drops the reference.
    void leave_fut_waiter() noexcept {
        if (future_core* f = fut_waiter()) {
            waiter_ = 0;
            f->remove_waiter(this);
            f->release();
        }
    }
    std::uint32_t id_;
    // Its place in its loop's registry; or pending_registration: a new task, registered
    // but given a place only when a step leaves it suspended, so that a task done in its
    // first step never touches the registry (until then all_tasks finds it in the ready
    // queue, or as the running task); or not_registered.
    static constexpr std::uint32_t not_registered = ~std::uint32_t{0};
    static constexpr std::uint32_t pending_registration = not_registered - 1;
    std::uint32_t reg_index_ = not_registered;
    bool has_registry_place() const noexcept { return reg_index_ < pending_registration; }
};

template <class T>
class task_state final : public with_outcome<T, task_core> {
public:
    task_state(base_event_loop* loop, typename duet::coro<T>::handle_type root) noexcept
        : with_outcome<T, task_core>(loop, root) {}

    static void* operator new(std::size_t) { return allocate_fixed<task_state>(); }
    static void operator delete(void* p, std::size_t) noexcept { deallocate_fixed<task_state>(p); }

private:
    std::exception_ptr harvest_root(bool take_value) noexcept override {
        auto& p = duet::coro<T>::handle_type::from_address(this->coro().address()).promise();
        if (p.exception_) return p.exception_;
        if constexpr (!std::is_void_v<T>) {
            if (take_value) {
                if constexpr (std::is_reference_v<T>)
                    this->slot.construct_value(*p.result.value);
                else
                    this->slot.construct_value(std::move(*p.result.value));
            }
        }
        return {};
    }
};

// Operations common to typed and untyped task references.
template <class D>
class task_ops {
    task_core* tc() const noexcept { return static_cast<task_core*>(static_cast<const D&>(*this).core()); }

public:
    // How many cancellation requests are outstanding (cancel() minus uncancel()).
    int cancelling() const noexcept { return tc()->cancelling(); }
    int uncancel() noexcept { return tc()->uncancel(); }
    std::string get_name() const { return tc()->name(); }
    void set_name(std::string n) { tc()->set_name(std::move(n)); }
    // The coroutine the task drives (null once it has finished).
    co::coroutine_handle<> get_coro() const noexcept { return tc()->coro(); }
};

}  // namespace detail

// A task of any result type.
class basic_task : public basic_future, public detail::task_ops<basic_task> {
public:
    // co_await on it waits for the task and rethrows its exception (its value, of a type
    // unknown here, is not returned).
    using value_type = void;
    basic_task() = default;
    explicit basic_task(detail::intrusive_ptr<detail::future_core> c) noexcept : basic_future(std::move(c)) {}
};

template <class T = void>
class task : public future<T>, public detail::task_ops<task<T>> {
public:
    task() = default;
    explicit task(detail::task_state<T>* st) noexcept
        : future<T>(detail::intrusive_ptr<detail::future_core>::adopt(st)) {}
    operator basic_task() const noexcept {
        return basic_task(detail::intrusive_ptr<detail::future_core>(this->core()));
    }

    // A task's result comes from its coroutine (asyncio's Task refuses them too). A
    // completion forced through the future itself (future<T>&) is allowed: the task keeps
    // it, and its next step reports invalid_state_error to the exception handler.
    template <class... A>
    [[noreturn]] void set_result(A&&...) {
        throw std::runtime_error("Task does not support set_result() operation");
    }
    template <class... A>
    [[noreturn]] void set_exception(A&&...) {
        throw std::runtime_error("Task does not support set_exception() operation");
    }
};

// A reference to any task a loop knows about (what all_tasks and current_task return):
// one of duet's own, which it keeps alive and which is then also a basic_task (cancel(),
// cancelling(), co_await, ...), or a third-party abstract_task, which must outlive the
// reference. done(), get_name(), get_loop(), registered() and == work for both; the
// basic_task operations need a duet task (is_duet_task()).
class task_ref : public basic_task {
public:
    task_ref() = default;
    task_ref(basic_task t) noexcept;  // NOLINT: implicit, a duet task is a task
    template <class T>
    task_ref(const task<T>& t) noexcept : task_ref(basic_task(t)) {}  // NOLINT
    task_ref(abstract_task& t) noexcept : t_(&t) {}                   // NOLINT

    // The third-party task referred to; null for one of duet's own.
    abstract_task* get() const noexcept { return t_; }
    bool is_duet_task() const noexcept { return core_ != nullptr; }
    explicit operator bool() const noexcept { return core_ || t_; }
    bool done() const noexcept { return core_ ? core_->done() : t_->done(); }
    std::string get_name() const { return core_ ? duet_core()->name() : t_->get_name(); }
    abstract_event_loop& get_loop() const noexcept { return core_ ? duet_core()->get_loop() : t_->get_loop(); }
    // In its loop's registry (see register_task).
    bool registered() const noexcept { return core_ ? duet_core()->registered() : t_->registered(); }
    // Cancels a duet task; std::invalid_argument for a third-party one.
    bool cancel(std::string msg = {});

    friend bool operator==(const task_ref& a, const task_ref& b) noexcept {
        return a.core() == b.core() && a.t_ == b.t_;
    }
    friend bool operator==(const task_ref& a, const basic_future& b) noexcept { return a.core() == b.core() && !a.t_; }

private:
    detail::task_core* duet_core() const noexcept { return static_cast<detail::task_core*>(core_.get()); }
    abstract_task* t_ = nullptr;
};

// The task being run by the running loop, if any (asyncio.current_task): the duet task
// being stepped, or the task entered with enter_task.
std::optional<task_ref> current_task();
std::optional<task_ref> current_task(abstract_event_loop& loop);
// Tasks of the loop (the running one by default) that are not done yet: duet's own and
// the registered third-party ones.
std::vector<task_ref> all_tasks();
std::vector<task_ref> all_tasks(abstract_event_loop& loop);

// Task lifetime support for third-party task implementations (asyncio's register_task &
// co; they take duet tasks too). register_task adds the task to its loop's registry
// (once; a no-op if already there), unregister_task removes it. enter_task makes it the
// loop's current task while it runs a step (std::runtime_error if another task is
// current); leave_task ends that (std::runtime_error if it is not the current task).
void register_task(const task_ref& t);
void unregister_task(const task_ref& t);
void enter_task(abstract_event_loop& loop, const task_ref& t);
void leave_task(abstract_event_loop& loop, const task_ref& t);

namespace detail {
// co_await sleep(d): d <= 0 is one ready-queue turn; otherwise a timer embedded in the
// awaiter (in the coroutine's frame: no handle, no allocation) wakes the task itself, with
// no future in between. A cancellation takes the timer out of the loop's heap at once.
class sleep_awaiter : public awaiter_tag, private direct_wait, private timer_entry {
public:
    explicit sleep_awaiter(double seconds) noexcept : direct_wait{&on_signal} { when = seconds; }
    // A copy is never armed (the timer is armed in await_suspend).
    sleep_awaiter(const sleep_awaiter& o) noexcept : awaiter_tag(o), direct_wait{&on_signal}, timer_entry(o) {
        when = o.delay();
        fire = nullptr;
        index = not_queued;
    }
    sleep_awaiter& operator=(const sleep_awaiter&) = delete;
    ~sleep_awaiter() {
        if (in_heap()) disarm();
    }

    // NaN never suspends: await_resume raises std::invalid_argument.
    bool await_ready() const noexcept { return when != when; }
    void await_suspend(co::coroutine_handle<> h);
    void await_resume() const;

private:
    // Before the timer is armed, its `when` holds the delay.
    double delay() const noexcept { return task_ ? 0.0 : when; }
    void disarm() noexcept;
    static bool on_signal(direct_wait* self, signal s) noexcept;
    static void on_due(void* self, bool run) noexcept;
    // Set once suspended; an armed timer's loop is its task's (no pointer of its own: a
    // sleeping task's frame holds this awaiter, and its size counts per task).
    task_core* task_ = nullptr;
};
}  // namespace detail

// What sleep() returns. `co_await sleep(d)` waits with no coroutine frame of its own.
// Anything that takes a coroutine (create_task, gather, wait_for, shield, run...) takes
// it as well, as the coroutine it stands for; it also converts to a coro<void>.
class [[nodiscard]] sleep_op {
public:
    using coro_type = coro<void>;
    explicit sleep_op(double seconds) noexcept : delay_(seconds) {}
    detail::sleep_awaiter awaiter() const noexcept { return detail::sleep_awaiter(delay_); }
    coro<void> as_coro() &&;
    operator coro<void>() && { return std::move(*this).as_coro(); }

private:
    double delay_;
};

// Suspends the current task for `seconds` (0 yields once; negative counts as 0; NaN is
// rejected with std::invalid_argument when awaited).
inline sleep_op sleep(double seconds) noexcept {
    return sleep_op(seconds);
}
template <class T>
coro<T> sleep(double seconds, T value) {
    co_await sleep(seconds);
    co_return value;
}
template <class Rep, class Period>
sleep_op sleep(std::chrono::duration<Rep, Period> d) noexcept {
    return sleep(std::chrono::duration<double>(d).count());
}
template <class Rep, class Period, class T>
coro<T> sleep(std::chrono::duration<Rep, Period> d, T value) {
    return sleep(std::chrono::duration<double>(d).count(), std::move(value));
}

// Gives other tasks a turn: resumes on the next loop iteration (asyncio.sleep(0)).
inline detail::yield_awaiter yield_now() noexcept {
    return {};
}

}  // namespace duet
