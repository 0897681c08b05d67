// duet's wasm fiber backend: emscripten_fiber_* (Emscripten 3.1.6). They need ASYNCIFY,
// so this file is compiled only into programs linked through duet_blocking_run(target)
// (backends/browser/CMakeLists.txt); elsewhere no backend is registered and spawn_fiber
// raises not_supported_error.
//
// Per fiber: one malloc'd block holding its C stack (fiber_options::stack_size, default
// 64 KiB) and its own asyncify buffer (fiber_options::asyncify_stack_size, default 16 KiB;
// -sASYNCIFY_STACK_SIZE does not size it). While the fiber is suspended that buffer holds
// every frame of its stack, so it must grow with the call depth at which it awaits.
//
// The traps of docs/TOOLCHAIN.md ("Emscripten 3.1.6 fibers"):
// - a swap from a JS callback while main is suspended (duet_host_block, emscripten_sleep)
//   overwrites Asyncify.currData, and main's rewind then fails: switch_in saves it and puts
//   it back once control returns;
// - an exception escaping the entry function aborts: fibers.hpp's entry catches everything
//   and hands it to the task;
// - each fiber's asyncify buffer is sized separately (above).
#include <emscripten/emscripten.h>
#include <emscripten/fiber.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include <duet/fibers.hpp>

namespace {

// NOLINTBEGIN: JS glue
EM_JS(void*, duet_fiber_get_asyncify_data, (), { return Asyncify.currData || 0; });
EM_JS(void, duet_fiber_set_asyncify_data, (void* data), { Asyncify.currData = data || null; });
// NOLINTEND

// The asyncify buffer of whoever switches in (main's stack, a JS callback's, or a fiber
// running a nested fiber): while the fiber runs, the caller's frames wait there. One per
// nesting level, reused; sized like -sASYNCIFY_STACK_SIZE (the blocking run's buffer,
// which holds the same frames).
constexpr std::size_t caller_asyncify_size = 64 * 1024;
std::vector<std::unique_ptr<char[]>> caller_buffers;
std::size_t nesting = 0;

std::size_t round16(std::size_t n) {
    return (n + 15) / 16 * 16;
}

class em_fiber final : public duet::detail::fiber_context {
public:
    em_fiber(duet::detail::fiber_entry entry, void* arg, std::size_t stack, std::size_t asyncify)
        : entry_(entry), arg_(arg) {
        stack = round16(stack);
        asyncify = round16(asyncify);
        mem_ = static_cast<char*>(std::malloc(stack + asyncify));
        if (!mem_) throw std::bad_alloc();
        emscripten_fiber_init(&fiber_, &run, this, mem_, stack, mem_ + stack, asyncify);
    }
    ~em_fiber() override { std::free(mem_); }

    void switch_in() override {
        if (caller_buffers.size() <= nesting) caller_buffers.push_back(std::make_unique<char[]>(caller_asyncify_size));
        char* buf = caller_buffers[nesting].get();
        ++nesting;
        void* saved = duet_fiber_get_asyncify_data();
        emscripten_fiber_init_from_current_context(&caller_, buf, caller_asyncify_size);
        emscripten_fiber_swap(&caller_, &fiber_);
        duet_fiber_set_asyncify_data(saved);
        --nesting;
    }
    void switch_out() override { emscripten_fiber_swap(&fiber_, &caller_); }

private:
    static void run(void* self) {
        auto* f = static_cast<em_fiber*>(self);
        f->entry_(f->arg_);
        // The entry must not return into the JS trampoline: the fiber ends by switching
        // back for good (it is never resumed again).
        emscripten_fiber_swap(&f->fiber_, &f->caller_);
    }

    duet::detail::fiber_entry entry_;
    void* arg_;
    char* mem_ = nullptr;
    emscripten_fiber_t fiber_{};
    emscripten_fiber_t caller_{};
};

std::unique_ptr<duet::detail::fiber_context> create(duet::detail::fiber_entry entry, void* arg,
                                                    const duet::detail::fiber_stack_sizes& sizes) {
    const std::size_t stack = sizes.stack ? sizes.stack : duet::default_fiber_stack_size_wasm;
    const std::size_t asyncify = sizes.asyncify ? sizes.asyncify : duet::default_fiber_asyncify_size;
    return std::make_unique<em_fiber>(entry, arg, stack, asyncify);
}

const duet::detail::fiber_backend emscripten_backend{"emscripten_fiber", &create};
const bool registered = (duet::detail::set_fiber_backend(&emscripten_backend), true);

}  // namespace
