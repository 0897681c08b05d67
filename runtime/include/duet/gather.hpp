// asyncio.gather: run awaitables concurrently and collect their results in argument order.
//
//     auto [a, b, nothing] = co_await duet::gather(fetch(1), some_task, sleep(0.1));
//     //  a: int, b: std::string, nothing: std::monostate (a void result)
//     std::vector<int> all = co_await duet::gather(std::move(vector_of_coros_or_tasks));
//     auto [x, y] = co_await duet::gather(duet::return_exceptions, fetch(1), fetch(2));
//     if (x.has_value()) use(x.value()); else if (x.cancelled()) ...; else log(x.exception());
//
// gather is called like a function and returns a future at once: coroutines are wrapped
// in tasks on the spot (on the running loop, or the loop of the first future argument),
// futures and tasks are used as they are, and the same future or task given twice is
// waited for once (its result then appears at both positions).
//
// - Results: a std::tuple for the variadic form (std::monostate stands for a void
//   result), a std::vector for the range form (std::monostate for void,
//   std::reference_wrapper for a reference result).
// - The first failure completes the gather at once with that exception; the other
//   children keep running, and their later exceptions are marked retrieved (never
//   reported as "never retrieved").
// - return_exceptions: every child's outcome (value | exception | cancellation) is
//   placed by position in a duet::outcome<T>; the gather only fails when cancelled.
// - Cancelling the gather future (or the task that awaits it) cancels every child not yet
//   done; the gather then ends with cancelled_error (as its exception: like asyncio's
//   gathering future, it does not report cancelled() itself), even if a child swallowed
//   the cancellation.
// - A child cancelled while the gather itself was not: the gather ends with
//   cancelled_error as its exception, but its own future is not cancelled() (asyncio's
//   semantics; the other children are not cancelled).
// - No arguments (or an empty range): a future that is already done with an empty result.
#pragma once

#include <array>
#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <duet/base_events.hpp>
#include <duet/detail/awaitables.hpp>
#include <duet/events.hpp>
#include <duet/outcome.hpp>

namespace duet {

// The tag selecting gather's return_exceptions form.
struct return_exceptions_t {
    explicit constexpr return_exceptions_t() = default;
};
inline constexpr return_exceptions_t return_exceptions{};

// How gather represents a child's result: void becomes std::monostate.
template <class T>
using gather_value_t = outcome_value_t<T>;

namespace detail {

// The gathering future (asyncio's _GatheringFuture): completes from its children's done
// callbacks; cancel() cancels the children.
class gather_core : public future_core {
public:
    gather_core(base_event_loop* loop, bool return_exceptions) noexcept
        : future_core(loop, false), return_exceptions_(return_exceptions) {}
    ~gather_core() override;

