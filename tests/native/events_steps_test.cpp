// test_asyncio's network-level event-loop scenarios, ported to the uv loop on real sockets
// (127.0.0.1, Unix sockets in a temporary directory, pipes and ptys): test_events.py's
// EventLoopTestsMixin, test_sock_lowlevel.py, the observable parts of test_unix_events.py
// and test_base_events.py's network cases. Each TEST names the CPython case it ports; what
// the other native suites already check (see stream_*_test.cpp, sock_test.cpp, udp_test.cpp,
// signal_test.cpp, unix_pipe_test.cpp) is not repeated. Every test checks that no fd leaks.
#include <fcntl.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <duet/detail/sockaddr.hpp>

#include "net_test_util.hpp"
#include "uv_loop_fixture.hpp"

namespace duet::nettest {
namespace {

void set_blocking(int fd, bool blocking) {
    int fl = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK));
}

fd_owner new_socket(int family, int type, bool nonblocking = true) {
    int fd = ::socket(family, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
    return fd_owner(fd);
}

std::pair<fd_owner, fd_owner> socket_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        throw std::system_error(errno, std::generic_category(), "socketpair");
    return {fd_owner(fds[0]), fd_owner(fds[1])};
}

std::pair<fd_owner, fd_owner> os_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    return {fd_owner(fds[0]), fd_owner(fds[1])};
}

// A pty pair (master, slave) in raw mode, or nothing where ptys cannot be opened.
std::optional<std::pair<fd_owner, fd_owner>> open_pty() {
    int master = -1, slave = -1;
    if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return std::nullopt;
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
    ::fcntl(slave, F_SETFD, FD_CLOEXEC);
    termios tio{};
    if (::tcgetattr(slave, &tio) == 0) {
        ::cfmakeraw(&tio);
        ::tcsetattr(slave, TCSANOW, &tio);
    }
    return std::pair<fd_owner, fd_owner>{fd_owner(master), fd_owner(slave)};
}

// Reads what is available from a blocking-or-not fd without blocking; appends it.
std::size_t drain_into(int fd, std::string& out) {
    char buf[4096];
    std::size_t total = 0;
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK) n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        total += static_cast<std::size_t>(n);
    }
    return total;
}

int sockopt(int fd, int level, int name) {
    int v = 0;
    socklen_t len = sizeof v;
    if (::getsockopt(fd, level, name, &v, &len) != 0) return -1;
    return v;
}

// The listening socket of this process bound to `addr` (found in /proc/self/fd: a server
// shows its addresses, not its fds), or -1.
int listener_fd_for(const socket_address& addr) {
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        const int fd = std::atoi(e.path().filename().c_str());
        if (sockopt(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1 && detail::local_address_of(fd) == addr) return fd;
    }
    return -1;
}

// A "server" answering any request (a chunk ending a blank line) with an HTTP-like
// response, then closing: test_utils.run_test_server's role.
constexpr std::string_view request = "GET / HTTP/1.0\r\n\r\n";
constexpr std::string_view response = "HTTP/1.0 200 OK\r\n\r\nTest message";

void answer_requests(probe& p) {
    p.on_data = [](probe& q) {
        if (q.tr && !q.tr->is_closing() && contains(q.received, "\r\n\r\n")) {
            q.tr->write(response);
            q.tr->close();
        }
    };
}

// test_events.py's MyProto: sends a request from connection_made.
struct requesting_probe : probe {
    void connection_made(std::shared_ptr<transport> t) override {
        probe::connection_made(t);
        tr->write(request);
    }
};

using EventsSteps = net_test_in_dir;

// ---------------------------------------------------------------------------------------
// test_events.py: create_connection / create_unix_connection

