#include <cmath>
#include <stdexcept>
#include <string>

#include <uv.h>

#include <duet/event_loop.hpp>
#include <duet/policies.hpp>

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

    void turn() {
        auto p = core.process();
        if (core.stop_requested()) uv_stop(&loop);
        apply(p);
    }
    void apply(base_event_loop::wake_plan p) {
        if (p.ready != idle_active) {
            if (p.ready)
                uv_idle_start(&idle, &on_idle);
            else
                uv_idle_stop(&idle);
            idle_active = p.ready;
        }
        if (p.deadline == armed) return;
        armed = p.deadline;
        if (p.deadline == HUGE_VAL) {
            uv_timer_stop(&timer);
            return;
        }
        uv_update_time(&loop);
        double ms = std::ceil((p.deadline - now()) * 1e3);
        uv_timer_start(&timer, &on_timer, ms > 0 ? static_cast<std::uint64_t>(ms) : 0, 0);
    }
    double now() const noexcept { return static_cast<double>(uv_hrtime()) * 1e-9; }
};

uv_backend::uv_backend(base_event_loop& loop) : impl_(std::make_unique<impl>(loop)) {}
uv_backend::~uv_backend() {
    close();
}

double uv_backend::now() const noexcept {
    return impl_->now();
}

void uv_backend::wake(base_event_loop::wake_plan p) {
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
    uv_close(reinterpret_cast<uv_handle_t*>(&i.idle), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&i.timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&i.async), nullptr);
    uv_run(&i.loop, UV_RUN_DEFAULT);
    uv_loop_close(&i.loop);
}

uv_loop_s* uv_backend::uv_loop() noexcept {
    return &impl_->loop;
}

std::unique_ptr<abstract_event_loop> detail::new_backend_event_loop() {
    return std::make_unique<event_loop>();
}

}  // namespace duet
