// asyncio.Future: a result that will exist later, PENDING -> FINISHED or CANCELLED.
#pragma once

#include <concepts>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <duet/contextvars.hpp>
#include <duet/detail/pool.hpp>
#include <duet/exceptions.hpp>
#include <duet/handles.hpp>
#include <duet/outcome.hpp>

namespace duet {

class base_event_loop;
class abstract_event_loop;
template <class T>
class future;

namespace detail {

class task_core;

// One registration on a future, in its FIFO of done notifications (asyncio keeps one
// list of callbacks, its awaiting tasks' wake-ups among them, and runs them in
// registration order). Intrusive, so registering costs no allocation: a waiting task
// embeds its link (it waits on one future at a time), gather's observers are embedded in
// the gather, a done callback is a pooled node. The low bits of `bits` say which of the
// three this link is; the rest point at the next link.
struct done_link {
    // gather_child: one of gather's per-child links (gather.hpp), dispatched by kind so
    // that it needs no function pointer of its own.
    enum kind : std::uintptr_t { observer = 0, waiting_task = 1, callback = 2, gather_child = 3 };
    explicit done_link(kind k = observer) noexcept : bits(k) {}

    kind link_kind() const noexcept { return static_cast<kind>(bits & 3u); }
    done_link* next() const noexcept {
        return reinterpret_cast<done_link*>(bits & ~std::uintptr_t(3));  // NOLINT(performance-no-int-to-ptr): tagged
    }
    void set_next(done_link* n) noexcept { bits = reinterpret_cast<std::uintptr_t>(n) | (bits & 3u); }

    std::uintptr_t bits;
};

// An allocation-free done notification for duet's own combinators (gather's children):
// the owner embeds it; when the future is done, `notify(this, true)` is scheduled through
// the ready queue in its place among the future's callbacks (or `notify(this, false)`
// is called if the future is dropped unfinished).
struct done_observer : done_link {
    void (*notify)(void* self, bool run) noexcept = nullptr;
};

// A gather_child link is done (run) or dropped unfinished (!run); defined in gather.cpp.
void gather_child_done(void* link, bool run) noexcept;
// The same, for a child that finished with a value: the gather then need not look at the
// child (with many children, not reading them again saves a sweep through memory).
void gather_child_done_with_result(void* link, bool run) noexcept;

class future_core;
using done_fn = small_callable<void(future_core&), 24>;

// A done callback registered with add_done_callback: a pooled link holding the callable.
// Scheduled, it holds a reference to its future until it has run.
// It runs in a copy of the context current when it was registered (asyncio's).
struct callback_node : done_link {
    callback_node(done_fn f, std::uint32_t i) : done_link(callback), ctx(capture_context()), fn(std::move(f)), id(i) {}
    // In this order, the callable (16-byte aligned) leaves no padding: 64 bytes, not 80
    // (one per done callback, e.g. per start_server connection).
    context_slot ctx;
    done_fn fn;
    future_core* fut = nullptr;
    std::uint32_t id;

    static void run_thunk(void* self, bool run) noexcept;
    void invoke() noexcept;
    static void* operator new(std::size_t);
    static void operator delete(void* p) noexcept;
};

// The type-erased state every future and task shares: its status and its FIFO of
// registrations. The result (an outcome_storage<T>: a value or an exception, the status
// saying which) lives in the derived class (see with_outcome).
class future_core {
public:
    enum class status : std::uint8_t { pending, finished, failed, cancelled };

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
    // Finished with an exception (not a cancellation).
    bool failed() const noexcept { return state_ == status::failed; }
    bool finished_with_result() const noexcept { return state_ == status::finished; }
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
    // The value was stored in the derived class's slot: FINISHED, callbacks scheduled.
    void finish_with_result() noexcept;
    // asyncio's set_exception: refuses a null pointer and a cancelled_error.
    void set_exception(std::exception_ptr e);
    // Throws what result() would throw (pending / cancelled / stored exception). Inline
    // for the common case, a result.
    void check_result() {
        if (state_ == status::finished) [[likely]]
            return;
        check_result_slow();
    }
    std::exception_ptr exception();

