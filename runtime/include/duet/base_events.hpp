// base_event_loop: the shared implementation of every duet loop (asyncio's
// BaseEventLoop). A concrete loop supplies the host through a few protected hooks; see
// basic_event_loop<Backend> for the compile-time policy form.
#pragma once

#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include <duet/detail/ready_queue.hpp>
#include <duet/detail/timer_heap.hpp>
#include <duet/events.hpp>

namespace duet {

namespace detail {
// The loop running on this thread (see running_loop()); readable inline, as every await
// asks for its current task.
inline thread_local base_event_loop* running_base_loop = nullptr;
void link_task(base_event_loop& loop, task_core* t) noexcept;
void unlink_task(base_event_loop& loop, task_core* t) noexcept;
}  // namespace detail

class base_event_loop : public abstract_event_loop {
public:
    // An open loop, not running (debug mode if DUET_DEBUG=1); any thread.
    base_event_loop();
    // Releases what is still pending if close() was not called; never while running. (A most-derived loop
    // closes itself first, while its hooks still exist.)
    ~base_event_loop() override;

    // The abstract_event_loop contract (events.hpp says when each may be called and what it raises).
    void run_forever() override;
    void stop() override;
    // final: calls through a base_event_loop (backends, futures) need no virtual dispatch.
    bool is_running() const noexcept final { return running_; }
    bool is_closed() const noexcept final { return closed_; }
    void close() override;

    void set_task_factory(task_factory f) override { task_factory_ = std::move(f); }
    const task_factory& get_task_factory() const noexcept override { return task_factory_; }
    void set_exception_handler(exception_handler h) override { exception_handler_ = std::move(h); }
    const exception_handler& get_exception_handler() const noexcept override { return exception_handler_; }
    void default_exception_handler(const exception_context& ctx) override;
    void call_exception_handler(const exception_context& ctx) noexcept override;
    void set_default_executor(std::shared_ptr<executor> ex) override;
    executor& default_executor() override;
    void shutdown_default_executor() override;
    bool get_debug() const noexcept override { return debug_; }
    // Debug mode (also switched on for new loops by the environment variable DUET_DEBUG=1):
    // slow callbacks are reported, non-thread-safe calls from other threads raise,
    // coroutines never awaited and pending tasks destroyed are reported with where they
    // were created. Off by default; free when off.
    void set_debug(bool on) override;
    // Callbacks running longer than this are reported in debug mode (seconds; 0.1); never raises.
    double slow_callback_duration() const noexcept { return slow_callback_duration_; }
    // Sets that threshold; loop thread; never raises.
    void set_slow_callback_duration(double seconds) noexcept { slow_callback_duration_ = seconds; }
    // This loop; never raises.
    base_event_loop& base() noexcept final { return *this; }

    // ---- for backends and custom loops
    // What the host should do next: run the core again at once (`ready`), or at
    // `deadline` (loop time; +inf when no timer is pending).
    struct wake_plan {
        bool ready;
        double deadline;
    };
    // One turn of the core: moves due timers to the ready queue and runs iterations (each
    // exactly the callbacks ready when it began) back to back while work remains, until
    // the queue is empty, stop() was called, or the budget is spent. Loop thread, from the host.
    wake_plan process();
    // True once stop() asked run_forever to return and the host should give control back.
    bool stop_requested() const noexcept { return stopping_; }
    // The current plan, without running anything.
    wake_plan plan() noexcept;

    // For hosts that cannot block (a browser's main thread): the loop counts as running
    // from start_hosted() until stop(); the host calls hosted_process() for each turn,
    // which makes this the running loop for its duration.
    void start_hosted();
    wake_plan hosted_process();

    // Iteration budget of one process() call before the host gets a turn for I/O; loop thread; never raises.
    void set_process_budget(unsigned iterations, double seconds) noexcept {
        budget_iterations_ = iterations;
        budget_seconds_ = seconds;
    }

    // Timers in the heap, cancelled ones not yet dropped included (bounded: the heap is
    // compacted when cancelled timers are the majority). Loop thread; never raises.
    std::size_t scheduled_timer_count() const noexcept { return timers_.size(); }

