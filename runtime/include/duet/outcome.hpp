// duet::outcome<T>: how an operation ended — with a value (T, T& or void), an exception,
// or a cancellation. The one type for "a value, an exception, or a cancellation": what
// gather(return_exceptions, ...) hands out per child, what crosses threads from an
// executor or a coroutine run with run_coroutine_threadsafe, what the JS bridge settles
// promises and futures with, and (its storage, below) where a future keeps its result.
//
//     auto o = duet::outcome<int>::capture([] { return parse(text); });
//     if (o.has_value()) use(o.value());
//     else if (o.cancelled()) log(o.cancellation().message());
//     else log(o.exception());
#pragma once

#include <cstdint>
#include <exception>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <duet/exceptions.hpp>

namespace duet {

// How an outcome shows a result of type T: std::monostate for void, T otherwise.
template <class T>
using outcome_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

namespace detail {

// Whether `e` holds a duet::cancelled_error.
bool is_cancelled_error(const std::exception_ptr& e) noexcept;

// Whether a result can be copied out of a future. std::is_copy_constructible is true for
// any std::vector (its copy constructor is not constrained), even of move-only elements,
// whose copy then fails to compile; look inside vectors.
template <class T>
struct copyable_result : std::is_copy_constructible<T> {};
template <class T, class A>
struct copyable_result<std::vector<T, A>> : copyable_result<T> {};
template <class T>
inline constexpr bool copyable_result_v = copyable_result<T>::value;

// One of a value of T (nothing for void, a pointer for T&) or an exception, with no
// record of which: its owner keeps that (outcome<T> a kind, a future its status), so a
// future's result costs one union and nothing more. The owner constructs and destroys the
// active member.
template <class T>
class outcome_storage {
public:
    using stored = std::conditional_t<std::is_void_v<T>, std::monostate,
                                      std::conditional_t<std::is_reference_v<T>, std::remove_reference_t<T>*, T>>;

    // Not "= default": with a non-trivial member (an exception_ptr) the union's defaulted
    // constructor and destructor would be deleted; the owner manages the active member.
    outcome_storage() noexcept {}  // NOLINT(modernize-use-equals-default)
    outcome_storage(const outcome_storage&) = delete;
    outcome_storage& operator=(const outcome_storage&) = delete;
    ~outcome_storage() {}  // NOLINT(modernize-use-equals-default)

    // T&: takes the referent; otherwise constructs T from the arguments.
    template <class... A>
    void construct_value(A&&... a) {
        if constexpr (std::is_reference_v<T>)
            ::new (static_cast<void*>(&value_)) stored(&a...);
        else
            ::new (static_cast<void*>(&value_)) stored(std::forward<A>(a)...);
    }
    void construct_error(std::exception_ptr e) noexcept {
        ::new (static_cast<void*>(&error_)) std::exception_ptr(std::move(e));
    }
    void destroy_value() noexcept { value_.~stored(); }
    void destroy_error() noexcept { error_.~exception_ptr(); }

    // The value as the result type gives it: a copy (or the reference for T&), or moved out.
    decltype(auto) get() const {
        if constexpr (std::is_void_v<T>)
            return;
        else if constexpr (std::is_reference_v<T>)
            return static_cast<T>(*value_);
        else
            return static_cast<const T&>(value_);
    }
    T take() {
        if constexpr (std::is_void_v<T>)
            return;
        else if constexpr (std::is_reference_v<T>)
            return static_cast<T>(*value_);
        else
            return std::move(value_);
    }
    stored& raw_value() noexcept { return value_; }
    const stored& raw_value() const noexcept { return value_; }
    std::exception_ptr& error() noexcept { return error_; }
    const std::exception_ptr& error() const noexcept { return error_; }

private:
    union {
        stored value_;
        std::exception_ptr error_;
    };
};

}  // namespace detail

template <class T>
class outcome {
public:
    // What value() shows: T (a reference for T&), std::monostate for void.
    using value_type = outcome_value_t<T>;
    enum class kind : std::uint8_t { empty, value, exception, cancelled };

    // Empty: nothing happened yet (value() throws std::logic_error).
    outcome() noexcept = default;
    outcome(const outcome& o) requires detail::copyable_result_v<typename detail::outcome_storage<T>::stored> {
        copy_from(o);
    }
    outcome(outcome&& o) noexcept(std::is_nothrow_move_constructible_v<typename detail::outcome_storage<T>::stored>) {
        move_from(o);
    }
    outcome& operator=(
        const outcome& o) requires detail::copyable_result_v<typename detail::outcome_storage<T>::stored> {
        if (this != &o) {
            reset();
            copy_from(o);
        }
        return *this;
    }
    outcome& operator=(outcome&& o) noexcept(
        std::is_nothrow_move_constructible_v<typename detail::outcome_storage<T>::stored>) {
        if (this != &o) {
            reset();
            move_from(o);
        }
        return *this;
    }
    ~outcome() { reset(); }

