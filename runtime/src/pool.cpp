#include <array>
#include <duet/detail/pool.hpp>
#include <duet/futures.hpp>

namespace duet::detail {

namespace {
// One entry per size class, indexed by (size - 1) / 16 up to 256 and by 256/16 + (size -
// 257) / 64 above: a frame allocation is one table lookup and one indirect call.
constexpr std::size_t fine_classes = 256 / 16, coarse_classes = (frame_class_limit - 256) / 64;
using alloc_fn = void* (*)();
using free_fn = void (*)(void*) noexcept;

constexpr std::size_t class_bytes(std::size_t i) noexcept {
    return i < fine_classes ? (i + 1) * 16 : 256 + (i - fine_classes + 1) * 64;
}
template <std::size_t... I>
constexpr auto alloc_table(std::index_sequence<I...>) {
    return std::array<alloc_fn, sizeof...(I)>{&block_pool<class_bytes(I)>::allocate...};
}
template <std::size_t... I>
constexpr auto free_table(std::index_sequence<I...>) {
    return std::array<free_fn, sizeof...(I)>{&block_pool<class_bytes(I)>::deallocate...};
}
constexpr auto allocators = alloc_table(std::make_index_sequence<fine_classes + coarse_classes>{});
constexpr auto deallocators = free_table(std::make_index_sequence<fine_classes + coarse_classes>{});

std::size_t class_index(std::size_t size) noexcept {
    return size <= 256 ? (size - 1) / 16 : fine_classes + (size - 257) / 64;
}
}  // namespace

void* allocate_frame(std::size_t size) {
    if (size > frame_class_limit) return ::operator new(size);
    return allocators[class_index(size)]();
}

void deallocate_frame(void* p, std::size_t size) noexcept {
    if (size > frame_class_limit) {
        ::operator delete(p);
        return;
    }
    deallocators[class_index(size)](p);
}

}  // namespace duet::detail
