#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>

#include <uv.h>

#include <duet/event_loop.hpp>

#include "uv_network.hpp"

namespace duet {

struct uv_backend::impl {
    base_event_loop& core;
    uv_loop_t loop{};
    uv_idle_t idle{};
    uv_timer_t timer{};
    uv_async_t async{};
    double armed = HUGE_VAL;
    bool idle_active = false;
    bool closed = false;
    // One poll handle per watched fd, read and write interest merged.
    std::unordered_map<int, uv_poll_t*> polls;

    explicit impl(base_event_loop& c) : core(c) {
        check(uv_loop_init(&loop), "uv_loop_init");
        uv_idle_init(&loop, &idle);
        uv_timer_init(&loop, &timer);
        check(uv_async_init(&loop, &async, &on_async), "uv_async_init");
        idle.data = timer.data = async.data = this;
        uv_unref(reinterpret_cast<uv_handle_t*>(&async));
    }
    static void check(int rc, const char* what) {
        if (rc < 0) throw std::runtime_error(std::string(what) + ": " + uv_strerror(rc));
    }
    static impl* self(void* h) { return static_cast<impl*>(static_cast<uv_handle_t*>(h)->data); }
    static void on_idle(uv_idle_t* h) { self(h)->turn(); }
    static void on_timer(uv_timer_t* h) {
        self(h)->armed = HUGE_VAL;
        self(h)->turn();
    }
    static void on_async(uv_async_t* h) { self(h)->turn(); }
    static void on_poll(uv_poll_t* h, int status, int events) {
        // An error (the fd was closed under us, say) is handed to both callbacks: they find
        // out by reading or writing, as libuv recommends.
        unsigned ready = 0;
        if (status < 0 || (events & (UV_READABLE | UV_DISCONNECT))) ready |= fd_readable;
        if (status < 0 || (events & UV_WRITABLE)) ready |= fd_writable;
        int fd = -1;
        uv_fileno(reinterpret_cast<uv_handle_t*>(h), &fd);
        self(h)->core.fd_ready(fd, ready);
    }
    static void free_poll(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }

    void turn() {
        auto p = core.process();
        if (core.stop_requested()) uv_stop(&loop);
        apply(p);
    }
    void apply(wake_plan p) {
        if (p.ready != idle_active) {
            if (p.ready)
                uv_idle_start(&idle, &on_idle);
            else
                uv_idle_stop(&idle);
            idle_active = p.ready;
        }
        // Work is ready: the idle handle runs a turn in the next iteration (libuv does not
        // block in poll while an idle handle is active), and that turn plans the timer.
        // Arming a 0 ms timer as well would cost a second turn for nothing (a task woken
        // from an I/O callback, the common case, goes through here).
        if (p.ready) return;
        if (p.deadline == armed) return;
        armed = p.deadline;
        if (p.deadline == HUGE_VAL) {
            uv_timer_stop(&timer);
            return;
        }
        uv_update_time(&loop);
        // A huge delay (sleep(seconds::max()), call_later(1e300)) would not fit libuv's
        // integer milliseconds: the timer is armed for at most max_timer_ms, and when it
        // fires early the turn finds nothing due and arms it again for the rest.
        double ms = std::ceil((p.deadline - now()) * 1e3);
        if (!(ms > 0)) ms = 0;
        if (ms > max_timer_ms) ms = max_timer_ms;
        uv_timer_start(&timer, &on_timer, static_cast<std::uint64_t>(ms), 0);
    }
    static constexpr double max_timer_ms = 1u << 30;  // about 12 days
    double now() const noexcept { return static_cast<double>(uv_hrtime()) * 1e-9; }
};

uv_backend::uv_backend(base_event_loop& loop) : impl_(std::make_unique<impl>(loop)) {}
uv_backend::~uv_backend() {
    close();
}

double uv_backend::now() const noexcept {
    return impl_->now();
}

void uv_backend::wake(wake_plan p) {
    impl_->apply(p);
}

void uv_backend::run() {
    auto& i = *impl_;
    uv_ref(reinterpret_cast<uv_handle_t*>(&i.async));
    i.apply(i.core.plan());
    i.idle_active = false;  // force the idle handle on: the first turn always runs
    i.apply({true, i.armed});
    uv_run(&i.loop, UV_RUN_DEFAULT);
    uv_unref(reinterpret_cast<uv_handle_t*>(&i.async));
}

void uv_backend::wake_threadsafe() noexcept {
    uv_async_send(&impl_->async);
}

void uv_backend::close() noexcept {
    if (!impl_ || impl_->closed) return;
    auto& i = *impl_;
    i.closed = true;
    // Transports, servers and signal handlers still open are reported and closed first;
    // the uv_run below finishes their closes.
    if (network_) network_->close_all();
    uv_close(reinterpret_cast<uv_handle_t*>(&i.idle), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&i.timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&i.async), nullptr);
    for (auto& [fd, h] : i.polls) uv_close(reinterpret_cast<uv_handle_t*>(h), &impl::free_poll);
    i.polls.clear();
    uv_run(&i.loop, UV_RUN_DEFAULT);
    uv_loop_close(&i.loop);
}

uv_loop_s* uv_backend::uv_loop() noexcept {
    return &impl_->loop;
}

std::size_t uv_backend::active_handles() const noexcept {
    return impl_->loop.active_handles;
}

std::size_t uv_backend::handle_count() const noexcept {
    std::size_t n = 0;
    uv_walk(
        &impl_->loop, [](uv_handle_t*, void* arg) { ++*static_cast<std::size_t*>(arg); }, &n);
    return n;
}

loop_network& uv_backend::network() {
    if (!network_) network_ = std::make_unique<uv_network>(impl_->core, &impl_->loop);
    return *network_;
}

void uv_backend::watch_fd(int fd, unsigned events) {
    auto& i = *impl_;
    auto it = i.polls.find(fd);
    if (events == 0) {
        if (it == i.polls.end()) return;
        // uv_close stops the poll itself (a uv_poll_stop first would repeat its epoll_ctl).
        uv_close(reinterpret_cast<uv_handle_t*>(it->second), &impl::free_poll);
        i.polls.erase(it);
        return;
    }
    int uv_events = ((events & fd_readable) ? UV_READABLE : 0) | ((events & fd_writable) ? UV_WRITABLE : 0);
    uv_poll_t* h;
    bool fresh = it == i.polls.end();
    if (fresh) {
        h = new uv_poll_t{};
        if (int rc = uv_poll_init(&i.loop, h, fd); rc < 0) {
            delete h;
            throw std::system_error(-rc, std::generic_category(), "watching fd " + std::to_string(fd));
        }
        h->data = &i;
    } else {
        h = it->second;
    }
    if (int rc = uv_poll_start(h, uv_events, &impl::on_poll); rc < 0) {
        if (fresh) uv_close(reinterpret_cast<uv_handle_t*>(h), &impl::free_poll);
        throw std::system_error(-rc, std::generic_category(), "watching fd " + std::to_string(fd));
    }
    if (fresh) i.polls.emplace(fd, h);
}

}  // namespace duet
