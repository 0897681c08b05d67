#include "watcher_util.hpp"

#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include <duet/child_watchers_native.hpp>
#include <duet/contextvars.hpp>
#include <duet/detail/sigchld_owner.hpp>
#include <duet/sockets.hpp>

namespace duet::watcher_detail {

int returncode_of(int status) noexcept {
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return status;  // not reachable without WUNTRACED / WCONTINUED
}

std::optional<exit_info> try_reap(int pid) {
    int status = 0;
    for (;;) {
        const int r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return exit_info{returncode_of(status), false};
        if (r == 0) return std::nullopt;
        if (errno == EINTR) continue;
        if (errno == ECHILD) return exit_info{255, true};
        throw os_error(errno, "waitpid pid " + std::to_string(pid));
    }
}

exit_info reap_blocking(int pid) {
    int status = 0;
    for (;;) {
        const int r = ::waitpid(pid, &status, 0);
        if (r == pid) return exit_info{returncode_of(status), false};
        if (r < 0 && errno == EINTR) continue;
        return exit_info{255, true};  // ECHILD (or EINVAL, which cannot happen with flags 0)
    }
}

void deliver_here(const std::shared_ptr<child_table>& t, abstract_event_loop& loop, int pid, exit_info e) {
    abstract_child_watcher::child_callback cb;
    {
        std::lock_guard g(t->m);
        if (t->closed) return;
        auto it = t->handlers.find(pid);
        if (it == t->handlers.end()) return;  // removed: the callback never runs
        cb = std::move(it->second.cb);
        t->handlers.erase(it);
    }
    if (e.unknown) {
        exception_context ctx;
        ctx.message = std::string(t->watcher) + ": unknown child process pid " + std::to_string(pid) +
                      ", will report returncode 255 (it was reaped elsewhere)";
        loop.call_exception_handler(ctx);
    }
    if (cb) cb(pid, e.returncode);
}

void post_exit(const std::shared_ptr<child_table>& t, abstract_event_loop& loop, int pid, exit_info e) {
    try {
        loop.call_soon_threadsafe([t, &loop, pid, e] { deliver_here(t, loop, pid, e); });
    } catch (const std::exception& x) {
        {
            std::lock_guard g(t->m);
            t->handlers.erase(pid);
        }
        std::fprintf(stderr, "duet: %s: the loop handling pid %d cannot run its callback (%s); returncode %d dropped\n",
                     t->watcher, pid, x.what(), e.returncode);
    }
}

void move_sigchld_handler(const void* token, const char* watcher, abstract_event_loop* from, abstract_event_loop* to,
                          std::function<void()> on_sigchld) {
    namespace sc = detail::sigchld;
    if (to) {
        sc::claim_for_watcher(token, watcher);
        try {
            sc::install_scope s(token);
            const detail::no_context_scope shared;  // serves every spawner on the loop
            to->add_signal_handler(SIGCHLD, std::move(on_sigchld));
        } catch (...) {
            if (!from) sc::release_watcher(token);
            throw;
        }
    }
    if (from && from != to) {
        sc::install_scope s(token);
        try {
            from->remove_signal_handler(SIGCHLD);
        } catch (...) {  // a closed loop has no handler left to remove
        }
    }
    if (!to) sc::release_watcher(token);
}

std::optional<exit_info> take_exit(sigchld_table& t, int pid) {
    if (auto z = t.zombies.find(pid); z != t.zombies.end()) {
        const exit_info e{z->second, false};
        t.zombies.erase(z);
        return e;
    }
    return try_reap(pid);
}

void add_sigchld_handler(const std::shared_ptr<sigchld_table>& t, int pid, abstract_child_watcher::child_callback cb) {
    std::optional<exit_info> e;
    abstract_event_loop* loop = nullptr;
    {
        std::lock_guard g(t->m);
        auto& h = t->handlers[pid];
        h.cb = std::move(cb);
        loop = t->loop;
        if (loop && !h.reaped) {
            e = take_exit(*t, pid);
            if (e) h.reaped = true;
        }
    }
    if (e) post_exit(t, *loop, pid, *e);
}

void attach_sigchld_loop(const std::shared_ptr<sigchld_table>& t, abstract_event_loop* loop,
                         const std::function<void()>& on_sigchld, const std::function<void()>& sweep) {
    abstract_event_loop* old = nullptr;
    {
        std::lock_guard g(t->m);
        old = t->loop;
    }
    if (loop != old) {
        move_sigchld_handler(t.get(), t->watcher, old, loop, on_sigchld);
        std::lock_guard g(t->m);
        t->loop = loop;
    }
    if (loop) sweep();
}

void destroy_sigchld_table(sigchld_table& t) noexcept {
    {
        std::lock_guard g(t.m);
        t.closed = true;
        t.handlers.clear();
    }
    detail::sigchld::release_watcher(&t);
}

void close_sigchld_table(const std::shared_ptr<sigchld_table>& t) {
    try {
        attach_sigchld_loop(t, nullptr, {}, {});
    } catch (...) {  // detaching only removes: nothing to report
    }
    std::lock_guard g(t->m);
    t->handlers.clear();
    t->zombies.clear();
}

bool is_attached(sigchld_table& t) {
    std::lock_guard g(t.m);
    return t.loop != nullptr;
}

bool remove_handler(child_table& t, int pid) {
    std::lock_guard g(t.m);
    return t.handlers.erase(pid) > 0;
}

void throw_no_running_loop(const char* watcher, int pid) {
    throw std::runtime_error(std::string(watcher) + ".add_child_handler(pid " + std::to_string(pid) +
                             "): no running event loop; call it from a coroutine or callback of the loop that is "
                             "to run the callback");
}

}  // namespace duet::watcher_detail

namespace duet {

std::shared_ptr<abstract_child_watcher> make_child_watcher(std::string_view name) {
    if (name == "pidfd") return std::make_shared<pidfd_child_watcher>();
    if (name == "threaded") return std::make_shared<threaded_child_watcher>();
    if (name == "safe") return std::make_shared<safe_child_watcher>();
    if (name == "fast") return std::make_shared<fast_child_watcher>();
    if (name == "multi_loop") return std::make_shared<multi_loop_child_watcher>();
    throw std::invalid_argument("make_child_watcher: no child watcher named '" + std::string(name) +
                                "' (pidfd, threaded, safe, fast, multi_loop)");
}

}  // namespace duet
