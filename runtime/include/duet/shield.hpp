// asyncio.shield: protects an awaitable from cancellation.
//
//     int r = co_await duet::shield(save(record));   // or shield(some_task)
//
// shield returns a new future (the outer) that mirrors the inner task or future: its
// result, its exception, its cancellation. Cancelling the outer (for instance by
// cancelling the task that awaits it) does not cancel the inner, which runs on; the
// awaiting task still sees cancelled_error. A coroutine argument is wrapped in a task on
// the running loop; an inner that is already done is returned as it is.
#pragma once

#include <type_traits>
#include <utility>

#include <duet/base_events.hpp>
#include <duet/detail/awaitables.hpp>
#include <duet/events.hpp>

namespace duet {

namespace detail {

template <class T>
future<T> shield_future(future<T> inner, bool owned) {
    if (inner.done()) return inner;
    base_event_loop& loop = inner.get_loop();
    future<T> outer = loop.create_future<T>();
    // The callbacks work on the cores (a capture of two words fits a done callback's
    // inline storage).
    intrusive_ptr<future_core> outer_core(outer.core());
    std::uint32_t id = inner.core()->add_done_callback([outer_core, owned](future_core& c) {
        future<T> out(outer_core);
        future<T> in{intrusive_ptr<future_core>(&c)};
        if (out.done()) {
            if (!in.cancelled()) (void)in.exception();  // retrieved: nobody else will look
            return;
        }
        outcome<T> o;
        try {
            o = outcome_of(in, owned);
        } catch (...) {
            o.set_exception(std::current_exception());  // the value failed to copy
        }
        // asyncio's shield cancels the outer without the inner's message.
        if (o.cancelled())
            out.cancel();
        else
            set_outcome(out, std::move(o));
    });
    intrusive_ptr<future_core> inner_core(inner.core());
    outer.core()->add_done_callback([inner_core, id](future_core&) {
        if (!inner_core->done()) inner_core->remove_done_callback(id);
    });
    return outer;
}

}  // namespace detail

// A future mirroring `aw` (a coro<T>, future<T> or task<T>) whose cancellation does not
// reach `aw`.
template <class A>
requires detail::awaitable_arg<A> future<detail::result_of_arg_t<A>> shield(A&& aw) {
    using T = detail::result_of_arg_t<A>;
    if constexpr (detail::is_coro_v<A>) {
        static_assert(!std::is_lvalue_reference_v<A>, "shield: pass a coroutine as an rvalue (std::move it)");
        return detail::shield_future<T>(get_running_loop().create_task(std::move(aw)), true);
    } else {
        return detail::shield_future<T>(future<T>(aw), false);
    }
}

}  // namespace duet
