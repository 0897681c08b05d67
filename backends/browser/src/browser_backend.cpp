#include <cmath>
#include <memory>
#include <utility>

#include <emscripten/emscripten.h>

#include <duet/event_loop.hpp>
#include <duet/exceptions.hpp>

// The JS half (js/library_duet.js).
extern "C" {
int duet_host_open(duet::browser_backend* backend);
void duet_host_soon(int host_id, int micro);
void duet_host_arm(int host_id, double delay_ms);
int duet_host_set_blocking(int host_id, int on);
void duet_host_close(int host_id);
}

namespace duet {

namespace wasm::detail {
int (*block_until_woken)(int host_id) = nullptr;
}  // namespace wasm::detail

browser_backend::browser_backend(base_event_loop& loop)
    : loop_(loop), host_id_(duet_host_open(this)), armed_(HUGE_VAL) {}

browser_backend::~browser_backend() {
    close();
}

double browser_backend::now() const noexcept {
    return emscripten_get_now() * 1e-3;
}

// Work that appears outside a turn (a JS callback settled a future, JS called an export)
// runs in a microtask, as a JS continuation would: a macrotask would cost ~2-7 us per
// wake-up. A turn that ends with work left (its budget spent) asks for a macrotask, so
// the host still gets its turn for I/O and rendering.
void browser_backend::wake(base_event_loop::wake_plan p) noexcept {
    if (!p.ready || blocking_ || in_turn_) {
        apply(p);
        return;
    }
    if (callback_depth_ > 0 && host_id_) {
        if (!deferred_) {
            deferred_ = true;
            next_deferred_ = std::exchange(deferred_head_, this);
        }
        return;
    }
    request_soon(true);
}

void browser_backend::run_deferred() {
    while (browser_backend* b = deferred_head_) {
        deferred_head_ = std::exchange(b->next_deferred_, nullptr);
        b->deferred_ = false;
        b->host_turn(0);
    }
}

// Ready work means one macrotask (whose turn re-plans the timer anyway); otherwise the
// timer follows the earliest deadline.
void browser_backend::apply(base_event_loop::wake_plan p) noexcept {
    if (p.ready)
        request_soon(false);
    else
        arm(p.deadline);
}

void browser_backend::request_soon(bool micro) noexcept {
    if (soon_pending_ || !host_id_) return;
    soon_pending_ = true;
    duet_host_soon(host_id_, micro ? 1 : 0);
}

void browser_backend::arm(double deadline) noexcept {
    if (deadline == armed_ || !host_id_) return;
    armed_ = deadline;
    if (deadline == HUGE_VAL) {
        duet_host_arm(host_id_, -1);
        return;
    }
    // setTimeout takes at most 2^31-1 ms (beyond that it fires at once, and would spin):
    // a later deadline arms the longest timeout, and the turn it fires re-arms for the rest.
    double ms = std::ceil((deadline - now()) * 1e3);
    if (!(ms > 0)) ms = 0;
    if (ms > 2147483647.0) ms = 2147483647.0;
    duet_host_arm(host_id_, ms);
}

void browser_backend::note_fired(int fired) noexcept {
    if (fired & fired_soon) soon_pending_ = false;
    if (fired & fired_timer) armed_ = HUGE_VAL;
}

void browser_backend::host_turn(int fired) noexcept {
    note_fired(fired);
    // Stale wake-ups (the loop stopped, is blocking, or this turn re-entered through a
    // nested blocking run) are dropped: whoever owns the loop re-plans when it continues.
    if (blocking_ || in_turn_ || !loop_.is_running()) return;
    in_turn_ = true;
    auto p = loop_.hosted_process();
    in_turn_ = false;
    if (loop_.is_running())
        apply(p);
    else
        arm(HUGE_VAL);
}

void browser_backend::check_can_block() {
    if (!wasm::detail::block_until_woken)
        throw not_supported_error(
            "duet: a blocking event loop run (run_forever, run_until_complete, duet::run) needs an ASYNCIFY "
            "build: link the target with duet_blocking_run(<target>) in CMake. Browser code should not block: "
            "create tasks and let the page drive the loop (duet::wasm::start(loop), duet::wasm::spawn(coro) or "
            "DUET_EXPORT_ASYNC).");
}

void browser_backend::run() {
    check_can_block();
    blocking_loop();
}

void browser_backend::blocking_loop() {
    struct mode {
        browser_backend& b;
        explicit mode(browser_backend& self) : b(self) {
            b.blocking_ = true;
            b.note_fired(duet_host_set_blocking(b.host_id_, 1));
        }
        ~mode() {
            b.blocking_ = false;
            b.note_fired(duet_host_set_blocking(b.host_id_, 0));
            b.arm(HUGE_VAL);
        }
    } scope(*this);
    for (;;) {
        auto p = loop_.process();
        if (loop_.stop_requested()) return;
        apply(p);
        note_fired(wasm::detail::block_until_woken(host_id_));
    }
}

void browser_backend::close() noexcept {
    if (deferred_) {
        for (browser_backend** p = &deferred_head_; *p; p = &(*p)->next_deferred_)
            if (*p == this) {
                *p = next_deferred_;
                break;
            }
        deferred_ = false;
        next_deferred_ = nullptr;
    }
    if (!host_id_) return;
    duet_host_close(host_id_);
    host_id_ = 0;
    soon_pending_ = false;
    armed_ = HUGE_VAL;
}

}  // namespace duet

// Called by the JS host for each turn of a host-driven loop.
extern "C" EMSCRIPTEN_KEEPALIVE void duet_browser_turn(duet::browser_backend* backend, int fired) {
    backend->host_turn(fired);
}
