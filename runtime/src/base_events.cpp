#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>

#include <duet/base_events.hpp>
#include <duet/detail/debug.hpp>
#include <duet/executor.hpp>

namespace duet {

namespace {

std::mutex& alive_mutex() {
    static std::mutex m;
    return m;
}
std::unordered_set<const base_event_loop*>& alive_set() {
    static std::unordered_set<const base_event_loop*> s;
    return s;
}

void handle_thunk(void* p, bool run) noexcept {
    auto* n = static_cast<detail::handle_node*>(p);
    if (run) n->run();
    n->release();
}

std::string describe(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (const cancelled_error& c) {
        return std::string("cancelled_error: ") + c.what();
    } catch (...) {
        return "unknown exception";
    }
}

}  // namespace

abstract_event_loop* running_loop() noexcept {
    return detail::running_base_loop;
}

abstract_event_loop& get_running_loop() {
    if (!detail::running_base_loop) throw std::runtime_error("no running event loop");
    return *detail::running_base_loop;
}

base_event_loop::base_event_loop() {
    {
        std::lock_guard g(alive_mutex());
        alive_set().insert(this);
    }
    const char* env = std::getenv("DUET_DEBUG");
    if (env && *env && std::string(env) != "0") set_debug(true);
}

void base_event_loop::set_debug(bool on) {
    // Without debug support linked (a wasm program without duet_debug_mode) only the
    // thread checks stay on: say once what is missing.
    if (on != debug_ && detail::debug_impl) detail::debug_loops.fetch_add(on ? 1 : -1, std::memory_order_relaxed);
    static bool told = false;
    if (on && !detail::debug_impl && !std::exchange(told, true))
        detail::report_line(
            "debug mode's coroutine and slow-callback checks are not linked into this program; "
            "link them with duet_debug_mode(<target>) in CMake");
    debug_ = on;
}

void base_event_loop::check_thread(const char* what) const {
    // Only meaningful while the loop runs: that is when it has an owning thread.
    if (running_ && std::this_thread::get_id() != thread_id_)
        throw std::runtime_error(std::string("Non-thread-safe operation invoked on an event loop other than the "
                                             "current one (") +
                                 what + " from another thread; use call_soon_threadsafe)");
}

void base_event_loop::run_batch_debug() {
    while (ready_.in_batch()) {
        detail::ready_entry e = ready_.pop();
        std::string name;
        if (e.fn == &handle_thunk) {
            auto* node = static_cast<detail::handle_node*>(e.arg);
            auto* t = node->fn_.target_type();
            name = t ? "callback " + detail::type_name(*t) : "callback";
        } else if (e.fn == &detail::callback_node::run_thunk) {
            auto* t = static_cast<detail::callback_node*>(e.arg)->fn.target_type();
            name = t ? "done callback " + detail::type_name(*t) : "done callback";
        } else if (e.fn == &detail::task_core::wakeup_thunk) {
            name = "step of task " + static_cast<detail::task_core*>(e.arg)->name();
        } else {
            name = "ready-queue entry";
        }
        double t0 = time();
        e.fn(e.arg, true);
        double took = time() - t0;
        if (took >= slow_callback_duration_) {
            detail::report_line("Executing " + name, " took ", detail::format_seconds(took) + " seconds");
        }
    }
}

base_event_loop::~base_event_loop() {
    // Executor threads shutdown_default_executor(timeout) stopped waiting for (the
    // executor's own destructor would wait for them the same way).
    for (auto& t : executor_joiners_) t.join();
    if (debug_ && detail::debug_impl) detail::debug_loops.fetch_sub(1, std::memory_order_relaxed);
    fd_uninstall_all();
    if (!closed_) {
        closed_ = true;
        release_pending();
    }
    // Tasks still registered (third-party ones, tasks kept alive elsewhere) leave the
    // registry that is going away.
    detail::forget_registry(*this);
    std::lock_guard g(alive_mutex());
    alive_set().erase(this);
    if (last_alive_.load(std::memory_order_relaxed) == this) last_alive_.store(nullptr, std::memory_order_relaxed);
}

bool base_event_loop::alive_lookup(const base_event_loop* loop) noexcept {
    std::lock_guard g(alive_mutex());
    if (alive_set().count(loop) == 0) return false;
    last_alive_.store(loop, std::memory_order_release);
    return true;
}

void abstract_event_loop::check_can_run() const {
    if (is_closed()) throw std::runtime_error("Event loop is closed");
    if (is_running()) throw std::runtime_error("This event loop is already running");
    if (running_loop()) throw std::runtime_error("Cannot run the event loop while another loop is running");
    check_can_block();
}

void base_event_loop::check_open() const {
    if (closed_) throw std::runtime_error("Event loop is closed");
}

void base_event_loop::check_open_for(const char* what) const {
    if (closed_) throw std::runtime_error(std::string(what) + ": Event loop is closed");
}

void base_event_loop::run_forever_setup() {
    check_open();
    if (running_) throw std::runtime_error("This event loop is already running");
    if (detail::running_base_loop) throw std::runtime_error("Cannot run the event loop while another loop is running");
    running_ = true;
    thread_id_ = std::this_thread::get_id();
    detail::running_base_loop = this;
    base_exception_ = nullptr;
}

base_event_loop::wake_plan base_event_loop::run_once() {
    if (!running_ || detail::running_base_loop != this)
        throw std::runtime_error("run_once: the loop is not set up on this thread (call run_forever_setup() first)");
    wake_plan p = process();
    // A base-tier exception leaves through the turn that raised it (the loop has stopped).
    if (base_exception_) [[unlikely]]
        std::rethrow_exception(std::exchange(base_exception_, nullptr));
    return p;
}

void base_event_loop::run_forever_cleanup() noexcept {
    if (detail::running_base_loop != this) return;
    detail::running_base_loop = nullptr;
    running_ = false;
    stopping_ = false;
}

void base_event_loop::run_forever() {
    run_forever_setup();
    try {
        host_run();
    } catch (...) {
        run_forever_cleanup();
        throw;
    }
    run_forever_cleanup();
    // A base-tier exception stopped the run: it leaves from here, with no stop left over.
    if (base_exception_) std::rethrow_exception(std::exchange(base_exception_, nullptr));
}

void base_event_loop::raise_base_exception(std::exception_ptr e) noexcept {
    if (!base_exception_) base_exception_ = std::move(e);
    stopping_ = true;
    ready_.end_batch_here();
}

bool detail::is_base_tier(const std::exception_ptr& e) noexcept {
    if (!e) return false;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception&) {
        return false;
    } catch (const cancelled_error&) {
        return false;
    } catch (...) {
        return true;
    }
}

