#include <duet/detail/pool.hpp>
#include <duet/futures.hpp>

namespace duet::detail {

namespace {
constexpr std::size_t granule = 64;

template <std::size_t... I>
void* alloc_class(std::size_t cls, std::index_sequence<I...>) {
    void* p = nullptr;
    (void)((cls == I ? (p = block_pool<(I + 1) * granule>::allocate(), true) : false) || ...);
    return p;
}
template <std::size_t... I>
void free_class(std::size_t cls, void* p, std::index_sequence<I...>) noexcept {
    (void)((cls == I ? (block_pool<(I + 1) * granule>::deallocate(p), true) : false) || ...);
}
using classes = std::make_index_sequence<frame_class_limit / granule>;
}  // namespace

void* allocate_frame(std::size_t size) {
    if (size > frame_class_limit) return ::operator new(size);
    return alloc_class((size - 1) / granule, classes{});
}

void deallocate_frame(void* p, std::size_t size) noexcept {
    if (size > frame_class_limit) {
        ::operator delete(p);
        return;
    }
    free_class((size - 1) / granule, p, classes{});
}

void* allocate_small(std::size_t n) {
    return allocate_frame(n);
}
void deallocate_small(void* p, std::size_t n) noexcept {
    deallocate_frame(p, n);
}

}  // namespace duet::detail
