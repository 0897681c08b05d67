// duet's native fiber backend: boost::context::fiber on pooled, guarded stacks. Registered
// at static initialisation (linked into every program, like default_loop.cpp).
//
// Sanitizer builds compile this file with -DBOOST_USE_UCONTEXT -DBOOST_USE_ASAN (ASan
// reports false positives on fcontext stacks; Boost then announces each switch to ASan),
// and TSan builds announce switches with __tsan_switch_to_fiber.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>
#include <utility>

#include <cxxabi.h>

#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>

#include <duet/fibers.hpp>

#if defined(__SANITIZE_THREAD__)
#define DUET_TSAN_FIBERS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DUET_TSAN_FIBERS 1
#endif
#endif
#ifdef DUET_TSAN_FIBERS
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
}
#endif

namespace {

namespace bctx = boost::context;

std::size_t page_size() noexcept {
    static const auto p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return p;
}

// Free stacks of this thread, linked through a node at the top of each (memory the last
// fiber already touched). mmap + mprotect per fiber costs ~9 us; a pooled stack ~nothing.
struct free_stack {
    free_stack* next;
    std::size_t total;  // bytes mapped, guard page included
};
constexpr std::size_t max_pooled_stacks = 1024;
thread_local free_stack* pool_head = nullptr;
thread_local std::size_t pool_count = 0;

void unmap(void* top, std::size_t total) noexcept {
    ::munmap(static_cast<char*>(top) - total, total);
}

// Unmaps the thread's pooled stacks when the thread ends.
struct pool_drain {
    pool_drain() = default;
    pool_drain(const pool_drain&) = delete;
    pool_drain& operator=(const pool_drain&) = delete;
    ~pool_drain() {
        while (free_stack* s = pool_head) {
            pool_head = s->next;
            unmap(s + 1, s->total);
        }
        pool_count = 0;
    }
};

// A boost StackAllocator: [guard page][stack ... top], reused through the pool.
class pooled_guarded_stack {
public:
    explicit pooled_guarded_stack(std::size_t usable) noexcept {
        const std::size_t page = page_size();
        total_ = (usable + page - 1) / page * page + page;
    }

    bctx::stack_context allocate() {
        thread_local pool_drain drain;  // constructed once per thread that makes a fiber
        (void)drain;
        bctx::stack_context sc;
        sc.size = total_;
        if (free_stack* s = pool_head; s && s->total == total_) {
            pool_head = s->next;
            --pool_count;
            sc.sp = s + 1;
            return sc;
        }
        void* base = ::mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (base == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap fiber stack");
        if (::mprotect(base, page_size(), PROT_NONE) != 0) {
            const int e = errno;
            ::munmap(base, total_);
            throw std::system_error(e, std::generic_category(), "mprotect fiber stack guard page");
        }
        sc.sp = static_cast<char*>(base) + total_;
        return sc;
    }

    void deallocate(bctx::stack_context& sc) noexcept {
        if (pool_count >= max_pooled_stacks) {
            unmap(sc.sp, sc.size);
            return;
        }
        auto* s = static_cast<free_stack*>(sc.sp) - 1;
        s->next = pool_head;
        s->total = sc.size;
        pool_head = s;
        ++pool_count;
    }

private:
    std::size_t total_;
};

// The C++ runtime's per-thread exception state (libstdc++'s __cxa_eh_globals: the stack of
// exceptions being handled, the count of uncaught ones). Each fiber keeps its own, so a
// fiber suspended inside a catch handler, or during unwinding, does not mix its exceptions
// with those of the stack that runs meanwhile.
struct eh_state {
    void* caught = nullptr;
    unsigned int uncaught = 0;
};
// Looked up once per thread: __cxa_get_globals is a call into libstdc++ and a
// __tls_get_addr on every switch otherwise (its address never changes for a thread).
thread_local eh_state* thread_eh_ptr = nullptr;
eh_state& thread_eh() noexcept {
    if (!thread_eh_ptr) [[unlikely]]
        thread_eh_ptr = reinterpret_cast<eh_state*>(abi::__cxa_get_globals());  // NOLINT: layout above
    return *thread_eh_ptr;
}

class boost_fiber final : public duet::detail::fiber_context {
public:
    boost_fiber(duet::detail::fiber_entry entry, void* arg, std::size_t stack)
        : fiber_(std::allocator_arg, pooled_guarded_stack(stack), [this, entry, arg](bctx::fiber&& caller) {
              caller_ = std::move(caller);
              entry(arg);
#ifdef DUET_TSAN_FIBERS
              __tsan_switch_to_fiber(tsan_caller_, 0);
#endif
              return std::move(caller_);
          }) {
#ifdef DUET_TSAN_FIBERS
        tsan_fiber_ = __tsan_create_fiber(0);
#endif
    }
    ~boost_fiber() override {
#ifdef DUET_TSAN_FIBERS
        __tsan_destroy_fiber(tsan_fiber_);
#endif
    }

    void switch_in() override {
#ifdef DUET_TSAN_FIBERS
        tsan_caller_ = __tsan_get_current_fiber();
        __tsan_switch_to_fiber(tsan_fiber_, 0);
#endif
        eh_state& eh = thread_eh();
        const eh_state caller = eh;
        eh = eh_;
        fiber_ = std::move(fiber_).resume();
        eh_ = eh;
        eh = caller;
    }
    void switch_out() override {
#ifdef DUET_TSAN_FIBERS
        __tsan_switch_to_fiber(tsan_caller_, 0);
#endif
        caller_ = std::move(caller_).resume();
    }

private:
    bctx::fiber fiber_;   // the suspended fiber (empty while it runs and once it ended)
    bctx::fiber caller_;  // inside the fiber: whoever switched in
    eh_state eh_;         // the fiber's exception state while it is switched out
#ifdef DUET_TSAN_FIBERS
    void* tsan_fiber_ = nullptr;
    void* tsan_caller_ = nullptr;
#endif
};

std::unique_ptr<duet::detail::fiber_context> create(duet::detail::fiber_entry entry, void* arg,
                                                    const duet::detail::fiber_stack_sizes& sizes) {
    // Boost needs ~13.5 KB of its own; below 16 KiB a fiber could not even start.
    constexpr std::size_t min_stack = 16 * 1024;
    std::size_t stack = sizes.stack ? sizes.stack : duet::default_fiber_stack_size_native;
    if (stack < min_stack) stack = min_stack;
    return std::make_unique<boost_fiber>(entry, arg, stack);
}

const duet::detail::fiber_backend boost_backend{"boost::context::fiber", &create};
const bool registered = (duet::detail::set_fiber_backend(&boost_backend), true);

}  // namespace
