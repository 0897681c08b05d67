// Exporting a duet coroutine to JS as a function that returns a Promise:
//
//     duet::coro<double> add_later(double a, double b) { ...; co_return a + b; }
//     DUET_EXPORT_ASYNC(add_later, add_later)
//
// and in JS: `await Module.duet.wrap('add_later')(1, 2)` (see js/duet.d.ts). Each call
// starts a task on the module's host loop (duet::wasm::host_loop()). Arguments arrive as
// double (and other arithmetic types), bool, std::string or duet::js_value; the result
// may be void, arithmetic, bool, std::string or js_value. A C++ exception rejects the
// promise with an Error whose message is what(); cancellation (also by an AbortSignal
// passed from JS) rejects it with an Error named "CancelledError".
#pragma once

#include <cstddef>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include <emscripten/emscripten.h>

#include <duet/host.hpp>
#include <duet/js.hpp>

namespace duet::js::detail {

// Remembers the task behind a JS call (so JS can cancel it) until it settles.
void track_call(int call_id, basic_task t);
void untrack_call(int call_id) noexcept;
void resolve_call(int call_id, js_value v) noexcept;
// Maps the exception to the rejection value: a js_error's original JS value, else an
// Error named after the exception kind with what() as its message.
void reject_call(int call_id, std::exception_ptr e) noexcept;

template <class T>
T export_arg(const js_value& args, int index) {
    std::string what = "argument " + std::to_string(index + 1) + " is";
    return from_js<T>(args.get(index), what.c_str());
}

template <class R, class... A, std::size_t... I>
coro<R> invoke_export(coro<R> (*fn)(A...), js_value args, std::index_sequence<I...>) {
    if constexpr (std::is_void_v<R>)
        co_await fn(export_arg<std::decay_t<A>>(args, static_cast<int>(I))...);
    else
        co_return co_await fn(export_arg<std::decay_t<A>>(args, static_cast<int>(I))...);
}

template <class R>
void settle_call(int call_id, future<R>& f) noexcept {
    untrack_call(call_id);
    try {
        // The task is the call's own: its value moves out.
        outcome<R> o = duet::detail::outcome_of(f, true);
        if (!o.has_value()) {
            reject_call(call_id, o.exception());
        } else if constexpr (std::is_void_v<R>) {
            resolve_call(call_id, js_value());
        } else {
            resolve_call(call_id, to_js(std::move(o).value()));
        }
    } catch (...) {
        reject_call(call_id, std::current_exception());
    }
}

template <class R, class... A>
void start_export(coro<R> (*fn)(A...), const char* name, int args, int call_id) noexcept {
    js_value arguments = js_value::adopt(args);
    try {
        task<R> t = wasm::host_loop().create_task(
            invoke_export(fn, std::move(arguments), std::index_sequence_for<A...>{}), name);
        t.add_done_callback([call_id](future<R>& f) { settle_call(call_id, f); });
        track_call(call_id, t);
    } catch (...) {
        reject_call(call_id, std::current_exception());
    }
}

}  // namespace duet::js::detail

// Exports coroutine function `fn` (returning duet::coro<R>) to JS under `name`.
#define DUET_EXPORT_ASYNC(name, fn)                                                 \
    extern "C" EMSCRIPTEN_KEEPALIVE void duet_async_##name(int args, int call_id) { \
        ::duet::js::detail::start_export(&fn, #name, args, call_id);                \
    }
