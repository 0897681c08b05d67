// The coroutines parked on a stream's events (a reader waiting for data, drains, close
// waiters): intrusive, so parking allocates nothing. Internal to streams.
#pragma once

#include <exception>

#include <duet/coro.hpp>
#include <duet/detail/waiter.hpp>

namespace duet::detail {

class stream_waiter_list;

// A coroutine parked on a stream event (data for a reader, a drain, the close): it lives
// in the awaiting frame, so parking allocates nothing, and it is woken with or without an
// error. Only the copy that suspends is queued.
class stream_waiter : public awaiter_tag {
public:
    explicit stream_waiter(stream_waiter_list& l) noexcept : list_(&l) {}
    stream_waiter(const stream_waiter& o) noexcept : awaiter_tag(), list_(o.list_) {}
    stream_waiter& operator=(const stream_waiter&) = delete;
    ~stream_waiter() { unlink(); }

    bool await_ready() const noexcept { return false; }
    inline void await_suspend(co::coroutine_handle<> h);
    void await_resume() {
        unlink();
        w_.wait().await_resume();  // the task's cancellation, if that is what woke it
        if (error_) std::rethrow_exception(error_);
    }

private:
    friend class stream_waiter_list;
    inline void unlink() noexcept;
    stream_waiter_list* list_;
    stream_waiter* prev_ = nullptr;
    stream_waiter* next_ = nullptr;
    bool linked_ = false;
    waiter w_;
    std::exception_ptr error_;
};

// The coroutines waiting on one event, oldest first (an intrusive list: no allocation).
class stream_waiter_list {
public:
    stream_waiter_list() = default;
    stream_waiter_list(const stream_waiter_list&) = delete;
    stream_waiter_list& operator=(const stream_waiter_list&) = delete;
    ~stream_waiter_list() {
        while (head_) head_->unlink();
    }

    bool empty() const noexcept { return head_ == nullptr; }
    // Wakes every waiter (with `error` if not null) and empties the list.
    void wake_all(const std::exception_ptr& error = nullptr) noexcept {
        while (stream_waiter* w = head_) {
            w->unlink();
            w->error_ = error;
            w->w_.set_result();
        }
    }

private:
    friend class stream_waiter;
    // A circular list reached through its oldest member (one pointer: every reader and
    // stream protocol has lists, mostly empty).
    void push_back(stream_waiter* w) noexcept {
        if (!head_) {
            w->prev_ = w->next_ = w;
            head_ = w;
        } else {
            stream_waiter* tail = head_->prev_;
            w->prev_ = tail;
            w->next_ = head_;
            tail->next_ = w;
            head_->prev_ = w;
        }
        w->linked_ = true;
    }
    void remove(stream_waiter* w) noexcept {
        if (w->next_ == w) {
            head_ = nullptr;
        } else {
            w->prev_->next_ = w->next_;
            w->next_->prev_ = w->prev_;
            if (head_ == w) head_ = w->next_;
        }
        w->prev_ = w->next_ = nullptr;
        w->linked_ = false;
    }
    stream_waiter* head_ = nullptr;
};

inline void stream_waiter::await_suspend(co::coroutine_handle<> h) {
    w_.wait().await_suspend(h);  // throws outside a task, before anything is queued
    list_->push_back(this);
}
inline void stream_waiter::unlink() noexcept {
    if (linked_) list_->remove(this);
}

}  // namespace duet::detail