// test_events.py: test_create_connection (and _basetest_create_connection): the pair is
// the transport and the factory's protocol, the protocol got the transport, sockname is
// known; the response arrives, then eof_received and connection_lost in that order.
TEST_F(EventsSteps, CreateConnection) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(answer_requests), "127.0.0.1", 0);
        const auto port = port_of(srv);
        auto tp =
            co_await loop().create_connection([] { return std::make_shared<requesting_probe>(); }, "127.0.0.1", port);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_EQ(p->tr, t);
        EXPECT_EQ(p->events, std::vector<std::string>{"made"});
        auto sockname = t->get_extra_info<socket_address>("sockname");
        CO_ASSERT_TRUE(sockname.has_value());
        EXPECT_EQ(sockname->host, "127.0.0.1");
        EXPECT_NE(sockname->port, 0);
        co_await until([&] { return p->lost; });
        EXPECT_EQ(p->received, response);
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "eof", "lost"}));
        EXPECT_FALSE(p->error) << what_of(p->error);
        t->close();  // closing again is harmless
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_events.py: test_create_unix_connection.
TEST_F(EventsSteps, CreateUnixConnection) {
    run([&]() -> coro<void> {
        const std::string sock = path("http.sock");
        auto srv = co_await loop().create_unix_server(probes(answer_requests), sock);
        auto tp = co_await loop().create_unix_connection([] { return std::make_shared<requesting_probe>(); }, sock);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_EQ(p->tr, t);
        auto sockname = t->get_extra_info<socket_address>("sockname");
        CO_ASSERT_TRUE(sockname.has_value());
        EXPECT_EQ(sockname->family, socket_address::family_type::unix_domain);
        EXPECT_EQ(t->get_extra_info<socket_address>("peername"), socket_address::unix_path(sock));
        co_await until([&] { return p->lost; });
        EXPECT_EQ(p->received, response);
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "eof", "lost"}));
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_events.py: test_create_connection_local_addr: the connection comes from the local
// port asked for.
TEST_F(EventsSteps, CreateConnectionLocalAddr) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(echoes(), "127.0.0.1", 0);
        const auto local_port = free_port();
        connection_options opts;
        opts.local_addr = host_port{"127.0.0.1", local_port};
        auto tp = co_await loop().create_connection(client(), "127.0.0.1", port_of(srv), opts);
        auto& t = tp.first;
        EXPECT_EQ(t->get_extra_info<socket_address>("sockname"), socket_address::inet("127.0.0.1", local_port));
        co_await until([&] { return accepted.size() == 1 && accepted[0]->tr; });
        EXPECT_EQ(accepted[0]->tr->get_extra_info<socket_address>("peername"),
                  socket_address::inet("127.0.0.1", local_port));
        t->close();
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_events.py: test_create_connection_local_addr_skip_different_family: the local
// host's addresses of another family than the peer's are skipped, one of its own is bound
// ("localhost" may give ::1 before 127.0.0.1).
TEST_F(EventsSteps, CreateConnectionLocalAddrSkipsOtherFamilies) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(echoes(), "127.0.0.1", 0);
        const auto local_port = free_port();
        connection_options opts;
        opts.local_addr = host_port{"localhost", local_port};
        auto tp = co_await loop().create_connection(client(), "127.0.0.1", port_of(srv), opts);
        EXPECT_EQ(tp.first->get_extra_info<socket_address>("sockname"), socket_address::inet("127.0.0.1", local_port));
        tp.first->close();
        co_await until([&] { return tp.second->lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_events.py: test_create_connection_local_addr_in_use: binding to the listening
// address fails with EADDRINUSE, and the message names that address.
TEST_F(EventsSteps, CreateConnectionLocalAddrInUse) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        const auto port = port_of(srv);
        connection_options opts;
        opts.local_addr = host_port{"127.0.0.1", port};
        std::exception_ptr err;
        try {
            co_await loop().create_connection(client(), "127.0.0.1", port, opts);
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_EQ(code_of(err), std::errc::address_in_use) << what_of(err);
        EXPECT_TRUE(contains(what_of(err), socket_address::inet("127.0.0.1", port).to_string())) << what_of(err);
        EXPECT_TRUE(accepted.empty());
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_events.py: test_create_connection_local_addr_nomatch_family (an IPv6 local address
// for an IPv4 peer: no local address to bind, an OSError) and test_base_events.py:
// test_create_connection_no_local_addr (a local host that resolves to nothing).
TEST_F(EventsSteps, CreateConnectionLocalAddrWithoutAMatchingFamily) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        const auto port = port_of(srv);
        connection_options v6;
        v6.local_addr = host_port{"::1", 0};
        std::exception_ptr err;
        try {
            co_await loop().create_connection(client(), "127.0.0.1", port, v6);
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_TRUE(code_of(err)) << what_of(err);  // a std::system_error (OSError)
        EXPECT_TRUE(contains(what_of(err), "127.0.0.1")) << what_of(err);

        connection_options nowhere;
        nowhere.local_addr = host_port{"no-such-host.invalid", 0};
        err = nullptr;
        try {
            co_await loop().create_connection(client(), "127.0.0.1", port, nowhere);
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_TRUE(code_of(err)) << what_of(err);
        EXPECT_TRUE(contains(what_of(err), "no-such-host.invalid")) << what_of(err);
        co_await sleep(0.01);
        EXPECT_TRUE(accepted.empty());
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_base_events.py: test_create_connection_multiple_errors / test_create_connection_
// multiple / test_create_connection_connect_err: every address is tried; one failure is
// raised as it is, several as one OSError "Multiple exceptions: ..." listing each.
TEST_F(EventsSteps, CreateConnectionAllAddressesFail) {
    run([&]() -> coro<void> {
        const auto port = free_port();
        // One address: its own error.
        std::exception_ptr err;
        try {
            co_await loop().create_connection(client(), "127.0.0.1", port);
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_EQ(code_of(err), std::errc::connection_refused) << what_of(err);
        EXPECT_FALSE(contains(what_of(err), "Multiple exceptions")) << what_of(err);

        // Every address of "localhost" (one or two, depending on the host's IPv6).
        address_hints hints;
        hints.socktype = SOCK_STREAM;
        auto infos = co_await loop().getaddrinfo("localhost", std::to_string(port), hints);
        std::vector<socket_address> addrs;
        for (auto& i : infos)
            if (std::find(addrs.begin(), addrs.end(), i.address) == addrs.end()) addrs.push_back(i.address);
        CO_ASSERT_TRUE(!addrs.empty());
        err = nullptr;
        try {
            co_await loop().create_connection(client(), "localhost", port);
        } catch (...) {
            err = std::current_exception();
        }
        const std::string what = what_of(err);
        EXPECT_TRUE(code_of(err)) << what;
        for (const auto& a : addrs) EXPECT_TRUE(contains(what, a.to_string())) << what;
        EXPECT_EQ(what.rfind("Multiple exceptions: ", 0) == 0, addrs.size() > 1) << what;

        // family=AF_INET: only the IPv4 addresses are tried.
        connection_options v4;
        v4.family = AF_INET;
        err = nullptr;
        try {
            co_await loop().create_connection(client(), "localhost", port, v4);
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_EQ(code_of(err), std::errc::connection_refused) << what_of(err);
        for (const auto& a : addrs) {
            if (a.family == socket_address::family_type::inet6) {
                EXPECT_FALSE(contains(what_of(err), a.to_string())) << what_of(err);
            }
        }
    }());
}

// ---------------------------------------------------------------------------------------
// test_events.py / test_base_events.py: create_server

// test_events.py: test_create_server: a listener on 0.0.0.0 with a port the OS chose; a
// plain client connects to 127.0.0.1 and sends three bytes; extra info; closing the
// accepted transport delivers connection_lost.
TEST_F(EventsSteps, CreateServer) {
    fd_owner c = new_socket(AF_INET, SOCK_STREAM, false);
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "0.0.0.0", 0);
        auto socks = srv->sockets();
        CO_ASSERT_TRUE(socks.size() == 1u);
        EXPECT_EQ(socks[0].host, "0.0.0.0");
        CO_ASSERT_TRUE(socks[0].port != 0);
        sockaddr_storage ss;
        socklen_t len = detail::to_sockaddr(socket_address::inet("127.0.0.1", socks[0].port), ss);
        CO_ASSERT_TRUE(::connect(c, reinterpret_cast<sockaddr*>(&ss), len) == 0);
        CO_ASSERT_TRUE(::send(c, "xxx", 3, 0) == 3);
        co_await until([&] { return accepted.size() == 1 && accepted[0]->received.size() >= 3; });
        auto& p = *accepted[0];
        EXPECT_EQ(p.received, "xxx");
        EXPECT_EQ(p.events, std::vector<std::string>{"made"});
        EXPECT_TRUE(p.tr->get_extra_info<socket_address>("sockname").has_value());
        auto peer = p.tr->get_extra_info<socket_address>("peername");
        CO_ASSERT_TRUE(peer.has_value());
        EXPECT_EQ(peer->host, "127.0.0.1");
        EXPECT_EQ(*peer, detail::local_address_of(c));
        p.tr->close();
        co_await until([&] { return p.lost; });
        EXPECT_EQ(p.events, (std::vector<std::string>{"made", "lost"}));
        EXPECT_FALSE(p.error);
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_events.py: create_server_multiple_hosts (ipv4): a host named twice gives one
// listener; each distinct host its own.
TEST_F(EventsSteps, CreateServerMultipleHostsListensOncePerAddress) {
    run([&]() -> coro<void> {
        const auto port = free_port();
        std::vector<std::string> hosts{"127.0.0.1", "127.0.0.2", "127.0.0.1"};
        auto srv = co_await loop().create_server(probes(), hosts, port);
        auto socks = srv->sockets();
        CO_ASSERT_TRUE(socks.size() == 2u);
        EXPECT_EQ(socks[0], socket_address::inet("127.0.0.1", port));
        EXPECT_EQ(socks[1], socket_address::inet("127.0.0.2", port));
        auto tp = co_await loop().create_connection(client(), "127.0.0.2", port);
        co_await until([&] { return accepted.size() == 1; });
        tp.first->close();
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_events.py: test_create_server_reuse_port: SO_REUSEPORT is off unless reuse_port
// is asked for; SO_REUSEADDR is on unless reuse_address=false (asyncio's default on POSIX).
TEST_F(EventsSteps, CreateServerReusePortAndReuseAddress) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "0.0.0.0", 0);
        CO_ASSERT_TRUE(srv->sockets().size() == 1u);
        int fd = listener_fd_for(srv->sockets()[0]);
        CO_ASSERT_TRUE(fd >= 0);
        EXPECT_EQ(sockopt(fd, SOL_SOCKET, SO_REUSEPORT), 0);
        EXPECT_NE(sockopt(fd, SOL_SOCKET, SO_REUSEADDR), 0);
        srv->close();
        co_await srv->wait_closed();

        server_options opts;
        opts.reuse_port = true;
        opts.reuse_address = false;
        srv = co_await loop().create_server(probes(), "0.0.0.0", 0, opts);
        CO_ASSERT_TRUE(srv->sockets().size() == 1u);
        fd = listener_fd_for(srv->sockets()[0]);
        CO_ASSERT_TRUE(fd >= 0);
        EXPECT_NE(sockopt(fd, SOL_SOCKET, SO_REUSEPORT), 0);
        EXPECT_EQ(sockopt(fd, SOL_SOCKET, SO_REUSEADDR), 0);
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_events.py: test_server_close: once closed, the port refuses connections.
TEST_F(EventsSteps, ServerClose) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "0.0.0.0", 0);
        const auto port = port_of(srv);
        {
            fd_owner c = new_socket(AF_INET, SOCK_STREAM);
            co_await loop().sock_connect(c, socket_address::inet("127.0.0.1", port));
            co_await loop().sock_sendall(c, "xxx");
        }
        srv->close();
        EXPECT_TRUE(srv->sockets().empty());
        fd_owner c = new_socket(AF_INET, SOCK_STREAM);
        std::exception_ptr err;
        try {
            co_await loop().sock_connect(c, socket_address::inet("127.0.0.1", port));
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_EQ(code_of(err), std::errc::connection_refused) << what_of(err);
        for (auto& p : accepted)
            if (p->tr) p->tr->close();
        co_await srv->wait_closed();
    }());
}

// test_base_events.py: test_create_server_no_getaddrinfo: a host resolving to nothing is
// an OSError naming it.
TEST_F(EventsSteps, CreateServerHostResolvingToNothing) {
    run([&]() -> coro<void> {
        std::exception_ptr err;
        try {
            co_await loop().create_server(probes(), "no-such-host.invalid", 0);
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_TRUE(code_of(err)) << what_of(err);
        EXPECT_TRUE(contains(what_of(err), "no-such-host.invalid")) << what_of(err);
    }());
}

// test_base_events.py: test_create_server_cant_bind: a bind error is raised, naming the
// address, and the socket is closed (the fixture counts fds).
TEST_F(EventsSteps, CreateServerCantBind) {
    run([&]() -> coro<void> {
        std::exception_ptr err;
        try {
            // TEST-NET-1: no interface has it.
            co_await loop().create_server(probes(), "192.0.2.1", 0);
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_EQ(code_of(err), std::errc::address_not_available) << what_of(err);
        EXPECT_TRUE(contains(what_of(err), "192.0.2.1")) << what_of(err);
        // A later address failing closes the listeners already made too.
        std::vector<std::string> hosts{"127.0.0.1", "192.0.2.1"};
        err = nullptr;
        try {
            co_await loop().create_server(probes(), hosts, free_port());
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_EQ(code_of(err), std::errc::address_not_available) << what_of(err);
    }());
}

// ---------------------------------------------------------------------------------------
// test_unix_events.py: SelectorEventLoopUnixSocketTests

// test_unix_events.py: test_create_unix_server_nopath_nosock and
// test_create_unix_connection_nopath_nosock: no path is a ValueError (std::invalid_argument).
TEST_F(EventsSteps, UnixServerAndConnectionWithoutAPath) {
    run([&]() -> coro<void> {
        bool server_refused = false, connection_refused = false;
        try {
            co_await loop().create_unix_server(probes(), "");
        } catch (const std::invalid_argument&) {
            server_refused = true;
        }
        try {
            co_await loop().create_unix_connection(client(), "");
        } catch (const std::invalid_argument&) {
            connection_refused = true;
        }
        EXPECT_TRUE(server_refused);
        EXPECT_TRUE(connection_refused);
    }());
}

// test_unix_events.py: test_create_unix_server_bind_error: a bind error is raised and the
// socket closed (no fd left).
TEST_F(EventsSteps, UnixServerBindErrorClosesTheSocket) {
    run([&]() -> coro<void> {
        const std::string p = path("no-such-dir/s.sock");
        std::exception_ptr err;
        try {
            co_await loop().create_unix_server(probes(), p);
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_EQ(code_of(err), std::errc::no_such_file_or_directory) << what_of(err);
        EXPECT_TRUE(contains(what_of(err), p)) << what_of(err);
    }());
}

// ---------------------------------------------------------------------------------------
// test_events.py: datagram endpoints

struct datagram_probe : datagram_protocol {
    std::shared_ptr<datagram_transport> tr;
    std::vector<std::pair<std::string, socket_address>> got;
    std::vector<std::exception_ptr> errors_received;
    bool lost = false;
    void connection_made(std::shared_ptr<datagram_transport> t) override { tr = std::move(t); }
    void datagram_received(std::string_view d, const socket_address& from) override {
        got.emplace_back(std::string(d), from);
    }
    void error_received(std::exception_ptr e) override { errors_received.push_back(std::move(e)); }
    void connection_lost(std::exception_ptr) override { lost = true; }
};

// test_events.py: test_datagram_send_to_non_listening_address: sending to an address
// nobody listens on leaves the endpoint able to receive.
TEST_F(EventsSteps, DatagramSendToNonListeningAddress) {
    run([&]() -> coro<void> {
        auto make = [] { return std::make_shared<datagram_probe>(); };
        datagram_options o;
        o.local_addr = host_port{"127.0.0.1", 0};
        auto e1 = co_await loop().create_datagram_endpoint(make, o);
        auto e2 = co_await loop().create_datagram_endpoint(make, o);
        auto e3 = co_await loop().create_datagram_endpoint(make, o);
        auto a1 = *e1.first->get_extra_info<socket_address>("sockname");
        auto a2 = *e2.first->get_extra_info<socket_address>("sockname");
        auto a3 = *e3.first->get_extra_info<socket_address>("sockname");
        e3.first->abort();  // a3: nobody listens there any more
        co_await until([&] { return e3.second->lost; });

        e1.first->sendto("a", a2);
        co_await until([&] { return e2.second->got.size() == 1; });
        EXPECT_EQ(e2.second->got[0].first, "a");
        EXPECT_EQ(e2.second->got[0].second, a1);
        e2.first->sendto("b", a1);
        co_await until([&] { return e1.second->got.size() == 1; });
        EXPECT_EQ(e1.second->got[0].first, "b");

        e1.first->sendto("c", a3);
        co_await sleep(0);
        e2.first->sendto("d", a1);
        co_await until([&] { return e1.second->got.size() == 2; });
        EXPECT_EQ(e1.second->got[1].first, "d");
        EXPECT_FALSE(e1.first->is_closing());
        e1.first->close();
        e2.first->close();
        co_await until([&] { return e1.second->lost && e2.second->lost; });
    }());
}

// test_base_events.py: test_create_datagram_endpoint_sockopts: no option unless asked for
// (SO_REUSEADDR, SO_REUSEPORT, SO_BROADCAST off); reuse_port and allow_broadcast set theirs.
TEST_F(EventsSteps, CreateDatagramEndpointSockopts) {
    run([&]() -> coro<void> {
        auto make = [] { return std::make_shared<datagram_probe>(); };
        datagram_options plain;
        plain.local_addr = host_port{"127.0.0.1", 0};
        auto ep = co_await loop().create_datagram_endpoint(make, plain);
        auto fd = ep.first->get_extra_info<int>("socket");
        CO_ASSERT_TRUE(fd.has_value());
        EXPECT_EQ(sockopt(*fd, SOL_SOCKET, SO_REUSEPORT), 0);
        EXPECT_EQ(sockopt(*fd, SOL_SOCKET, SO_BROADCAST), 0);
        EXPECT_EQ(sockopt(*fd, SOL_SOCKET, SO_REUSEADDR), 0);
        ep.first->close();
        co_await until([&] { return ep.second->lost; });

        datagram_options asked = plain;
        asked.reuse_port = true;
        asked.allow_broadcast = true;
        auto ep2 = co_await loop().create_datagram_endpoint(make, asked);
        fd = ep2.first->get_extra_info<int>("socket");
        CO_ASSERT_TRUE(fd.has_value());
        EXPECT_EQ(sockopt(*fd, SOL_SOCKET, SO_REUSEADDR), 0);
        EXPECT_NE(sockopt(*fd, SOL_SOCKET, SO_REUSEPORT), 0);
        EXPECT_NE(sockopt(*fd, SOL_SOCKET, SO_BROADCAST), 0);
        ep2.first->close();
        co_await until([&] { return ep2.second->lost; });
    }());
}

// test_base_events.py: test_create_datagram_endpoint_allow_broadcast: with
// allow_broadcast the socket is not connected to remote_addr (asyncio skips sock_connect):
// sendto without an address still goes to remote_addr, another address is still refused,
// but datagrams from any sender arrive (a connected socket only hears its peer) and there
// is no peername.
TEST_F(EventsSteps, CreateDatagramEndpointAllowBroadcastDoesNotConnect) {
    run([&]() -> coro<void> {
        auto make = [] { return std::make_shared<datagram_probe>(); };
        datagram_options local;
        local.local_addr = host_port{"127.0.0.1", 0};
        auto peer = co_await loop().create_datagram_endpoint(make, local);
        auto other = co_await loop().create_datagram_endpoint(make, local);
        const auto peer_addr = *peer.first->get_extra_info<socket_address>("sockname");
        const auto other_addr = *other.first->get_extra_info<socket_address>("sockname");

        datagram_options o;
        o.remote_addr = host_port{"127.0.0.1", peer_addr.port};
        o.allow_broadcast = true;
        auto ep = co_await loop().create_datagram_endpoint(make, o);
        auto& t = ep.first;
        auto& p = ep.second;
        EXPECT_FALSE(t->get_extra_info<socket_address>("peername").has_value());
        t->sendto("to the remote");
        co_await until([&] { return peer.second->got.size() == 1; });
        EXPECT_EQ(peer.second->got[0].first, "to the remote");
        // Unbound, the socket got its port with the first send (on every interface).
        const auto addr = socket_address::inet("127.0.0.1", t->get_extra_info<socket_address>("sockname")->port);
        EXPECT_EQ(peer.second->got[0].second, addr);
        EXPECT_THROW(t->sendto("elsewhere", other_addr), std::invalid_argument);
        other.first->sendto("from another sender", addr);
        co_await until([&] { return p->got.size() == 1; });
        EXPECT_EQ(p->got[0].first, "from another sender");
        EXPECT_EQ(p->got[0].second, other_addr);
        EXPECT_TRUE(p->errors_received.empty());

        // Without allow_broadcast the socket is connected: only its peer is heard.
        datagram_options connected;
        connected.remote_addr = host_port{"127.0.0.1", peer_addr.port};
        auto ce = co_await loop().create_datagram_endpoint(make, connected);
        const auto ce_addr = *ce.first->get_extra_info<socket_address>("sockname");
        EXPECT_EQ(ce.first->get_extra_info<socket_address>("peername"), peer_addr);
        other.first->sendto("dropped", ce_addr);
        peer.first->sendto("heard", ce_addr);
        co_await until([&] { return !ce.second->got.empty(); });
        co_await sleep(0.01);  // a guard: "dropped" would have come first
        CO_ASSERT_TRUE(ce.second->got.size() == 1u);
        EXPECT_EQ(ce.second->got[0].first, "heard");

        for (auto* e : {&peer, &other, &ep, &ce}) e->first->close();
        co_await until([&] { return peer.second->lost && other.second->lost && p->lost && ce.second->lost; });
    }());
}

// ---------------------------------------------------------------------------------------
// test_events.py / test_unix_events.py: pipes

// test_events.py: test_read_pipe (and test_unix_events.py's test__read_ready_eof): data
// as it comes, then eof_received and connection_lost(null) when the writer closes; the
// transport's "pipe" extra info.
TEST_F(EventsSteps, ReadPipe) {
    auto fds = os_pipe();
    const int rfd = fds.first.release();
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_read_pipe(client(), rfd);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_EQ(p->tr, t);
        EXPECT_EQ(p->events, std::vector<std::string>{"made"});
        EXPECT_EQ(p->received, "");
        EXPECT_EQ(t->get_extra_info<int>("pipe"), rfd);
        CO_ASSERT_TRUE(::write(fds.second, "1", 1) == 1);
        co_await until([&] { return p->received.size() >= 1; });
        EXPECT_EQ(p->received, "1");
        CO_ASSERT_TRUE(::write(fds.second, "2345", 4) == 4);
        co_await until([&] { return p->received.size() >= 5; });
        EXPECT_EQ(p->received, "12345");
        EXPECT_EQ(p->events, std::vector<std::string>{"made"});
        fds.second.reset();
        co_await until([&] { return p->lost; });
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "eof", "lost"}));
        EXPECT_FALSE(p->error) << what_of(p->error);
    }());
    EXPECT_EQ(::fcntl(rfd, F_GETFD), -1);  // the transport closed it
}

// test_events.py: test_read_pipe, its last check ("extra info is available" once the
// transport is closed). A deliberate difference (docs/transports-and-protocols.md):
// asyncio keeps its closed pipe object in the extra info; duet's "pipe" is the fd, given
// while the transport holds it open and empty once closed, since by then the number may
// name another file.
TEST_F(EventsSteps, ReadPipeExtraInfoIsTheFdWhileOpen) {
    auto fds = os_pipe();
    const int rfd = fds.first.release();
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_read_pipe(client(), rfd);
        EXPECT_EQ(tp.first->get_extra_info<int>("pipe"), rfd);
        fds.second.reset();
        co_await until([&] { return tp.second->lost; });
        EXPECT_FALSE(tp.first->get_extra_info<int>("pipe"));
    }());
}

// test_events.py: test_read_pty_output: a pty's master as a read pipe; closing the
// transport after the slave closed still ends in connection_lost.
TEST_F(EventsSteps, ReadPtyOutput) {
    auto pty = open_pty();
    if (!pty) GTEST_SKIP() << "no pty";
    const int master = pty->first.release();
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_read_pipe(client(), master);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_EQ(p->events, std::vector<std::string>{"made"});
        CO_ASSERT_TRUE(::write(pty->second, "1", 1) == 1);
        co_await until([&] { return p->received.size() >= 1; });
        EXPECT_EQ(p->received, "1");
        CO_ASSERT_TRUE(::write(pty->second, "2345", 4) == 4);
        co_await until([&] { return p->received.size() >= 5; });
        EXPECT_EQ(p->received, "12345");
        EXPECT_EQ(p->events, std::vector<std::string>{"made"});
        pty->second.reset();
        t->close();
        co_await until([&] { return p->lost; });
        EXPECT_EQ(p->events.back(), "lost");
        EXPECT_TRUE(t->is_closing());
    }());
}

// test_events.py: test_write_pipe: bytes reach the reader as written; the reader closing
// does not disturb a write pipe with nothing to send; close() delivers connection_lost.
TEST_F(EventsSteps, WritePipe) {
    auto fds = os_pipe();
    const int wfd = fds.second.release();
    set_blocking(fds.first, false);
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_write_pipe(client(), wfd);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_EQ(p->tr, t);
        EXPECT_EQ(t->get_extra_info<int>("pipe"), wfd);
        std::string data;
        t->write("1");
        co_await until([&] { return (void)drain_into(fds.first, data), data.size() >= 1; });
        EXPECT_EQ(data, "1");
        t->write("2345");
        co_await until([&] { return (void)drain_into(fds.first, data), data.size() >= 5; });
        EXPECT_EQ(data, "12345");
        EXPECT_EQ(p->events, std::vector<std::string>{"made"});
        t->close();
        co_await until([&] { return p->lost; });
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "lost"}));
        EXPECT_FALSE(p->error);
    }());
    EXPECT_EQ(::fcntl(wfd, F_GETFD), -1);
}

