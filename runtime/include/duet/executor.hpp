// Blocking work off the loop: executors, run_in_executor, to_thread, and the bridges
// between loop futures and other threads (run_coroutine_threadsafe, wrap_future).
// Natively these use threads; in a wasm build without pthreads they raise
// not_supported_error.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include <duet/base_events.hpp>
#include <duet/contextvars.hpp>
#include <duet/events.hpp>

namespace duet {

// Whether this build can run threads (false in wasm builds without pthreads).
bool threads_supported() noexcept;
// Throws not_supported_error naming `what` when threads_supported() is false.
void require_threads(const char* what);

// Runs submitted jobs on other threads (concurrent.futures.Executor).
class executor {
public:
    virtual ~executor() = default;
    // std::runtime_error after shutdown().
    virtual void submit(std::function<void()> job) = 0;
    // No new jobs; with wait, returns once queued jobs have run and the threads ended.
    virtual void shutdown(bool wait = true) = 0;
};

// A pool of up to max_workers threads, started on demand (ThreadPoolExecutor).
class thread_pool_executor final : public executor {
public:
    // Default size as Python's: min(32, cores + 4).
    explicit thread_pool_executor(std::size_t max_workers = 0);
    ~thread_pool_executor() override;
    void submit(std::function<void()> job) override;
    void shutdown(bool wait = true) override;
    std::size_t max_workers() const noexcept { return max_workers_; }

private:
    void worker();
    std::size_t max_workers_;
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    std::vector<std::thread> threads_;
    std::size_t idle_ = 0;
    bool shutdown_ = false;
};

// A result another thread can wait for (concurrent.futures.Future), as returned by
// run_coroutine_threadsafe. Thread-safe; copies share the state.
template <class T>
class concurrent_future {
    struct state {
        std::mutex m;
        std::condition_variable cv;
        std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
        std::exception_ptr error;
        bool cancelled = false;
        bool done = false;
        bool cancel_requested = false;
        std::function<void()> on_cancel;  // asks the loop to cancel the task
        std::vector<std::function<void()>> callbacks;
    };

public:
    concurrent_future() : s_(std::make_shared<state>()) {}

    bool done() const {
        std::lock_guard g(s_->m);
        return s_->done;
    }
    bool cancelled() const {
        std::lock_guard g(s_->m);
        return s_->cancelled;
    }
    // Requests cancellation of the task behind it; false if it already finished.
    bool cancel() {
        std::function<void()> c;
        {
            std::lock_guard g(s_->m);
            if (s_->done) return false;
            c = s_->on_cancel;
            if (!c) s_->cancel_requested = true;  // delivered once the task exists
        }
        if (c) c();
        return true;
    }
    // Blocks until done (or timeout_error after `timeout` seconds); returns the result,
    // rethrows the exception, cancelled_error if cancelled.
    T result(std::optional<double> timeout = std::nullopt) {
        std::unique_lock lk(s_->m);
        auto ready = [&] { return s_->done; };
        if (timeout) {
            if (!s_->cv.wait_for(lk, std::chrono::duration<double>(*timeout), ready))
                throw timeout_error("concurrent_future.result() timed out");
        } else {
            s_->cv.wait(lk, ready);
        }
        if (s_->cancelled) throw cancelled_error();
        if (s_->error) std::rethrow_exception(s_->error);
        if constexpr (!std::is_void_v<T>) return *s_->value;
    }
    // f() runs once done, on whichever thread completes it (or at once if done).
    void add_done_callback(std::function<void()> f) {
        {
            std::lock_guard g(s_->m);
            if (!s_->done) {
                s_->callbacks.push_back(std::move(f));
                return;
            }
        }
        f();
    }

