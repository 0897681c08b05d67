// A move-only type-erased callable with inline storage: scheduling a small lambda or a
// coroutine resumption never touches the heap (std::function would, and is copyable).
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace duet::detail {

template <class Sig, std::size_t Capacity = 32>
class small_callable;

template <class R, class... Args, std::size_t Capacity>
class small_callable<R(Args...), Capacity> {
    struct ops {
        R (*invoke)(void*, Args&&...);
        void (*move_to)(void* from, void* to) noexcept;
        void (*destroy)(void*) noexcept;
        const std::type_info* type;
    };

    template <class F>
    static constexpr bool fits_inline =
        sizeof(F) <= Capacity && alignof(F) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<F>;

    // Variable templates, not function-local statics: taking their address is a constant,
    // with no call and no guard on the scheduling path.
    template <class F>
    static constexpr ops inline_ops{
        [](void* s, Args&&... a) -> R { return (*static_cast<F*>(s))(std::forward<Args>(a)...); },
        [](void* from, void* to) noexcept {
            ::new (to) F(std::move(*static_cast<F*>(from)));
            static_cast<F*>(from)->~F();
        },
        [](void* s) noexcept { static_cast<F*>(s)->~F(); }, &typeid(F)};
    template <class F>
    static constexpr ops heap_ops{
        [](void* s, Args&&... a) -> R { return (**static_cast<F**>(s))(std::forward<Args>(a)...); },
        [](void* from, void* to) noexcept { *static_cast<F**>(to) = *static_cast<F**>(from); },
        [](void* s) noexcept { delete *static_cast<F**>(s); }, &typeid(F)};

public:
    small_callable() noexcept = default;
    small_callable(std::nullptr_t) noexcept {}

    template <class F, class D = std::decay_t<F>,
              class = std::enable_if_t<!std::is_same_v<D, small_callable> && std::is_invocable_r_v<R, D&, Args...>>>
    small_callable(F&& f) {
        if constexpr (fits_inline<D>) {
            ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
            ops_ = &inline_ops<D>;
        } else {
            *reinterpret_cast<D**>(buf_) = new D(std::forward<F>(f));
            ops_ = &heap_ops<D>;
        }
    }
    small_callable(small_callable&& o) noexcept : ops_(o.ops_) {
        if (ops_) {
            ops_->move_to(o.buf_, buf_);
            o.ops_ = nullptr;
        }
    }
    small_callable& operator=(small_callable&& o) noexcept {
        if (this != &o) {
            reset();
            if (o.ops_) {
                o.ops_->move_to(o.buf_, buf_);
                ops_ = std::exchange(o.ops_, nullptr);
            }
        }
        return *this;
    }
    small_callable(const small_callable&) = delete;
    small_callable& operator=(const small_callable&) = delete;
    ~small_callable() { reset(); }

    void reset() noexcept {
        if (ops_) std::exchange(ops_, nullptr)->destroy(buf_);
    }
    explicit operator bool() const noexcept { return ops_ != nullptr; }
    // The stored callable's type (for debug-mode names); null when empty.
    const std::type_info* target_type() const noexcept { return ops_ ? ops_->type : nullptr; }
    R operator()(Args... a) { return ops_->invoke(buf_, std::forward<Args>(a)...); }
    // The stored callable if it is a D, else null (by its operations table: no RTTI).
    template <class D>
    D* target() noexcept {
        if constexpr (fits_inline<D>)
            return ops_ == &inline_ops<D> ? std::launder(reinterpret_cast<D*>(buf_)) : nullptr;
        else
            return ops_ == &heap_ops<D> ? *reinterpret_cast<D**>(buf_) : nullptr;
    }

private:
    alignas(std::max_align_t) unsigned char buf_[Capacity];
    const ops* ops_ = nullptr;
};

}  // namespace duet::detail
