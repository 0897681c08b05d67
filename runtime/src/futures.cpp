#include <duet/base_events.hpp>
#include <duet/futures.hpp>
#include <duet/tasks.hpp>

namespace duet::detail {

namespace {
// Callback ids are unique per thread (a future belongs to one loop thread), which is all
// remove_done_callback(id) needs, and cost no per-future counter.
thread_local std::uint32_t last_callback_id = 0;
}  // namespace

void* callback_node::operator new(std::size_t) {
    return allocate_fixed<callback_node>();
}
void callback_node::operator delete(void* p) noexcept {
    deallocate_fixed<callback_node>(p);
}

void callback_node::run_thunk(void* self, bool run) noexcept {
    auto* n = static_cast<callback_node*>(self);
    future_core* f = n->fut;
    if (run) {
        // In its captured context, or (none captured) in the loop's callback context,
        // emptied after it (see handle_node::run).
        if (n->ctx) [[unlikely]] {
            context_scope in_own_context(&n->ctx);
            n->invoke();
        } else {
            n->invoke();
            f->loop().forget_callback_context();
        }
    }
    delete n;  // its captures go before the future's reference
    f->release();
}

void callback_node::invoke() noexcept {
    try {
        fn(*fut);
    } catch (...) {
        exception_context report;
        report.message = "Exception in callback";
        report.exception = std::current_exception();
        if (fut->is_task())
            report.task = basic_task(intrusive_ptr<future_core>(fut));
        else
            report.future = basic_future(intrusive_ptr<future_core>(fut));
        fut->loop().call_exception_handler(report);
    }
}

future_core::~future_core() {
    drop_links();
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

void future_core::finish_with_exception(std::exception_ptr e) noexcept {
    ::new (static_cast<void*>(error_slot())) std::exception_ptr(std::move(e));
    state_ = status::failed;
    log_exception_ = true;
    schedule_callbacks();
}

void future_core::set_exception(std::exception_ptr e) {
    check_settable("set_exception");
    if (!e) throw std::invalid_argument("set_exception: null exception_ptr");
    // asyncio refuses StopIteration here; cancellation must go through cancel().
    if (is_cancelled_error(e))
        throw std::invalid_argument("set_exception: cancelled_error cannot be set as an exception; use cancel()");
    finish_with_exception(std::move(e));
}

void future_core::check_result_slow() {
    if (state_ == status::cancelled) throw make_cancelled_error();
    if (state_ == status::pending) throw invalid_state_error("Result is not ready.");
    log_exception_ = false;
    std::rethrow_exception(*error_slot());
}

std::exception_ptr future_core::exception() {
    if (state_ == status::cancelled) throw make_cancelled_error();
    if (state_ == status::pending) throw invalid_state_error("Exception is not set.");
    log_exception_ = false;
    return state_ == status::failed ? *error_slot() : nullptr;
}

std::uint32_t future_core::add_done_callback(done_fn fn) {
    std::uint32_t id = ++last_callback_id;
    if (state_ != status::pending) {
        // Already done: schedule at once, never run inline.
        intrusive_ptr<future_core> self(this);
        loop_->call_soon([fn = std::move(fn), self]() mutable { fn(*self); });
        return id;
    }
    push_link(new callback_node(std::move(fn), id));
    return id;
}

bool future_core::unlink(done_link* l) noexcept {
    if (!tail_) return false;
    done_link* prev = tail_;
    do {
        done_link* cur = prev->next();
        if (cur == l) {
            if (cur == prev) {
                tail_ = nullptr;
            } else {
                prev->set_next(cur->next());
                if (cur == tail_) tail_ = prev;
            }
            l->set_next(nullptr);
            return true;
        }
        prev = cur;
    } while (prev != tail_);
    return false;
}

std::size_t future_core::remove_done_callback(std::uint32_t id) noexcept {
    if (!tail_) return 0;
    done_link* l = tail_;
    do {
        l = l->next();
        if (l->link_kind() == done_link::callback && static_cast<callback_node*>(l)->id == id) {
            unlink(l);
            delete static_cast<callback_node*>(l);
            return 1;
        }
    } while (l != tail_);
    return 0;
}

std::size_t future_core::remove_done_callbacks(bool (*match)(done_fn& fn, const void* arg), const void* arg) noexcept {
    // Rebuilds the FIFO without the matching callbacks, keeping the order of the rest.
    std::size_t n = 0;
    done_link* l = take_links();
    while (l) {
        done_link* next = l->next();
        if (l->link_kind() == done_link::callback && match(static_cast<callback_node*>(l)->fn, arg)) {
            delete static_cast<callback_node*>(l);
            ++n;
        } else {
            push_link(l);
        }
        l = next;
    }
    return n;
}

void future_core::add_waiter(task_core* t) noexcept {
    push_link(t->wait_link());
}

void future_core::remove_waiter(task_core* t) noexcept {
    unlink(t->wait_link());
}

void future_core::schedule_callbacks() noexcept {
    base_event_loop& loop = *loop_;
    for (done_link* l = take_links(); l;) {
        done_link* next = l->next();
        l->set_next(nullptr);
        switch (l->link_kind()) {
            case done_link::waiting_task: {
                task_core* t = task_core::from_wait_link(l);
                t->add_ref();
                loop.push_ready(&task_core::wakeup_thunk, t);
                break;
            }
            case done_link::callback: {
                auto* n = static_cast<callback_node*>(l);
                n->fut = this;
                add_ref();
                loop.push_ready(&callback_node::run_thunk, n);
                break;
            }
            case done_link::gather_child:
                loop.push_ready(state_ == status::finished ? &gather_child_done_with_result : &gather_child_done, l);
                break;
            default: {
                auto* o = static_cast<done_observer*>(l);
                loop.push_ready(o->notify, o);
                break;
            }
        }
        l = next;
    }
}

void future_core::drop_links() noexcept {
    for (done_link* l = take_links(); l;) {
        done_link* next = l->next();
        l->set_next(nullptr);
        // A waiting task holds a reference to this future: it only meets a dropped list
        // when its own task is abandoned, and then it is simply forgotten.
        if (l->link_kind() == done_link::callback) {
            delete static_cast<callback_node*>(l);
        } else if (l->link_kind() == done_link::observer) {
            auto* o = static_cast<done_observer*>(l);
            o->notify(o, false);
        } else if (l->link_kind() == done_link::gather_child) {
            gather_child_done(l, false);
        }
        l = next;
    }
}

void future_core::report_unretrieved() noexcept {
    if (!base_event_loop::alive(loop_)) return;
    exception_context ctx;
    ctx.message = is_task_ ? "Task exception was never retrieved" : "Future exception was never retrieved";
    ctx.exception = *error_slot();
    if (is_task_) {
        ctx.task = basic_task(intrusive_ptr<future_core>(this));
        // A task's report runs in the task's context, as asyncio's does (gh-96704): the
        // handler sees the values the task had set.
        context_scope in_task_context(&static_cast<task_core*>(this)->ctx_);
        loop_->call_exception_handler(ctx);
        return;
    }
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
