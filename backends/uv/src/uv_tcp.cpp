// TCP: create_connection (every resolved address tried in order) and create_server (one
// listener per resolved address, sockets made here so that SO_REUSEPORT and IPV6_V6ONLY
// can be set before bind).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <duet/detail/sockaddr.hpp>

#include "uv_stream.hpp"

namespace duet {

namespace {

using uvs::stream_transport;

int family_of(const socket_address& a) noexcept {
    switch (a.family) {
        case socket_address::family_type::inet:
            return AF_INET;
        case socket_address::family_type::inet6:
            return AF_INET6;
        case socket_address::family_type::unix_domain:
            return AF_UNIX;
        case socket_address::family_type::unspecified:
            break;
    }
    return AF_UNSPEC;
}

// Several connect attempts failed: one std::system_error listing them all (asyncio's
// "Multiple exceptions: ..."), carrying their common code, or the first one's.
class multiple_errors : public std::system_error {
public:
    multiple_errors(std::error_code ec, std::string message) : std::system_error(ec), message_(std::move(message)) {}
    const char* what() const noexcept override { return message_.c_str(); }

private:
    std::string message_;
};

// Closes a connecting transport if the coroutine leaves (error, cancellation, its frame
// destroyed) before handing it over.
struct discard_guard {
    explicit discard_guard(std::shared_ptr<stream_transport> x) noexcept : t(std::move(x)) {}
    std::shared_ptr<stream_transport> t;
    discard_guard(const discard_guard&) = delete;
    discard_guard& operator=(const discard_guard&) = delete;
    ~discard_guard() {
        if (t) t->discard();
    }
};

// Closes an fd unless released.
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

// One uv_tcp_connect: libuv calls back exactly once (ECANCELED if the handle closes
// first), and the callback frees it, so it may outlive the coroutine that started it.
struct connect_op {
    uv_connect_t req{};
    future<int> result;
    uv_network::stream_part* part = nullptr;
    static void done(uv_connect_t* req, int status) {
        auto* op = static_cast<connect_op*>(req->data);
        // The coroutine may be gone (cancelled, or the loop closing): touch nothing then.
        if (!op->result.done() && !op->part->closed && !op->part->loop.is_closed()) op->result.set_result(status);
        delete op;
    }
};

int new_socket(int family, const socket_address& for_addr) {
    int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw os_error(errno, "socket for " + for_addr.to_string());
    return fd;
}

// One connect attempt to `addr` (bound first to one of `locals` of its family, if given).
coro<std::shared_ptr<stream_transport>> connect_tcp(uv_network::stream_part& sp, socket_address addr,
                                                    const std::vector<socket_address>& locals) {
    auto t = stream_transport::create(sp, stream_transport::kind::tcp);
    discard_guard g{t};
    const int family = family_of(addr);
    if (!locals.empty()) {
        fd_guard fd{new_socket(family, addr)};
        bool bound = false;
        std::optional<std::system_error> bind_error;
        for (const auto& la : locals) {
            if (family_of(la) != family) continue;
            sockaddr_storage ss;
            socklen_t len = detail::to_sockaddr(la, ss);
            if (::bind(fd.fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
                bound = true;
                break;
            }
            bind_error = os_error(errno, "bind " + la.to_string());
        }
        if (!bound) {
            if (bind_error) throw *bind_error;
            throw os_error(EAFNOSUPPORT, "connect " + addr.to_string() + ": no local address of its family to bind");
        }
        int rc = uv_tcp_open(&t->handle().tcp, fd.fd);
        if (rc < 0) throw uvs::uv_error(rc, "connect " + addr.to_string());
        fd.release();  // the handle owns it now
    }
    sockaddr_storage ss;
    detail::to_sockaddr(addr, ss);
    auto* op = new connect_op;
    op->req.data = op;
    op->part = &sp;
    op->result = sp.loop.create_future<int>();
    future<int> result = op->result;
    int rc = uv_tcp_connect(&op->req, &t->handle().tcp, reinterpret_cast<const sockaddr*>(&ss), &connect_op::done);
    if (rc < 0) {
        delete op;
        throw uvs::uv_error(rc, "connect " + addr.to_string());
    }
    int status = co_await result;
    if (status < 0) throw uvs::uv_error(status, "connect " + addr.to_string());
    t->set_connected();
    g.t = nullptr;
    co_return t;
}

}  // namespace

coro<std::vector<socket_address>> uv_network::stream_part::resolve(std::string host, std::uint16_t port, int family,
                                                                   bool passive) {
    std::vector<socket_address> out;
    // A numeric address needs no lookup (asyncio's _ipaddr_info).
    if (!host.empty()) {
        sockaddr_storage ss{};
        if ((family == AF_UNSPEC || family == AF_INET) &&
            inet_pton(AF_INET, host.c_str(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
            ss.ss_family = AF_INET;
            reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
            out.push_back(detail::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in)));
            co_return out;
        }
        if ((family == AF_UNSPEC || family == AF_INET6) &&
            inet_pton(AF_INET6, host.c_str(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1) {
            ss.ss_family = AF_INET6;
            reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
            out.push_back(detail::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in6)));
            co_return out;
        }
    }
    address_hints hints{family, SOCK_STREAM, 0, passive ? AI_PASSIVE : 0};
    auto infos = co_await net.getaddrinfo(host, std::to_string(port), hints);
    for (auto& i : infos) {
        auto f = i.address.family;
        if (f != socket_address::family_type::inet && f != socket_address::family_type::inet6) continue;
        if (std::find(out.begin(), out.end(), i.address) == out.end()) out.push_back(std::move(i.address));
    }
    if (out.empty()) throw os_error(EADDRNOTAVAIL, "getaddrinfo(\"" + host + "\") returned no address");
    co_return out;
}

coro<transport_and_protocol<transport, base_protocol>> uv_network::create_connection(protocol_factory f,
                                                                                     std::string host,
                                                                                     std::uint16_t port,
                                                                                     connection_options opts) {
    auto& sp = streams();
    if (opts.sock != -1) {
        // asyncio's sock=: an fd connected by the caller (TCP or Unix, by its family).
        if (!host.empty() || port != 0)
            throw std::invalid_argument("create_connection: host/port and sock can not be specified at the same time");
        const int family = adopted_socket_family(opts.sock, SOCK_STREAM, "create_connection", "A Stream Socket");
        co_return uvs::adopt_connected(sp, f, opts.sock, family, "create_connection");
    }
    if (host.empty() && port == 0)
        throw std::invalid_argument("create_connection: host and port was not specified and no sock specified");
    std::vector<socket_address> addrs = co_await sp.resolve(host, port, opts.family, false);
    std::vector<socket_address> locals;
    if (opts.local_addr) locals = co_await sp.resolve(opts.local_addr->host, opts.local_addr->port, opts.family, true);
    std::vector<std::system_error> errors;
    std::shared_ptr<stream_transport> t;
    for (const auto& addr : addrs) {
        try {
            t = co_await connect_tcp(sp, addr, locals);
            break;
        } catch (const std::system_error& e) {
            errors.push_back(e);
        }
    }
    if (!t) {
        if (errors.size() == 1) throw errors.front();
        std::string msg = "Multiple exceptions: ";
        for (std::size_t i = 0; i < errors.size(); ++i) {
            if (i) msg += ", ";
            msg += errors[i].what();
        }
        // The code: theirs when they agree (the usual case), else the first one's.
        throw multiple_errors(errors.front().code(), std::move(msg));
    }
    discard_guard g{t};
    std::shared_ptr<base_protocol> p = f();
    if (!p) throw std::runtime_error("create_connection: the protocol factory returned null");
    g.t = nullptr;
    t->start(p);
    co_return transport_and_protocol<transport, base_protocol>{std::move(t), std::move(p)};
}

coro<std::shared_ptr<server>> uv_network::create_server(protocol_factory f, std::vector<std::string> hosts,
                                                        std::uint16_t port, server_options opts) {
    auto& sp = streams();
    if (opts.sock != -1) {
        // asyncio's sock=: listen on a socket the caller bound (TCP or Unix, by its family).
        if (!hosts.empty() || port != 0)
            throw std::invalid_argument("create_server: host/port and sock can not be specified at the same time");
        const int family = adopted_socket_family(opts.sock, SOCK_STREAM, "create_server", "A Stream Socket");
        if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
            throw std::invalid_argument("create_server: fd " + std::to_string(opts.sock) + " has address family " +
                                        std::to_string(family) + " (AF_INET, AF_INET6 or AF_UNIX expected)");
        auto srv = std::make_shared<uvs::stream_server>(sp, std::move(f), family == AF_UNIX, opts.backlog);
        try {
            srv->add_listener(opts.sock, detail::local_address_of(opts.sock));
            if (opts.start_serving) srv->begin_serving();
        } catch (...) {
            srv->close();
            throw;
        }
        co_return srv;
    }
    std::vector<socket_address> addrs;
    if (hosts.empty()) hosts.emplace_back();  // every interface, as asyncio's host=None
    for (const auto& h : hosts) {
        for (auto& a : co_await sp.resolve(h, port, opts.family, true))
            if (std::find(addrs.begin(), addrs.end(), a) == addrs.end()) addrs.push_back(std::move(a));
    }
    auto srv = std::make_shared<uvs::stream_server>(sp, std::move(f), false, opts.backlog);
    try {
        for (const auto& a : addrs) {
            const int family = family_of(a);
            fd_guard fd{new_socket(family, a)};
            int one = 1;
            if (opts.reuse_address.value_or(true) &&
                ::setsockopt(fd.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
                throw os_error(errno, "setsockopt(SO_REUSEADDR) on " + a.to_string());
            if (opts.reuse_port && ::setsockopt(fd.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
                throw os_error(errno, "setsockopt(SO_REUSEPORT) on " + a.to_string());
            // An IPv6 listener takes IPv6 only, so that 0.0.0.0 and :: can both be bound.
            if (family == AF_INET6) ::setsockopt(fd.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            sockaddr_storage ss;
            socklen_t len = detail::to_sockaddr(a, ss);
            if (::bind(fd.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
                throw os_error(errno, "bind " + a.to_string());
            socket_address bound = detail::local_address_of(fd.fd);  // port 0: the port chosen
            srv->add_listener(fd.release(), bound.empty() ? a : bound);
        }
        if (opts.start_serving) srv->begin_serving();
    } catch (...) {
        srv->close();
        throw;
    }
    co_return srv;
}

}  // namespace duet