// test_events.py: test_write_pipe_disconnect_on_close: a socket as a write pipe hears its
// peer closing (connection_lost) with nothing pending.
TEST_F(EventsSteps, WritePipeDisconnectOnClose) {
    auto sp = socket_pair();
    const int wfd = sp.second.release();
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_write_pipe(client(), wfd);
        auto& t = tp.first;
        auto& p = tp.second;
        t->write("1");
        std::string got = co_await loop().sock_recv(sp.first, 1024);
        EXPECT_EQ(got, "1");
        sp.first.reset();
        co_await until([&] { return p->lost; });
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "lost"}));
        EXPECT_TRUE(t->is_closing());
    }());
}

// test_events.py: test_write_pty: a pty's slave as a write pipe.
TEST_F(EventsSteps, WritePty) {
    auto pty = open_pty();
    if (!pty) GTEST_SKIP() << "no pty";
    const int slave = pty->second.release();
    set_blocking(pty->first, false);
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_write_pipe(client(), slave);
        auto& t = tp.first;
        auto& p = tp.second;
        std::string data;
        t->write("1");
        co_await until([&] { return (void)drain_into(pty->first, data), data.size() >= 1; });
        EXPECT_EQ(data, "1");
        t->write("2345");
        co_await until([&] { return (void)drain_into(pty->first, data), data.size() >= 5; });
        EXPECT_EQ(data, "12345");
        EXPECT_EQ(p->events, std::vector<std::string>{"made"});
        pty->first.reset();
        t->close();
        co_await until([&] { return p->lost; });
        EXPECT_EQ(p->events.back(), "lost");
    }());
}