    // A value (no argument for void; the referent for T&).
    template <class... A>
    static outcome success(A&&... a) {
        outcome o;
        o.set_value(std::forward<A>(a)...);
        return o;
    }
    // An exception; a cancelled_error in `e` makes a cancellation.
    static outcome failure(std::exception_ptr e) {
        outcome o;
        o.set_exception(std::move(e));
        return o;
    }
    static outcome cancellation(const cancelled_error& c) {
        outcome o;
        o.set_cancelled(c);
        return o;
    }
    // Calls f() and keeps what it returned or threw.
    template <class F>
    requires std::is_invocable_v<F&>
    static outcome capture(F&& f) noexcept(false) {
        outcome o;
        try {
            if constexpr (std::is_void_v<T>) {
                f();
                o.set_value();
            } else {
                o.set_value(f());
            }
        } catch (...) {
            o.reset();
            o.set_exception(std::current_exception());
        }
        return o;
    }

    template <class... A>
    void set_value(A&&... a) {
        reset();
        s_.construct_value(std::forward<A>(a)...);
        kind_ = kind::value;
    }
    void set_exception(std::exception_ptr e) {
        if (!e) throw std::invalid_argument("outcome: null exception_ptr");
        reset();
        const bool c = detail::is_cancelled_error(e);
        s_.construct_error(std::move(e));
        kind_ = c ? kind::cancelled : kind::exception;
    }
    void set_cancelled(const cancelled_error& c) { set_exception(std::make_exception_ptr(c)); }

    kind which() const noexcept { return kind_; }
    bool empty() const noexcept { return kind_ == kind::empty; }
    bool has_value() const noexcept { return kind_ == kind::value; }
    bool has_exception() const noexcept { return kind_ == kind::exception; }
    bool cancelled() const noexcept { return kind_ == kind::cancelled; }
    explicit operator bool() const noexcept { return has_value(); }

    // The value; rethrows the exception, or throws the cancelled_error, otherwise.
    decltype(auto) value() & {
        check();
        if constexpr (std::is_reference_v<T>)
            return static_cast<T>(*s_.raw_value());
        else
            return static_cast<value_type&>(s_.raw_value());
    }
    decltype(auto) value() const& {
        check();
        if constexpr (std::is_reference_v<T>)
            return static_cast<T>(*s_.raw_value());
        else
            return static_cast<const value_type&>(s_.raw_value());
    }
    decltype(auto) value() && {
        check();
        if constexpr (std::is_reference_v<T>)
            return static_cast<T>(*s_.raw_value());
        else
            return static_cast<value_type&&>(s_.raw_value());
    }
    // The result as the operation would have returned it (void, T& or T, moved out), or
    // its exception or cancellation thrown: what `co_await` on the operation gives.
    T take() {
        check();
        return s_.take();
    }
    // Null for a value; the exception; for a cancellation, its cancelled_error.
    std::exception_ptr exception() const {
        return kind_ == kind::exception || kind_ == kind::cancelled ? s_.error() : nullptr;
    }
    // The cancellation (its message); std::logic_error if it was not one.
    cancelled_error cancellation() const {
        if (kind_ != kind::cancelled) throw std::logic_error("outcome: not a cancellation");
        try {
            std::rethrow_exception(s_.error());
        } catch (const cancelled_error& c) {
            return c;
        }
    }

private:
    void check() const {
        if (kind_ == kind::value) [[likely]]
            return;
        if (kind_ == kind::empty) throw std::logic_error("outcome: empty");
        std::rethrow_exception(s_.error());
    }
    void reset() noexcept {
        if (kind_ == kind::value)
            s_.destroy_value();
        else if (kind_ != kind::empty)
            s_.destroy_error();
        kind_ = kind::empty;
    }
    void copy_from(const outcome& o) {
        if (o.kind_ == kind::value)
            ::new (static_cast<void*>(&s_.raw_value())) typename detail::outcome_storage<T>::stored(o.s_.raw_value());
        else if (o.kind_ != kind::empty)
            s_.construct_error(o.s_.error());
        kind_ = o.kind_;
    }
    void move_from(outcome& o) {
        if (o.kind_ == kind::value)
            ::new (static_cast<void*>(&s_.raw_value()))
                typename detail::outcome_storage<T>::stored(std::move(o.s_.raw_value()));
        else if (o.kind_ != kind::empty)
            s_.construct_error(std::move(o.s_.error()));
        kind_ = o.kind_;
    }

    detail::outcome_storage<T> s_;
    kind kind_ = kind::empty;
};

}  // namespace duet
