// Unix-domain sockets and pipes over uv_pipe_t. Sockets are made and connected/bound
// here (then handed to uv_pipe_open): libuv 1.44 takes paths as C strings, which cannot
// spell Linux's abstract names (a leading '\0').
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <utility>

#include <duet/detail/sockaddr.hpp>
#include <duet/tasks.hpp>

#include "uv_stream.hpp"

namespace duet {

namespace {

using uvs::stream_transport;

struct fd_guard {
    explicit fd_guard(int f) noexcept : fd(f) {}
    int fd;
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
    int release() noexcept { return std::exchange(fd, -1); }
};

// A new transport over `fd` (which it owns from then on: closed on failure too).
std::shared_ptr<stream_transport> open_stream(uv_network::stream_part& sp, stream_transport::kind k, int fd,
                                              const std::string& what) {
    std::shared_ptr<stream_transport> t;
    try {
        t = stream_transport::create(sp, k);
    } catch (...) {
        ::close(fd);
        throw;
    }
    int rc = uv_pipe_open(&t->handle().pipe, fd);
    if (rc < 0) {
        ::close(fd);
        t->discard();
        throw uvs::uv_error(rc, what);
    }
    return t;
}

// Hands a fresh transport to a new protocol; the pair create_*_connection returns.
transport_and_protocol<transport, base_protocol> start_with(std::shared_ptr<stream_transport> t, protocol_factory& f,
                                                            const char* method) {
    std::shared_ptr<base_protocol> p;
    try {
        p = f();
        if (!p) throw std::runtime_error(std::string(method) + ": the protocol factory returned null");
    } catch (...) {
        t->discard();
        throw;
    }
    t->start(p);
    return {std::move(t), std::move(p)};
}

coro<transport_and_protocol<transport, base_protocol>> connect_pipe(uv_network::stream_part& sp, protocol_factory f,
                                                                    int fd, bool reading) {
    const char* method = reading ? "connect_read_pipe" : "connect_write_pipe";
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw os_error(errno, std::string(method) + ": fd " + std::to_string(fd));
    const bool fifo = S_ISFIFO(st.st_mode), sock = S_ISSOCK(st.st_mode);
    if (!fifo && !sock && !S_ISCHR(st.st_mode))
        throw std::invalid_argument(std::string(method) + ": fd " + std::to_string(fd) +
                                    " is not a pipe, a socket or a character device");
    auto t =
        stream_transport::create(sp, reading ? stream_transport::kind::read_pipe : stream_transport::kind::write_pipe);
    int rc = uv_pipe_open(&t->handle().pipe, fd);
    if (rc < 0) {
        // The fd stays the caller's.
        t->discard();
        throw uvs::uv_error(rc, std::string(method) + ": fd " + std::to_string(fd));
    }
    t->set_connected();
    // As asyncio: a write pipe hears of its reader closing even while it has nothing to send.
    if (!reading && (fifo || sock)) t->watch_reader_close(fd);
    co_return start_with(std::move(t), f, method);
}

}  // namespace

transport_and_protocol<transport, base_protocol> uvs::adopt_connected(stream_part& sp, protocol_factory& f, int fd,
                                                                      int family, const char* method) {
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        throw std::invalid_argument(std::string(method) + ": fd " + std::to_string(fd) + " has address family " +
                                    std::to_string(family) + " (AF_INET, AF_INET6 or AF_UNIX expected)");
    const bool tcp = family != AF_UNIX;
    auto t = stream_transport::create(sp, tcp ? stream_transport::kind::tcp : stream_transport::kind::unix_socket);
    // Both make the fd non-blocking; on failure libuv has not taken it: it stays the caller's.
    int rc = tcp ? uv_tcp_open(&t->handle().tcp, fd) : uv_pipe_open(&t->handle().pipe, fd);
    if (rc < 0) {
        t->discard();
        throw uvs::uv_error(rc, std::string(method) + ": fd " + std::to_string(fd));
    }
    t->set_connected();
    return start_with(std::move(t), f, method);
}

coro<transport_and_protocol<transport, base_protocol>> uv_network::connect_accepted_socket(protocol_factory f, int fd) {
    auto& sp = streams();
    const int family = adopted_socket_family(fd, SOCK_STREAM, "connect_accepted_socket", "A Stream Socket");
    co_return uvs::adopt_connected(sp, f, fd, family, "connect_accepted_socket");
}

coro<transport_and_protocol<transport, base_protocol>> uv_network::create_unix_connection(protocol_factory f,
                                                                                          std::string path,
                                                                                          connection_options opts) {
    auto& sp = streams();
    if (opts.sock != -1) {
        if (!path.empty())
            throw std::invalid_argument("create_unix_connection: path and sock can not be specified at the same time");
        int family =
            adopted_socket_family(opts.sock, SOCK_STREAM, "create_unix_connection", "A UNIX Domain Stream Socket");
        if (family != AF_UNIX)
            throw std::invalid_argument("create_unix_connection: A UNIX Domain Stream Socket was expected, got fd " +
                                        std::to_string(opts.sock) + " (address family " + std::to_string(family) + ")");
        co_return uvs::adopt_connected(sp, f, opts.sock, family, "create_unix_connection");
    }
    if (path.empty()) throw std::invalid_argument("create_unix_connection: no path and sock were specified");
    const socket_address addr = socket_address::unix_path(std::move(path));
    sockaddr_storage ss;
    const socklen_t len = detail::to_sockaddr(addr, ss);
    fd_guard fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    if (fd.fd < 0) throw os_error(errno, "socket for " + addr.to_string());
    // A Unix connect completes at once, or fails with EAGAIN while the listener's backlog is
    // full: then try again a little later (still cancellable).
    double delay = 0.001;
    for (;;) {
        int rc = ::connect(fd.fd, reinterpret_cast<const sockaddr*>(&ss), len);
        if (rc == 0 || errno == EISCONN) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN) throw os_error(errno, "connect " + addr.to_string());
        co_await duet::sleep(delay);
        delay = std::min(delay * 2, 0.05);
    }
    auto t = open_stream(sp, stream_transport::kind::unix_socket, fd.release(), "connect " + addr.to_string());
    t->set_connected();
    co_return start_with(std::move(t), f, "create_unix_connection");
}