// test_events.py: test_bidirectional_pty: one pty slave read and written through two
// transports (the second on a dup of it), in both directions, interleaved.
TEST_F(EventsSteps, BidirectionalPty) {
    auto pty = open_pty();
    if (!pty) GTEST_SKIP() << "no pty";
    const int read_slave = pty->second.release();
    const int write_slave = ::fcntl(read_slave, F_DUPFD_CLOEXEC, 0);
    ASSERT_GE(write_slave, 0);
    set_blocking(pty->first, false);
    run([&]() -> coro<void> {
        auto rtp = co_await loop().connect_read_pipe(client(), read_slave);
        auto wtp = co_await loop().connect_write_pipe(client(), write_slave);
        auto& rp = rtp.second;
        auto& wt = wtp.first;
        auto& wp = wtp.second;
        std::string data;
        wt->write("1");
        co_await until([&] { return (void)drain_into(pty->first, data), data.size() >= 1; });
        EXPECT_EQ(data, "1");
        CO_ASSERT_TRUE(::write(pty->first, "a", 1) == 1);
        co_await until([&] { return rp->received.size() >= 1; });
        EXPECT_EQ(rp->received, "a");
        wt->write("2345");
        co_await until([&] { return (void)drain_into(pty->first, data), data.size() >= 5; });
        EXPECT_EQ(data, "12345");
        CO_ASSERT_TRUE(::write(pty->first, "bcde", 4) == 4);
        co_await until([&] { return rp->received.size() >= 5; });
        EXPECT_EQ(rp->received, "abcde");
        EXPECT_EQ(rp->events, std::vector<std::string>{"made"});
        EXPECT_EQ(wp->events, std::vector<std::string>{"made"});
        pty->first.reset();
        rtp.first->close();
        co_await until([&] { return rp->lost; });
        wt->close();
        co_await until([&] { return wp->lost; });
    }());
}

