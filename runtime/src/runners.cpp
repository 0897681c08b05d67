#include <duet/policies.hpp>
#include <duet/runners.hpp>

namespace duet {

namespace {
coro<void> await_all(std::vector<basic_task> tasks) {
    for (auto& t : tasks) {
        if (t.done()) continue;
        try {
            co_await future<void>(detail::intrusive_ptr<detail::future_core>(t.core()));
        } catch (...) {
        }
    }
}
}  // namespace

abstract_event_loop& runner::get_loop() {
    if (closed_) throw std::runtime_error("Runner is closed");
    if (!loop_) {
        loop_ = factory_ ? factory_() : new_event_loop();
        if (debug_) loop_->set_debug(*debug_);
        ctx_ = copy_context();
        // As asyncio.Runner: the policy's current loop while the runner lives.
        if (!factory_) {
            set_event_loop(loop_.get());
            set_current_ = true;
        }
    }
    return *loop_;
}

void runner::close() {
    if (closed_ || !loop_) {
        closed_ = true;
        return;
    }
    closed_ = true;
    auto& loop = *loop_;
    if (!loop.is_closed()) {
        // duet's own tasks: a third-party task cannot be cancelled or awaited from here.
        std::vector<basic_task> left;
        for (auto& t : all_tasks(loop))
            if (t.is_duet_task()) left.push_back(t);
        if (!left.empty()) {
            for (auto& t : left) t.cancel();
            try {
                loop.run_until_complete(await_all(left));
            } catch (...) {
                // The loop cannot run (a wasm build without blocking support): close() is
                // also called by ~runner and must not throw; closing reports the tasks.
                loop.close();
                loop_.reset();
                return;
            }
            for (auto& t : left) {
                if (t.cancelled()) continue;
                if (auto e = t.exception()) {
                    exception_context ctx;
                    ctx.message = "unhandled exception during duet::run() shutdown";
                    ctx.exception = e;
                    ctx.task = t;
                    loop.call_exception_handler(ctx);
                }
            }
        }
        // As asyncio.Runner (3.12): the executor's threads get thread_join_timeout seconds.
        loop.shutdown_default_executor(thread_join_timeout);
        loop.close();
    }
    if (set_current_) set_event_loop(nullptr);
    loop_.reset();
}

}  // namespace duet
