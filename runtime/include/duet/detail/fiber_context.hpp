// The stack-switching backend fibers run on (fibers.hpp): a target registers one at static
// initialisation (natively Boost.Context, native/src/fiber_boost.cpp; in ASYNCIFY wasm
// builds emscripten_fiber_*, wasm/src/fiber_emscripten.cpp). The runtime itself only
// switches through this interface.
#pragma once

#include <cstddef>
#include <memory>

namespace duet::detail {

// What runs on a fiber's stack. It must not throw; when it returns the fiber is finished
// and control goes back, for the last time, to whoever switched in.
using fiber_entry = void (*)(void* arg) noexcept;

// One fiber's stack and saved registers.
class fiber_context {
public:
    fiber_context() = default;
    fiber_context(const fiber_context&) = delete;
    fiber_context& operator=(const fiber_context&) = delete;
    // Called only once the entry function has returned (a fiber is never destroyed
    // suspended: no forced unwinding).
    virtual ~fiber_context() = default;
    // From any stack: runs the fiber until it switches out or its entry returns.
    virtual void switch_in() = 0;
    // From the fiber's own stack: back to the switch_in that ran it.
    virtual void switch_out() = 0;
};

struct fiber_stack_sizes {
    std::size_t stack = 0;     // bytes of machine (or wasm C) stack
    std::size_t asyncify = 0;  // wasm only: bytes of the fiber's own asyncify buffer
};

struct fiber_backend {
    const char* name;
    // A fiber that will run entry(arg) on its first switch_in.
    std::unique_ptr<fiber_context> (*create)(fiber_entry entry, void* arg, const fiber_stack_sizes& sizes);
};

// Installs the target's backend (static initialisation; never raises).
void set_fiber_backend(const fiber_backend* b) noexcept;
// The registered backend, or null when this build has none.
const fiber_backend* get_fiber_backend() noexcept;

}  // namespace duet::detail