// test_events.py: test_unclosed_pipe_transport: a loop closed with both pipe transports
// open reports them and closes their fds.
TEST_F(EventsSteps, UnclosedPipeTransportsAtLoopClose) {
    check_errors = false;
    auto fds = os_pipe();
    const int rfd = fds.first.release(), wfd = fds.second.release();
    std::shared_ptr<transport> rt, wt;
    run([&]() -> coro<void> {
        auto r = co_await loop().connect_read_pipe(client(), rfd);
        auto w = co_await loop().connect_write_pipe(client(), wfd);
        rt = r.first;
        wt = w.first;
    }());
    close_loop();
    EXPECT_EQ(errors.size(), 2u);
    for (const auto& e : errors) EXPECT_TRUE(contains(e, "unclosed transport")) << e;
    EXPECT_TRUE(rt->is_closing());
    EXPECT_TRUE(wt->is_closing());
    EXPECT_EQ(::fcntl(rfd, F_GETFD), -1);
    EXPECT_EQ(::fcntl(wfd, F_GETFD), -1);
}

// test_unix_events.py: UnixReadPipeTransportTests.test__read_ready_eof: at the writer's
// EOF a read pipe calls eof_received, then connection_lost(null), whatever eof_received
// answers (a pipe has no write half to keep open).
TEST_F(EventsSteps, ReadPipeEofClosesWhateverEofReceivedAnswers) {
    auto fds = os_pipe();
    const int rfd = fds.first.release();
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_read_pipe(
            [] {
                auto p = std::make_shared<probe>();
                p->keep_open = true;
                return p;
            },
            rfd);
        auto& p = tp.second;
        CO_ASSERT_TRUE(::write(fds.second, "last", 4) == 4);
        fds.second.reset();
        co_await until([&] { return p->lost; });
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "eof", "lost"}));
        EXPECT_EQ(p->received, "last");
        EXPECT_TRUE(tp.first->is_closing());
    }());
}

// test_unix_events.py: UnixReadPipeTransportTests.test_pause_reading / test_resume_reading:
// a paused read pipe delivers nothing; resumed, it delivers what came meanwhile.
TEST_F(EventsSteps, ReadPipePauseAndResume) {
    auto fds = os_pipe();
    const int rfd = fds.first.release();
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_read_pipe(client(), rfd);
        auto& t = tp.first;
        auto& p = tp.second;
        t->pause_reading();
        EXPECT_FALSE(t->is_reading());
        t->pause_reading();  // twice: a no-op
        CO_ASSERT_TRUE(::write(fds.second, "held", 4) == 4);
        co_await sleep(0.02);  // a guard: it would have arrived by now
        EXPECT_EQ(p->received, "");
        t->resume_reading();
        EXPECT_TRUE(t->is_reading());
        co_await until([&] { return p->received == "held"; });
        t->close();
        co_await until([&] { return p->lost; });
    }());
}

// test_unix_events.py: UnixReadPipeTransportTests.test_ctor / test_pause_reading: a read
// pipe starts reading only after connection_made, so a protocol pausing there hears
// nothing until it resumes.
TEST_F(EventsSteps, ReadPipePausedInConnectionMade) {
    auto fds = os_pipe();
    const int rfd = fds.first.release();
    ASSERT_EQ(::write(fds.second, "early", 5), 5);  // already there when the transport starts
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_read_pipe(probes([](probe& p) { p.pause_on_made = true; }), rfd);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_FALSE(t->is_reading());
        co_await sleep(0.02);  // a guard: it would have arrived by now
        EXPECT_EQ(p->received, "");
        t->resume_reading();
        co_await until([&] { return p->received == "early"; });
        t->close();
        co_await until([&] { return p->lost; });
    }());
}

