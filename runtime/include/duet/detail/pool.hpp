// Per-thread free lists for fixed-size blocks. Hot objects (handles, futures, task frames)
// come back to the list instead of the allocator: in steady state nothing is returned to
// the OS and no fresh page is touched (a fresh page costs ~10 us on these machines).
#pragma once

#include <cstddef>
#include <new>

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

template <std::size_t Size>
class block_pool {
    struct node {
        node* next;
    };
    static constexpr std::size_t block = Size < sizeof(node) ? sizeof(node) : Size;

    struct list {
        node* head = nullptr;
        ~list() {
            while (head) {
                node* n = head;
                head = head->next;
                ::operator delete(n);
            }
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
        if (node* n = l.head) {
            l.head = n->next;
            return n;
        }
        return ::operator new(block);
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

// Size classes for coroutine frames: rounded to 64 bytes up to 1 KiB; larger frames go to
// the general allocator.
inline constexpr std::size_t frame_class_limit = 1024;

void* allocate_frame(std::size_t size);
void deallocate_frame(void* p, std::size_t size) noexcept;

}  // namespace duet::detail
