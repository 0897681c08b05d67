// base_event_loop: the shared implementation of every duet loop (asyncio's BaseEventLoop),
// and basic_event_loop<Backend>, the only way to make a loop of it.
//
// One extension point. A custom loop (asyncio's "Extending") is a *backend*: a type that
// satisfies the loop_backend concept below, used as basic_event_loop<MyBackend>. The base
// reaches its host through four hooks (wake, run, wake from another thread, close); they
// are private, and so is the base's constructor, with basic_event_loop as the only friend:
// nothing else can derive from base_event_loop, so every loop is basic_event_loop<B> and
// every backend plugs in the same way. The hooks stay virtual calls made from the base's
// compiled code (process(), stop(), call_at, the empty-to-non-empty edge of the ready
// queue), never per callback; basic_event_loop forwards each to the backend inline.
// What a backend can do beyond the required hooks is a compile-time property: the loop
// methods it cannot serve (watching file descriptors, say) raise not_supported_error naming
// the method and the backend.
#pragma once

#include <atomic>
#include <cmath>
#include <concepts>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <duet/detail/ready_queue.hpp>
#include <duet/detail/timer_heap.hpp>
#include <duet/detail/trivial_vector.hpp>
#include <duet/events.hpp>
#include <duet/exceptions.hpp>