// test_unix_events.py: UnixReadPipeTransportTests.test_close / test_close_already_closing /
// test__close: close() stops reading at once, connection_lost(null) follows in a later
// iteration (never inside close()), and a second close() does nothing more.
TEST_F(EventsSteps, ReadPipeCloseDeliversConnectionLostLater) {
    auto fds = os_pipe();
    const int rfd = fds.first.release();
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_read_pipe(client(), rfd);
        auto& t = tp.first;
        auto& p = tp.second;
        CO_ASSERT_TRUE(::write(fds.second, "late", 4) == 4);  // not read before the close
        t->close();
        EXPECT_TRUE(t->is_closing());
        EXPECT_FALSE(t->is_reading());
        EXPECT_FALSE(p->lost);
        t->close();
        co_await until([&] { return p->lost; });
        co_await sleep(0.01);
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "lost"}));
        EXPECT_EQ(p->received, "");
        EXPECT_FALSE(p->error);
    }());
}

// test_unix_events.py: UnixWritePipeTransportTests.test_write_no_data: an empty write
// sends and buffers nothing.
TEST_F(EventsSteps, WritePipeEmptyWrite) {
    auto fds = os_pipe();
    const int wfd = fds.second.release();
    set_blocking(fds.first, false);
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_write_pipe(client(), wfd);
        auto& t = tp.first;
        t->write("");
        EXPECT_EQ(t->get_write_buffer_size(), 0u);
        co_await sleep(0.01);
        std::string data;
        EXPECT_EQ(drain_into(fds.first, data), 0u);
        t->close();
        co_await until([&] { return tp.second->lost; });
    }());
}

// test_unix_events.py: UnixWritePipeTransportTests.test_write_close / test_write_err:
// writes after the pipe is lost are ignored (no exception, nothing buffered).
TEST_F(EventsSteps, WritePipeWritesAfterTheLossAreIgnored) {
    auto fds = os_pipe();
    const int wfd = fds.second.release();
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_write_pipe(client(), wfd);
        auto& t = tp.first;
        auto& p = tp.second;
        fds.first.reset();  // the reader goes
        co_await until([&] { return p->lost; });
        // As asyncio's logger warning from the fifth ignored write on: the handler hears
        // of it (once).
        for (int i = 0; i < 4; ++i) t->write("data");
        EXPECT_TRUE(errors.empty());
        for (int i = 0; i < 4; ++i) t->write("data");
        EXPECT_EQ(t->get_write_buffer_size(), 0u);
        CO_ASSERT_TRUE(errors.size() == 1u);
        EXPECT_TRUE(contains(errors[0], "data ignored")) << errors[0];
        errors.clear();
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "lost"}));
    }());
}

// test_unix_events.py: UnixWritePipeTransportTests.test_write_err: a write failing at
// once (the reader gone before the loop noticed) is fatal to the pipe: nothing buffered,
// closing, connection_lost with that OSError, and no report (asyncio logs it only in
// debug mode).
TEST_F(EventsSteps, WritePipeWriteErrorIsFatal) {
    auto fds = os_pipe();
    const int wfd = fds.second.release();
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_write_pipe(client(), wfd);
        auto& t = tp.first;
        auto& p = tp.second;
        fds.first.reset();
        t->write("data");  // EPIPE
        EXPECT_EQ(t->get_write_buffer_size(), 0u);
        co_await until([&] { return p->lost; });
        EXPECT_EQ(code_of(p->error), std::errc::broken_pipe) << what_of(p->error);
        EXPECT_TRUE(t->is_closing());
    }());
}

// test_unix_events.py: UnixWritePipeTransportTests.test_abort: abort() drops what is
// buffered, the transport is closing at once and connection_lost(null) follows later.
TEST_F(EventsSteps, WritePipeAbort) {
    auto fds = os_pipe();
    const int wfd = fds.second.release();
    set_blocking(fds.first, false);
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_write_pipe(client(), wfd);
        auto& t = tp.first;
        auto& p = tp.second;
        t->write(std::string(1 << 20, 'x'));  // more than the pipe holds
        CO_ASSERT_TRUE(t->get_write_buffer_size() > 0);
        t->abort();
        EXPECT_TRUE(t->is_closing());
        EXPECT_EQ(t->get_write_buffer_size(), 0u);
        EXPECT_FALSE(p->lost);
        co_await until([&] { return p->lost; });
        EXPECT_FALSE(p->error) << what_of(p->error);
        std::string data;
        drain_into(fds.first, data);
        EXPECT_LT(data.size(), std::size_t{1} << 20);
    }());
}

// test_unix_events.py: UnixWritePipeTransportTests.test_write_eof / test_write_eof_pending /
// test_close / test_close_closing: write_eof (which close() is) with nothing pending
// closes, connection_lost(null) following; with data pending it waits for the data.
TEST_F(EventsSteps, WritePipeWriteEofAndClose) {
    auto a = os_pipe();
    auto b = os_pipe();
    const int wa = a.second.release(), wb = b.second.release();
    set_blocking(b.first, false);
    run([&]() -> coro<void> {
        auto ta = co_await loop().connect_write_pipe(client(), wa);
        ta.first->write_eof();
        EXPECT_TRUE(ta.first->is_closing());
        EXPECT_FALSE(ta.second->lost);
        ta.first->write("ignored");  // asyncio's pipe: closing, so ignored (no exception)
        ta.first->write_eof();       // and a second write_eof does nothing
        EXPECT_EQ(ta.first->get_write_buffer_size(), 0u);
        co_await until([&] { return ta.second->lost; });
        EXPECT_FALSE(ta.second->error);

        auto tb = co_await loop().connect_write_pipe(client(), wb);
        const std::string big(1 << 20, 'y');
        tb.first->write(big);
        CO_ASSERT_TRUE(tb.first->get_write_buffer_size() > 0);
        tb.first->close();
        tb.first->close();  // twice: fine
        EXPECT_TRUE(tb.first->is_closing());
        co_await sleep(0.01);
        EXPECT_FALSE(tb.second->lost);  // the data still goes first
        std::string data;
        co_await until([&] { return (void)drain_into(b.first, data), tb.second->lost; });
        drain_into(b.first, data);
        EXPECT_EQ(data.size(), big.size());
        EXPECT_FALSE(tb.second->error);
    }());
}

// ---------------------------------------------------------------------------------------
// test_sock_lowlevel.py

// The client half of _basetest_sock_client_ops / _basetest_sock_recv_into: a blocking
// socket is refused by every sock_* method (asyncio's debug-mode ValueError), then the
// request and response go through on the same socket made non-blocking.
coro<void> sock_client_ops(abstract_event_loop& loop, int family, socket_address server_addr) {
    fd_owner s = new_socket(family, SOCK_STREAM, false);
    auto refused = [](auto c) -> coro<bool> {
        try {
            co_await std::move(c);
        } catch (const std::invalid_argument&) {
            co_return true;
        }
        co_return false;
    };
    char one[1];
    const bool connect_refused = co_await refused(loop.sock_connect(s, server_addr));
    const bool sendall_refused = co_await refused(loop.sock_sendall(s, std::string(request)));
    const bool recv_refused = co_await refused(loop.sock_recv(s, 1024));
    const bool recv_into_refused = co_await refused(loop.sock_recv_into(s, one));
    const bool accept_refused = co_await refused(loop.sock_accept(s));
    EXPECT_TRUE(connect_refused);
    EXPECT_TRUE(sendall_refused);
    EXPECT_TRUE(recv_refused);
    EXPECT_TRUE(recv_into_refused);
    EXPECT_TRUE(accept_refused);

    set_blocking(s, false);
    co_await loop.sock_connect(s, server_addr);
    co_await loop.sock_sendall(s, std::string(request));
    std::string data = co_await loop.sock_recv(s, 1024);
    while (data.size() < response.size()) {
        std::string more = co_await loop.sock_recv(s, 1024);
        if (more.empty()) break;
        data += more;
    }
    EXPECT_EQ(data, response);
    const std::string after = co_await loop.sock_recv(s, 1024);
    EXPECT_EQ(after, "");  // the server closed

    // The same with sock_recv_into.
    fd_owner s2 = new_socket(family, SOCK_STREAM);
    co_await loop.sock_connect(s2, server_addr);
    co_await loop.sock_sendall(s2, std::string(request));
    std::string buf(1024, '\0');
    std::size_t n = 0;
    for (;;) {
        std::size_t k = co_await loop.sock_recv_into(s2, std::span<char>(buf).subspan(n));
        if (k == 0) break;
        n += k;
    }
    EXPECT_EQ(buf.substr(0, n), response);
    EXPECT_FALSE(loop.remove_reader(s2));
    EXPECT_FALSE(loop.remove_writer(s));
}

