#include <duet/base_events.hpp>
#include <duet/detail/pool.hpp>
#include <duet/handles.hpp>

namespace duet::detail {

void* handle_node::operator new(std::size_t) {
    return allocate_fixed<handle_node>();
}
void handle_node::operator delete(void* p) noexcept {
    deallocate_fixed<handle_node>(p);
}

void handle_node::cancel() noexcept {
    if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
    if (in_heap_) loop_->note_timer_cancelled();
}

void handle_node::run() {
    if (cancelled()) return;
    if (ctx_) [[unlikely]] {
        context_scope in_own_context(&ctx_);
        invoke();
        return;
    }
    // No captured values: the loop's callback context is current (it is empty), and
    // whatever the callback set there goes with it.
    invoke();
    loop_->forget_callback_context();
}

void handle_node::invoke() noexcept {
    try {
        fn_();
        // A handle runs once: its captures go now, not when the last handle dies (a
        // callback that holds its own handle would otherwise keep itself alive).
        fn_.reset();
    } catch (...) {
        fn_.reset();
        failed(std::current_exception());
    }
}

// Out of line, so that run() stays as small as the common case needs.
void handle_node::failed(std::exception_ptr e) noexcept {
    if (is_base_tier(e)) [[unlikely]] {
        loop_->raise_base_exception(std::move(e));
        return;
    }
    exception_context ctx;
    ctx.message = "Exception in callback";
    ctx.exception = std::move(e);
    ctx.handle = duet::handle(intrusive_ptr<handle_node>(this));
    loop_->call_exception_handler(ctx);
}

}  // namespace duet::detail
