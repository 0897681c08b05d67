#include <utility>

#include <duet/gather.hpp>

namespace duet::detail {

gather_core::~gather_core() {
    drop_children();
}

void gather_core::drop_children() noexcept {
    if (took_every_child_) return;
    for (auto& l : links_)
        if (l.child) std::exchange(l.child, nullptr)->release();
}

bool gather_core::cancel(std::string msg) {
    if (done()) return false;
    bool any = false;
    // Every position, as asyncio's _GatheringFuture.cancel: a child given twice is asked twice.
    for (auto& l : links_)
        if (l.child->cancel(msg)) any = true;
    if (any) {
        cancel_requested_ = true;
        cancel_msg_ = std::move(msg);
    }
    return any;
}

void gather_core::start(bool clear_marks) noexcept {
    bool any_done = false;
    for (auto& l : links_) {
        if (clear_marks) l.child->set_mark(false);
        if (!l.self) continue;
        if (l.child->done()) {
            any_done = true;
        } else {
            add_ref();
            l.child->add_observer(&l);
        }
    }
    finish_starting(any_done);
}

void gather_core::finish_starting(bool any_done) noexcept {
    // Children done already are processed now, in argument order (asyncio does the same);
    // nothing can finish the others meanwhile.
    if (any_done)
        for (auto& l : links_)
            if (l.self && l.child->done()) on_child_done(*l.child);
    if (links_.empty()) {
        try {
            assemble();
        } catch (...) {
            finish_with_exception(std::current_exception());
        }
    }
}

void gather_core::add_and_subscribe(future_core* c) noexcept {
    child_link& l = links_.emplace_back();  // sized beforehand: cannot throw
    c->add_ref();
    l.child = c;
    if (c->done()) {
        // Rare: found again through its mark (cleared by subscribed_all).
        if (c->marked()) return;
        c->set_mark(true);
        any_done_at_start_ = true;
    } else {
        // A pending child subscribed to by an earlier position: nothing else runs during
        // the pass, so that subscription is still its latest one. (Were the range's own
        // iteration to register something on it in between, the child would only be
        // subscribed to twice: counted twice, notified twice, with the same result.)
        const done_link* last = c->last_registration();
        if (last && last->link_kind() == done_link::gather_child && static_cast<const child_link*>(last)->self == this)
            return;
        add_ref();
        c->add_observer(&l);
    }
    l.self = this;
    ++ndistinct_;
}

void gather_core::subscribed_all() noexcept {
    if (any_done_at_start_)
        for (auto& l : links_) l.child->set_mark(false);
    finish_starting(any_done_at_start_);
}

void gather_core::abandon_subscriptions() noexcept {
    // Latest first: each is then its child's latest registration.
    for (std::size_t i = links_.size(); i-- > 0;) {
        child_link& l = links_[i];
        if (!l.self) continue;
        if (l.child->done()) {
            l.child->set_mark(false);
        } else {
            l.child->remove_observer(&l);
            release();
        }
        l.self = nullptr;
    }
    ndistinct_ = 0;
}

void gather_child_done(void* link, bool run) noexcept {
    auto* l = static_cast<gather_core::child_link*>(static_cast<done_link*>(link));
    gather_core* self = l->self;
    if (run) self->on_child_done(*l->child);
    self->release();
}

void gather_child_done_with_result(void* link, bool run) noexcept {
    gather_core* self = static_cast<gather_core::child_link*>(static_cast<done_link*>(link))->self;
    if (run) self->on_child_result();
    self->release();
}

void gather_core::on_child_result() noexcept {
    ++nfinished_;
    if (done() || nfinished_ < ndistinct_) return;
    on_every_child_done();
}

void gather_core::on_child_done(future_core& c) noexcept {
    ++nfinished_;
    if (done()) {
        // The gather already ended (first failure, or cancelled): mark the exception
        // retrieved so it is not reported.
        if (!c.cancelled()) (void)c.exception();
        return;
    }
    if (!return_exceptions_ && !c.finished_with_result()) {
        if (c.cancelled()) {
            finish_with_exception(std::make_exception_ptr(c.make_cancelled_error()));
            return;
        }
        finish_with_exception(c.exception());
        return;
    }
    if (nfinished_ < ndistinct_) return;
    on_every_child_done();
}

void gather_core::on_every_child_done() noexcept {
    if (cancel_requested_) {
        // Cancelled, but a child swallowed its cancellation: still a cancellation. The
        // children's outcomes count as looked at (asyncio collects them first).
        for (auto& l : links_)
            if (!l.child->cancelled()) (void)l.child->exception();
        finish_with_exception(std::make_exception_ptr(cancelled_error(cancel_msg_)));
        return;
    }
    try {
        assemble();
    } catch (...) {
        finish_with_exception(std::current_exception());
    }
}

}  // namespace duet::detail
