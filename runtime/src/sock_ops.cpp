// asyncio's sock_* methods (loop.sock_recv & co.) on a non-blocking socket the caller owns.
// Target-neutral: each tries the system call first and, when the socket would block, waits
// for readiness through add_reader/add_writer, so every loop that watches fds has them. Only
// POSIX headers that Emscripten also has (the runtime builds there too).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <utility>

#include <duet/base_events.hpp>
#include <duet/detail/sockaddr.hpp>
#include <duet/sockets.hpp>

namespace duet {

namespace {

// MSG_NOSIGNAL keeps a send on a socket whose peer has gone from raising SIGPIPE (the
// error arrives as EPIPE instead); where it does not exist there is no SIGPIPE to fear.
#ifdef MSG_NOSIGNAL
constexpr int send_flags = MSG_NOSIGNAL;
#else
constexpr int send_flags = 0;
#endif

bool would_block(int e) noexcept {
    return e == EAGAIN || e == EWOULDBLOCK;
}

std::string on_fd(const char* method, int fd) {
    return std::string(method) + " on fd " + std::to_string(fd);
}

// A blocking socket would block the whole loop inside the system call: refused, as asyncio
// refuses it in debug mode (here always: a hang is worse than one fcntl).
void check_socket(int fd, const char* method) {
    if (fd < 0) throw std::invalid_argument(std::string(method) + ": invalid file descriptor " + std::to_string(fd));
    int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0) throw os_error(errno, on_fd(method, fd));
    if (!(fl & O_NONBLOCK))
        throw std::invalid_argument(std::string(method) + ": the socket must be non-blocking (fd " +
                                    std::to_string(fd) + ")");
}

// Removes the reader or writer a wait installed when the wait ends, however it ends: the
// callback fired, the awaiting task was cancelled, or its frame was destroyed with the
// task (then the loop may be closed or gone: nothing is left to remove).
class watch_guard {
public:
    watch_guard(base_event_loop& loop, int fd, unsigned which) noexcept : loop_(&loop), fd_(fd), which_(which) {}
    watch_guard(const watch_guard&) = delete;
    watch_guard& operator=(const watch_guard&) = delete;
    ~watch_guard() {
        if (!base_event_loop::alive(loop_) || loop_->is_closed()) return;
        try {
            if (which_ == fd_readable)
                loop_->remove_reader(fd_);
            else
                loop_->remove_writer(fd_);
        } catch (...) {
            exception_context ctx;
            ctx.message = "sock_*: could not stop watching fd " + std::to_string(fd_);
            ctx.exception = std::current_exception();
            loop_->call_exception_handler(ctx);
        }
    }

private:
    base_event_loop* loop_;
    int fd_;
    unsigned which_;
};

// Waits until `fd` is readable (fd_readable) or writable (fd_writable): a future resolved
// by the reader/writer callback, which is removed again before this returns or unwinds.
coro<void> wait_ready(base_event_loop& loop, int fd, unsigned which) {
    future<void> ready = loop.create_future<void>();
    auto wake = [ready]() mutable {
        if (!ready.done()) ready.set_result();
    };
    if (which == fd_readable)
        loop.add_reader(fd, std::move(wake));
    else
        loop.add_writer(fd, std::move(wake));
    watch_guard guard(loop, fd, which);
    co_await ready;
}

}  // namespace

coro<std::size_t> abstract_event_loop::sock_recv_into(int fd, std::span<char> buf) {
    require_fd_watching("sock_recv_into");
    check_socket(fd, "sock_recv_into");
    for (;;) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n >= 0) co_return static_cast<std::size_t>(n);
        int e = errno;
        if (e == EINTR) continue;
        if (!would_block(e)) throw os_error(e, on_fd("sock_recv_into", fd));
        co_await wait_ready(base(), fd, fd_readable);
    }
}

coro<std::string> abstract_event_loop::sock_recv(int fd, std::size_t n) {
    require_fd_watching("sock_recv");
    check_socket(fd, "sock_recv");
    std::string data(n, '\0');
    for (;;) {
        ssize_t got = ::recv(fd, data.data(), data.size(), 0);
        if (got >= 0) {
            data.resize(static_cast<std::size_t>(got));
            co_return data;
        }
        int e = errno;
        if (e == EINTR) continue;
        if (!would_block(e)) throw os_error(e, on_fd("sock_recv", fd));
        co_await wait_ready(base(), fd, fd_readable);
    }
}

coro<void> abstract_event_loop::sock_sendall(int fd, std::string data) {
    require_fd_watching("sock_sendall");
    check_socket(fd, "sock_sendall");
    std::size_t sent = 0;
    // An empty send still goes through the system call once (asyncio's does too), so a
    // broken socket raises.
    do {
        ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, send_flags);
        if (n >= 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        int e = errno;
        if (e == EINTR) continue;
        if (!would_block(e)) throw os_error(e, on_fd("sock_sendall", fd));
        co_await wait_ready(base(), fd, fd_writable);
    } while (sent < data.size());
}