    std::uint32_t add_done_callback(done_fn fn);
    std::size_t remove_done_callback(std::uint32_t id) noexcept;
    // Removes every done callback for which match(its callable, arg) is true.
    std::size_t remove_done_callbacks(bool (*match)(done_fn& fn, const void* arg), const void* arg) noexcept;
    // Registers a task to be woken (one ready-queue hop, no allocation) when done.
    void add_waiter(task_core* t) noexcept;
    void remove_waiter(task_core* t) noexcept;
    // Registers an observer (a done_observer, or a gather_child link). It stays
    // registered until the future is done or dropped.
    void add_observer(done_link* o) noexcept { push_link(o); }
    void remove_observer(done_link* o) noexcept { unlink(o); }
    // The latest registration still pending, or null.
    const done_link* last_registration() const noexcept { return tail_; }

    // A scratch mark for finding duplicates in one pass (gather, wait) without a hash set;
    // whoever sets it clears it before returning (see dedup_marks).
    bool marked() const noexcept { return marked_; }
    void set_mark(bool on) noexcept { marked_ = on; }

    const std::string& cancel_message() const noexcept;
    cancelled_error make_cancelled_error() const { return cancelled_error(cancel_message()); }

protected:
    [[noreturn]] void throw_not_settable(const char* what) const;
    void check_result_slow();
    // Ends with `e` as the exception, whatever it is (a task or gather may end with a
    // cancelled_error as its exception; set_exception refuses one).
    void finish_with_exception(std::exception_ptr e) noexcept;
    void schedule_callbacks() noexcept;
    virtual void last_release() noexcept;
    void report_unretrieved() noexcept;
    // Where the derived class keeps the exception (an inactive member of its result's
    // union until status::failed): only failures pay this virtual call.
    virtual std::exception_ptr* error_slot() noexcept = 0;
    // Where the derived class keeps its typed result (an outcome_storage<T>, see
    // with_outcome): future<T> finds it through here when it reads or sets the result, so
    // that a future or task handle is one pointer.
    virtual void* outcome_slot() noexcept = 0;
    template <class T>
    friend class duet::future;
    // Forgets every registration without running it (the future is dropped, or its task
    // can never finish): observers are told, callbacks destroyed.
    void drop_links() noexcept;

    // What most futures and tasks never need, allocated on first use: a cancel message,
    // a task's name. Keeping it out of line keeps a future at 48 bytes and a task at 128
    // (memory per suspended task is the cost that dominates on these machines: ~2.5 ns
    // per fresh byte).
    struct cold_state {
        std::string cancel_message;
        std::string name;            // tasks
        std::string pending_cancel;  // tasks: the message of a cancel() not yet delivered
    };
    cold_state& cold();

    base_event_loop* loop_;
    std::unique_ptr<cold_state> cold_;
    // The FIFO of registrations: a circular list, `tail_->next()` is the oldest.
    done_link* tail_ = nullptr;
    void push_link(done_link* l) noexcept {
        if (!tail_) {
            l->set_next(l);
        } else {
            l->set_next(tail_->next());
            tail_->set_next(l);
        }
        tail_ = l;
    }
    // Detaches the list: the oldest link of a null-terminated chain, or null.
    done_link* take_links() noexcept {
        if (!tail_) return nullptr;
        done_link* head = tail_->next();
        tail_->set_next(nullptr);
        tail_ = nullptr;
        return head;
    }
    bool unlink(done_link* l) noexcept;

