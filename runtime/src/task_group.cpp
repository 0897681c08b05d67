#include <stdexcept>

#include <duet/task_group.hpp>

namespace duet {

task_group::~task_group() {
    // Only reachable with children pending when the parent's frame is destroyed while
    // suspended (its loop closed): their callbacks must not call into a dead group.
    for (auto& c : slots_)
        if (c.task && !c.task->done()) c.task->remove_done_callback(c.callback_id);
}

void task_group::enter() {
    if (entered_) throw std::runtime_error("TaskGroup has already been entered");
    abstract_event_loop* loop = running_loop();
    std::optional<task_ref> t = loop ? current_task(*loop) : std::nullopt;
    if (!t || !t->is_duet_task()) throw std::runtime_error("TaskGroup cannot determine the parent task");
    loop_ = &loop->base();
    parent_ = std::move(*t);
    entered_ = true;
}

void task_group::check_can_create() const {
    if (!entered_) throw std::runtime_error("TaskGroup has not been entered");
    if (exiting_ && live_ == 0) throw std::runtime_error("TaskGroup is finished");
    if (aborting_) throw std::runtime_error("TaskGroup is shutting down");
}

void task_group::adopt(const basic_task& t) {
    detail::future_core* core = t.core();
    if (core->done()) {
        // Finished already (an eager task): no callback needed.
        note_result(*core);
        return;
    }
    std::uint32_t slot;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(slots_.size());
        slots_.emplace_back();
        // on_task_done gives the slot back without allocating.
        free_.reserve(slots_.size());
    }
    std::uint32_t id;
    try {
        id = core->add_done_callback([this, slot](detail::future_core& c) noexcept { on_task_done(c, slot); });
    } catch (...) {
        free_.push_back(slot);
        throw;
    }
    slots_[slot] = child{detail::intrusive_ptr<detail::future_core>(core), id};
    ++live_;
}

void task_group::on_task_done(detail::future_core& t, std::uint32_t slot) noexcept {
    slots_[slot] = child{};
    free_.push_back(slot);
    --live_;
    if (on_completed_ && live_ == 0 && !on_completed_.done()) on_completed_.set_result();
    note_result(t);
}

void task_group::note_result(detail::future_core& t) noexcept {
    if (t.cancelled()) return;
    std::exception_ptr e = t.exception();
    if (!e) return;
    try {
        errors_.push_back(e);
    } catch (...) {
    }
    if (parent_.done()) {
        // asyncio handles this case too, though it should not happen.
        exception_context ctx;
        ctx.message = "Task has errored out but its parent task " + parent_.get_name() + " is already completed";
        ctx.exception = e;
        ctx.task = basic_task(detail::intrusive_ptr<detail::future_core>(&t));
        loop_->call_exception_handler(ctx);
        return;
    }
    if (!aborting_ && !parent_cancel_requested_) {
        // Cancel the siblings and whatever the parent is awaiting (the body, or exit()),
        // and remember to take that cancellation back in exit().
        abort();
        parent_cancel_requested_ = true;
        parent_.cancel();
    }
}

void task_group::abort() noexcept {
    aborting_ = true;
    for (auto& c : slots_)
        if (c.task && !c.task->done()) c.task->cancel({});
}

coro<void> task_group::exit(std::exception_ptr body_error) {
    exiting_ = true;
    const bool body_cancelled = detail::is_cancelled_error(body_error);
    std::exception_ptr propagate_cancel = body_cancelled ? body_error : nullptr;
    // The parent is being cancelled, or the body failed: stop the children.
    if (body_error && !aborting_) abort();
    // A loop: the wait can be cancelled several times (the parent cancelled repeatedly,
    // or while our own cancellation is under way).
    while (live_ > 0) {
        if (!on_completed_) on_completed_ = loop_->create_future<void>();
        try {
            co_await on_completed_;
        } catch (const cancelled_error&) {
            if (!aborting_) {
                // The parent is cancelled from outside while only children are left.
                propagate_cancel = std::current_exception();
                abort();
            }
        }
        on_completed_ = {};
    }
    if (parent_cancel_requested_) {
        // We cancelled the parent ourselves: take it back. If no other cancellation is
        // pending, the one the body or the wait received was ours: do not propagate it.
        if (parent_.uncancel() == 0) propagate_cancel = nullptr;
    }
    // A cancellation propagates unless there are failures: those have priority.
    if (propagate_cancel && errors_.empty()) std::rethrow_exception(propagate_cancel);
    if (body_error && !body_cancelled) errors_.push_back(body_error);
    if (!errors_.empty()) {
        // The failures replace a cancellation from outside: re-arm it (uncancel, then
        // cancel) so the parent's cancelling() count stays as it was and the parent is
        // still cancelled at its next suspension (CPython gh-116720).
        if (parent_.cancelling() > 0) {
            parent_.uncancel();
            parent_.cancel();
        }
        auto errors = std::move(errors_);
        errors_.clear();
        throw exception_group("unhandled errors in a TaskGroup", std::move(errors));
    }
}

}  // namespace duet
