// How many fds this process has open (/proc/self/fd): the network suites compare it
// before a test's loop exists and after the loop is closed, to catch a leaked fd. And an
// owner that closes a test's fd.
#pragma once

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <utility>

#include <duet/event_loop.hpp>

namespace duet::nettest {

inline int count_fds() {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

// libuv opens process-wide fds once: a pipe with the first loop, and its signal pipes with
// the first signal watcher. Tests that count fds open them first (once per process).
inline void open_libuv_process_fds() {
    [[maybe_unused]] static const bool done = [] {
        event_loop l;
        l.close();
        return true;
    }();
}
inline void open_libuv_signal_fds() {
    [[maybe_unused]] static const bool done = [] {
        event_loop l;
        l.add_signal_handler(SIGUSR2, [] {});
        l.remove_signal_handler(SIGUSR2);
        l.close();
        return true;
    }();
}

// An fd closed with the test.
struct fd_owner {
    int fd = -1;
    fd_owner() = default;
    explicit fd_owner(int f) : fd(f) {}
    fd_owner(fd_owner&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    fd_owner& operator=(fd_owner&& o) noexcept {
        reset();
        fd = std::exchange(o.fd, -1);
        return *this;
    }
    fd_owner(const fd_owner&) = delete;
    fd_owner& operator=(const fd_owner&) = delete;
    ~fd_owner() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    int release() { return std::exchange(fd, -1); }
    operator int() const { return fd; }
};

}  // namespace duet::nettest
