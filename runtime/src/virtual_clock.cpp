#include <stdexcept>

#include <duet/virtual_clock.hpp>

namespace duet {

void virtual_clock_backend::run() {
    for (;;) {
        auto p = loop_.process();
        if (loop_.stop_requested()) return;
        if (p.ready) continue;
        if (p.deadline != __builtin_inf()) {
            if (p.deadline > now_) now_ = p.deadline;
            continue;
        }
        // Nothing is ready and no timer can fall due: only another thread can still bring
        // work, through call_soon_threadsafe. If none is expected, nothing ever will.
        bool can_wait = loop_.expects_threadsafe_work();
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
        can_wait = false;  // no other thread exists
#endif
        if (!can_wait)
            throw std::runtime_error(
                "virtual clock loop: deadlock: nothing is ready, no timer is pending, and no other thread is expected "
                "to call back (no executor job, wrap_future or threadsafe_work_guard outstanding), so the loop "
                "could never wake: is something awaiting a future that nobody will set?");
        std::unique_lock lk(m_);
        cv_.wait(lk, [&] { return woken_; });
        woken_ = false;
    }
}

}  // namespace duet
