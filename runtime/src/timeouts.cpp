#include <stdexcept>
#include <string>

#include <duet/base_events.hpp>
#include <duet/timeouts.hpp>

namespace duet {

namespace detail {
std::optional<double> deadline_from_now(optional_seconds delay) {
    if (!delay) return std::nullopt;
    return get_running_loop().time() + *delay;
}
}  // namespace detail

timeout_scope timeout(optional_seconds delay) {
    return timeout_scope(detail::deadline_from_now(delay));
}

timeout_scope timeout_at(std::optional<double> when) {
    return timeout_scope(when);
}

timeout_scope::~timeout_scope() {
    // Normally already done by exit(); this covers a body whose frame is destroyed while
    // suspended (its loop closed), so the timer can never call into a dead scope.
    handle_.cancel();
}

const char* timeout_scope::state_name(state s) noexcept {
    switch (s) {
        case state::created:
            return "created";
        case state::entered:
            return "active";
        case state::expiring:
            return "expiring";
        case state::expired:
            return "expired";
        case state::exited:
            return "finished";
    }
    return "unknown";
}

void timeout_scope::check_movable() const {
    if (state_ != state::created) throw std::runtime_error("Timeout has already been entered");
}

void timeout_scope::enter() {
    if (state_ != state::created) throw std::runtime_error("Timeout has already been entered");
    abstract_event_loop* loop = running_loop();
    std::optional<task_ref> t = loop ? current_task(*loop) : std::nullopt;
    if (!t || !t->is_duet_task()) throw std::runtime_error("Timeout should be used inside a task");
    state_ = state::entered;
    task_ = std::move(*t);
    cancelling_ = task_.cancelling();
    try {
        reschedule(when_);
    } catch (...) {
        state_ = state::exited;
        task_ = {};
        throw;
    }
}

void timeout_scope::reschedule(std::optional<double> when) {
    if (state_ != state::entered) {
        if (state_ == state::created) throw std::runtime_error("Timeout has not been entered");
        throw std::runtime_error(std::string("Cannot change state of ") + state_name(state_) + " Timeout");
    }
    if (when && *when != *when) throw std::invalid_argument("Timeout: the deadline is NaN");
    when_ = when;
    handle_.cancel();
    handle_ = {};
    if (!when) return;
    abstract_event_loop& loop = task_.get_loop();
    if (*when <= loop.time())
        handle_ = loop.call_soon([this] { on_timeout(); });
    else
        handle_ = loop.call_at(*when, [this] { on_timeout(); });
}

void timeout_scope::on_timeout() noexcept {
    handle_ = {};
    if (state_ != state::entered) return;
    task_.cancel();
    state_ = state::expiring;
}

std::exception_ptr timeout_scope::exit(std::exception_ptr body_error) noexcept {
    handle_.cancel();
    handle_ = {};
    std::exception_ptr out = std::move(body_error);
    if (state_ == state::expiring) {
        state_ = state::expired;
        // Only a cancellation this scope caused becomes timeout_error: if others asked
        // for one too, the count stays above what it was on entry.
        if (task_.uncancel() <= cancelling_ && detail::is_cancelled_error(out))
            out = std::make_exception_ptr(timeout_error());
    } else if (state_ == state::entered) {
        state_ = state::exited;
    }
    task_ = {};
    return out;
}

}  // namespace duet
