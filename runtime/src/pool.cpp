#include <array>
#include <cstdlib>
#include <cstring>
#include <duet/detail/pool.hpp>
#include <duet/futures.hpp>

#if defined(__linux__) && !defined(__EMSCRIPTEN__)
#include <sys/mman.h>
#define DUET_SLAB_ARENA 1
#endif

namespace duet::detail {

#ifdef DUET_SLAB_ARENA
namespace {
// Slabs are carved from chunks mapped with MAP_POPULATE: the kernel fills a whole chunk in
// one call instead of taking a fault on the first touch of each page, which on these
// machines is about 4x cheaper per page (~4.5 us against ~17 us, measured under load).
// Chunks start small and double up to 256 KiB, so a quiet program maps little and a busy one
// makes few calls; beyond what the pools hold, at most one partly used chunk is resident.
// One arena for all threads: it is only reached once per slab, under its lock.
struct slab_arena {
    static constexpr std::size_t first_chunk = std::size_t{64} * 1024, last_chunk = std::size_t{256} * 1024;
    std::mutex mutex;
    unsigned char* next = nullptr;
    std::size_t left = 0;
    std::size_t chunk = first_chunk;
};
// Never destroyed: threads may still refill their pools during static destruction.
slab_arena& arena() {
    static auto* a = new slab_arena;
    return *a;
}
}  // namespace

void* allocate_slab(std::size_t bytes) {
    bytes = (bytes + 63) / 64 * 64;  // slabs start on a cache line
    if (bytes > slab_arena::first_chunk) return ::operator new(bytes);
    slab_arena& a = arena();
    std::lock_guard g(a.mutex);
    if (a.left < bytes) {
        void* p = ::mmap(nullptr, a.chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        a.next = static_cast<unsigned char*>(p);
        a.left = a.chunk;
        if (a.chunk < slab_arena::last_chunk) a.chunk *= 2;
    }
    void* slab = a.next;
    a.next += bytes;
    a.left -= bytes;
    return slab;
}
#else
void* allocate_slab(std::size_t bytes) {
    return ::operator new(bytes);
}
#endif

// Under sanitizers buffers stay on malloc, where ASan watches their bounds.
#if defined(DUET_SLAB_ARENA) && !defined(DUET_POOL_BYPASS)
constexpr std::size_t mapped_buffer_min = std::size_t{256} * 1024;
void* allocate_buffer(std::size_t bytes) noexcept {
    if (bytes < mapped_buffer_min) return std::malloc(bytes);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}
void free_buffer(void* p, std::size_t bytes) noexcept {
    if (!p) return;
    if (bytes < mapped_buffer_min)
        std::free(p);
    else
        ::munmap(p, bytes);
}
void* grow_block(void* p, std::size_t, std::size_t new_bytes) noexcept {
    return std::realloc(p, new_bytes);
}
void release_buffer_pages(void* p, std::size_t from, std::size_t bytes) noexcept {
    if (!p || bytes < mapped_buffer_min) return;
    constexpr std::size_t page = 4096;
    from = (from + page - 1) / page * page;
    if (from < bytes) ::madvise(static_cast<unsigned char*>(p) + from, bytes - from, MADV_DONTNEED);
}
#else
void* allocate_buffer(std::size_t bytes) noexcept {
    return std::malloc(bytes);
}
void free_buffer(void* p, std::size_t) noexcept {
    std::free(p);
}
void* grow_block(void* p, std::size_t old_bytes, std::size_t new_bytes) noexcept {
    void* n = std::malloc(new_bytes);
    if (n && p) std::memcpy(n, p, old_bytes);
    if (n) std::free(p);
    return n;
}
void release_buffer_pages(void*, std::size_t, std::size_t) noexcept {}
#endif

pool_node* refill_pool(slab_source& src, std::size_t block, std::size_t per_slab, std::size_t slab_bytes) {
    {
        std::lock_guard g(src.mutex);
        if (!src.orphans.empty()) {
            auto* head = static_cast<pool_node*>(src.orphans.back());
            src.orphans.pop_back();
            return head;
        }
    }
    auto* slab = static_cast<unsigned char*>(allocate_slab(slab_bytes));
    pool_node* head = nullptr;
    for (std::size_t i = per_slab; i-- > 0;) {
        auto* n = reinterpret_cast<pool_node*>(slab + i * block);
        n->next = head;
        head = n;
    }
    return head;
}

void orphan_blocks(slab_source& src, pool_node* head) noexcept {
    std::lock_guard g(src.mutex);
    try {
        src.orphans.push_back(head);
    } catch (...) {
        // No room for one more list: the blocks are appended to the last one instead.
        if (src.orphans.empty()) return;  // (nowhere to keep them: they stay unused)
        pool_node* tail = head;
        while (tail->next) tail = tail->next;
        tail->next = static_cast<pool_node*>(src.orphans.back());
        src.orphans.back() = head;
    }
}

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
