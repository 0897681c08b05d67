// A growable array of a trivially copyable type, grown with realloc natively (grow_block):
// a large array grows in place or by remapping its pages (no copy, and no freed old buffer
// left behind in the heap), where std::vector allocates anew, copies and frees. For the loop's per-task and
// per-timer arrays (the task registry, the timer heap), whose memory counts per task.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

#include <duet/detail/pool.hpp>

namespace duet::detail {

template <class T>
class trivial_vector {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

public:
    trivial_vector() noexcept = default;
    trivial_vector(const trivial_vector&) = delete;
    trivial_vector& operator=(const trivial_vector&) = delete;
    ~trivial_vector() { std::free(data_); }

    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return cap_; }
    bool empty() const noexcept { return size_ == 0; }
    T* data() noexcept { return data_; }
    T* begin() noexcept { return data_; }
    T* end() noexcept { return data_ + size_; }
    const T* begin() const noexcept { return data_; }
    const T* end() const noexcept { return data_ + size_; }
    T& operator[](std::size_t i) noexcept { return data_[i]; }
    const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    T& front() noexcept { return data_[0]; }
    T& back() noexcept { return data_[size_ - 1]; }

    void push_back(const T& v) {
        if (size_ == cap_) grow(cap_ ? 2 * cap_ : 16);
        data_[size_++] = v;
    }
    // Appends if there is room (see reserve); false, and nothing appended, if not.
    bool push_back_in_capacity(const T& v) noexcept {
        if (size_ == cap_) return false;
        data_[size_++] = v;
        return true;
    }
    void pop_back() noexcept { --size_; }
    // Drops [first, end()) (std::vector::erase of a tail).
    void erase(T* first, T* last) noexcept {
        (void)last;
        size_ = static_cast<std::size_t>(first - data_);
    }
    void clear() noexcept { size_ = 0; }
    void reserve(std::size_t n) {
        if (n > cap_) grow(n);
    }

private:
    void grow(std::size_t n) {
        // T may itself be a pointer (the registry's): sizeof(T) is meant.
        // NOLINTNEXTLINE(bugprone-sizeof-expression)
        void* p = grow_block(data_, size_ * sizeof(T), n * sizeof(T));
        if (!p) throw std::bad_alloc();
        data_ = static_cast<T*>(p);
        cap_ = n;
    }
    T* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t cap_ = 0;
};

}  // namespace duet::detail