void base_event_loop::stop() {
    stopping_ = true;
    if (running_ && !in_process_) host_wake({true, 0});
}

void base_event_loop::start_hosted() {
    check_open();
    if (running_) throw std::runtime_error("This event loop is already running");
    running_ = true;
    stopping_ = false;
    host_wake(plan());
}

base_event_loop::wake_plan base_event_loop::hosted_process() {
    base_event_loop* prev = detail::running_base_loop;
    detail::running_base_loop = this;
    wake_plan p = process();
    detail::running_base_loop = prev;
    if (stopping_) {
        running_ = false;
        stopping_ = false;
    }
    if (base_exception_) [[unlikely]] {
        // A hosted turn has no caller to leave through (the host is JS): the loop has
        // stopped; the handler hears of it.
        exception_context ctx;
        ctx.message = "base-tier exception in a hosted loop turn; the loop stopped";
        ctx.exception = std::exchange(base_exception_, nullptr);
        call_exception_handler(ctx);
    }
    return p;
}

base_event_loop::wake_plan base_event_loop::plan() noexcept {
    wake_plan p{!ready_.empty() || stopping_ || ts_pending_.load(std::memory_order_relaxed), timers_.next_deadline()};
    planned_deadline_ = p.deadline;
    return p;
}

void base_event_loop::run_due_timers(double now) {
    while (!timers_.empty()) {
        double when = timers_.next_deadline();
        if (when > now) break;
        detail::ready_entry e = timers_.pop(&handle_thunk);  // a handle's heap reference moves to the queue
        ready_.push(e.fn, e.arg);
    }
}

