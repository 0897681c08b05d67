// The native backend: the loop core driven by libuv. One idle handle while work is ready,
// one uv_timer_t for the whole timer heap, one uv_async_t for call_soon_threadsafe, one
// uv_poll_t per watched file descriptor (add_reader/add_writer).
#pragma once

#include <cstddef>
#include <memory>

#include <duet/base_events.hpp>

struct uv_loop_s;

namespace duet {
class uv_network;
}

namespace duet {

class uv_backend {
public:
    static constexpr const char* name = "uv";
    explicit uv_backend(base_event_loop& loop);
    ~uv_backend();
    uv_backend(const uv_backend&) = delete;
    uv_backend& operator=(const uv_backend&) = delete;

    double now() const noexcept;
    void wake(wake_plan p);
    void run();
    void wake_threadsafe() noexcept;
    void close() noexcept;
    // Watches `fd` for fd_readable/fd_writable (0: stops). libuv makes the fd non-blocking.
    void watch_fd(int fd, unsigned events);
    // The libuv loop, for native I/O built on this backend.
    uv_loop_s* uv_loop() noexcept;
    // The network half (create_connection & co.), made on first use.
    loop_network& network();
    // libuv's count of active, referenced handles (what keeps uv_run going): the backend's
    // own while it runs, plus every open transport, server, timer or signal watcher. For
    // leak checks (bench/soak.cpp).
    std::size_t active_handles() const noexcept;
    // Every handle the libuv loop holds, active or not, closing ones included.
    std::size_t handle_count() const noexcept;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
    std::unique_ptr<uv_network> network_;
};

}  // namespace duet
