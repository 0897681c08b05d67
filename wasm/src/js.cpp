#include <emscripten/emscripten.h>

#include <duet/base_events.hpp>
#include <duet/browser_backend.hpp>
#include <duet/js.hpp>

// The JS half (js/library_duet.js).
extern "C" {
void duet_js_release(int id);
int duet_js_clone(int id);
int duet_js_live_handles();
int duet_js_number(double d);
int duet_js_string(const char* p, std::size_t n);
int duet_js_bool(int b);
int duet_js_null();
int duet_js_new_object();
int duet_js_global(const char* p, std::size_t n);
int duet_js_kind(int id);
int duet_js_is_promise(int id);
double duet_js_to_number(int id);
int duet_js_to_bool(int id);
int duet_js_strict_equals(int a, int b);
int duet_js_string_length(int id);
void duet_js_string_copy(char* p, std::size_t n);
int duet_js_take_error();
int duet_js_get(int id, const char* p, std::size_t n);
int duet_js_get_index(int id, int index);
int duet_js_set(int id, const char* p, std::size_t n, int value);
int duet_js_call(int id, const char* p, std::size_t n, const int* argv, int argc);
int duet_js_error_field(int id, int which);
void duet_js_await(int id, duet::detail::future_core* core, const duet::js::detail::promise_ops* ops, int kind);
}

namespace duet {

namespace {
// A helper returned -1: it caught a JS exception, which becomes a js_error here.
int checked(int handle) {
    if (handle < 0) throw js_error::from_reason(js_value::adopt(duet_js_take_error()));
    return handle;
}
std::string field(int reason, int which) {
    return js_value::adopt(duet_js_error_field(reason, which)).as_string();
}
}  // namespace

void js_value::reset() noexcept {
    if (id_) duet_js_release(std::exchange(id_, 0));
}

js_value js_value::clone() const {
    return js_value(id_ ? duet_js_clone(id_) : 0);
}
js_value js_value::null() {
    return js_value(duet_js_null());
}
js_value js_value::number(double d) {
    return js_value(duet_js_number(d));
}
js_value js_value::string(std::string_view s) {
    return js_value(duet_js_string(s.data(), s.size()));
}
js_value js_value::boolean(bool b) {
    return js_value(duet_js_bool(b));
}
js_value js_value::object() {
    return js_value(duet_js_new_object());
}
js_value js_value::global(std::string_view name) {
    return js_value(duet_js_global(name.data(), name.size()));
}

js_type js_value::type() const noexcept {
    return id_ ? static_cast<js_type>(duet_js_kind(id_)) : js_type::undefined;
}

std::string js_value::type_of() const {
    switch (type()) {
        case js_type::undefined:
            return "undefined";
        case js_type::null:
            return "object";
        case js_type::boolean:
            return "boolean";
        case js_type::number:
            return "number";
        case js_type::string:
            return "string";
        case js_type::object:
            return "object";
        case js_type::function:
            return "function";
        case js_type::symbol:
            return "symbol";
        case js_type::bigint:
            return "bigint";
    }
    return "object";
}

bool js_value::is_thenable() const noexcept {
    return id_ && duet_js_is_promise(id_);
}
double js_value::as_number() const noexcept {
    return id_ ? duet_js_to_number(id_) : __builtin_nan("");
}
bool js_value::as_bool() const noexcept {
    return id_ && duet_js_to_bool(id_);
}
bool js_value::strict_equals(const js_value& o) const noexcept {
    return duet_js_strict_equals(id_, o.id_);
}

std::string js_value::as_string() const {
    int n = checked(duet_js_string_length(id_));
    std::string s(static_cast<std::size_t>(n), '\0');
    duet_js_string_copy(s.data(), s.size());
    return s;
}

js_value js_value::get(std::string_view key) const {
    return js_value(checked(duet_js_get(id_, key.data(), key.size())));
}
js_value js_value::get(int index) const {
    return js_value(checked(duet_js_get_index(id_, index)));
}
void js_value::set(std::string_view key, const js_value& value) const {
    checked(duet_js_set(id_, key.data(), key.size(), value.id_));
}
js_value js_value::call_handles(std::string_view method, const int* argv, int argc) const {
    return js_value(checked(duet_js_call(id_, method.data(), method.size(), argv, argc)));
}

js_error::js_error(std::string name, std::string message, std::string stack)
    : std::runtime_error(name + ": " + message),
      name_(std::move(name)),
      message_(std::move(message)),
      stack_(std::move(stack)) {}

js_error js_error::from_reason(js_value reason) {
    int id = reason.handle();
    js_error e(field(id, 0), field(id, 1), field(id, 2));
    e.reason_ = std::make_shared<const js_value>(std::move(reason));
    return e;
}

const js_value& js_error::reason() const noexcept {
    static const js_value none;
    return reason_ ? *reason_ : none;
}

namespace js {

int live_handles() noexcept {
    return duet_js_live_handles();
}

namespace detail {

void watch(const js_value& value, duet::detail::future_core* core, const promise_ops* ops) {
    duet_js_await(value.handle(), core, ops, static_cast<int>(ops->kind));
}

void throw_type_error(const char* what, const char* expected, const js_value& got) {
    throw js_error("TypeError", std::string(what) + " a " + got.type_of() + ", not a " + expected);
}

}  // namespace detail
}  // namespace js
}  // namespace duet

// JS calls one of these once per awaited promise, with its outcome (the value becomes
// C++'s) and what duet_js_await was given.
extern "C" EMSCRIPTEN_KEEPALIVE void duet_promise_settle(const duet::js::detail::promise_ops* ops,
                                                         duet::detail::future_core* core, int fulfilled, int value) {
    duet::browser_backend::js_callback_scope turn_after;  // the woken task runs before we return to JS
    ops->settle(core, fulfilled != 0, duet::js_value::adopt(value));
}
// The fast path of a fulfilment: a number or boolean the await asked for, or any value an
// await ignores, as a double (no handle, no type check from C++).
extern "C" EMSCRIPTEN_KEEPALIVE void duet_promise_fulfil_primitive(const duet::js::detail::promise_ops* ops,
                                                                   duet::detail::future_core* core, double value) {
    duet::browser_backend::js_callback_scope turn_after;
    ops->fulfil_primitive(core, value);
}