namespace duet {

namespace detail {
// The loop running on this thread (see running_loop()); readable inline, as every await
// asks for its current task.
inline thread_local base_event_loop* running_base_loop = nullptr;
// Puts a task in its loop's registry (may throw std::bad_alloc); unlink_task takes it
// out; both do nothing if there is nothing to do.
void link_task(base_event_loop& loop, task_core* t);
// A new task: registered, its place taken when a step leaves it suspended (the room for
// it is reserved now: may throw std::bad_alloc).
void register_new_task(base_event_loop& loop, task_core* t);
void unlink_task(base_event_loop& loop, task_core* t) noexcept;
// Empties the registry (the loop is going away).
void forget_registry(base_event_loop& loop) noexcept;
// duet's spelling of BaseException (see exceptions.hpp): neither a std::exception nor a
// cancelled_error. Such an exception, raised in a callback or a task, leaves the run.
bool is_base_tier(const std::exception_ptr& e) noexcept;
struct fd_callback;
}  // namespace detail

// What the host should do next: run the core again at once (`ready`), or at `deadline`
// (loop time; +inf when no timer is pending, or only timers that never fall due).
struct wake_plan {
    bool ready;
    double deadline;
};

// Readiness bits a backend reports to base_event_loop::fd_ready(), and the interest it is
// given in watch_fd(): a set of them (0: stop watching the fd).
inline constexpr unsigned fd_readable = 1;
inline constexpr unsigned fd_writable = 2;

// The compile-time backend policy. A backend is constructed with its loop (a
// base_event_loop&) and provides:
//   double now() const noexcept        monotonic clock, seconds
//   void wake(wake_plan)               the plan changed outside process() (work became
//                                      ready, an earlier timer, stop()): make the host
//                                      call loop.process() as planned
//   void run()                         drive the host until loop.stop_requested(), calling
//                                      loop.process() whenever the plan says so
//   void wake_threadsafe() noexcept    from any thread: call_soon_threadsafe queued work;
//                                      make the host call loop.process() soon
//   void close() noexcept              release host resources (called once, by close())
//   static constexpr const char* name  names the backend in error messages
// Optional capabilities, detected at compile time (see fd_watching_backend):
//   void watch_fd(int fd, unsigned events)  watch `fd` for fd_readable/fd_writable (0:
//                                      stop); report readiness with loop.fd_ready(fd, ev)
//   loop_network& network()            the network half (see network_backend)
template <class B>
concept loop_backend = requires(B& b, const B& cb, wake_plan p) {
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

// A backend that can watch file descriptors (add_reader/add_writer); others raise
// not_supported_error from those methods.
template <class B>
concept fd_watching_backend = loop_backend<B> && requires(B& b, int fd, unsigned events) {
    b.watch_fd(fd, events);
};

// A backend with a network half (create_connection & co., DNS, signals): network()
// returns it; others raise not_supported_error from those methods.
template <class B>
concept network_backend = loop_backend<B> && requires(B& b) {
    { b.network() } -> std::same_as<loop_network&>;
};

template <loop_backend Backend>
class basic_event_loop;

class base_event_loop : public abstract_event_loop {
public:
    using wake_plan = duet::wake_plan;  // the name backends have always used
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
    void shutdown_default_executor(std::optional<double> timeout = std::nullopt) override;
    bool get_debug() const noexcept override { return debug_; }
    // Debug mode's ready batch (timing each callback), reached through detail::debug_ops.
    void run_batch_debug();
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

    // ---- driving the loop by hand (asyncio's _run_forever_setup / _run_once /
    // _run_forever_cleanup, for hosts that own their own wait): run_forever() is exactly
    //     run_forever_setup(); <the backend's run(): run_once() per turn>; run_forever_cleanup();
    // A host that drives the loop itself does the same:
    //     loop.run_forever_setup();
    //     while (!loop.stop_requested()) { wake_plan p = loop.run_once(); /* wait as p says */ }
    //     loop.run_forever_cleanup();
    // Makes this the thread's running loop and the loop running. Raises as run_forever
    // does: the loop is closed, already running, or another loop runs in this thread.
    void run_forever_setup();
    // One turn of the core (see process()); the loop must be set up on this thread.
    wake_plan run_once();
    // Ends the span begun by run_forever_setup(): no running loop, not running, no stop
    // pending. Does nothing if the loop was not set up.
    void run_forever_cleanup() noexcept;

    // ---- for backends
    // One turn of the core: moves due timers to the ready queue and runs iterations (each
    // exactly the callbacks ready when it began) back to back while work remains, until
    // the queue is empty, stop() was called, or the budget is spent. Loop thread, from the host.
    wake_plan process();
    // True once stop() asked run_forever to return and the host should give control back.
    bool stop_requested() const noexcept { return stopping_; }
    // The current plan, without running anything.
    wake_plan plan() noexcept;
    // How many turns (process() calls) the loop has taken: a loop that waits properly
    // takes one per wake-up; one that spins takes thousands.
    std::size_t turns() const noexcept { return turns_; }
    // A watched fd is ready (fd_readable / fd_writable bits): schedules its reader and/or
    // writer callbacks as loop callbacks (reader first). Loop thread only.
    void fd_ready(int fd, unsigned events);
    // Whether call_soon_threadsafe work is still expected from other threads: executor
    // jobs, wrap_future completions, threadsafe_work_guards (see below). A backend that
    // can tell a deadlock (the virtual clock) asks this before waiting forever.
    bool expects_threadsafe_work() const noexcept { return threadsafe_work_.load(std::memory_order_acquire) > 0; }

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
    // An embedded timer (sleep's): `t->when` and `t->fire` set, not in the heap yet;
    // remove_timer takes it out if it is still there. Loop thread.
    void add_timer(detail::timer_entry* t);
    void remove_timer(detail::timer_entry* t) noexcept {
        if (t->in_heap()) timers_.remove(t);
    }
    // A base-tier exception escaped a callback or a task step: the loop stops right after
    // the entry that raised it (the rest of the ready queue stays queued) and run_forever
    // rethrows it.
    void raise_base_exception(std::exception_ptr e) noexcept;
    // The context a callback runs in when it captured none (its scheduler's had no
    // values): current while the loop runs its ready queue, emptied after each such
    // callback that set something, so that nothing a callback sets outlives it.
    detail::context_slot callback_context_;
    void forget_callback_context() noexcept {
        if (callback_context_) [[unlikely]]
            callback_context_ = nullptr;
    }
    detail::task_core* current_task_ = nullptr;              // the duet task being stepped
    abstract_task* entered_task_ = nullptr;                  // a third-party task between enter/leave_task
    detail::trivial_vector<detail::task_core*> duet_tasks_;  // the registry: duet's tasks (see tasks.cpp)
    std::size_t pending_registrations_ = 0;                  // new tasks without their place yet (room is reserved)
    // The ready queue, read-only (all_tasks looks there for new tasks).
    const detail::ready_queue& queued() const noexcept { return ready_; }
    detail::task_link tasks_{&tasks_, &tasks_};  // and the registered third-party ones
    // Whether `loop` is a live loop (futures that outlive their loop must not call it); any thread; never raises.
    static bool alive(const base_event_loop* loop) noexcept {
        // Repeated checks of one loop (a JS promise settling a future on every await) are
        // answered inline, from the loop found last.
        if (loop && last_alive_.load(std::memory_order_acquire) == loop) return true;
        return alive_lookup(loop);
    }

protected:
    handle call_soon_node(detail::handle_node* n) final;
    handle call_soon_threadsafe_cb(callback cb) override;
    timer_handle call_at_node(double when, detail::handle_node* n) final;
    void run_until_done(basic_future f) override;
    void start_task(detail::task_core* tc) override;
    void check_open_for(const char* what) const final;
    void check_open() const;

private:
    // Only `basic_event_loop<B>` makes loops (see the top of this file).
    template <loop_backend B>
    friend class basic_event_loop;
    friend class threadsafe_work_guard;
    // An open loop, not running (debug mode if DUET_DEBUG=1); only basic_event_loop<B> makes one.
    base_event_loop();

    // ---- the host hooks, implemented by basic_event_loop<B> with its backend
    // Called on the loop thread when the plan may have changed outside process() (work
    // became ready, an earlier timer was added, stop() was called).
    virtual void host_wake(wake_plan p) = 0;
    // Drives the host until stop_requested(); calls process() whenever asked to.
    virtual void host_run() = 0;
    // Any thread: call_soon_threadsafe queued work; make the host call process() soon.
    virtual void host_wake_threadsafe() noexcept = 0;
    // Releases the host's resources; called once by close().
    virtual void host_close() noexcept = 0;

    // ---- the fd watches' bookkeeping, shared by every backend that watches fds: the
    // callbacks live here, the backend only polls (watch_fd) and reports (fd_ready).
    struct fd_watch {
        detail::fd_callback* reader = nullptr;  // owned references
        detail::fd_callback* writer = nullptr;
    };
    // Raises what asyncio raises for a bad call (closed loop, negative fd, wrong thread).
    void check_fd_call(int fd, const char* what) const;
    unsigned fd_interest(int fd) const noexcept;
    // Installs `cb` as fd's reader or writer; an earlier one is deactivated (asyncio
    // replaces it, and a callback of it already queued does not run).
    void fd_install(int fd, unsigned which, callback cb);
    // Deactivates fd's reader or writer; whether there was one.
    bool fd_uninstall(int fd, unsigned which) noexcept;
    void fd_uninstall_all() noexcept;
    [[noreturn]] static void throw_not_supported(const char* method, const char* backend, const char* capability);

    static bool alive_lookup(const base_event_loop* loop) noexcept;
    // Written only under the registry's lock; cleared when that loop is destroyed.
    static inline std::atomic<const base_event_loop*> last_alive_{nullptr};

    bool drain_threadsafe();
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
    std::size_t turns_ = 0;
    std::thread::id thread_id_;

    std::mutex ts_mutex_;
    std::vector<detail::handle_node*> ts_queue_;
    std::atomic<bool> ts_pending_{false};
    std::exception_ptr base_exception_;  // see raise_base_exception
    std::atomic<int> threadsafe_work_{0};

    std::unordered_map<int, fd_watch> fd_watches_;

    task_factory task_factory_;
    exception_handler exception_handler_;
    std::shared_ptr<executor> default_executor_;
    bool executor_shutdown_called_ = false;  // asyncio's _executor_shutdown_called
    // The threads joining a default executor that shutdown_default_executor(timeout) gave up
    // waiting for; joined by the destructor.
    std::vector<std::thread> executor_joiners_;
};

// Tells `loop` that another thread will call its call_soon_threadsafe (or
// run_coroutine_threadsafe) while the guard lives: a loop that could otherwise tell a
// deadlock (the virtual clock: nothing ready, no timer) waits for that thread instead of
// raising. Executor jobs, run_in_executor, to_thread and wrap_future hold one for their
// own completions; user code that starts its own thread does:
//     duet::threadsafe_work_guard expect(loop);
//     std::thread t([&loop, expect] { ...; loop.call_soon_threadsafe(done); });
// Any thread may copy or destroy a guard (copies count too); the last one to go wakes the
// loop so that it re-checks. Destroy guards before their loop.
class threadsafe_work_guard {
public:
    explicit threadsafe_work_guard(abstract_event_loop& loop) noexcept : loop_(&loop.base()) { acquire(); }
    threadsafe_work_guard(const threadsafe_work_guard& o) noexcept : loop_(o.loop_) { acquire(); }
    threadsafe_work_guard(threadsafe_work_guard&& o) noexcept : loop_(std::exchange(o.loop_, nullptr)) {}
    threadsafe_work_guard& operator=(threadsafe_work_guard o) noexcept {
        std::swap(loop_, o.loop_);
        return *this;
    }
    ~threadsafe_work_guard() { reset(); }
    // Ends this guard's claim early.
    void reset() noexcept;

private:
    void acquire() noexcept {
        if (loop_) loop_->threadsafe_work_.fetch_add(1, std::memory_order_relaxed);
    }
    base_event_loop* loop_;
};

template <loop_backend Backend>
class basic_event_loop final : public base_event_loop {
public:
    using backend_type = Backend;
    // Whether add_reader/add_writer work on this loop (otherwise not_supported_error).
    static constexpr bool can_watch_fds = fd_watching_backend<Backend>;
    // Whether create_connection & co. work on this loop (otherwise not_supported_error).
    static constexpr bool has_network = network_backend<Backend>;

    basic_event_loop() : backend_(*this) {}
    ~basic_event_loop() override {
        if (!is_closed()) close();
    }
    double time() const noexcept override { return backend_.now(); }
    Backend& backend() noexcept { return backend_; }

    bool remove_reader(int fd) override { return remove_fd(fd, fd_readable, "remove_reader"); }
    bool remove_writer(int fd) override { return remove_fd(fd, fd_writable, "remove_writer"); }
    bool watches_fds() const noexcept override { return can_watch_fds; }

protected:
    void add_fd_callback(int fd, unsigned which, callback cb) override {
        const char* what = which == fd_readable ? "add_reader" : "add_writer";
        if constexpr (can_watch_fds) {
            check_fd_call(fd, what);
            backend_.watch_fd(fd, fd_interest(fd) | which);  // may refuse the fd: nothing changed yet
            fd_install(fd, which, std::move(cb));
        } else {
            (void)fd;
            (void)cb;
            throw_not_supported(what, Backend::name, "watching file descriptors");
        }
    }
    void check_can_block() const override {
        if constexpr (requires { Backend::check_can_block(); }) Backend::check_can_block();
    }
    void require_fd_watching(const char* method) const override {
        if constexpr (!can_watch_fds) throw_not_supported(method, Backend::name, "watching file descriptors");
        (void)method;
    }
    loop_network& network_for(const char* method) override {
        if constexpr (has_network) {
            (void)method;
            return backend_.network();
        } else {
            throw_not_supported(method, Backend::name, "networking");
        }
    }

private:
    bool remove_fd(int fd, unsigned which, const char* what) {
        if constexpr (can_watch_fds) {
            (void)what;
            if (is_closed() || !fd_uninstall(fd, which)) return false;
            backend_.watch_fd(fd, fd_interest(fd));
            return true;
        } else {
            (void)fd;
            (void)which;
            throw_not_supported(what, Backend::name, "watching file descriptors");
        }
    }

    void host_wake(wake_plan p) override { backend_.wake(p); }
    void host_run() override { backend_.run(); }
    void host_wake_threadsafe() noexcept override { backend_.wake_threadsafe(); }
    void host_close() noexcept override { backend_.close(); }

    Backend backend_;
};

}  // namespace duet
