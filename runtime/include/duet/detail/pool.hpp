// Per-thread free lists for fixed-size blocks. Hot objects (handles, futures, task frames)
// come back to the list instead of the allocator: in steady state nothing is returned to
// the OS and no fresh page is touched (a fresh page costs ~10 us on these machines).
#pragma once

#include <cstddef>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DUET_POOL_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DUET_POOL_BYPASS 1
#endif
#endif

namespace duet::detail {

// Under sanitizers every block goes to the allocator, so ASan sees each use after free
// that a pool would hide.
#ifdef DUET_POOL_BYPASS
inline constexpr bool pool_enabled = false;
#else
inline constexpr bool pool_enabled = true;
#endif

// Where blocks come from: slabs carved into blocks (no allocator header per block), and
// the free lists of threads that have exited (so thread churn does not grow memory).
// Slabs are never returned: a pool only grows to its working size.
struct slab_source {
    std::mutex mutex;
    // Free lists of exited threads, each kept whole: handing one over is O(1) however
    // long it is (a thread that ran a million tasks leaves a million free blocks).
    std::vector<void*> orphans;
};

// Memory for a new slab (never given back). Natively on Linux it comes from chunks the
// kernel fills in one call (see pool.cpp); elsewhere from operator new.
void* allocate_slab(std::size_t bytes);

// A large buffer about to be filled (the ready ring as it grows): natively on Linux, above
// 256 KiB, a mapping the kernel fills in one call; otherwise malloc. Null when out of memory.
void* allocate_buffer(std::size_t bytes) noexcept;
void free_buffer(void* p, std::size_t bytes) noexcept;
// A malloc'd block grown (or made, p null) to new_bytes, its first old_bytes kept; freed
// with std::free. Natively realloc, which moves a large block by remapping its pages
// instead of copying it and leaving the old one behind in the heap; in wasm, where realloc
// would only add code, malloc + copy + free. Null when out of memory (p then stays valid).
void* grow_block(void* p, std::size_t old_bytes, std::size_t new_bytes) noexcept;
// Gives the pages of [p + from, p + bytes) of such a mapping back to the system (they read
// as zeros if touched again); a no-op for a buffer that is not a mapping.
void release_buffer_pages(void* p, std::size_t from, std::size_t bytes) noexcept;

// For per-element arrays that can be large (gather's children): allocate_buffer behind
// std::vector.
template <class T>
struct buffer_allocator {
    static_assert(alignof(T) <= alignof(std::max_align_t));
    using value_type = T;
    buffer_allocator() noexcept = default;
    template <class U>
    buffer_allocator(const buffer_allocator<U>&) noexcept {}
    T* allocate(std::size_t n) {
        // T may itself be a pointer (a buffer of pointers): sizeof(T) is meant.
        // NOLINTNEXTLINE(bugprone-sizeof-expression)
        void* p = allocate_buffer(n * sizeof(T));
        if (!p) throw std::bad_alloc();
        return static_cast<T*>(p);
    }
    // NOLINTNEXTLINE(bugprone-sizeof-expression): as in allocate
    void deallocate(T* p, std::size_t n) noexcept { free_buffer(p, n * sizeof(T)); }
    friend bool operator==(const buffer_allocator&, const buffer_allocator&) noexcept { return true; }
};
template <class T>
using buffer_vector = std::vector<T, buffer_allocator<T>>;

struct pool_node {
    pool_node* next;
};
// The cold paths of every size class, out of line: one copy instead of one per class
// (they made up most of the ~13 KB the 28 classes cost in a wasm module).
// A list of free blocks: the source's orphans if any, else a new slab carved up.
pool_node* refill_pool(slab_source& src, std::size_t block, std::size_t per_slab, std::size_t slab_bytes);
// A thread's free list when the thread exits: onto the source's orphans.
void orphan_blocks(slab_source& src, pool_node* head) noexcept;

template <std::size_t Size>
class block_pool {
    using node = pool_node;
    static constexpr std::size_t block = Size < sizeof(node) ? sizeof(node) : Size;
    // ~16 KiB per slab: enough blocks to amortise the carve, small for rarely used sizes.
    static constexpr std::size_t per_slab = block >= 16384 ? 1 : 16384 / block;
    // Whole 16 KiB slabs (the tail past the last block unused), so that the arena's chunks
    // hold a whole number of them.
    static constexpr std::size_t slab_bytes = block >= 16384 ? block : 16384;

    // Never destroyed: a thread may still exit (and hand its blocks over) after the
    // statics of the program have gone.
    static slab_source& source() {
        static slab_source& s = *new slab_source;
        return s;
    }

    struct list {
        node* head = nullptr;
        // The thread is exiting: its free blocks go to the shared spare list.
        ~list() {
            if (head) orphan_blocks(source(), head);
        }
    };
    static list& free_list() noexcept {
        thread_local list l;
        return l;
    }

public:
    static void* allocate() {
        if constexpr (!pool_enabled) return ::operator new(block);
        list& l = free_list();
        if (!l.head) [[unlikely]]
            l.head = refill_pool(source(), block, per_slab, slab_bytes);
        node* n = l.head;
        l.head = n->next;
        return n;
    }
    static void deallocate(void* p) noexcept {
        if constexpr (!pool_enabled) {
            ::operator delete(p);
            return;
        }
        list& l = free_list();
        node* n = static_cast<node*>(p);
        n->next = l.head;
        l.head = n;
    }
};

// Size classes for coroutine frames and small objects: 16-byte steps up to 256 bytes (for
// handles, futures and tasks rounding up would be a large share), 64-byte steps up to
// 1 KiB; larger frames go to the general allocator.
inline constexpr std::size_t frame_class_limit = 1024;
constexpr std::size_t pool_class_size(std::size_t n) noexcept {
    return n <= 256 ? (n + 15) / 16 * 16 : (n + 63) / 64 * 64;
}

// The class of an object whose size is known at compile time. Where operator new itself
// only aligns to 8 (wasm32), an object that needs no more rounds to 8 bytes, not 16: a
// task is 56 bytes there, and a burst of new tasks costs its bytes in fresh memory. (Frames
// keep the 16-byte steps: their classes are a run-time table, and each class costs code.)
template <class T>
constexpr std::size_t fixed_class_size() noexcept {
    if constexpr (__STDCPP_DEFAULT_NEW_ALIGNMENT__ <= 8 && alignof(T) <= 8 && sizeof(T) <= 256)
        return (sizeof(T) + 7) / 8 * 8;
    else
        return pool_class_size(sizeof(T));
}

// Objects whose size is known at compile time go straight to their class's pool.
template <class T>
void* allocate_fixed() {
    static_assert(sizeof(T) <= frame_class_limit);
    return block_pool<fixed_class_size<T>()>::allocate();
}
template <class T>
void deallocate_fixed(void* p) noexcept {
    block_pool<fixed_class_size<T>()>::deallocate(p);
}

// Coroutine frames (the size is a run-time argument of the promise's operator new).
void* allocate_frame(std::size_t size);
void deallocate_frame(void* p, std::size_t size) noexcept;

}  // namespace duet::detail