    bool cancel(std::string msg) override;

protected:
    // One link per argument position (24 bytes: all that gather costs per child). It
    // holds a reference to its child, which keeps it alive until the result is built. The
    // first position of each distinct child is registered with it while it is pending
    // (kind gather_child), and then holds a reference to this gather until it has run (or
    // the child was dropped); a repeated child's later positions (self null) only hold
    // their reference.
    struct child_link : done_link {
        child_link() noexcept : done_link(gather_child) {}
        gather_core* self = nullptr;
        future_core* child = nullptr;
    };
    // Sizes the links for `n` positions (the children then come through add_child).
    void reserve_children(std::size_t n) { links_.reserve(n); }
    // The next position: `c`, of which the link takes a reference; `first` unless an
    // earlier position holds the same child. (May throw std::bad_alloc, before anything
    // is taken, when the links were not sized beforehand.)
    void add_child(future_core* c, bool first) {
        child_link& l = links_.emplace_back();
        c->add_ref();
        l.child = c;
        if (first) {
            l.self = this;
            ++ndistinct_;
        }
    }
    // The next position, for a gather whose links were sized for every position (so
    // they never move): `c` is subscribed to at once if pending and not subscribed to by
    // an earlier position; finish with subscribed_all(). One pass over the children
    // instead of two (add, then start): with many, each pass is a sweep through memory.
    void add_and_subscribe(future_core* c) noexcept;
    // Every position is in: processes the children already done, in order.
    void subscribed_all() noexcept;
    // The positions could not all be added (an argument was refused): undoes the
    // subscriptions and marks of add_and_subscribe (the state then goes with its children).
    void abandon_subscriptions() noexcept;
    // Subscribes to the pending children and processes those already done, in order;
    // with `clear_marks`, also clears the children's dedup marks (see mark_guard), in the
    // same pass: a pass over a million children is a sweep through memory.
    void start(bool clear_marks = false) noexcept;
    // The child at position i, its reference handed over (assemble's).
    template <class T>
    future<T> take_child(std::size_t i) noexcept {
        return future<T>(intrusive_ptr<future_core>::adopt(std::exchange(links_[i].child, nullptr)));
    }
    std::size_t positions() const noexcept { return links_.size(); }
    // Lets go of the children (the result is built).
    void drop_children() noexcept;
    // take_child took every child: drop_children has nothing to do (and no pass to make).
    void took_every_child() noexcept { took_every_child_ = true; }
    // Clears the dedup marks of the children added so far when it goes out of scope,
    // unless dismissed (start(true) clears them then).
    struct marks_cleared {
        explicit marks_cleared(gather_core* owner) noexcept : g(owner) {}
        gather_core* g;
        marks_cleared(const marks_cleared&) = delete;
        marks_cleared& operator=(const marks_cleared&) = delete;
        void dismiss() noexcept { g = nullptr; }
        ~marks_cleared() {
            if (g)
                for (auto& l : g->links_) l.child->set_mark(false);
        }
    };
    marks_cleared mark_guard() noexcept { return marks_cleared(this); }
    // Every child is done and none failed (or return_exceptions): builds the result
    // into the slot and calls finish_with_result().
    virtual void assemble() = 0;

private:
    friend void gather_child_done(void* link, bool run) noexcept;
    friend void gather_child_done_with_result(void* link, bool run) noexcept;
    void on_child_done(future_core& c) noexcept;
    // The end of start() and subscribed_all(): the children found done, then an empty
    // gather's result.
    void finish_starting(bool any_done) noexcept;
    // A child finished with a value (what on_child_done does then, without the child).
    void on_child_result() noexcept;
    // Every distinct child is done, none failed (or return_exceptions): the result.
    void on_every_child_done() noexcept;

    buffer_vector<child_link> links_;
    std::size_t ndistinct_ = 0;
    std::size_t nfinished_ = 0;
    std::string cancel_msg_;
    bool return_exceptions_;
    bool cancel_requested_ = false;
    // add_and_subscribe: a child was done already (and marked, for finding its repeats).
    bool any_done_at_start_ = false;
    bool took_every_child_ = false;
};

// A child's result for the gathered value (see result_from: moved out of a task gather
// made itself, or when it cannot be copied; copied from a future or task the caller gave).
template <class T>
gather_value_t<T> take_child_value(future<T>& f, bool owned) {
    if constexpr (std::is_void_v<T>) {
        result_from(f, owned);
        return {};
    } else {
        return result_from(f, owned);
    }
}

template <bool ReturnExceptions, class... T>
using gather_tuple_t =
    std::conditional_t<ReturnExceptions, std::tuple<outcome<T>...>, std::tuple<gather_value_t<T>...>>;

template <bool ReturnExceptions, class... T>
class gather_tuple_state final : public with_outcome<gather_tuple_t<ReturnExceptions, T...>, gather_core> {
public:
    using result_type = gather_tuple_t<ReturnExceptions, T...>;

    explicit gather_tuple_state(base_event_loop* loop) noexcept
        : with_outcome<result_type, gather_core>(loop, ReturnExceptions) {}
    std::tuple<future<T>...> items;
    std::array<bool, sizeof...(T)> owned{};
    using gather_core::add_child;
    using gather_core::mark_guard;
    using gather_core::reserve_children;
    using gather_core::start;