base_event_loop::wake_plan base_event_loop::process() {
    ++turns_;
    in_process_ = true;
    struct reset {
        bool& f;
        ~reset() { f = false; }
    } r{in_process_};
    // Callbacks run in their own contexts, never in the thread's (see handle_node::run).
    detail::context_scope in_callback_context(&callback_context_);
    if (ts_pending_.load(std::memory_order_acquire)) drain_threadsafe();
    // The clock is read at the start of a turn only if timers are pending, then every 64
    // iterations (a clock read costs more than an iteration; in wasm it is a call into
    // JS): a timer falling due mid-turn waits at most 64 iterations, and the time budget
    // counts from the first check.
    double now = timers_.empty() ? 0.0 : time();
    double start = -1;
    for (unsigned it = 1;; ++it) {
        if (!timers_.empty()) run_due_timers(now);
        // asyncio's fairness rule: run exactly what was ready when the iteration began.
        if (debug_ && detail::debug_impl) [[unlikely]] {
            // Through the debug table, which also keeps this path out of process():
            // Binaryen (Emscripten's optimiser) inlines any function with a single caller,
            // whatever its size, and inlined, the debug path doubles process(), which V8
            // then takes far longer to optimise (tens of ms at the start of a wasm program).
            ready_.begin_batch();
            detail::debug_impl->run_batch(*this);
        } else {
            ready_.begin_batch();
            while (ready_.in_batch()) {
                detail::ready_entry e = ready_.pop();
                e.fn(e.arg, true);
            }
        }
        ready_.trim_after_burst();
        if (stopping_) break;
        if (ts_pending_.load(std::memory_order_acquire)) drain_threadsafe();
        if (ready_.empty()) {
            if (timers_.empty()) break;
            now = time();
            if (timers_.next_deadline() > now) break;
        }
        if (it >= budget_iterations_) break;
        if ((it & 63) == 0) {
            now = time();
            if (start < 0)
                start = now;
            else if (budget_seconds_ > 0 && now - start > budget_seconds_)
                break;
        }
    }
    in_process_ = false;
    return plan();
}

bool base_event_loop::drain_threadsafe() {
    std::vector<detail::handle_node*> batch;
    {
        std::lock_guard g(ts_mutex_);
        batch.swap(ts_queue_);
        ts_pending_.store(false, std::memory_order_relaxed);
    }
    for (auto* n : batch) ready_.push(&handle_thunk, n);
    return !batch.empty();
}

void base_event_loop::push_handle(detail::handle_node* n) {
    push_ready(&handle_thunk, n);
}

handle base_event_loop::call_soon_node(detail::handle_node* n) {
    if (closed_ || debug_) [[unlikely]] {
        try {
            check_open_for("call_soon");
            if (debug_) check_thread("call_soon");
        } catch (...) {
            n->release();
            throw;
        }
    }
    n->loop_ = this;
    n->refs_ = 2;  // the returned handle and the queue
    // What call_soon_threadsafe queued before this call (the other thread was joined,
    // say) goes first. An acquire load: a plain load on x86.
    if (ts_pending_.load(std::memory_order_acquire)) [[unlikely]]
        drain_threadsafe();
    push_ready(&handle_thunk, n);
    return handle(detail::intrusive_ptr<detail::handle_node>::adopt(n));
}

handle base_event_loop::call_soon_threadsafe_cb(callback cb) {
    if (closed_) throw std::runtime_error("call_soon_threadsafe: Event loop is closed");
    auto* n = new detail::handle_node(this, std::move(cb), true);
    n->refs_ = 2;  // the returned handle and the queue
    bool was_empty;
    {
        std::lock_guard g(ts_mutex_);
        was_empty = ts_queue_.empty();
        ts_queue_.push_back(n);
        ts_pending_.store(true, std::memory_order_release);
    }
    if (was_empty) host_wake_threadsafe();
    return handle(detail::intrusive_ptr<detail::handle_node>::adopt(n));
}

void base_event_loop::add_timer(detail::timer_entry* t) {
    timers_.push(t);
    if (!in_process_ && running_ && t->when < planned_deadline_) {
        planned_deadline_ = t->when;
        host_wake({!ready_.empty(), t->when});
    }
}