// test_sock_lowlevel.py: test_sock_client_ops.
TEST_F(EventsSteps, SockClientOps) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(answer_requests), "127.0.0.1", 0);
        co_await sock_client_ops(loop(), AF_INET, srv->sockets().at(0));
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_sock_lowlevel.py: test_unix_sock_client_ops.
TEST_F(EventsSteps, UnixSockClientOps) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_unix_server(probes(answer_requests), path("ops.sock"));
        co_await sock_client_ops(loop(), AF_UNIX, srv->sockets().at(0));
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_sock_lowlevel.py: test_sock_client_racing (_basetest_sock_recv_racing,
// _basetest_sock_recv_into_racing, _basetest_sock_send_racing): a sock_* operation
// cancelled while it waits leaves nothing behind, and the next one on the fd works.
TEST_F(EventsSteps, SockClientRacing) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(answer_requests), "127.0.0.1", 0);
        const auto addr = srv->sockets().at(0);
        {
            // recv
            fd_owner s = new_socket(AF_INET, SOCK_STREAM);
            co_await loop().sock_connect(s, addr);
            auto pending = loop().create_task(loop().sock_recv(s, 1024));
            co_await sleep(0);
            pending.cancel();
            co_await sleep(0);
            EXPECT_TRUE(pending.cancelled());
            EXPECT_FALSE(loop().remove_reader(s));
            auto sender = loop().create_task(loop().sock_sendall(s, std::string(request)));
            std::string data = co_await loop().sock_recv(s, 1024);
            while (true) {
                std::string more = co_await loop().sock_recv(s, 1024);
                if (more.empty()) break;
                data += more;
            }
            co_await sender;
            EXPECT_EQ(data, response);
        }
        {
            // recv_into
            fd_owner s = new_socket(AF_INET, SOCK_STREAM);
            co_await loop().sock_connect(s, addr);
            std::string buf(1024, '\0');
            auto pending = loop().create_task(loop().sock_recv_into(s, buf));
            co_await sleep(0);
            pending.cancel();
            co_await sleep(0);
            EXPECT_TRUE(pending.cancelled());
            auto sender = loop().create_task(loop().sock_sendall(s, std::string(request)));
            std::size_t n = co_await loop().sock_recv_into(s, buf);
            for (;;) {
                std::size_t k = co_await loop().sock_recv_into(s, std::span<char>(buf).subspan(n));
                if (k == 0) break;
                n += k;
            }
            co_await sender;
            EXPECT_EQ(buf.substr(0, n), response);
        }
        srv->close();
        co_await srv->wait_closed();

        // sendall: a send blocked on a full buffer, cancelled; the next sendall goes through.
        fd_owner listener = new_socket(AF_INET, SOCK_STREAM);
        sockaddr_storage ss;
        socklen_t len = detail::to_sockaddr(socket_address::inet("127.0.0.1", 0), ss);
        CO_ASSERT_TRUE(::bind(listener, reinterpret_cast<sockaddr*>(&ss), len) == 0);
        CO_ASSERT_TRUE(::listen(listener, 1) == 0);
        fd_owner s = new_socket(AF_INET, SOCK_STREAM);
        int small = 1024;
        ::setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        auto connecting = loop().create_task(loop().sock_connect(s, detail::local_address_of(listener)));
        auto acc = co_await loop().sock_accept(listener);
        fd_owner peer(acc.first);
        co_await connecting;
        // Fill the buffers until even 4 bytes would block.
        for (std::size_t size = 8192; size >= 4; size /= 2) {
            const std::string spaces(size, ' ');
            while (::send(s, spaces.data(), size, MSG_NOSIGNAL) > 0) {
            }
            CO_ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
        }
        auto blocked = loop().create_task(loop().sock_sendall(s, "hello"));
        co_await sleep(0);
        EXPECT_FALSE(blocked.done());
        blocked.cancel();
        co_await sleep(0);
        EXPECT_TRUE(blocked.cancelled());
        EXPECT_FALSE(loop().remove_writer(s));
        auto recv_all = [&]() -> coro<std::string> {
            std::string rv;
            for (;;) {
                std::string b = co_await loop().sock_recv(peer, 8192);
                if (b.empty()) co_return rv;
                for (char ch : b)
                    if (ch != ' ') rv += ch;
            }
        };
        auto receiver = loop().create_task(recv_all());
        co_await loop().sock_sendall(s, "world");
        ::shutdown(s, SHUT_WR);
        std::string data = co_await receiver;
        EXPECT_EQ(data, "world");  // the cancelled "hello" never went
    }());
}

// test_sock_lowlevel.py: test_sock_client_connect_racing: a sock_connect cancelled before
// the listener listens; connecting again (after a refusal or two) succeeds.
TEST_F(EventsSteps, SockClientConnectRacing) {
    run([&]() -> coro<void> {
        fd_owner listener = new_socket(AF_INET, SOCK_STREAM);
        sockaddr_storage ss;
        socklen_t len = detail::to_sockaddr(socket_address::inet("127.0.0.1", 0), ss);
        CO_ASSERT_TRUE(::bind(listener, reinterpret_cast<sockaddr*>(&ss), len) == 0);
        const auto addr = detail::local_address_of(listener);
        fd_owner s = new_socket(AF_INET, SOCK_STREAM);
        auto first = loop().create_task(loop().sock_connect(s, addr));
        co_await sleep(0);
        first.cancel();
        try {
            co_await first;  // cancelled, or refused at once (nobody listened yet)
        } catch (...) {
        }
        EXPECT_TRUE(first.done());
        EXPECT_FALSE(loop().remove_writer(s));
        CO_ASSERT_TRUE(::listen(listener, 1) == 0);
        std::string last_error;
        bool connected = false;
        for (int i = 0; i < 128 && !connected; ++i) {
            try {
                co_await loop().sock_connect(s, addr);
                connected = true;
            } catch (const std::system_error& e) {
                last_error = e.what();
            }
        }
        if (!connected) CO_SKIP("could not connect again: " + last_error);
        auto acc = co_await loop().sock_accept(listener);
        fd_owner peer(acc.first);
        EXPECT_EQ(acc.second, detail::local_address_of(s));
    }());
    if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
}