coro<std::shared_ptr<server>> uv_network::create_unix_server(protocol_factory f, std::string path,
                                                             server_options opts) {
    auto& sp = streams();
    if (opts.sock != -1) {
        if (!path.empty())
            throw std::invalid_argument("create_unix_server: path and sock can not be specified at the same time");
        int family = adopted_socket_family(opts.sock, SOCK_STREAM, "create_unix_server", "A UNIX Domain Stream Socket");
        if (family != AF_UNIX)
            throw std::invalid_argument("create_unix_server: A UNIX Domain Stream Socket was expected, got fd " +
                                        std::to_string(opts.sock) + " (address family " + std::to_string(family) + ")");
        const socket_address bound = detail::local_address_of(opts.sock);
        auto srv = std::make_shared<uvs::stream_server>(sp, std::move(f), true, opts.backlog);
        // As asyncio 3.13: the socket file the given socket is bound to goes with the server.
        const std::string& bound_path = bound.path;
        if (!bound_path.empty() && bound_path[0] != '\0') {
            struct stat st {};
            if (::stat(bound_path.c_str(), &st) == 0)
                srv->set_unix_path(bound_path, static_cast<std::uint64_t>(st.st_dev),
                                   static_cast<std::uint64_t>(st.st_ino));
        }
        try {
            srv->add_listener(opts.sock, bound);
            if (opts.start_serving) srv->begin_serving();
        } catch (...) {
            srv->close();
            throw;
        }
        co_return srv;
    }
    if (path.empty()) throw std::invalid_argument("create_unix_server: path was not specified, and no sock specified");
    const socket_address addr = socket_address::unix_path(path);
    sockaddr_storage ss;
    const socklen_t len = detail::to_sockaddr(addr, ss);
    fd_guard fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    if (fd.fd < 0) throw os_error(errno, "socket for " + addr.to_string());
    // As asyncio: a socket file already at the path (a stale one, left by a server that
    // died) is removed first; any other file makes bind fail with EADDRINUSE.
    if (path[0] != '\0') {
        struct stat old {};
        if (::stat(path.c_str(), &old) == 0 && S_ISSOCK(old.st_mode)) ::unlink(path.c_str());
    }
    if (::bind(fd.fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0)
        throw os_error(errno, "bind " + addr.to_string());
    auto srv = std::make_shared<uvs::stream_server>(sp, std::move(f), true, opts.backlog);
    if (path[0] != '\0') {
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0)
            srv->set_unix_path(path, static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino));
    }
    try {
        srv->add_listener(fd.release(), addr);
        if (opts.start_serving) srv->begin_serving();
    } catch (...) {
        srv->close();  // removes the socket file it made
        throw;
    }
    co_return srv;
}

coro<transport_and_protocol<transport, base_protocol>> uv_network::connect_read_pipe(protocol_factory f, int fd) {
    return connect_pipe(streams(), std::move(f), fd, true);
}

coro<transport_and_protocol<transport, base_protocol>> uv_network::connect_write_pipe(protocol_factory f, int fd) {
    return connect_pipe(streams(), std::move(f), fd, false);
}

}  // namespace duet
