#include <stdexcept>
#include <string>
#include <utility>

#include <duet/base_events.hpp>
#include <duet/fibers.hpp>

namespace duet {
namespace detail {

namespace {
const fiber_backend* backend = nullptr;

// What a fiber gets out of duet::await once its loop closed under it.
cancelled_error abandoned_error() {
    return cancelled_error("fiber abandoned: its event loop was closed while it was suspended");
}
}  // namespace

void set_fiber_backend(const fiber_backend* b) noexcept {
    backend = b;
}
const fiber_backend* get_fiber_backend() noexcept {
    return backend;
}

void require_fibers() {
    if (!backend)
        throw not_supported_error(
            "spawn_fiber: this program has no fibers; in wasm they need ASYNCIFY: link the program with "
            "duet_blocking_run(<target>) in CMake (-sASYNCIFY)");
}

fiber_frame::fiber_frame(fiber_entry entry, const fiber_options& o) noexcept
    : entry_(entry), sizes_{o.stack_size, o.asyncify_stack_size} {}

fiber_frame::~fiber_frame() {
    if (!ctx_) return;
    if (!finished_) {
        // Its loop closed (the root coroutine is being destroyed): every duet::await
        // throws from now on, so the fiber unwinds and ends on its own.
        abandoned_ = true;
        while (run()) {
        }
    }
    ctx_.reset();
}

void fiber_frame::entry_thunk(void* self) noexcept {
    auto* f = static_cast<fiber_frame*>(self);
    f->entry_(f);
    f->finished_ = true;
}

void fiber_frame::start() {
    require_fibers();
    task_ = current_task_core();
    ctx_ = backend->create(&entry_thunk, this, sizes_);
}

void fiber_frame::throw_abandoned() {
    throw abandoned_error();
}

void fiber_await_refused() {
    fiber_frame* f = current_fiber();
    if (!f)
        throw std::runtime_error(
            "duet::await called outside a fiber (spawn_fiber runs a function as a fiber; a coroutine uses co_await)");
    if (f->abandoned()) throw abandoned_error();
    // A coroutine task stepped eagerly from a fiber's stack is not the fiber.
    task_core* t = current_task_core();
    throw std::runtime_error("duet::await called from task " + (t ? t->name() : std::string("<none>")) +
                             ", which runs on fiber " + f->task()->name() +
                             "'s stack but is not that fiber (use co_await there)");
}

}  // namespace detail

bool fibers_supported() noexcept {
    return detail::get_fiber_backend() != nullptr;
}

}  // namespace duet
