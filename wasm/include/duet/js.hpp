// The JS side of the wasm target: JS values held from C++ (js_value), JS exceptions and
// rejections as C++ exceptions (js_error), and awaiting a JS promise from a duet task
// (js::await_promise).
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <duet/base_events.hpp>
#include <duet/events.hpp>
#include <duet/futures.hpp>
#include <duet/outcome.hpp>

namespace duet {

enum class js_type { undefined, null, boolean, number, string, object, function, symbol, bigint };

// An owning handle to a JS value, which lives in the module's JS-side table (see
// Module.duet in js/duet.d.ts) until the handle is destroyed. Move-only; a
// default-constructed js_value is `undefined` and owns nothing.
class js_value {
public:
    js_value() noexcept = default;
    js_value(js_value&& o) noexcept : id_(std::exchange(o.id_, 0)) {}
    js_value& operator=(js_value&& o) noexcept {
        if (this != &o) {
            reset();
            id_ = std::exchange(o.id_, 0);
        }
        return *this;
    }
    js_value(const js_value&) = delete;
    js_value& operator=(const js_value&) = delete;
    ~js_value() { reset(); }

    // Takes ownership of a handle made on the JS side (Module.duet.toHandle(value)).
    static js_value adopt(int handle) noexcept { return js_value(handle); }
    // The table index (0 for undefined); stays owned by this object.
    int handle() const noexcept { return id_; }
    // Gives up ownership of the handle (the caller must release it).
    int release() noexcept { return std::exchange(id_, 0); }
    // A second handle to the same JS value.
    js_value clone() const;

    static js_value undefined() noexcept { return {}; }
    static js_value null();
    static js_value number(double d);
    static js_value string(std::string_view s);
    static js_value boolean(bool b);
    static js_value object();
    // globalThis, or globalThis[name].
    static js_value global(std::string_view name = {});

    js_type type() const noexcept;
    // JS `typeof` ("object" for null).
    std::string type_of() const;
    bool is_undefined() const noexcept { return id_ == 0 || type() == js_type::undefined; }
    bool is_null() const noexcept { return type() == js_type::null; }
    bool is_bool() const noexcept { return type() == js_type::boolean; }
    bool is_number() const noexcept { return type() == js_type::number; }
    bool is_string() const noexcept { return type() == js_type::string; }
    bool is_object() const noexcept { return type() == js_type::object || type() == js_type::function; }
    bool is_function() const noexcept { return type() == js_type::function; }
    // Has a callable `then` (a promise or another thenable).
    bool is_thenable() const noexcept;

    // JS conversions: Number(v), String(v) (js_error if it throws), and truthiness.
    double as_number() const noexcept;
    std::string as_string() const;
    bool as_bool() const noexcept;
    explicit operator double() const noexcept { return as_number(); }
    explicit operator std::string() const { return as_string(); }
    explicit operator bool() const noexcept { return as_bool(); }

    // Property access and calls; a JS exception arrives as js_error.
    js_value get(std::string_view key) const;
    js_value get(int index) const;
    js_value operator[](std::string_view key) const { return get(key); }
    js_value operator[](int index) const { return get(index); }
    void set(std::string_view key, const js_value& value) const;
    // this[method](args...); arguments convert with to_js().
    template <class... A>
    js_value call(std::string_view method, A&&... args) const;
    // this(args...) for a function value.
    template <class... A>
    js_value operator()(A&&... args) const {
        return call({}, std::forward<A>(args)...);
    }
    // JS `===`.
    bool strict_equals(const js_value& o) const noexcept;

private:
    explicit js_value(int id) noexcept : id_(id) {}
    void reset() noexcept;
    js_value call_handles(std::string_view method, const int* argv, int argc) const;
    int id_ = 0;
};

// C++ values as JS values.
inline js_value to_js(js_value&& v) noexcept {
    return std::move(v);
}
inline js_value to_js(const js_value& v) {
    return v.clone();
}
inline js_value to_js(bool b) {
    return js_value::boolean(b);
}
template <class T>
requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) js_value to_js(T v) {
    return js_value::number(static_cast<double>(v));
}
inline js_value to_js(std::string_view s) {
    return js_value::string(s);
}
inline js_value to_js(const std::string& s) {
    return js_value::string(s);
}
inline js_value to_js(const char* s) {
    return js_value::string(s);
}

template <class... A>
js_value js_value::call(std::string_view method, A&&... args) const {
    std::array<js_value, sizeof...(A)> owned{to_js(std::forward<A>(args))...};
    std::array<int, sizeof...(A) + 1> ids{};
    for (std::size_t i = 0; i < owned.size(); ++i) ids[i] = owned[i].handle();
    return call_handles(method, ids.data(), static_cast<int>(owned.size()));
}

// A JS exception or promise rejection, in C++. name()/message()/stack() are the JS
// error's fields (a thrown non-Error value gets name "Error" and String(value));
// reason() is the thrown value itself.
class js_error : public std::runtime_error {
public:
    js_error(std::string name, std::string message, std::string stack = {});
    // From a thrown or rejected JS value, which reason() keeps.
    static js_error from_reason(js_value reason);

    const std::string& name() const noexcept { return name_; }
    const std::string& message() const noexcept { return message_; }
    const std::string& stack() const noexcept { return stack_; }
    // The JS value that was thrown (undefined for errors made in C++).
    const js_value& reason() const noexcept;

private:
    std::string name_;
    std::string message_;
    std::string stack_;
    std::shared_ptr<const js_value> reason_;
};