// test_sock_lowlevel.py: test_huge_content / test_huge_content_recvinto: 1 MB sent with
// sock_sendall while sock_recv (sock_recv_into) reads the echo back, in order.
TEST_F(EventsSteps, HugeContent) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(echoes(), "127.0.0.1", 0);
        const auto addr = srv->sockets().at(0);
        constexpr std::size_t size = 1000000;
        std::string chunk;
        chunk.reserve(size);
        while (chunk.size() < size) chunk += "0123456789";
        for (bool into : {false, true}) {
            fd_owner s = new_socket(AF_INET, SOCK_STREAM);
            co_await loop().sock_connect(s, addr);
            auto sender = loop().create_task(loop().sock_sendall(s, chunk));
            std::string got;
            std::string buf(size, '\0');
            auto receive = [&]() -> coro<std::size_t> {
                if (!into) {
                    std::string part = co_await loop().sock_recv(s, size);
                    got += part;
                    co_return part.size();
                }
                std::size_t n = co_await loop().sock_recv_into(s, buf);
                got.append(buf, 0, n);
                co_return n;
            };
            while (got.size() < size) {
                const std::size_t n = co_await receive();
                if (n == 0) break;
            }
            co_await sender;
            ::shutdown(s, SHUT_WR);  // the echo server closes in turn
            const std::size_t at_eof = co_await receive();
            EXPECT_EQ(at_eof, 0u);
            co_await sender;
            EXPECT_EQ(got.size(), size) << (into ? "recv_into" : "recv");
            EXPECT_TRUE(got == chunk) << (into ? "recv_into" : "recv");
        }
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_sock_lowlevel.py: test_recvfrom: a 4096-byte datagram to a UDP echo server with
// sock_sendto, the echo back with sock_recvfrom, from the server's address.
TEST_F(EventsSteps, Recvfrom) {
    struct echo_datagrams : datagram_protocol {
        std::shared_ptr<datagram_transport> tr;
        void connection_made(std::shared_ptr<datagram_transport> t) override { tr = std::move(t); }
        void datagram_received(std::string_view d, const socket_address& from) override { tr->sendto(d, from); }
    };
    run([&]() -> coro<void> {
        datagram_options o;
        o.local_addr = host_port{"127.0.0.1", 0};
        auto ep = co_await loop().create_datagram_endpoint([] { return std::make_shared<echo_datagrams>(); }, o);
        const auto server_addr = *ep.first->get_extra_info<socket_address>("sockname");
        fd_owner s = new_socket(AF_INET, SOCK_DGRAM);
        const std::string data(4096, '\x01');
        const std::size_t sent = co_await loop().sock_sendto(s, data, server_addr);
        EXPECT_EQ(sent, data.size());
        auto got = co_await loop().sock_recvfrom(s, 4096);
        EXPECT_TRUE(got.first == data);
        EXPECT_EQ(got.second, server_addr);
        ep.first->close();
        co_await sleep(0);
    }());
}

// test_sock_lowlevel.py: test_cancel_sock_accept: a sock_accept timed out by wait_for
// leaves no reader; the closed listener then refuses connections.
TEST_F(EventsSteps, CancelSockAccept) {
    run([&]() -> coro<void> {
        fd_owner listener = new_socket(AF_INET, SOCK_STREAM);
        sockaddr_storage ss;
        socklen_t len = detail::to_sockaddr(socket_address::inet("127.0.0.1", 0), ss);
        CO_ASSERT_TRUE(::bind(listener, reinterpret_cast<sockaddr*>(&ss), len) == 0);
        CO_ASSERT_TRUE(::listen(listener, 1) == 0);
        const auto addr = detail::local_address_of(listener);
        bool timed_out = false;
        try {
            co_await wait_for(loop().sock_accept(listener), 0.05);
        } catch (const timeout_error&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_FALSE(loop().remove_reader(listener));
        listener.reset();
        fd_owner c = new_socket(AF_INET, SOCK_STREAM);
        std::exception_ptr err;
        try {
            co_await loop().sock_connect(c, addr);
        } catch (...) {
            err = std::current_exception();
        }
        EXPECT_EQ(code_of(err), std::errc::connection_refused) << what_of(err);
    }());
}

// ---------------------------------------------------------------------------------------
// test_events.py: add_reader / add_writer

// test_events.py: test_reader_callback: a reader runs as data arrives; at EOF it removes
// itself (remove_reader answering true) and the peer's close ends it.
TEST_F(EventsSteps, ReaderCallback) {
    auto sp = socket_pair();
    int r = sp.first.release();
    std::string bytes_read;
    bool removed = false;
    loop().add_reader(r, [&] {
        char buf[1024];
        ssize_t n = ::recv(r, buf, sizeof buf, 0);
        if (n < 0) return;  // a spurious wake-up
        if (n > 0) {
            bytes_read.append(buf, static_cast<std::size_t>(n));
        } else {
            removed = loop().remove_reader(r);
            ::close(r);
            r = -1;
        }
    });
    run([&]() -> coro<void> {
        loop().call_soon([&] { (void)::send(sp.second, "abc", 3, 0); });
        co_await until([&] { return bytes_read.size() >= 3; });
        loop().call_soon([&] { (void)::send(sp.second, "def", 3, 0); });
        co_await until([&] { return bytes_read.size() >= 6; });
        loop().call_soon([&] { sp.second.reset(); });
        co_await until([&] { return r < 0; });
    }());
    EXPECT_EQ(bytes_read, "abcdef");
    EXPECT_TRUE(removed);
    if (r >= 0) ::close(r);
}

// test_events.py: test_writer_callback: a writer with a bound argument runs once the fd is
// writable; remove_writer answers true, then false.
TEST_F(EventsSteps, WriterCallback) {
    auto sp = socket_pair();
    const std::string data(1024, 'x');
    loop().add_writer(
        sp.second,
        [&](const std::string& d) {
            (void)::send(sp.second, d.data(), d.size(), 0);
            loop().stop();
        },
        data);
    auto dog = loop().call_later(20.0, [&] { loop().stop(); });
    loop().run_forever();
    dog.cancel();
    EXPECT_TRUE(loop().remove_writer(sp.second));
    EXPECT_FALSE(loop().remove_writer(sp.second));
    sp.second.reset();
    std::string got;
    drain_into(sp.first, got);
    EXPECT_EQ(got, data);
}

// test_events.py: test_internal_fds: a loop's own fds (libuv's epoll, its wake-up pipe)
// all close with it, whether or not it ever ran.
TEST_F(EventsSteps, InternalFdsCloseWithTheLoop) {
    const int before = count_fds();
    for (int i = 0; i < 3; ++i) {
        event_loop l;
        if (i > 0) l.run_until_complete([]() -> coro<void> { co_await sleep(0); }());
        l.close();
        EXPECT_EQ(count_fds(), before) << "loop " << i;
    }
}

// ---------------------------------------------------------------------------------------
// test_events.py: signals

// libuv opens its signal pipes with the first signal watcher of the process: made before
// the fixture counts fds.
class EventsStepsSignals : public EventsSteps {
protected:
    void SetUp() override {
        nettest::open_libuv_signal_fds();
        EventsSteps::SetUp();
    }
};

bool disposition_is_default(int sig) {
    struct sigaction old {};
    ::sigaction(sig, nullptr, &old);
    return !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
}

// test_events.py: test_signal_handling_while_selecting: SIGALRM from an interval timer
// arrives while the loop waits in its poll; the handler runs once, on the loop.
TEST_F(EventsStepsSignals, SignalHandlingWhileSelecting) {
    int caught = 0;
    loop().add_signal_handler(SIGALRM, [&] {
        ++caught;
        loop().stop();
    });
    itimerval it{};
    it.it_value.tv_usec = 10000;  // once, in 10 ms
    ASSERT_EQ(::setitimer(ITIMER_REAL, &it, nullptr), 0);
    auto dog = loop().call_later(60.0, [&] { loop().stop(); });
    loop().run_forever();
    dog.cancel();
    EXPECT_EQ(caught, 1);
    EXPECT_TRUE(loop().remove_signal_handler(SIGALRM));
    EXPECT_TRUE(disposition_is_default(SIGALRM));
    EXPECT_FALSE(loop().remove_signal_handler(SIGALRM));
}

}  // namespace
}  // namespace duet::nettest
