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
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
        throw std::runtime_error("virtual clock loop: nothing is scheduled and nothing can wake the loop (deadlock)");
#else
        // Only another thread (call_soon_threadsafe) can bring work now.
        std::unique_lock lk(m_);
        cv_.wait(lk, [&] { return woken_; });
        woken_ = false;
#endif
    }
}

}  // namespace duet