    // ---- for futures and tasks (internal)
    // Queues fn(arg) for the next iteration, waking the host if the queue was empty; loop thread.
    void push_ready(void (*fn)(void*, bool) noexcept, void* arg) {
        if (ready_.empty() && !in_process_ && running_) {
            ready_.push(fn, arg);
            host_wake({true, 0});
            return;
        }
        ready_.push(fn, arg);
    }
    void push_handle(detail::handle_node* n);  // adopts the caller's reference
    // Counts a cancelled timer towards the heap's compaction; loop thread.
    void note_timer_cancelled() noexcept { timers_.note_cancelled(); }
    detail::task_core* current_task_ = nullptr;
    detail::task_core* tasks_head_ = nullptr;
    std::size_t task_count_ = 0;
    // Whether `loop` is a live loop (futures that outlive their loop must not call it); any thread; never raises.
    static bool alive(const base_event_loop* loop) noexcept {
        // Repeated checks of one loop (a JS promise settling a future on every await) are
        // answered inline, from the loop found last.
        if (loop && last_alive_.load(std::memory_order_acquire) == loop) return true;
        return alive_lookup(loop);
    }

protected:
    // ---- the hooks a concrete loop implements
    // Called on the loop thread when the plan may have changed outside process() (work
    // became ready, an earlier timer was added, stop() was called).
    virtual void host_wake(wake_plan p) = 0;
    // Drives the host until stop_requested(); calls process() whenever asked to.
    virtual void host_run() = 0;
    // Any thread: call_soon_threadsafe queued work; make the host call process() soon.
    virtual void host_wake_threadsafe() noexcept = 0;
    // Releases the host's resources; called once by close().
    virtual void host_close() noexcept {}

    handle call_soon_node(detail::handle_node* n) final;
    handle call_soon_threadsafe_cb(callback cb) override;
    timer_handle call_at_node(double when, detail::handle_node* n) final;
    void run_until_done(basic_future f) override;
    void start_task(basic_task t) override;
    void check_open_for(const char* what) const final;
    void check_open() const;

private:
    static bool alive_lookup(const base_event_loop* loop) noexcept;
    // Written only under the registry's lock; cleared when that loop is destroyed.
    static inline std::atomic<const base_event_loop*> last_alive_{nullptr};

    bool drain_threadsafe();
    void run_batch_debug(std::size_t n);
    void check_thread(const char* what) const;
    void run_due_timers(double now);
    void release_pending() noexcept;
    void drop_queued() noexcept;

    detail::ready_queue ready_;
    detail::timer_heap timers_;
    double planned_deadline_ = __builtin_inf();
    unsigned budget_iterations_ = 4096;
    double budget_seconds_ = 0.002;
    bool running_ = false;
    bool stopping_ = false;
    bool closed_ = false;
    bool in_process_ = false;
    bool debug_ = false;
    double slow_callback_duration_ = 0.1;
    std::thread::id thread_id_;

    std::mutex ts_mutex_;
    std::vector<detail::handle_node*> ts_queue_;
    std::atomic<bool> ts_pending_{false};

    task_factory task_factory_;
    exception_handler exception_handler_;
    std::shared_ptr<executor> default_executor_;
};

// The compile-time backend policy. A backend is constructed with its loop and provides:
//   double now() const noexcept          monotonic clock, seconds
//   void wake(base_event_loop::wake_plan) make the host call loop.process() as planned
//   void run()                            drive the host until loop.stop_requested()
//   void wake_threadsafe() noexcept       from any thread: call loop.process() soon
//   void close() noexcept                 release host resources
//   static constexpr const char* name
template <class B>
concept loop_backend = requires(B& b, const B& cb, base_event_loop::wake_plan p) {
    { cb.now() }
    noexcept->std::same_as<double>;
    b.wake(p);
    b.run();
    { b.wake_threadsafe() }
    noexcept;
    { b.close() }
    noexcept;
    { B::name } -> std::convertible_to<const char*>;
}
&&std::constructible_from<B, base_event_loop&>;

template <loop_backend Backend>
class basic_event_loop final : public base_event_loop {
public:
    basic_event_loop() : backend_(*this) {}
    ~basic_event_loop() override {
        if (!is_closed()) close();
    }
    double time() const noexcept override { return backend_.now(); }
    Backend& backend() noexcept { return backend_; }

protected:
    void host_wake(wake_plan p) override { backend_.wake(p); }
    void host_run() override { backend_.run(); }
    void host_wake_threadsafe() noexcept override { backend_.wake_threadsafe(); }
    void host_close() noexcept override { backend_.close(); }

private:
    Backend backend_;
};

}  // namespace duet