    static void* operator new(std::size_t n) { return allocate_frame(n); }
    static void operator delete(void* p, std::size_t n) noexcept { deallocate_frame(p, n); }

private:
    void assemble() override {
        this->slot.construct_value(build(std::index_sequence_for<T...>{}));
        items = {};
        this->drop_children();
        this->finish_with_result();
    }
    template <std::size_t... I>
    result_type build(std::index_sequence<I...>) {
        if constexpr (ReturnExceptions)
            return result_type(outcome_of(std::get<I>(items), owned[I])...);
        else
            return result_type(take_child_value(std::get<I>(items), owned[I])...);
    }
};

template <class T>
using gather_range_value_t =
    std::conditional_t<std::is_reference_v<T>, std::reference_wrapper<std::remove_reference_t<T>>, gather_value_t<T>>;

template <bool ReturnExceptions, class T>
using gather_range_t = std::vector<std::conditional_t<ReturnExceptions, outcome<T>, gather_range_value_t<T>>>;

template <bool ReturnExceptions, class T>
class gather_range_state final : public with_outcome<gather_range_t<ReturnExceptions, T>, gather_core> {
public:
    using result_type = gather_range_t<ReturnExceptions, T>;

    gather_range_state(base_event_loop* loop, bool owned) noexcept
        : with_outcome<result_type, gather_core>(loop, ReturnExceptions), owned_(owned) {}
    using gather_core::abandon_subscriptions;
    using gather_core::add_and_subscribe;
    using gather_core::add_child;
    using gather_core::mark_guard;
    using gather_core::reserve_children;
    using gather_core::start;
    using gather_core::subscribed_all;

    static void* operator new(std::size_t n) { return allocate_frame(n); }
    static void operator delete(void* p, std::size_t n) noexcept { deallocate_frame(p, n); }

private:
    // The results come straight from the links (no array of futures beside them); each
    // child's reference is dropped as its result is taken.
    void assemble() override {
        result_type r;
        const std::size_t n = this->positions();
        r.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            future<T> f = this->template take_child<T>(i);
            if constexpr (ReturnExceptions)
                r.push_back(outcome_of(f, owned_));
            else
                r.push_back(take_child_value(f, owned_));
        }
        this->took_every_child();
        this->slot.construct_value(std::move(r));
        this->finish_with_result();
    }
    bool owned_;
};

// The loop a gather runs on: that of its first argument (the running loop for a
// coroutine); every future argument must belong to it (as asyncio's ensure_future).
template <class A>
void gather_pick_loop(base_event_loop*& loop, const A& a) {
    if constexpr (is_coro_v<A>) {
        if (!loop) loop = &get_running_loop().base();
    } else {
        base_event_loop* l = &a.get_loop();
        if (!loop)
            loop = l;
        else if (loop != l)
            throw std::invalid_argument("gather: the futures are attached to different event loops");
    }
}

// The future<T> for one argument: a new task for a coroutine, the argument itself else.
template <class T, class A>
future<T> gather_child(base_event_loop& loop, A&& a, bool& owned) {
    if constexpr (is_coro_v<A>) {
        static_assert(!std::is_lvalue_reference_v<A>, "gather: pass coroutines as rvalues (std::move them)");
        owned = true;
        // NOLINTNEXTLINE(bugprone-move-forwarding-reference): the static_assert above admits rvalues only.
        return loop.create_task(std::move(a));
    } else {
        owned = false;
        return future<T>(a);
    }
}

template <bool RE, class... A>
auto make_gather(A&&... aws) {
    using state = gather_tuple_state<RE, result_of_arg_t<A>...>;
    base_event_loop* loop = nullptr;
    (gather_pick_loop(loop, aws), ...);
    if (!loop) loop = &get_running_loop().base();
    auto* st = new state(loop);
    auto keep = intrusive_ptr<future_core>::adopt(st);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((std::get<I>(st->items) = gather_child<result_of_arg_t<A>>(*loop, std::forward<A>(aws), st->owned[I])), ...);
        std::array<future_core*, sizeof...(A)> cores{std::get<I>(st->items).core()...};
        st->reserve_children(sizeof...(A));
        for (std::size_t i = 0; i < cores.size(); ++i) {
            bool first = true;
            for (std::size_t j = 0; j < i; ++j)
                if (cores[j] == cores[i]) first = false;
            st->add_child(cores[i], first);
        }
        st->start();
    }
    (std::index_sequence_for<A...>{});
    return future<typename state::result_type>(std::move(keep));
}

