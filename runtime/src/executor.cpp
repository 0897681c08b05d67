#include <algorithm>

#include <duet/executor.hpp>

namespace duet {

bool threads_supported() noexcept {
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
    return false;
#else
    return true;
#endif
}

void require_threads(const char* what) {
    if (!threads_supported())
        throw not_supported_error(std::string(what) +
                                  " needs threads, which this WebAssembly build does not have (built without "
                                  "pthreads); run blocking work natively or split it into tasks");
}

thread_pool_executor::thread_pool_executor(std::size_t max_workers) : max_workers_(max_workers) {
    if (max_workers_ == 0) {
        std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
        max_workers_ = std::min<std::size_t>(32, cores + 4);
    }
}

thread_pool_executor::~thread_pool_executor() {
    shutdown(true);
}

void thread_pool_executor::submit(std::function<void()> job) {
    require_threads("thread_pool_executor");
    std::unique_lock lk(m_);
    if (shutdown_) throw std::runtime_error("cannot schedule new jobs after shutdown");
    jobs_.push_back(std::move(job));
    // Reuse an idle worker before starting a new one.
    if (idle_ == 0 && threads_.size() < max_workers_) threads_.emplace_back([this] { worker(); });
    lk.unlock();
    cv_.notify_one();
}

void thread_pool_executor::worker() {
    std::unique_lock lk(m_);
    for (;;) {
        ++idle_;
        cv_.wait(lk, [&] { return shutdown_ || !jobs_.empty(); });
        --idle_;
        if (jobs_.empty()) return;  // shut down and drained
        auto job = std::move(jobs_.front());
        jobs_.pop_front();
        lk.unlock();
        job();
        lk.lock();
    }
}

void thread_pool_executor::shutdown(bool wait) {
    std::vector<std::thread> threads;
    {
        std::lock_guard g(m_);
        shutdown_ = true;
        if (wait) threads.swap(threads_);
    }
    cv_.notify_all();
    for (auto& t : threads) t.join();
}

namespace detail {
void submit_to_executor(abstract_event_loop& loop, executor* ex, std::function<void()> job) {
    (ex ? *ex : loop.default_executor()).submit(std::move(job));
}
}  // namespace detail

}  // namespace duet