timer_handle base_event_loop::call_at_node(double when, detail::handle_node* n) {
    auto node = detail::intrusive_ptr<detail::handle_node>::adopt(n);  // released if we throw
    check_open_for("call_at");
    if (debug_) check_thread("call_at");
    if (std::isnan(when)) throw std::invalid_argument("call_at: time is NaN");
    n->loop_ = this;
    n->is_timer_ = true;
    n->when_ = when;
    timers_.push(n);
    if (!in_process_ && running_ && when < planned_deadline_) {
        planned_deadline_ = when;
        host_wake({!ready_.empty(), when});
    }
    return timer_handle(std::move(node));
}

void base_event_loop::run_until_done(basic_future f) {
    check_open();
    if (!f) throw std::invalid_argument("run_until_complete: null future");
    if (&f.get_loop() != this)
        throw std::invalid_argument("run_until_complete: the future belongs to a different loop");
    auto id = f.add_done_callback([](basic_future& done) {
        // A base-tier exception already ended the run (and left through run_forever):
        // stopping now would stop the next run instead (asyncio's issue #22429).
        if (!done.cancelled() && detail::is_base_tier(done.exception())) return;
        done.get_loop().stop();
    });
    try {
        run_forever();
    } catch (...) {
        f.remove_done_callback(id);
        throw;
    }
    f.remove_done_callback(id);
    if (!f.done()) throw std::runtime_error("Event loop stopped before Future completed.");
    // A task's exception is about to leave the run: name the task if nothing catches it.
    if (f.core()->is_task() && !f.cancelled()) {
        if (auto e = f.exception()) {
            auto* tc = static_cast<detail::task_core*>(f.core());
            detail::note_escaping(e, tc->name(), static_cast<detail::future_core*>(tc));
        }
    }
}

void base_event_loop::start_task(detail::task_core* tc) {
    if (debug_) check_thread("create_task");
    try {
        detail::register_new_task(*this, tc);
    } catch (...) {
        tc->discard_unstarted();
        throw;
    }
    tc->set_loop_owned(true);
    tc->add_ref();  // the loop keeps every task alive until it ends
    task_start mode = task_start::soon;
    if (task_factory_) {
        try {
            basic_task arg{detail::intrusive_ptr<detail::future_core>(tc)};
            mode = task_factory_(*this, arg);
        } catch (...) {
            // As asyncio, where the factory makes the task: create_task fails and leaves
            // nothing behind (no registry entry, no report, no coroutine frame).
            tc->discard_unstarted();
            throw;
        }
    }
    tc->add_ref();  // for the scheduled step
    // As asyncio: an eager start needs a running loop; otherwise the first step is queued.
    if (mode == task_start::eager && running_) {
        detail::task_core::wakeup_thunk(tc, true);
        // As asyncio's eager start, whose step re-raises it: a base-tier exception the
        // eager step ended with (KeyboardInterrupt, SystemExit) also leaves create_task.
        // The caller (make_task) still holds the task.
        if (std::exception_ptr e = tc->base_tier_error()) std::rethrow_exception(e);
    } else {
        push_ready(&detail::task_core::wakeup_thunk, tc);
    }
}

namespace {
std::string describe_context(const exception_context& ctx) {
    std::string text = ctx.message.empty() ? "Unhandled exception in event loop" : ctx.message;
    if (ctx.task) text += "\ntask: " + ctx.task->get_name();
    if (ctx.exception) text += "\nexception: " + describe(ctx.exception);
    if (ctx.context) text += "\ncontext: " + describe_context(*ctx.context);
    return text;
}

// The last resort, called inside a catch block: stderr, and nothing may escape.
void report_handler_failure(const char* what) noexcept {
    try {
        detail::report_line(what, ": ", describe(std::current_exception()));
    } catch (...) {
        detail::report_line(what);
    }
}
}  // namespace

void base_event_loop::default_exception_handler(const exception_context& ctx) {
    detail::report_line(describe_context(ctx));
}