namespace js {

// How many JS values C++ currently holds (the size of the handle table).
int live_handles() noexcept;

namespace detail {

// What the JS side may hand over without a handle: a fulfilment of the JS type an await
// wants (number, boolean, or anything for an await that ignores the value) arrives as a
// plain double through promise_ops::fulfil_primitive; everything else goes through
// promise_ops::settle.
enum class promise_kind : int { any = 0, number = 1, boolean = 2, ignored = 3 };

// How JS settles the future of one await, for its result type: JS holds a reference to the
// future's core from watch() until it calls one of these, once, which takes it over.
struct promise_ops {
    void (*settle)(duet::detail::future_core* core, bool fulfilled, js_value value) noexcept;
    void (*fulfil_primitive)(duet::detail::future_core* core, double value) noexcept;
    promise_kind kind;
};
// Attaches both handlers to Promise.resolve(value); takes over a reference to `core`.
void watch(const js_value& value, duet::detail::future_core* core, const promise_ops* ops);
// Whether a future's loop still exists and is open (a promise may settle after either
// is gone).
inline bool loop_usable(const basic_future& f) noexcept {
    const base_event_loop& loop = f.get_loop();
    return base_event_loop::alive(&loop) && !loop.is_closed();
}
[[noreturn]] void throw_type_error(const char* what, const char* expected, const js_value& got);

// The value of a fulfilled promise as T: js_value as is, or a number, string or boolean
// that must have that JS type (js_error TypeError otherwise).
template <class T>
T from_js(js_value v, const char* what) {
    if constexpr (std::is_same_v<T, js_value>) {
        return v;
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_bool()) throw_type_error(what, "boolean", v);
        return v.as_bool();
    } else if constexpr (std::is_arithmetic_v<T>) {
        if (!v.is_number()) throw_type_error(what, "number", v);
        return static_cast<T>(v.as_number());
    } else if constexpr (std::is_same_v<T, std::string>) {
        if (!v.is_string()) throw_type_error(what, "string", v);
        return v.as_string();
    } else {
        static_assert(std::is_same_v<T, js_value>, "JS values convert to js_value, bool, arithmetic or std::string");
    }
}

template <class T>
constexpr promise_kind kind_of() noexcept {
    if constexpr (std::is_void_v<T>)
        return promise_kind::ignored;
    else if constexpr (std::is_same_v<T, bool>)
        return promise_kind::boolean;
    else if constexpr (std::is_arithmetic_v<T>)
        return promise_kind::number;
    else
        return promise_kind::any;
}

// The future<T> whose reference JS held (its core was made by create_future<T>).
template <class T>
future<T> adopt_future(duet::detail::future_core* core) noexcept {
    return future<T>(duet::detail::intrusive_ptr<duet::detail::future_core>::adopt(core));
}

// The outcome of a settled promise for an await of T: the value converted (a conversion
// that fails is the exception), or the rejection as js_error.
template <class T>
outcome<T> promise_outcome(bool fulfilled, js_value value) noexcept {
    try {
        if (!fulfilled) return outcome<T>::failure(std::make_exception_ptr(js_error::from_reason(std::move(value))));
        if constexpr (std::is_void_v<T>)
            return outcome<T>::success();
        else
            return outcome<T>::capture(
                [&]() -> T { return from_js<T>(std::move(value), "the awaited promise fulfilled with"); });
    } catch (...) {
        return outcome<T>::failure(std::current_exception());
    }
}

template <class T>
void settle_future(duet::detail::future_core* core, bool fulfilled, js_value value) noexcept {
    future<T> f = adopt_future<T>(core);
    // The awaiting task may have been cancelled, or its loop closed, meanwhile.
    if (!loop_usable(f) || f.done()) return;
    duet::detail::set_outcome(f, promise_outcome<T>(fulfilled, std::move(value)));
}

template <class T>
void fulfil_future(duet::detail::future_core* core, double value) noexcept {
    future<T> f = adopt_future<T>(core);
    if (!loop_usable(f) || f.done()) return;
    if constexpr (std::is_void_v<T>) {
        f.set_result();
    } else if constexpr (std::is_same_v<T, bool>) {
        f.set_result(value != 0);
    } else if constexpr (std::is_arithmetic_v<T>) {
        f.set_result(static_cast<T>(value));
    } else {
        // JS takes this path only for the kinds above; a number is what it would be.
        duet::detail::set_outcome(f, promise_outcome<T>(true, js_value::number(value)));
    }
}

template <class T>
inline constexpr promise_ops ops_for{&settle_future<T>, &fulfil_future<T>, kind_of<T>()};

}  // namespace detail

// A future on `loop` that settles when the JS promise does: fulfilment gives the value as
// T (js_value, a number type, bool, std::string, or void to ignore it); rejection gives
// js_error. A non-promise value counts as an already fulfilled promise. Cancelling the
// future (or the task awaiting it) just stops listening.
template <class T = js_value>
future<T> promise_future(const js_value& promise, abstract_event_loop& loop) {
    auto f = loop.create_future<T>();
    f.core()->add_ref();  // JS's, until the promise settles
    js::detail::watch(promise, f.core(), &js::detail::ops_for<T>);
    return f;
}

// `co_await duet::js::await_promise<double>(p)` inside a task on the running loop.
template <class T = js_value>
future<T> await_promise(const js_value& promise) {
    return promise_future<T>(promise, get_running_loop());
}

}  // namespace js
}  // namespace duet
