// The Emscripten backend: the loop core hosted by the JavaScript event loop of a browser
// or of node. "Run soon" is one unclamped macrotask (setImmediate under node, a reused
// MessageChannel in browsers) that runs the whole ready queue; deadlines are one
// setTimeout for the earliest timer. The JS half lives in js/library_duet.js.
#pragma once

#include <duet/base_events.hpp>

namespace duet {

class browser_backend {
public:
    static constexpr const char* name = "browser";
    explicit browser_backend(base_event_loop& loop);
    ~browser_backend();
    browser_backend(const browser_backend&) = delete;
    browser_backend& operator=(const browser_backend&) = delete;

    // performance.now(), in seconds.
    double now() const noexcept;
    void wake(base_event_loop::wake_plan p) noexcept;
    // Blocks (yielding to the host between turns) until stop(); only in builds linked
    // with duet_blocking_run(), otherwise throws not_supported_error.
    void run();
    // not_supported_error (saying how to link blocking in) unless run() can block; checked
    // before duet::run / run_until_complete(coroutine) make their task.
    static void check_can_block();
    // No threads in this build: the same as a wake for ready work.
    void wake_threadsafe() noexcept { request_soon(false); }
    void close() noexcept;

    // ---- for the JS host driver
    // Bits the host reports: which of its wake-ups fired since it last told us.
    static constexpr int fired_soon = 1;
    static constexpr int fired_timer = 2;
    // One host-driven turn (the macrotask or the timer fired).
    void host_turn(int fired) noexcept;
    // Called by the blocking run loop (see blocking_run.cpp).
    void blocking_loop();

    // Held by JS-to-wasm callbacks (a settled promise): a loop woken inside one runs its
    // turn when the outermost scope ends, in the same JS task, instead of one microtask
    // later. The callback has finished its own work by then, so no C++ caller is mid-way.
    // Inline: one per settled promise.
    class js_callback_scope {
    public:
        js_callback_scope() noexcept { ++callback_depth_; }
        ~js_callback_scope() {
            if (--callback_depth_ == 0 && deferred_head_) run_deferred();
        }
        js_callback_scope(const js_callback_scope&) = delete;
        js_callback_scope& operator=(const js_callback_scope&) = delete;
    };

private:
    void apply(base_event_loop::wake_plan p) noexcept;
    void request_soon(bool micro) noexcept;
    void arm(double deadline) noexcept;
    void note_fired(int fired) noexcept;

    base_event_loop& loop_;
    int host_id_ = 0;  // the JS host's slot for this loop; 0 once closed
    double armed_;     // deadline of the armed setTimeout (+inf when none)
    bool soon_pending_ = false;
    bool blocking_ = false;
    bool in_turn_ = false;
    bool deferred_ = false;                     // in the list of turns run by js_callback_scope
    browser_backend* next_deferred_ = nullptr;  // that list's link

    // Open js_callback_scopes, and the loops woken inside them (newest first).
    static inline int callback_depth_ = 0;
    static inline browser_backend* deferred_head_ = nullptr;
    static void run_deferred();
};

namespace wasm::detail {
// Set by blocking_run.cpp, which duet_blocking_run() compiles into ASYNCIFY builds only:
// suspends the wasm stack until the host wakes loop `host_id`; returns the fired bits.
extern int (*block_until_woken)(int host_id);
}  // namespace wasm::detail

}  // namespace duet
