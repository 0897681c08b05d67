#include <algorithm>

#include <duet/base_events.hpp>
#include <duet/futures.hpp>
#include <duet/tasks.hpp>

namespace duet::detail {

future_core::~future_core() {
    drop_observers();
}

future_core::cold_state& future_core::cold() {
    if (!cold_) cold_ = std::make_unique<cold_state>();
    return *cold_;
}

const std::string& future_core::cancel_message() const noexcept {
    static const std::string none;
    return cold_ ? cold_->cancel_message : none;
}

bool future_core::cancel(std::string msg) {
    return cancel_self(std::move(msg));
}

bool future_core::cancel_self(std::string msg) {
    log_exception_ = false;
    if (state_ != status::pending) return false;
    state_ = status::cancelled;
    if (!msg.empty() || cold_) cold().cancel_message = std::move(msg);
    schedule_callbacks();
    return true;
}

void future_core::throw_not_settable(const char* what) const {
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

void future_core::check_result_slow() {
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
    std::uint32_t id = ++cold().next_callback_id;
    if (state_ != status::pending) {
        // Already done: schedule at once, never run inline.
        intrusive_ptr<future_core> self(this);
        loop_->call_soon([fn = std::move(fn), self]() mutable { fn(*self); });
        return id;
    }
    cold_->callbacks.push_back({std::move(fn), key, nullptr, id});
    return id;
}

std::size_t future_core::remove_done_callback(std::uint32_t id) noexcept {
    if (!cold_) return 0;
    auto& cbs = cold_->callbacks;
    auto it = std::find_if(cbs.begin(), cbs.end(), [&](const done_entry& e) { return e.id == id; });
    if (it == cbs.end()) return 0;
    cbs.erase(it);
    return 1;
}

std::size_t future_core::remove_done_callback_key(const void* key) noexcept {
    if (!cold_) return 0;
    auto& cbs = cold_->callbacks;
    auto n = cbs.size();
    std::erase_if(cbs, [&](const done_entry& e) { return key && e.key == key; });
    return n - cbs.size();
}

void future_core::add_waiter(task_core* t) {
    if (!first_waiter_ && !has_callbacks()) {
        first_waiter_ = t;
        return;
    }
    auto& c = cold();
    c.callbacks.push_back({nullptr, nullptr, t, ++c.next_callback_id});
}

void future_core::remove_waiter(task_core* t) noexcept {
    if (first_waiter_ == t) {
        first_waiter_ = nullptr;
        return;
    }
    if (cold_) std::erase_if(cold_->callbacks, [&](const done_entry& e) { return e.waker == t; });
}

void future_core::schedule_callbacks() noexcept {
    base_event_loop& loop = *loop_;
    if (task_core* t = std::exchange(first_waiter_, nullptr)) {
        t->add_ref();
        loop.push_ready(&task_core::wakeup_thunk, t);
    }
    if (has_callbacks()) {
        auto cbs = std::move(cold_->callbacks);
        cold_->callbacks.clear();
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
    if (observers_) {
        // The list is newest first: reverse it into registration order.
        done_observer* ordered = nullptr;
        done_observer* o = std::exchange(observers_, nullptr);
        while (o) {
            done_observer* next = o->next_observer;
            o->next_observer = ordered;
            ordered = o;
            o = next;
        }
        for (o = ordered; o;) {
            done_observer* next = std::exchange(o->next_observer, nullptr);
            loop.push_ready(o->notify, o);
            o = next;
        }
    }
}

void future_core::drop_observers() noexcept {
    for (done_observer* o = std::exchange(observers_, nullptr); o;) {
        done_observer* next = std::exchange(o->next_observer, nullptr);
        o->notify(o, false);
        o = next;
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
