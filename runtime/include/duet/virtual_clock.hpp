// A loop whose clock only moves when nothing is ready: it then jumps straight to the next
// deadline. Timeouts in tests become exact and instant. When nothing is ready, no timer is
// pending and no other thread is expected to call back (see threadsafe_work_guard), the
// loop is deadlocked: run_forever raises std::runtime_error saying so, on every target.
#pragma once

#include <condition_variable>
#include <mutex>

#include <duet/base_events.hpp>

namespace duet {

class virtual_clock_backend {
public:
    static constexpr const char* name = "virtual";
    explicit virtual_clock_backend(base_event_loop& loop) noexcept : loop_(loop) {}

    double now() const noexcept { return now_; }
    void wake(wake_plan) noexcept {}
    void run();
    void wake_threadsafe() noexcept {
        std::lock_guard g(m_);
        woken_ = true;
        cv_.notify_one();
    }
    void close() noexcept {}
    // Moves the clock forward (never back) by hand.
    void advance(double seconds) noexcept {
        if (seconds > 0) now_ += seconds;
    }

private:
    base_event_loop& loop_;
    double now_ = 0;
    std::mutex m_;
    std::condition_variable cv_;
    bool woken_ = false;
};

using virtual_event_loop = basic_event_loop<virtual_clock_backend>;

}  // namespace duet