    // ---- completion (internal, any thread)
    template <class... V>
    void set_result(V&&... v) {
        finish([&](state& s) { s.value.emplace(std::forward<V>(v)...); });
    }
    void set_exception(std::exception_ptr e) {
        finish([&](state& s) { s.error = std::move(e); });
    }
    void set_cancelled() {
        finish([](state& s) { s.cancelled = true; });
    }
    void set_on_cancel(std::function<void()> f) {
        bool now;
        {
            std::lock_guard g(s_->m);
            now = s_->cancel_requested;
            s_->on_cancel = f;
        }
        if (now) f();
    }

private:
    template <class F>
    void finish(F&& fill) {
        std::vector<std::function<void()>> cbs;
        {
            std::lock_guard g(s_->m);
            if (s_->done) return;
            fill(*s_);
            s_->done = true;
            cbs.swap(s_->callbacks);
        }
        s_->cv.notify_all();
        for (auto& c : cbs) c();
    }
    std::shared_ptr<state> s_;
};

namespace detail {
// Runs job on `ex` (the loop's default executor when null).
void submit_to_executor(abstract_event_loop& loop, executor* ex, std::function<void()> job);

// Settles a loop future from a finished call (on the loop thread).
template <class R, class F>
void settle(future<R>& fut, F& call) {
    if (fut.done()) return;  // cancelled meanwhile
    try {
        if constexpr (std::is_void_v<R>) {
            call();
            fut.set_result();
        } else {
            fut.set_result(call());
        }
    } catch (...) {
        fut.set_exception(std::current_exception());
    }
}
}  // namespace detail

// Calls f(args...) on `ex` (the loop's default executor when null) and returns a future on
// `loop` for its result (loop.run_in_executor).
template <class F, class... A>
auto run_in_executor(abstract_event_loop& loop, executor* ex, F&& f, A&&... a)
    -> future<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>> {
    using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>;
    using stored = std::conditional_t<std::is_void_v<R>, bool, R>;
    require_threads("run_in_executor");
    auto fut = loop.create_future<R>();
    // Loop objects count references without atomics, so the worker never copies or drops
    // the future: it carries this box, whose ownership goes back to the loop thread.
    auto* box = new future<R>(fut);
    auto* lp = &loop;
    try {
        // The guard tells the loop a completion will come from another thread (a virtual
        // clock loop waits for it instead of reporting a deadlock). It moves into the
        // completion and ends on the loop thread once that ran: the worker's copy of the
        // job, destroyed later, no longer refers to the loop.
        threadsafe_work_guard expect(loop);
        detail::submit_to_executor(
            loop, ex, [box, lp, expect, f = std::forward<F>(f), ... a = std::forward<A>(a)]() mutable {
                std::optional<stored> value;
                std::exception_ptr error;
                try {
                    if constexpr (std::is_void_v<R>) {
                        std::invoke(f, a...);
                        value.emplace(true);
                    } else {
                        value.emplace(std::invoke(f, a...));
                    }
                } catch (...) {
                    error = std::current_exception();
                }
                try {
                    lp->call_soon_threadsafe([own = std::unique_ptr<future<R>>(box), value = std::move(value), error,
                                              expect = std::move(expect)]() mutable {
                        future<R>& target = *own;
                        if (target.done()) return;  // cancelled meanwhile
                        if (error)
                            target.set_exception(error);
                        else if constexpr (std::is_void_v<R>)
                            target.set_result();
                        else
                            target.set_result(std::move(*value));
                    });
                } catch (...) {
                    // The loop closed meanwhile. Its future may only be released on its own
                    // thread, so the box is left alone (duet::run joins its executor before
                    // closing, so this does not happen there).
                }
            });
    } catch (...) {
        delete box;
        throw;
    }
    return fut;
}

// Runs f(args...) in the default executor, in a copy of the current context, and awaits
// the result (asyncio.to_thread). Takes its arguments by value: the coroutine starts
// later, when the caller's temporaries are gone.
template <class F, class... A>
auto to_thread(F f, A... a) -> coro<std::invoke_result_t<F, A...>> {
    auto& loop = get_running_loop();
    auto ctx = std::make_shared<context>(copy_context());
    auto job = [ctx, f = std::move(f), ... a = std::move(a)]() mutable {
        return ctx->run([&]() -> decltype(auto) { return std::invoke(f, a...); });
    };
    auto fut = run_in_executor(loop, nullptr, std::move(job));
    co_return co_await fut;
}

// Submits a coroutine to `loop` from another thread; the returned future can be waited on
// from any thread, and cancel() cancels the task (asyncio.run_coroutine_threadsafe).
template <class T>
concurrent_future<T> run_coroutine_threadsafe(coro<T> c, abstract_event_loop& loop);
template <detail::lazy_awaitable A>
auto run_coroutine_threadsafe(A&& a, abstract_event_loop& loop) {
    return run_coroutine_threadsafe(std::forward<A>(a).as_coro(), loop);
}
template <class T>
concurrent_future<T> run_coroutine_threadsafe(coro<T> c, abstract_event_loop& loop) {
    concurrent_future<T> out;
    auto* lp = &loop;
    loop.call_soon_threadsafe([body = std::make_shared<coro<T>>(std::move(c)), out, lp]() mutable {
        auto t = lp->create_task(std::move(*body));
        // Other threads may only name the task: cancel() finds it again on the loop
        // thread by address and id, and does nothing once it has ended.
        auto* core = t.core();
        auto id = static_cast<detail::task_core*>(core)->id();
        out.set_on_cancel([lp, core, id] {
            try {
                lp->call_soon_threadsafe([lp, core, id] {
                    for (auto& x : all_tasks(*lp))
                        if (x.core() == core && static_cast<detail::task_core*>(core)->id() == id) x.cancel();
                });
            } catch (...) {
            }
        });
        t.add_done_callback([out](future<T>& f) mutable {
            if (f.cancelled()) {
                out.set_cancelled();
            } else if (auto e = f.exception()) {
                out.set_exception(e);
            } else if constexpr (std::is_void_v<T>) {
                out.set_result();
            } else {
                out.set_result(f.result());
            }
        });
    });
    return out;
}

// A loop future completed when a concurrent_future is (asyncio.wrap_future).
template <class T>
future<T> wrap_future(concurrent_future<T> cf, abstract_event_loop& loop) {
    auto fut = loop.create_future<T>();
    auto* box = new future<T>(fut);  // see run_in_executor: only the loop thread owns it
    auto* lp = &loop;
    threadsafe_work_guard expect(loop);  // as in run_in_executor
    cf.add_done_callback([cf, box, lp, expect]() mutable {
        try {
            lp->call_soon_threadsafe([cf, own = std::unique_ptr<future<T>>(box), expect = std::move(expect)]() mutable {
                future<T>& target = *own;
                if (target.done()) return;
                if (cf.cancelled()) {
                    target.cancel();
                    return;
                }
                auto call = [&]() -> T { return cf.result(); };
                detail::settle(target, call);
            });
        } catch (...) {
        }
    });
    return fut;
}

// A loop future completed when a std::future is: a thread of the default executor waits
// for it (std::future has no callbacks).
template <class T>
future<T> wrap_future(std::future<T> sf, abstract_event_loop& loop) {
    auto shared = std::make_shared<std::future<T>>(std::move(sf));
    return run_in_executor(loop, nullptr, [shared]() -> T { return shared->get(); });
}

}  // namespace duet
