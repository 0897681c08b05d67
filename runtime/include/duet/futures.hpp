// asyncio.Future: a result that will exist later, PENDING -> FINISHED or CANCELLED.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <duet/detail/pool.hpp>
#include <duet/exceptions.hpp>
#include <duet/handles.hpp>

namespace duet {

class base_event_loop;
class abstract_event_loop;

namespace detail {

class task_core;

// An allocation-free done callback for duet's own combinators (gather's children): the
// owner embeds it; when the future is done, `notify(this, true)` is scheduled through the
// ready queue like any done callback (or `notify(this, false)` if the future is dropped
// unfinished).
struct done_observer {
    done_observer* next_observer = nullptr;
    void (*notify)(void* self, bool run) noexcept = nullptr;
};

// The type-erased state every future and task shares. The typed result lives in the
// derived class; `slot_` points at it.
class future_core {
public:
    enum class status : std::uint8_t { pending, finished, cancelled };
    using done_fn = small_callable<void(future_core&), 24>;

    future_core(base_event_loop* loop, bool is_task) noexcept : loop_(loop), is_task_(is_task) {}
    future_core(const future_core&) = delete;
    future_core& operator=(const future_core&) = delete;
    virtual ~future_core();

    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) last_release();
    }

    bool done() const noexcept { return state_ != status::pending; }
    bool cancelled() const noexcept { return state_ == status::cancelled; }
    bool is_task() const noexcept { return is_task_; }
    base_event_loop& loop() const noexcept { return *loop_; }

    // asyncio's Future.cancel; Task overrides it.
    virtual bool cancel(std::string msg);
    bool cancel_self(std::string msg);

    // invalid_state_error if done (inline: every set_result asks).
    void check_settable(const char* what) const {
        if (state_ != status::pending) [[unlikely]]
            throw_not_settable(what);
    }
    void finish_with_result() noexcept;
    void set_exception(std::exception_ptr e);
    // Throws what result() would throw (pending / cancelled / stored exception). Inline
    // for the common case, a result (log_exception_ is only ever set with an exception).
    void check_result() {
        if (state_ == status::finished && !exception_) [[likely]]
            return;
        check_result_slow();
    }
    std::exception_ptr exception();

    std::uint32_t add_done_callback(done_fn fn, const void* key = nullptr);
    std::size_t remove_done_callback(std::uint32_t id) noexcept;
    std::size_t remove_done_callback_key(const void* key) noexcept;
    // Registers a task to be woken (one ready-queue hop, no allocation) when done.
    void add_waiter(task_core* t);
    // Registers an observer (scheduled after the other done callbacks, in registration
    // order). It stays registered until the future is done or dropped.
    void add_observer(done_observer* o) noexcept {
        o->next_observer = observers_;
        observers_ = o;
    }
    void remove_waiter(task_core* t) noexcept;

    // A scratch mark for finding duplicates in one pass (gather, wait) without a hash set;
    // whoever sets it clears it before returning (see dedup_marks).
    bool marked() const noexcept { return marked_; }
    void set_mark(bool on) noexcept { marked_ = on; }

    const std::string& cancel_message() const noexcept;
    cancelled_error make_cancelled_error() const { return cancelled_error(cancel_message()); }

protected:
    [[noreturn]] void throw_not_settable(const char* what) const;
    void check_result_slow();
    void schedule_callbacks() noexcept;
    virtual void last_release() noexcept;
    void report_unretrieved() noexcept;

    struct done_entry {
        done_fn fn;
        const void* key = nullptr;
        task_core* waker = nullptr;
        std::uint32_t id = 0;
    };

    // What most futures and tasks never need, allocated on first use: done callbacks
    // beyond one waiting task, a cancel message, a task's name. Keeping it out of line
    // keeps a future at 48 bytes and a task near 100 (memory per suspended task is the
    // cost that dominates on these machines: ~2.5 ns per fresh byte).
    struct cold_state {
        std::vector<done_entry> callbacks;
        std::string cancel_message;
        std::string name;            // tasks
        std::string pending_cancel;  // tasks: the message of a cancel() not yet delivered
        std::uint32_t next_callback_id = 0;
    };
    cold_state& cold();
    bool has_callbacks() const noexcept { return cold_ && !cold_->callbacks.empty(); }

    base_event_loop* loop_;
    std::exception_ptr exception_;
    std::unique_ptr<cold_state> cold_;
    // The common case is one task waiting; it costs no allocation.
    task_core* first_waiter_ = nullptr;
    done_observer* observers_ = nullptr;  // newest first
    void drop_observers() noexcept;
    std::uint32_t refs_ = 1;
    status state_ = status::pending;
    bool is_task_ : 1;
    bool log_exception_ : 1 = false;
    bool reported_ : 1 = false;
    bool marked_ : 1 = false;

    friend class task_core;
};

// Clears the marks of the futures collected in `marked` when the pass ends (exceptions
// included). Push a future, then mark it, so every marked future is in the list.
template <class Vector>
class dedup_marks {
public:
    explicit dedup_marks(Vector& marked) noexcept : marked_(marked) {}
    dedup_marks(const dedup_marks&) = delete;
    dedup_marks& operator=(const dedup_marks&) = delete;
    ~dedup_marks() {
        for (auto* f : marked_) f->set_mark(false);
    }

private:
    Vector& marked_;
};

template <class T>
struct result_slot {
    std::optional<T> value;
    T take() { return std::move(*value); }
};
template <class T>
struct result_slot<T&> {
    T* value = nullptr;
};
template <>
struct result_slot<void> {};

