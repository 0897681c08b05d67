// A minimal intrusive pointer: the pointee counts its own references (non-atomic, loop
// thread only), so a handle costs one pointer and no control block.
#pragma once

#include <cstddef>
#include <utility>

namespace duet::detail {

template <class T>
class intrusive_ptr {
public:
    intrusive_ptr() noexcept = default;
    intrusive_ptr(std::nullptr_t) noexcept {}
    // Takes a new reference.
    explicit intrusive_ptr(T* p) noexcept : p_(p) {
        if (p_) p_->add_ref();
    }
    // Adopts a reference the caller already owns.
    static intrusive_ptr adopt(T* p) noexcept {
        intrusive_ptr r;
        r.p_ = p;
        return r;
    }
    intrusive_ptr(const intrusive_ptr& o) noexcept : p_(o.p_) {
        if (p_) p_->add_ref();
    }
    intrusive_ptr(intrusive_ptr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    template <class U>
    intrusive_ptr(const intrusive_ptr<U>& o) noexcept : p_(o.get()) {
        if (p_) p_->add_ref();
    }
    template <class U>
    intrusive_ptr(intrusive_ptr<U>&& o) noexcept : p_(o.release()) {}
    intrusive_ptr& operator=(intrusive_ptr o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~intrusive_ptr() {
        if (p_) p_->release();
    }
    T* get() const noexcept { return p_; }
    T* operator->() const noexcept { return p_; }
    T& operator*() const noexcept { return *p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    // Gives up ownership without dropping the reference.
    T* release() noexcept { return std::exchange(p_, nullptr); }
    void reset() noexcept { intrusive_ptr().swap(*this); }
    void swap(intrusive_ptr& o) noexcept { std::swap(p_, o.p_); }
    friend bool operator==(const intrusive_ptr& a, const intrusive_ptr& b) noexcept { return a.p_ == b.p_; }

private:
    T* p_ = nullptr;
};

}  // namespace duet::detail