    std::uint32_t refs_ = 1;
    status state_ = status::pending;
    bool is_task_ : 1;
    bool log_exception_ : 1 = false;
    bool reported_ : 1 = false;
    bool marked_ : 1 = false;
    // task_core's state, kept in this word's spare bits and bytes (a task costs its size
    // in memory; see task_core).
    bool must_cancel_ : 1 = false;
    bool inject_cancel_ : 1 = false;
    bool started_ : 1 = false;
    bool loop_owned_ : 1 = false;  // the loop holds a reference until the task ends
    std::uint16_t num_cancels_requested_ = 0;

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

// A future-like core (Base: future_core, task_core, gather_core) with its typed result:
// an outcome<T> whose kind is the core's status.
template <class T, class Base>
class with_outcome : public Base {
public:
    using Base::Base;
    ~with_outcome() override {
        if (this->state_ == future_core::status::finished)
            slot.destroy_value();
        else if (this->state_ == future_core::status::failed)
            slot.destroy_error();
    }
    outcome_storage<T> slot;

private:
    std::exception_ptr* error_slot() noexcept final { return &slot.error(); }
    void* outcome_slot() noexcept final { return &slot; }
};

template <class T>
class future_state final : public with_outcome<T, future_core> {
public:
    explicit future_state(base_event_loop* loop) noexcept : with_outcome<T, future_core>(loop, false) {}

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

// A done callback's callable as stored: F, called with the future as a basic_future.
// (Named, so that remove_done_callback can find it again by type.)
template <class F>
struct basic_done_callback {
    F f;
    void operator()(future_core& c);
};
template <class T, class F>
struct typed_done_callback {
    F f;
    void operator()(future_core& c);
};

// Whether the stored callable `fn` is a registration of `f` (see basic_future's
// remove_done_callback).
template <class Stored, class F>
bool same_callback(done_fn& fn, const void* arg) {
    auto* s = fn.template target<Stored>();
    if (!s) return false;
    if constexpr (std::equality_comparable<F>)
        return static_cast<bool>(s->f == *static_cast<const F*>(arg));
    else
        return true;
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

    // Schedules f(future) with call_soon once done (at once if already done), in
    // registration order with the future's other callbacks and awaiting tasks. Returns an
    // id for remove_done_callback.
    template <class F>
    requires std::is_invocable_v < std::decay_t<F>
    &, basic_future& > std::uint32_t add_done_callback(F&& f) {
        return core_->add_done_callback(detail::basic_done_callback<std::decay_t<F>>{std::forward<F>(f)});
    }
    // Removes the callback registered under `id`; returns 1, or 0 if it is not
    // registered (any more).
    std::size_t remove_done_callback(std::uint32_t id) noexcept { return core_->remove_done_callback(id); }
    // asyncio's remove_done_callback(fn): removes every registration of `f`, returns how
    // many. A registration is of `f` when it was made with a callable of the same type
    // that, if the type has ==, compares equal: a function (pointer) or an equality-
    // comparable function object is matched by value; a lambda by its type, that is
    // every registration of that same lambda expression (captures are not compared; to
    // remove one of several, use the id).
    template <class F>
    requires(!std::is_integral_v<std::decay_t<F>> && std::is_invocable_v<std::decay_t<F>&, basic_future&>) std::size_t
        remove_done_callback(const F& f)
    noexcept {
        using D = std::decay_t<F>;
        const D& d = f;
        return core_->remove_done_callbacks(&detail::same_callback<detail::basic_done_callback<D>, D>, &d);
    }

    explicit operator bool() const noexcept { return static_cast<bool>(core_); }
    friend bool operator==(const basic_future& a, const basic_future& b) noexcept { return a.core_ == b.core_; }
    detail::future_core* core() const noexcept { return core_.get(); }

protected:
    detail::intrusive_ptr<detail::future_core> core_;
};

template <class F>
void detail::basic_done_callback<F>::operator()(future_core& c) {
    basic_future self{intrusive_ptr<future_core>(&c)};
    f(self);
}

// asyncio.Future with a result of type T (void allowed).
template <class T = void>
class future : public basic_future {
public:
    using value_type = T;
    future() = default;
    // Internal: adopts a core whose result is an outcome_storage<T> (any core, for
    // future<void>: completion_of() views every future that way, and a void future never
    // touches the result).
    explicit future(detail::intrusive_ptr<detail::future_core> c) noexcept : basic_future(std::move(c)) {}

