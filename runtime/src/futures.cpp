#include <algorithm>

#include <duet/base_events.hpp>
#include <duet/futures.hpp>
#include <duet/tasks.hpp>

namespace duet::detail {

future_core::~future_core() = default;

bool future_core::cancel(std::string msg) {
    return cancel_self(std::move(msg));
}

bool future_core::cancel_self(std::string msg) {
    log_exception_ = false;
    if (state_ != status::pending) return false;
    state_ = status::cancelled;
    cancel_message_ = std::move(msg);
    schedule_callbacks();
    return true;
}

void future_core::check_settable(const char* what) const {
    if (state_ != status::pending)
        throw invalid_state_error(std::string(what) + ": the future is already " +
                                  (state_ == status::cancelled ? "cancelled" : "done"));
}

void future_core::finish_with_result() noexcept {
    state_ = status::finished;
    schedule_callbacks();
}

void future_core::set_exception(std::exception_ptr e) {
    check_settable("set_exception");
    if (!e) throw std::invalid_argument("set_exception: null exception_ptr");
    try {
        std::rethrow_exception(e);
    } catch (const cancelled_error&) {
        // asyncio refuses StopIteration here; cancellation must go through cancel().
        throw std::invalid_argument("set_exception: cancelled_error cannot be set as an exception; use cancel()");
    } catch (...) {
    }
    exception_ = std::move(e);
    state_ = status::finished;
    log_exception_ = true;
    schedule_callbacks();
}

void future_core::check_result() {
    if (state_ == status::cancelled) throw make_cancelled_error();
    if (state_ == status::pending) throw invalid_state_error("Result is not ready.");
    log_exception_ = false;
    if (exception_) std::rethrow_exception(exception_);
}

std::exception_ptr future_core::exception() {
    if (state_ == status::cancelled) throw make_cancelled_error();
    if (state_ == status::pending) throw invalid_state_error("Exception is not set.");
    log_exception_ = false;
    return exception_;
}

std::uint32_t future_core::add_done_callback(done_fn fn, const void* key) {
    std::uint32_t id = ++next_callback_id_;
    if (state_ != status::pending) {
        // Already done: schedule at once, never run inline.
        intrusive_ptr<future_core> self(this);
        loop_->call_soon([fn = std::move(fn), self]() mutable { fn(*self); });
        return id;
    }
    callbacks_.push_back({std::move(fn), key, nullptr, id});
    return id;
}

std::size_t future_core::remove_done_callback(std::uint32_t id) noexcept {
    auto it = std::find_if(callbacks_.begin(), callbacks_.end(), [&](const done_entry& e) { return e.id == id; });
    if (it == callbacks_.end()) return 0;
    callbacks_.erase(it);
    return 1;
}

std::size_t future_core::remove_done_callback_key(const void* key) noexcept {
    auto n = callbacks_.size();
    std::erase_if(callbacks_, [&](const done_entry& e) { return key && e.key == key; });
    return n - callbacks_.size();
}

void future_core::add_waiter(task_core* t) {
    if (!first_waiter_ && callbacks_.empty()) {
        first_waiter_ = t;
        return;
    }
    callbacks_.push_back({nullptr, nullptr, t, ++next_callback_id_});
}

void future_core::remove_waiter(task_core* t) noexcept {
    if (first_waiter_ == t) {
        first_waiter_ = nullptr;
        return;
    }
    std::erase_if(callbacks_, [&](const done_entry& e) { return e.waker == t; });
}

void future_core::schedule_callbacks() noexcept {
    base_event_loop& loop = *loop_;
    if (task_core* t = std::exchange(first_waiter_, nullptr)) {
        t->add_ref();
        loop.push_ready(&task_core::wakeup_thunk, t);
    }
    if (callbacks_.empty()) return;
    auto cbs = std::move(callbacks_);
    callbacks_.clear();
    for (auto& e : cbs) {
        if (e.waker) {
            e.waker->add_ref();
            loop.push_ready(&task_core::wakeup_thunk, e.waker);
        } else {
            intrusive_ptr<future_core> self(this);
            loop.push_handle(new handle_node(
                &loop, [fn = std::move(e.fn), self]() mutable { fn(*self); }, false));
        }
    }
}

void future_core::report_unretrieved() noexcept {
    if (!base_event_loop::alive(loop_)) return;
    exception_context ctx;
    ctx.message = is_task_ ? "Task exception was never retrieved" : "Future exception was never retrieved";
    ctx.exception = exception_;
    if (is_task_)
        ctx.task = basic_task(intrusive_ptr<future_core>(this));
    else
        ctx.future = basic_future(intrusive_ptr<future_core>(this));
    loop_->call_exception_handler(ctx);
}

void future_core::last_release() noexcept {
    if (log_exception_ && !reported_) {
        reported_ = true;
        log_exception_ = false;
        refs_ = 1;  // keep alive while the handler looks at it
        report_unretrieved();
        if (--refs_ != 0) return;  // the handler kept a reference
    }
    delete this;
}

}  // namespace duet::detail