void base_event_loop::call_exception_handler(const exception_context& ctx) noexcept {
    // As asyncio: a failing custom handler is reported once to the default handler, with
    // the context it was given; a failing default handler is reported on stderr. The
    // loop goes on either way.
    if (!exception_handler_) {
        try {
            default_exception_handler(ctx);
        } catch (...) {
            report_handler_failure("Exception in default exception handler");
        }
        return;
    }
    try {
        exception_handler_(*this, ctx);
    } catch (...) {
        try {
            exception_context failed;
            failed.message = "Unhandled error in exception handler";
            failed.exception = std::current_exception();
            failed.context = std::make_shared<const exception_context>(ctx);
            default_exception_handler(failed);
        } catch (...) {
            report_handler_failure(
                "Exception in default exception handler while handling an unexpected error in custom exception "
                "handler");
        }
    }
}

void base_event_loop::release_pending() noexcept {
    std::vector<detail::task_core*> owned;
    // New tasks that never ran have no registry place yet: their first step is queued
    // (found before the queue is dropped; the loop's reference keeps them alive).
    ready_.for_each([&](const detail::ready_entry& e) {
        if (e.fn != &detail::task_core::wakeup_thunk) return;
        auto* t = static_cast<detail::task_core*>(e.arg);
        if (t->awaiting_registry_place() && t->loop_owned()) owned.push_back(t);
    });
    drop_queued();
    for (detail::task_core* t : duet_tasks_)
        if (t->loop_owned()) owned.push_back(t);
    for (auto* t : owned) {
        t->abandon();
        t->set_loop_owned(false);
        t->release();
    }
    // Destroyed coroutines may have scheduled callbacks on their way out.
    drop_queued();
}

void base_event_loop::drop_queued() noexcept {
    while (!ready_.empty()) {
        detail::ready_entry e = ready_.pop();
        e.fn(e.arg, false);
    }
    timers_.clear();
    {
        std::lock_guard g(ts_mutex_);
        for (auto* n : ts_queue_) n->release();
        ts_queue_.clear();
        ts_pending_ = false;
    }
}

void base_event_loop::close() {
    if (running_) throw std::runtime_error("Cannot close a running event loop");
    if (closed_) return;
    fd_uninstall_all();
    release_pending();
    closed_ = true;
    // As asyncio: the default executor is told to stop, without waiting for its jobs.
    if (default_executor_) default_executor_->shutdown(false);
    host_close();
}

void base_event_loop::set_default_executor(std::shared_ptr<executor> ex) {
    if (!ex) throw std::invalid_argument("set_default_executor: null executor");
    default_executor_ = std::move(ex);
}

executor& base_event_loop::default_executor() {
    check_open_for("default_executor");
    require_threads("the default executor");
    // As asyncio's run_in_executor(None, ...): no new default executor once it was shut down.
    if (executor_shutdown_called_) throw std::runtime_error("Executor shutdown has been called");
    if (!default_executor_) default_executor_ = std::make_shared<thread_pool_executor>();
    return *default_executor_;
}

void base_event_loop::shutdown_default_executor(std::optional<double> timeout) {
    executor_shutdown_called_ = true;
    auto ex = std::exchange(default_executor_, nullptr);
    if (!ex) return;
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
    // No threads: nothing to join, and the joining code below stays out of the module.
    (void)timeout;
    ex->shutdown(true);
#else
    if (!timeout) {
        ex->shutdown(true);
        return;
    }
    // As asyncio: a thread of its own joins the executor, and is waited for `timeout`.
    struct join_state {
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        std::exception_ptr error;
    };
    auto st = std::make_shared<join_state>();
    std::thread joiner([ex, st] {
        std::exception_ptr error;
        try {
            ex->shutdown(true);
        } catch (...) {
            error = std::current_exception();
        }
        std::lock_guard g(st->m);
        st->done = true;
        st->error = std::move(error);
        st->cv.notify_all();
    });
    // (Not NaN or negative; at most ~30 years, which steady_clock's now() + d holds.)
    double wait = *timeout > 0 ? std::min(*timeout, 1e9) : 0.0;
    bool joined = false;
    {
        std::unique_lock lk(st->m);
        joined = st->cv.wait_for(lk, std::chrono::duration<double>(wait), [&] { return st->done; });
    }
    if (joined) {
        joiner.join();
        if (st->error) std::rethrow_exception(st->error);
        return;
    }
    executor_joiners_.push_back(std::move(joiner));
    // "300.000" -> "300", "0.050" -> "0.05", as Python prints the number.
    std::string secs = detail::format_seconds(*timeout);
    while (secs.back() == '0') secs.pop_back();
    if (secs.back() == '.') secs.pop_back();
    exception_context ctx;
    ctx.message = "The executor did not finishing joining its threads within " + secs + " seconds.";
    call_exception_handler(ctx);
    ex->shutdown(false);
#endif
}