    // The result; rethrows the stored exception; cancelled_error if cancelled;
    // invalid_state_error if not done. The value stays in the future (copied out);
    // take_result() moves it.
    decltype(auto) result() const {
        core_->check_result();
        if constexpr (!std::is_void_v<T>) return slot()->get();
    }
    T take_result() {
        core_->check_result();
        if constexpr (!std::is_void_v<T>) return slot()->take();
    }

    template <class U = T>
    requires(!std::is_void_v<U>) void set_result(U&& v) {
        core_->check_settable("set_result");
        slot()->construct_value(std::forward<U>(v));
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
    using basic_future::remove_done_callback;
    // Restated: clang 14 lets the constrained template below hide the base one despite
    // the different requires-clause.
    template <class F>
    requires std::is_invocable_v < std::decay_t<F>
    &, basic_future& > std::uint32_t add_done_callback(F&& f) {
        return basic_future::add_done_callback(std::forward<F>(f));
    }
    template <class F>
    requires(std::is_invocable_v<std::decay_t<F>&, future<T>&> &&
             !std::is_invocable_v<std::decay_t<F>&, basic_future&>) std::uint32_t add_done_callback(F&& f) {
        return core_->add_done_callback(detail::typed_done_callback<T, std::decay_t<F>>{std::forward<F>(f)});
    }
    template <class F>
    requires(!std::is_integral_v<std::decay_t<F>> && std::is_invocable_v<std::decay_t<F>&, basic_future&>) std::size_t
        remove_done_callback(const F& f)
    noexcept { return basic_future::remove_done_callback(f); }
    template <class F>
    requires(std::is_invocable_v<std::decay_t<F>&, future<T>&> &&
             !std::is_invocable_v<std::decay_t<F>&, basic_future&>) std::size_t remove_done_callback(const F& f)
    noexcept {
        using D = std::decay_t<F>;
        const D& d = f;
        return core_->remove_done_callbacks(&detail::same_callback<detail::typed_done_callback<T, D>, D>, &d);
    }

    detail::outcome_storage<T>* slot() const noexcept {
        return static_cast<detail::outcome_storage<T>*>(core_->outcome_slot());
    }
};

// A handle is one pointer: programs keep many (a vector of tasks, gather's children, every
// awaiting frame).
static_assert(sizeof(future<int>) == sizeof(void*));

template <class T, class F>
void detail::typed_done_callback<T, F>::operator()(future_core& c) {
    future<T> self{intrusive_ptr<future_core>(&c)};
    f(self);
}

namespace detail {

// A done future's result, or its exception or cancellation thrown. The value is moved
// out when `take` (the caller made the future itself, or the value cannot be copied),
// copied otherwise, so a caller's own task keeps its value.
template <class T>
T result_from(future<T>& f, bool take) {
    if constexpr (!std::is_void_v<T> && !std::is_reference_v<T> && copyable_result_v<T>) {
        if (!take) return f.result();
    }
    return f.take_result();
}

// A done future's outcome, its value taken as result_from does. Marks an exception
// retrieved.
template <class T>
outcome<T> outcome_of(future<T>& f, bool take) {
    outcome<T> o;
    if (f.cancelled()) {
        o.set_cancelled(f.core()->make_cancelled_error());
    } else if (auto e = f.exception()) {
        o.set_exception(std::move(e));
    } else if constexpr (std::is_void_v<T>) {
        o.set_value();
    } else {
        o.set_value(result_from(f, take));
    }
    return o;
}

// Completes a pending future with an outcome: its value, its exception, or a
// cancellation (with its message). A value that fails to move in becomes the exception.
template <class T>
void set_outcome(future<T>& f, outcome<T>&& o) {
    if (o.cancelled()) {
        f.cancel(o.cancellation().message());
        return;
    }
    if (o.has_exception()) {
        f.set_exception(o.exception());
        return;
    }
    try {
        if constexpr (std::is_void_v<T>)
            f.set_result();
        else if constexpr (std::is_reference_v<T>)
            f.set_result(o.value());
        else
            f.set_result(std::move(o).value());
    } catch (...) {
        if (!f.done()) f.set_exception(std::current_exception());
    }
}

}  // namespace detail

}  // namespace duet
