#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include <duet/wait.hpp>

namespace duet::detail {

namespace {

// Shared by wait_impl and the done callbacks it registers (a callback may already be
// queued when wait returns, so the state outlives the coroutine's frame).
struct wait_state {
    future<void> waiter;
    std::size_t counter;
    return_when rw;
};

void release_waiter(future<void>& w) {
    if (!w.done()) w.set_result();
}

}  // namespace

void check_return_when(return_when rw) {
    switch (rw) {
        case return_when::first_completed:
        case return_when::first_exception:
        case return_when::all_completed:
            return;
    }
    throw std::invalid_argument("Invalid return_when value: " + std::to_string(static_cast<int>(rw)));
}

coro<void> wait_impl(const std::vector<future_core*>& fs, return_when rw, std::optional<double> timeout) {
    abstract_event_loop& loop = get_running_loop();
    auto st = std::make_shared<wait_state>(wait_state{loop.create_future<void>(), fs.size(), rw});
    timer_handle timer;
    if (timeout) timer = loop.call_later(*timeout, [w = st->waiter]() mutable { release_waiter(w); });
    std::vector<std::uint32_t> ids;
    ids.reserve(fs.size());
    for (future_core* f : fs) {
        ids.push_back(f->add_done_callback([st](future_core& c) {
            --st->counter;
            // As asyncio: FIRST_EXCEPTION looks at the exception, which marks it retrieved.
            if (st->counter == 0 || st->rw == return_when::first_completed ||
                (st->rw == return_when::first_exception && !c.cancelled() && c.exception()))
                release_waiter(st->waiter);
        }));
    }
    auto cleanup = [&]() noexcept {
        timer.cancel();
        for (std::size_t i = 0; i < fs.size(); ++i) fs[i]->remove_done_callback(ids[i]);
    };
    try {
        co_await st->waiter;
    } catch (...) {
        cleanup();
        throw;
    }
    cleanup();
}

coro<void> cancel_and_wait(future_core& f) {
    abstract_event_loop& loop = get_running_loop();
    future<void> waiter = loop.create_future<void>();
    auto id = f.add_done_callback([waiter](future_core&) mutable { release_waiter(waiter); });
    try {
        f.cancel({});
        // Not `co_await f`: awaiting the waiter keeps this step itself cancellable.
        co_await waiter;
    } catch (...) {
        f.remove_done_callback(id);
        throw;
    }
    f.remove_done_callback(id);
}

// ---- as_completed

as_completed_state::~as_completed_state() {
    timer_.cancel();
}

void as_completed_state::start(abstract_event_loop& loop, std::vector<future_core*> items,
                               std::optional<double> timeout) {
    loop_ = &loop;
    total_ = todo_ = items.size();
    items_.reserve(items.size());
    ids_.assign(items.size(), 0);
    subscribed_.assign(items.size(), true);
    auto self = shared_from_this();
    for (std::size_t i = 0; i < items.size(); ++i) {
        items_.emplace_back(items[i]);
        ids_[i] = items[i]->add_done_callback([self, i](future_core&) noexcept { self->on_done(i); });
    }
    if (todo_ > 0 && timeout) {
        std::weak_ptr<as_completed_state> weak = self;
        timer_ = loop.call_later(*timeout, [weak] {
            if (auto s = weak.lock()) s->on_timeout();
        });
    }
}

void as_completed_state::on_done(std::size_t i) noexcept {
    if (!subscribed_[i]) return;  // after the timeout, or the iterator is gone
    subscribed_[i] = false;
    --todo_;
    ready_.push_back(i);
    if (todo_ == 0) timer_.cancel();
    wake_one();
}

void as_completed_state::wake_one() noexcept {
    for (auto& w : waiters_) {
        if (!w.done()) {
            w.set_result();
            return;
        }
    }
}

void as_completed_state::unsubscribe() noexcept {
    for (std::size_t i = 0; i < items_.size(); ++i) {
        if (subscribed_[i]) {
            subscribed_[i] = false;
            items_[i]->remove_done_callback(ids_[i]);
        }
    }
}

void as_completed_state::on_timeout() noexcept {
    timed_out_ = true;
    todo_ = 0;
    unsubscribe();
    for (auto& w : waiters_)
        if (!w.done()) w.set_result();
}

void as_completed_state::detach() noexcept {
    detached_ = true;
    timer_.cancel();
    unsubscribe();
    for (auto& w : waiters_)
        if (!w.done()) w.set_result();
}

coro<std::optional<std::size_t>> as_completed_state::next(std::shared_ptr<as_completed_state> st) {
    for (;;) {
        if (!st->ready_.empty()) {
            std::size_t i = st->ready_.front();
            st->ready_.pop_front();
            ++st->handed_;
            co_return i;
        }
        if (st->handed_ >= st->total_) co_return std::nullopt;
        if (st->timed_out_) {
            ++st->handed_;
            throw timeout_error();
        }
        if (st->detached_) throw std::runtime_error("as_completed: the iterator was destroyed");
        future<void> w = st->loop_->create_future<void>();
        st->waiters_.push_back(w);
        auto forget = [&]() noexcept {
            auto& ws = st->waiters_;
            ws.erase(std::find(ws.begin(), ws.end(), w));
        };
        try {
            co_await w;
        } catch (...) {
            forget();
            // Woken and then cancelled: pass the wake-up on to another waiter.
            if (!st->ready_.empty() || st->timed_out_) st->wake_one();
            throw;
        }
        forget();
    }
}

}  // namespace duet::detail