// ---- file descriptor watches

namespace detail {
// One registered reader or writer. Each readiness queues a handle that calls it if it is
// still the active one, so removal or replacement drops a callback already queued. It
// runs, every time, in the copy of the context current at add_reader / add_writer (as
// asyncio's Handle for the fd): what one run sets, the next one sees.
struct fd_callback {
    callback fn;
    context_slot ctx;
    unsigned refs = 1;
    bool active = true;
    void add_ref() noexcept { ++refs; }
    void release() noexcept {
        if (--refs == 0) delete this;
    }
};
}  // namespace detail

void base_event_loop::check_fd_call(int fd, const char* what) const {
    check_open_for(what);
    if (debug_) check_thread(what);
    if (fd < 0) throw std::invalid_argument(std::string(what) + ": invalid file descriptor " + std::to_string(fd));
}

unsigned base_event_loop::fd_interest(int fd) const noexcept {
    auto it = fd_watches_.find(fd);
    if (it == fd_watches_.end()) return 0;
    return (it->second.reader ? fd_readable : 0u) | (it->second.writer ? fd_writable : 0u);
}

void base_event_loop::fd_install(int fd, unsigned which, callback cb) {
    auto* c = new detail::fd_callback{std::move(cb), detail::capture_context()};
    fd_watch& w = fd_watches_[fd];
    detail::fd_callback*& slot = which == fd_readable ? w.reader : w.writer;
    if (slot) {
        slot->active = false;
        slot->release();
    }
    slot = c;
}

bool base_event_loop::fd_uninstall(int fd, unsigned which) noexcept {
    auto it = fd_watches_.find(fd);
    if (it == fd_watches_.end()) return false;
    detail::fd_callback*& slot = which == fd_readable ? it->second.reader : it->second.writer;
    if (!slot) return false;
    slot->active = false;
    std::exchange(slot, nullptr)->release();
    if (!it->second.reader && !it->second.writer) fd_watches_.erase(it);
    return true;
}

void base_event_loop::fd_uninstall_all() noexcept {
    for (auto& [fd, w] : fd_watches_)
        for (auto* c : {w.reader, w.writer})
            if (c) {
                c->active = false;
                c->release();
            }
    fd_watches_.clear();
}

void base_event_loop::fd_ready(int fd, unsigned events) {
    auto it = fd_watches_.find(fd);
    if (it == fd_watches_.end()) return;
    for (auto* c :
         {(events & fd_readable) ? it->second.reader : nullptr, (events & fd_writable) ? it->second.writer : nullptr}) {
        if (!c) continue;
        // An ordinary handle: the callback runs with the running loop set, its exceptions
        // go to the exception handler, after what was already queued.
        auto run = [c = detail::intrusive_ptr<detail::fd_callback>(c)] {
            if (!c->active) return;
            detail::context_scope in_its_context(&c->ctx);
            c->fn();
        };
        auto* n = new detail::handle_node(this, std::move(run), false);
        push_handle(n);
    }
}

void base_event_loop::throw_not_supported(const char* method, const char* backend, const char* capability) {
    throw not_supported_error(std::string(method) + ": the \"" + backend + "\" event loop does not support " +
                              capability);
}

void threadsafe_work_guard::reset() noexcept {
    base_event_loop* loop = std::exchange(loop_, nullptr);
    if (!loop || !base_event_loop::alive(loop)) return;
    // The last claim wakes the loop so that a backend waiting for other threads re-checks.
    if (loop->threadsafe_work_.fetch_sub(1, std::memory_order_acq_rel) == 1 && !loop->is_closed())
        loop->host_wake_threadsafe();
}

}  // namespace duet
