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
// passed from JS) rejects it with an Error named "CancelledError". Each export's argument
// and result types stay in the linked module, from which duet_js_module
// (cmake/DuetJsModule.cmake) generates the npm package's TypeScript types.
#pragma once

#include <array>
#include <cstddef>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <emscripten/emscripten.h>

#include <duet/host.hpp>
#include <duet/js.hpp>

namespace duet::js::detail {

// The TypeScript type of an exported coroutine's argument or result.
template <class T>
constexpr std::string_view ts_type() noexcept {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_void_v<U>)
        return "void";
    else if constexpr (std::is_same_v<U, bool>)
        return "boolean";
    else if constexpr (std::is_arithmetic_v<U>)
        return "number";
    else if constexpr (std::is_same_v<U, std::string> || std::is_same_v<U, std::string_view> ||
                       std::is_same_v<U, const char*>)
        return "string";
    else
        return "unknown";  // js_value: any JS value
}

// Every export's signature is kept in the module's data as
//   "\x01duet-export:v1:<name>(<arg type>,...)<result type>\0"
// so that build tools (cmake/duet_js_package.mjs) read the types from the linked .wasm
// itself, whatever the source looked like.
inline constexpr std::string_view signature_prefix =
    "\x01"
    "duet-export:v1:";

template <class F>
struct export_types;
template <class R, class... A>
struct export_types<coro<R> (*)(A...)> {
    static constexpr std::size_t size() noexcept {
        return (std::size_t{0} + ... + (ts_type<A>().size() + 1)) + 2 + ts_type<R>().size();
    }
    template <std::size_t N>
    static constexpr auto text(const char (&name)[N]) noexcept {
        std::array<char, signature_prefix.size() + (N - 1) + size() + 1> out{};
        std::size_t at = 0;
        auto put = [&](std::string_view s) {
            for (char c : s) out[at++] = c;
        };
        put(signature_prefix);
        put(std::string_view(name, N - 1));
        put("(");
        const std::array<std::string_view, sizeof...(A)> args{ts_type<A>()...};
        for (std::size_t i = 0; i < args.size(); ++i) {
            if (i) put(",");
            put(args[i]);
        }
        put(")");
        put(ts_type<R>());
        return out;  // the last byte stays '\0'
    }
};

// The last export called: a volatile store that keeps every signature in the linked
// module (an unreferenced string would be dropped at link time).
inline const char* volatile last_export_signature = nullptr;

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
#define DUET_EXPORT_ASYNC(name, fn)                                                                          \
    extern "C" EMSCRIPTEN_KEEPALIVE void duet_async_##name(int args, int call_id) {                          \
        static constexpr auto duet_signature = ::duet::js::detail::export_types<decltype(&fn)>::text(#name); \
        ::duet::js::detail::last_export_signature = duet_signature.data();                                   \
        ::duet::js::detail::start_export(&fn, #name, args, call_id);                                         \
    }