template <class T>
class future_state final : public future_core {
public:
    explicit future_state(base_event_loop* loop) noexcept : future_core(loop, false) {}
    result_slot<T> slot;

    static void* operator new(std::size_t n);
    static void operator delete(void* p, std::size_t n) noexcept;
};

template <class T>
void* future_state<T>::operator new(std::size_t) {
    return allocate_fixed<future_state<T>>();
}
template <class T>
void future_state<T>::operator delete(void* p, std::size_t) noexcept {
    deallocate_fixed<future_state<T>>(p);
}

}  // namespace detail

// A reference to any future or task, whatever its result type (for wait(), exception
// contexts and done callbacks that do not care about the value).
class basic_future {
public:
    basic_future() = default;
    explicit basic_future(detail::intrusive_ptr<detail::future_core> c) noexcept : core_(std::move(c)) {}

    bool done() const noexcept { return core_->done(); }
    bool cancelled() const noexcept { return core_->cancelled(); }
    // Cancels the future (or task) and schedules its callbacks; false if already done.
    bool cancel(std::string msg = {}) { return core_->cancel(std::move(msg)); }
    // The stored exception (null if it finished with a result); cancelled_error if
    // cancelled, invalid_state_error if not done yet.
    std::exception_ptr exception() const { return core_->exception(); }
    base_event_loop& get_loop() const noexcept { return core_->loop(); }

    // Schedules f(future) with call_soon once done (at once if already done). Returns an
    // id for remove_done_callback.
    template <class F>
    requires std::is_invocable_v<F&, basic_future&> std::uint32_t add_done_callback(F f) {
        return core_->add_done_callback([f = std::move(f)](detail::future_core& c) mutable {
            basic_future self{detail::intrusive_ptr<detail::future_core>(&c)};
            f(self);
        });
    }
    // A plain function can be removed by identity, as in asyncio: every registration of
    // it goes; returns how many did.
    std::uint32_t add_done_callback(void (*f)(basic_future&)) {
        return core_->add_done_callback(
            [f](detail::future_core& c) {
                basic_future self{detail::intrusive_ptr<detail::future_core>(&c)};
                f(self);
            },
            reinterpret_cast<const void*>(f));
    }
    std::size_t remove_done_callback(std::uint32_t id) noexcept { return core_->remove_done_callback(id); }
    std::size_t remove_done_callback(void (*f)(basic_future&)) noexcept {
        return core_->remove_done_callback_key(reinterpret_cast<const void*>(f));
    }

    explicit operator bool() const noexcept { return static_cast<bool>(core_); }
    friend bool operator==(const basic_future& a, const basic_future& b) noexcept { return a.core_ == b.core_; }
    detail::future_core* core() const noexcept { return core_.get(); }

protected:
    detail::intrusive_ptr<detail::future_core> core_;
};

// asyncio.Future with a result of type T (void allowed).
template <class T = void>
class future : public basic_future {
public:
    using value_type = T;
    future() = default;
    // Internal: adopts a core whose slot holds a result_slot<T>.
    future(detail::intrusive_ptr<detail::future_core> c, detail::result_slot<T>* slot) noexcept
        : basic_future(std::move(c)), slot_(slot) {}

    // The result; rethrows the stored exception; cancelled_error if cancelled;
    // invalid_state_error if not done. The value stays in the future (copied out);
    // take_result() moves it.
    decltype(auto) result() const {
        core_->check_result();
        if constexpr (std::is_void_v<T>)
            return;
        else if constexpr (std::is_reference_v<T>)
            return static_cast<T>(*slot_->value);
        else
            return static_cast<const T&>(*slot_->value);
    }
    T take_result() {
        core_->check_result();
        if constexpr (std::is_void_v<T>)
            return;
        else if constexpr (std::is_reference_v<T>)
            return static_cast<T>(*slot_->value);
        else
            return std::move(*slot_->value);
    }

    template <class U = T>
    requires(!std::is_void_v<U>) void set_result(U&& v) {
        core_->check_settable("set_result");
        if constexpr (std::is_reference_v<T>)
            slot_->value = &v;
        else
            slot_->value.emplace(std::forward<U>(v));
        core_->finish_with_result();
    }
    template <class U = T>
    requires std::is_void_v<U>
    void set_result() {
        core_->check_settable("set_result");
        core_->finish_with_result();
    }
    void set_exception(std::exception_ptr e) { core_->set_exception(std::move(e)); }
    template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>) void set_exception(E&& e) {
        core_->set_exception(std::make_exception_ptr(std::forward<E>(e)));
    }

    using basic_future::add_done_callback;
    // Restated: clang 14 lets the constrained template below hide the base one despite
    // the different requires-clause.
    template <class F>
    requires std::is_invocable_v<F&, basic_future&> std::uint32_t add_done_callback(F f) {
        return basic_future::add_done_callback(std::move(f));
    }
    template <class F>
    requires(std::is_invocable_v<F&, future<T>&> && !std::is_invocable_v<F&, basic_future&>) std::uint32_t
        add_done_callback(F f) {
        auto* slot = slot_;
        return core_->add_done_callback([f = std::move(f), slot](detail::future_core& c) mutable {
            future<T> self{detail::intrusive_ptr<detail::future_core>(&c), slot};
            f(self);
        });
    }

    detail::result_slot<T>* slot() const noexcept { return slot_; }

private:
    detail::result_slot<T>* slot_ = nullptr;
};

}  // namespace duet
