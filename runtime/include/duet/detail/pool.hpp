// Per-thread free lists for fixed-size blocks. Hot objects (handles, futures, task frames)
// come back to the list instead of the allocator: in steady state nothing is returned to
// the OS and no fresh page is touched (a fresh page costs ~10 us on these machines).
#pragma once

#include <cstddef>
#include <new>

namespace duet::detail {

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
        list& l = free_list();
        if (node* n = l.head) {
            l.head = n->next;
            return n;
        }
        return ::operator new(block);
    }
    static void deallocate(void* p) noexcept {
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
