// asyncio.Task: a future that drives a coroutine; plus the task registry, sleep and yield.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <duet/contextvars.hpp>
#include <duet/coro.hpp>
#include <duet/futures.hpp>
#include <duet/handles.hpp>

namespace duet {

class base_event_loop;
class abstract_event_loop;
class basic_task;

namespace detail {

// The non-template part of a task: its step (asyncio's Task.__step), cancellation
// bookkeeping, name and registry links.
class task_core : public future_core, private done_link {
public:
    task_core(base_event_loop* loop, co::coroutine_handle<> root) noexcept;
    ~task_core() override;

    bool cancel(std::string msg) override;
    int cancelling() const noexcept { return static_cast<int>(num_cancels_requested_); }
    int uncancel() noexcept;
    std::string name() const;
    void set_name(std::string n);
    co::coroutine_handle<> coro() const noexcept { return root_; }
    // Tasks are numbered as they are created (32 bits: unique among 4 billion tasks).
    std::uint32_t id() const noexcept { return id_; }

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
    void wake_direct(direct_wait* w) noexcept;
    void throw_if_cancel_injected();

    // Registry (intrusive list of the loop's tasks).
    task_core* reg_prev_ = nullptr;
    task_core* reg_next_ = nullptr;

    // Releases the coroutine of a task that will never run again (its loop closed).
    void abandon() noexcept;

    // The context the task runs in (null until something is set in it).
    detail::context_slot ctx_;

protected:
    // The finished root coroutine's exception if it ended with one; otherwise, if
    // `take_value`, its value is moved into the result slot.
    virtual std::exception_ptr harvest_root(bool take_value) noexcept = 0;
    void last_release() noexcept override;

private:
    void finish_from_root() noexcept;
    void wake_soon() noexcept;
    // Stops a direct wait because of a cancellation; the task wakes and throws it.
    void interrupt_direct_wait() noexcept;

    co::coroutine_handle<> root_;
    co::coroutine_handle<> resume_;
    std::string take_pending_cancel() noexcept;

    // What the task is suspended on: a future (asyncio's _fut_waiter), or an awaiter that
    // wakes it directly; at most one is set.
    intrusive_ptr<future_core> fut_waiter_;
    direct_wait* direct_waiter_ = nullptr;
    std::uint32_t id_;
    std::uint16_t num_cancels_requested_ = 0;
    // Bit-fields: a task is allocated per spawned coroutine, and its size is most of the
    // memory a suspended task costs.
    bool must_cancel_ : 1 = false;
    bool inject_cancel_ : 1 = false;
    bool started_ : 1 = false;

public:
    bool registered_ : 1 = false;  // in the loop's task list (see reg_prev_)
    bool loop_owned_ : 1 = false;  // the loop holds a reference until the task ends
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
    basic_task() = default;
    explicit basic_task(detail::intrusive_ptr<detail::future_core> c) noexcept : basic_future(std::move(c)) {}
};

template <class T = void>
class task : public future<T>, public detail::task_ops<task<T>> {
public:
    task() = default;
    explicit task(detail::task_state<T>* st) noexcept
        : future<T>(detail::intrusive_ptr<detail::future_core>::adopt(st), &st->slot) {}
    operator basic_task() const noexcept {
        return basic_task(detail::intrusive_ptr<detail::future_core>(this->core()));
    }
};

// The task being run by the running loop, if any (asyncio.current_task).
std::optional<basic_task> current_task();
std::optional<basic_task> current_task(abstract_event_loop& loop);
// Tasks of the loop (the running one by default) that are not done yet.
std::vector<basic_task> all_tasks();
std::vector<basic_task> all_tasks(abstract_event_loop& loop);

// Hooks for third-party task implementations (asyncio's _register_task & co).
void register_task(basic_task t);
void unregister_task(basic_task t);
void enter_task(abstract_event_loop& loop, basic_task t);
void leave_task(abstract_event_loop& loop, basic_task t);

namespace detail {
// co_await sleep(d): d <= 0 is one ready-queue turn; otherwise a timer wakes the task
// itself, with no future in between.
class sleep_awaiter : public awaiter_tag, private direct_wait {
public:
    explicit sleep_awaiter(double seconds) noexcept : direct_wait{&on_cancelled}, delay_(seconds) {}
    // A copy is never armed (the timer is armed in await_suspend, capturing `this`).
    sleep_awaiter(const sleep_awaiter& o) noexcept : direct_wait{&on_cancelled}, delay_(o.delay_) {}
    sleep_awaiter& operator=(const sleep_awaiter&) = delete;
    ~sleep_awaiter() { timer_.cancel(); }

    // NaN never suspends: await_resume raises std::invalid_argument.
    bool await_ready() const noexcept { return delay_ != delay_; }
    void await_suspend(co::coroutine_handle<> h);
    void await_resume() const;

private:
    static void on_cancelled(direct_wait* self) noexcept;
    double delay_;
    timer_handle timer_;
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