template <bool RE, class R>
auto make_gather_range(R&& range) {
    using E = range_elem_t<R>;
    using T = result_of_arg_t<E>;
    using state = gather_range_state<RE, T>;
    constexpr bool coros = is_coro_v<E>;
    static_assert(!coros || !std::is_lvalue_reference_v<R>,
                  "gather: pass a range of coroutines as an rvalue (std::move it)");
    // The loop: the first future's (every other one must share it), else the running one.
    base_event_loop* loop = nullptr;
    if constexpr (!coros) {
        auto first = std::ranges::begin(range);
        if (first != std::ranges::end(range)) gather_pick_loop(loop, *first);
    }
    if (!loop) loop = &get_running_loop().base();
    auto* st = new state(loop, coros);
    auto keep = intrusive_ptr<future_core>::adopt(st);
    if constexpr (std::ranges::sized_range<R>) st->reserve_children(std::ranges::size(range));
    if constexpr (coros) {
        // Each a new task, so distinct.
        for (auto&& c : range) {
            auto t = loop->create_task(std::move(c));
            st->add_child(t.core(), true);
        }
        st->start();
    } else if constexpr (std::ranges::sized_range<R>) {
        // One pass over the futures (see add_and_subscribe). A future refused undoes it,
        // and the children taken so far go with the state.
        try {
            for (const auto& f : range) {
                gather_pick_loop(loop, f);
                st->add_and_subscribe(f.core());
            }
        } catch (...) {
            st->abandon_subscriptions();
            throw;
        }
        st->subscribed_all();
    } else {
        // Links that may move as they grow: one pass to add them, one in start() to
        // subscribe. A future given twice is registered once (its first position); the
        // marks are cleared (through the links: no list of its own) by start(), or by the
        // guard if a future is refused (the children taken so far go with the state).
        auto unmark = st->mark_guard();
        for (const auto& f : range) {
            gather_pick_loop(loop, f);
            future_core* c = f.core();
            st->add_child(c, !c->marked());
            c->set_mark(true);
        }
        unmark.dismiss();
        st->start(true);
    }
    return future<typename state::result_type>(std::move(keep));
}

template <class R>
concept gather_range = std::ranges::input_range<R> && awaitable_arg<range_elem_t<R>>;

}  // namespace detail

// gather(a, b, ...) -> future<std::tuple<results...>>: each argument a coro<T> (rvalue),
// a future<T> or a task<T>.
template <class... A>
requires(detail::awaitable_arg<A>&&...) auto gather(A&&... aws) {
    return detail::make_gather<false>(std::forward<A>(aws)...);
}
// gather(return_exceptions, a, b, ...) -> future<std::tuple<outcome<T>...>>.
template <class... A>
requires(detail::awaitable_arg<A>&&...) auto gather(return_exceptions_t, A&&... aws) {
    return detail::make_gather<true>(std::forward<A>(aws)...);
}
// gather(range) -> future<std::vector<result>>: a range of coro<T> (an rvalue), of
// future<T> or of task<T>.
template <detail::gather_range R>
auto gather(R&& range) {
    return detail::make_gather_range<false>(std::forward<R>(range));
}
// gather(return_exceptions, range) -> future<std::vector<outcome<T>>>.
template <detail::gather_range R>
auto gather(return_exceptions_t, R&& range) {
    return detail::make_gather_range<true>(std::forward<R>(range));
}

}  // namespace duet