coro<void> abstract_event_loop::sock_connect(int fd, socket_address addr) {
    require_fd_watching("sock_connect");
    check_socket(fd, "sock_connect");
    sockaddr_storage ss{};
    socklen_t len = detail::to_sockaddr(addr, ss);  // std::invalid_argument unless numeric
    const std::string what = "sock_connect to " + addr.to_string();
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0) co_return;
    int e = errno;
    // EINTR: the connection goes on in the background, as after EINPROGRESS.
    if (e != EINPROGRESS && e != EINTR && e != EALREADY) throw os_error(e, what);
    for (;;) {
        co_await wait_ready(base(), fd, fd_writable);
        int err = 0;
        socklen_t err_len = sizeof err;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) throw os_error(errno, what);
        if (err == 0) co_return;
        if (err != EINPROGRESS && err != EINTR && err != EALREADY) throw os_error(err, what);
    }
}

coro<std::pair<int, socket_address>> abstract_event_loop::sock_accept(int fd) {
    require_fd_watching("sock_accept");
    check_socket(fd, "sock_accept");
    for (;;) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        auto* sa = reinterpret_cast<sockaddr*>(&ss);
#if defined(__linux__) && !defined(__EMSCRIPTEN__)
        int c = ::accept4(fd, sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
        int c = ::accept(fd, sa, &len);
        if (c >= 0 &&
            (::fcntl(c, F_SETFL, ::fcntl(c, F_GETFL) | O_NONBLOCK) != 0 || ::fcntl(c, F_SETFD, FD_CLOEXEC) != 0)) {
            int e = errno;
            ::close(c);
            throw os_error(e, on_fd("sock_accept", fd));
        }
#endif
        if (c >= 0) co_return std::pair<int, socket_address>{c, detail::from_sockaddr(sa, len)};
        int e = errno;
        if (e == EINTR) continue;
        if (!would_block(e)) throw os_error(e, on_fd("sock_accept", fd));
        co_await wait_ready(base(), fd, fd_readable);
    }
}

coro<std::size_t> abstract_event_loop::sock_sendto(int fd, std::string data, socket_address to) {
    require_fd_watching("sock_sendto");
    check_socket(fd, "sock_sendto");
    sockaddr_storage ss{};
    socklen_t len = detail::to_sockaddr(to, ss);
    for (;;) {
        ssize_t n = ::sendto(fd, data.data(), data.size(), send_flags, reinterpret_cast<const sockaddr*>(&ss), len);
        if (n >= 0) co_return static_cast<std::size_t>(n);
        int e = errno;
        if (e == EINTR) continue;
        if (!would_block(e)) throw os_error(e, "sock_sendto to " + to.to_string() + " on fd " + std::to_string(fd));
        co_await wait_ready(base(), fd, fd_writable);
    }
}

coro<std::pair<std::string, socket_address>> abstract_event_loop::sock_recvfrom(int fd, std::size_t n) {
    require_fd_watching("sock_recvfrom");
    check_socket(fd, "sock_recvfrom");
    std::string data(n, '\0');
    for (;;) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        auto* sa = reinterpret_cast<sockaddr*>(&ss);
        ssize_t got = ::recvfrom(fd, data.data(), data.size(), 0, sa, &len);
        if (got >= 0) {
            data.resize(static_cast<std::size_t>(got));
            co_return std::pair<std::string, socket_address>{std::move(data), detail::from_sockaddr(sa, len)};
        }
        int e = errno;
        if (e == EINTR) continue;
        if (!would_block(e)) throw os_error(e, on_fd("sock_recvfrom", fd));
        co_await wait_ready(base(), fd, fd_readable);
    }
}

coro<std::pair<std::size_t, socket_address>> abstract_event_loop::sock_recvfrom_into(int fd, std::span<char> buf) {
    require_fd_watching("sock_recvfrom_into");
    check_socket(fd, "sock_recvfrom_into");
    for (;;) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        auto* sa = reinterpret_cast<sockaddr*>(&ss);
        ssize_t got = ::recvfrom(fd, buf.data(), buf.size(), 0, sa, &len);
        if (got >= 0)
            co_return std::pair<std::size_t, socket_address>{static_cast<std::size_t>(got),
                                                             detail::from_sockaddr(sa, len)};
        int e = errno;
        if (e == EINTR) continue;
        if (!would_block(e)) throw os_error(e, on_fd("sock_recvfrom_into", fd));
        co_await wait_ready(base(), fd, fd_readable);
    }
}

}  // namespace duet
