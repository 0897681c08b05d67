// asyncio's sock= family on the uv loop: create_connection / create_server /
// create_unix_connection / create_unix_server / create_datagram_endpoint over a socket the
// caller made with plain system calls, connect_accepted_socket, and sock_recvfrom_into.
// Scenarios of CPython's test_events.py (test_create_server_sock,
// test_create_server_addr_in_use, test_connect_accepted_socket,
// test_create_datagram_endpoint_sock, test_datagram_send_to_non_listening_address) and
// test_base_events.py's argument checks, ported. Every test checks that no fd leaks: an
// adopted fd is closed with its transport or server, a refused one stays the caller's.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <duet/detail/sockaddr.hpp>

#include "net_test_util.hpp"

// Waits until `cond` holds (the predicate named first: no lambda inside a co_await).
#define CO_UNTIL(cond)                          \
    do {                                        \
        auto pred_ = [&] { return (cond); };    \
        co_await ::duet::nettest::until(pred_); \
    } while (0)

namespace duet::nettest {
namespace {

// ---- plain-syscall sockets (blocking, as a program would hand them over)

fd_owner make_socket(int family, int type) {
    int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
    return fd_owner(fd);
}

// Binds fd to 127.0.0.1 on a free port; the address bound.
socket_address bind_loopback(int fd) {
    sockaddr_storage ss{};
    socklen_t len = detail::to_sockaddr(socket_address::inet("127.0.0.1", 0), ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
        throw std::system_error(errno, std::generic_category(), "bind");
    return detail::local_address_of(fd);
}

void bind_path(int fd, const std::string& path) {
    sockaddr_storage ss{};
    socklen_t len = detail::to_sockaddr(socket_address::unix_path(path), ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
        throw std::system_error(errno, std::generic_category(), "bind " + path);
}

void connect_to(int fd, const socket_address& a) {
    sockaddr_storage ss{};
    socklen_t len = detail::to_sockaddr(a, ss);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
        throw std::system_error(errno, std::generic_category(), "connect " + a.to_string());
}

bool fd_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1;
}

// The fd is closed: fcntl fails with EBADF (no fd was opened since: single-threaded test).
bool fd_closed(int fd) {
    errno = 0;
    return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

bool nonblocking(int fd) {
    int fl = ::fcntl(fd, F_GETFL);
    return fl != -1 && (fl & O_NONBLOCK) != 0;
}

void set_nonblocking(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Records datagrams; echoes them back to their sender if asked to.
struct dgram_probe : datagram_protocol {
    std::shared_ptr<datagram_transport> tr;
    std::vector<std::pair<std::string, socket_address>> got;
    std::vector<std::string> errors;
    bool echo = false;
    bool lost = false;
    void connection_made(std::shared_ptr<datagram_transport> t) override { tr = std::move(t); }
    void datagram_received(std::string_view d, const socket_address& from) override {
        got.emplace_back(std::string(d), from);
        if (echo) tr->sendto(d, from);
    }
    void error_received(std::exception_ptr e) override { errors.push_back(what_of(e)); }
    void connection_lost(std::exception_ptr) override { lost = true; }
};

class SockOption : public net_test_in_dir {
protected:
    // Runs c and returns the message of the std::invalid_argument it raises (or says what
    // happened instead).
    template <class C>
    std::string refusal(C&& c) {
        try {
            run(std::forward<C>(c));
        } catch (const std::invalid_argument& e) {
            return e.what();
        } catch (const std::exception& e) {
            return std::string("another exception: ") + e.what();
        }
        return "(no exception)";
    }
    static auto dgrams(std::vector<std::shared_ptr<dgram_probe>>& into, bool echo) {
        return [&into, echo] {
            auto p = std::make_shared<dgram_probe>();
            p->echo = echo;
            into.push_back(p);
            return p;
        };
    }
};

// ---- create_connection(sock=)

// test_create_connection_sock: a socket connected with connect(2) carries the echo; the
// transport made it non-blocking, reports its addresses, and closes it.
TEST_F(SockOption, CreateConnectionSockEchoes) {
    int fd = -1;
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(echoes(), "127.0.0.1", 0);
        const socket_address at = srv->sockets().at(0);
        fd_owner s = make_socket(AF_INET, SOCK_STREAM);
        connect_to(s, at);
        const socket_address mine = detail::local_address_of(s);
        fd = s.release();
        connection_options o;
        o.sock = fd;
        auto tp = co_await loop().create_connection(client(), o);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_TRUE(nonblocking(fd));
        EXPECT_EQ(t->get_extra_info<socket_address>("peername"), at);
        EXPECT_EQ(t->get_extra_info<socket_address>("sockname"), mine);
        EXPECT_EQ(t->get_extra_info<int>("socket"), fd);
        t->write("ping over an adopted socket");
        CO_UNTIL(p->received.size() >= 27);
        EXPECT_EQ(p->received, "ping over an adopted socket");
        t->close();
        CO_UNTIL(p->lost);
        EXPECT_TRUE(fd_closed(fd)) << "closing the transport closes the adopted fd";
        srv->close();
        co_await srv->wait_closed();
    }());
}

// asyncio's create_connection takes any stream socket: an AF_UNIX one (a socket pair's end)
// becomes a Unix-socket transport.
TEST_F(SockOption, CreateConnectionSockOfFamilyUnix) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    fd_owner peer(fds[1]);
    const int fd = fds[0];
    run([&]() -> coro<void> {
        connection_options o;
        o.sock = fd;
        auto tp = co_await loop().create_connection(echoes(), o);
        auto& t = tp.first;
        EXPECT_EQ(t->get_extra_info<socket_address>("sockname").value_or(socket_address{}).family,
                  socket_address::family_type::unix_domain);
        set_nonblocking(peer);
        co_await loop().sock_sendall(peer, "unix");
        std::string back = co_await loop().sock_recv(peer, 100);
        EXPECT_EQ(back, "unix");
        t->close();
        CO_UNTIL(accepted.at(0)->lost);
        EXPECT_TRUE(fd_closed(fd));
    }());
}

// test_base_events' create_connection argument checks: each refusal is a
// std::invalid_argument, and the refused fd stays open (the caller's to close).
TEST_F(SockOption, CreateConnectionSockRefusals) {
    fd_owner tcp = make_socket(AF_INET, SOCK_STREAM);
    fd_owner udp = make_socket(AF_INET, SOCK_DGRAM);
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    fd_owner pr(p[0]), pw(p[1]);
    connection_options o;
    o.sock = tcp;
    const std::string both = "host/port and sock can not be specified at the same time";
    EXPECT_TRUE(contains(refusal(loop().create_connection(client(), "127.0.0.1", 80, o)), both));
    EXPECT_TRUE(contains(refusal(loop().create_connection(client(), "", 80, o)), both));
    EXPECT_TRUE(contains(refusal(loop().create_connection(client(), "localhost", 0, o)), both));
    EXPECT_TRUE(fd_open(tcp));
    EXPECT_FALSE(nonblocking(tcp)) << "a refused fd is left as it was";
    o.sock = udp;
    std::string m = refusal(loop().create_connection(client(), o));
    EXPECT_TRUE(contains(m, "A Stream Socket was expected, got fd " + std::to_string(udp.fd))) << m;
    EXPECT_TRUE(fd_open(udp));
    o.sock = pr;
    m = refusal(loop().create_connection(client(), o));
    EXPECT_TRUE(contains(m, "A Stream Socket was expected, got fd " + std::to_string(pr.fd))) << m;
    EXPECT_TRUE(fd_open(pr));
    // Neither host/port nor sock.
    m = refusal(loop().create_connection(client(), connection_options()));
    EXPECT_TRUE(contains(m, "host and port was not specified and no sock specified")) << m;
}

// ---- create_server(sock=)

// test_create_server_sock: a socket the test bound itself (port 0) is listened on; the
// server reports its port, a client is served, and closing the server closes the fd.
TEST_F(SockOption, CreateServerSockServesAndReportsItsPort) {
    run([&]() -> coro<void> {
        fd_owner s = make_socket(AF_INET, SOCK_STREAM);
        const socket_address bound = bind_loopback(s);
        CO_ASSERT_TRUE(bound.port != 0);
        const int fd = s.release();
        server_options o;
        o.sock = fd;
        auto srv = co_await loop().create_server(echoes(), o);
        EXPECT_TRUE(srv->is_serving());
        CO_ASSERT_TRUE(srv->sockets().size() == 1);
        EXPECT_EQ(srv->sockets()[0], bound);
        EXPECT_TRUE(nonblocking(fd));
        auto tp = co_await loop().create_connection(client(), "127.0.0.1", bound.port);
        auto& t = tp.first;
        auto& p = tp.second;
        t->write("xxx");
        CO_UNTIL(p->received == "xxx");
        t->close();
        CO_UNTIL(p->lost && !accepted.empty() && accepted[0]->lost);
        srv->close();
        co_await srv->wait_closed();
        co_await duet::sleep(0);  // the listener's close callback
        EXPECT_TRUE(fd_closed(fd)) << "closing the server closes the socket it was given";
    }());
}

// test_create_server_addr_in_use: the port of a server made on sock= is taken.
TEST_F(SockOption, CreateServerAddrInUse) {
    run([&]() -> coro<void> {
        fd_owner s = make_socket(AF_INET, SOCK_STREAM);
        const socket_address bound = bind_loopback(s);
        server_options o;
        o.sock = s.release();
        auto srv = co_await loop().create_server(client(), o);
        std::error_code code;
        try {
            auto again = co_await loop().create_server(client(), "127.0.0.1", bound.port);
            again->close();
        } catch (const std::system_error& e) {
            code = e.code();
        }
        EXPECT_EQ(code, std::errc::address_in_use);
        srv->close();
        co_await srv->wait_closed();
    }());
}

// start_serving = false: nothing listens until start_serving().
TEST_F(SockOption, CreateServerSockStartServingLater) {
    run([&]() -> coro<void> {
        fd_owner s = make_socket(AF_INET, SOCK_STREAM);
        const socket_address bound = bind_loopback(s);
        server_options o;
        o.sock = s.release();
        o.start_serving = false;
        auto srv = co_await loop().create_server(echoes(), o);
        EXPECT_FALSE(srv->is_serving());
        co_await srv->start_serving();
        EXPECT_TRUE(srv->is_serving());
        auto tp = co_await loop().create_connection(client(), "127.0.0.1", bound.port);
        auto& t = tp.first;
        auto& p = tp.second;
        t->write("late");
        CO_UNTIL(p->received == "late");
        t->close();
        CO_UNTIL(p->lost && !accepted.empty() && accepted[0]->lost);
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_base_events' create_server checks: host or port with sock, a datagram socket.
TEST_F(SockOption, CreateServerSockRefusals) {
    fd_owner tcp = make_socket(AF_INET, SOCK_STREAM);
    bind_loopback(tcp);
    fd_owner udp = make_socket(AF_INET, SOCK_DGRAM);
    server_options o;
    o.sock = tcp;
    const std::string both = "host/port and sock can not be specified at the same time";
    EXPECT_TRUE(contains(refusal(loop().create_server(client(), "127.0.0.1", 0, o)), both));
    EXPECT_TRUE(contains(refusal(loop().create_server(client(), "", 8080, o)), both));
    std::vector<std::string> hosts{"127.0.0.1", "::1"};
    EXPECT_TRUE(contains(refusal(loop().create_server(client(), hosts, 0, o)), both));
    EXPECT_TRUE(fd_open(tcp));
    o.sock = udp;
    std::string m = refusal(loop().create_server(client(), o));
    EXPECT_TRUE(contains(m, "A Stream Socket was expected, got fd " + std::to_string(udp.fd))) << m;
    EXPECT_TRUE(fd_open(udp));
}

// The streams openers pass opts.sock through (empty host, port 0).
TEST_F(SockOption, StreamsOpenersOnSockets) {
    run([&]() -> coro<void> {
        fd_owner ls = make_socket(AF_INET, SOCK_STREAM);
        const socket_address at = bind_loopback(ls);
        server_options so;
        so.sock = ls.release();
        auto handler = [](stream_reader r, stream_writer w) -> coro<void> {
            std::string line = co_await r.readline();
            w.write(line);
            co_await w.drain();
            w.close();
            co_await w.wait_closed();
        };
        auto srv = co_await start_server(handler, "", 0, stream_default_limit, so);
        EXPECT_EQ(srv->sockets().at(0), at);
        fd_owner c = make_socket(AF_INET, SOCK_STREAM);
        connect_to(c, at);
        const int fd = c.release();
        connection_options co;
        co.sock = fd;
        auto rw = co_await open_connection("", 0, stream_default_limit, co);
        auto& reader = rw.first;
        auto& writer = rw.second;
        writer.write("streamed\n");
        std::string echo = co_await reader.readline();
        EXPECT_EQ(echo, "streamed\n");
        writer.close();
        co_await writer.wait_closed();
        EXPECT_TRUE(fd_closed(fd));
        srv->close();
        co_await srv->wait_closed();
    }());
}

// ---- Unix sockets

// create_unix_server(sock=) on a socket bound in the temp dir, and create_unix_connection
// (sock=) on a socket connected to it with connect(2).
TEST_F(SockOption, UnixServerAndConnectionOnSockets) {
    const std::string where = path("s.sock");
    run([&]() -> coro<void> {
        fd_owner ls = make_socket(AF_UNIX, SOCK_STREAM);
        bind_path(ls, where);
        const int lfd = ls.release();
        server_options so;
        so.sock = lfd;
        auto srv = co_await loop().create_unix_server(echoes(), so);
        CO_ASSERT_TRUE(srv->sockets().size() == 1);
        EXPECT_EQ(srv->sockets()[0].path, where);
        fd_owner cs = make_socket(AF_UNIX, SOCK_STREAM);
        connect_to(cs, socket_address::unix_path(where));
        const int cfd = cs.release();
        connection_options co;
        co.sock = cfd;
        auto tp = co_await loop().create_unix_connection(client(), co);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_EQ(t->get_extra_info<socket_address>("peername").value_or(socket_address{}).path, where);
        t->write("over unix");
        CO_UNTIL(p->received == "over unix");
        t->close();
        CO_UNTIL(p->lost && !accepted.empty() && accepted[0]->lost);
        EXPECT_TRUE(fd_closed(cfd));
        srv->close();
        co_await srv->wait_closed();
        co_await duet::sleep(0);
        EXPECT_TRUE(fd_closed(lfd));
        struct stat st {};
        EXPECT_NE(::stat(where.c_str(), &st), 0) << "the socket file goes with the server (as asyncio 3.13)";
    }());
}

// create_server(sock=) with an AF_UNIX socket: the family decides, as in asyncio.
TEST_F(SockOption, CreateServerSockOfFamilyUnix) {
    const std::string where = path("t.sock");
    run([&]() -> coro<void> {
        fd_owner ls = make_socket(AF_UNIX, SOCK_STREAM);
        bind_path(ls, where);
        server_options so;
        so.sock = ls.release();
        auto srv = co_await loop().create_server(echoes(), so);
        EXPECT_EQ(srv->sockets().at(0), socket_address::unix_path(where));
        auto tp = co_await loop().create_unix_connection(client(), where);
        auto& t = tp.first;
        auto& p = tp.second;
        t->write("abc");
        CO_UNTIL(p->received == "abc");
        t->close();
        CO_UNTIL(p->lost && !accepted.empty() && accepted[0]->lost);
        srv->close();
        co_await srv->wait_closed();
    }());
}

// test_create_unix_server_path_socket_error and the other Unix checks.
TEST_F(SockOption, UnixSockRefusals) {
    fd_owner us = make_socket(AF_UNIX, SOCK_STREAM);
    fd_owner tcp = make_socket(AF_INET, SOCK_STREAM);
    fd_owner udgram = make_socket(AF_UNIX, SOCK_DGRAM);
    const std::string both = "path and sock can not be specified at the same time";
    server_options so;
    so.sock = us;
    EXPECT_TRUE(contains(refusal(loop().create_unix_server(client(), path("x.sock"), so)), both));
    connection_options co;
    co.sock = us;
    EXPECT_TRUE(contains(refusal(loop().create_unix_connection(client(), path("x.sock"), co)), both));
    EXPECT_TRUE(fd_open(us));
    const std::string unix_expected = "A UNIX Domain Stream Socket was expected, got fd ";
    so.sock = tcp;
    std::string m = refusal(loop().create_unix_server(client(), so));
    EXPECT_TRUE(contains(m, unix_expected + std::to_string(tcp.fd))) << m;
    co.sock = udgram;
    m = refusal(loop().create_unix_connection(client(), co));
    EXPECT_TRUE(contains(m, unix_expected + std::to_string(udgram.fd))) << m;
    EXPECT_TRUE(fd_open(tcp));
    EXPECT_TRUE(fd_open(udgram));
    m = refusal(loop().create_unix_server(client(), server_options()));
    EXPECT_TRUE(contains(m, "path was not specified, and no sock specified")) << m;
    m = refusal(loop().create_unix_connection(client(), connection_options()));
    EXPECT_TRUE(contains(m, "no path and sock were specified")) << m;
}

// ---- create_datagram_endpoint(sock=)

// test_create_datagram_endpoint_sock, with an echo: the endpoint adopts a bound UDP socket,
// reports its address, answers a plain socket, and closes the fd with the transport.
TEST_F(SockOption, DatagramEndpointSockEchoes) {
    std::vector<std::shared_ptr<dgram_probe>> made;
    run([&]() -> coro<void> {
        fd_owner s = make_socket(AF_INET, SOCK_DGRAM);
        const socket_address bound = bind_loopback(s);
        const int fd = s.release();
        datagram_options o;
        o.sock = fd;
        auto tp = co_await loop().create_datagram_endpoint(dgrams(made, true), o);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_TRUE(nonblocking(fd));
        EXPECT_EQ(t->get_extra_info<socket_address>("sockname"), bound);
        EXPECT_FALSE(t->get_extra_info<socket_address>("peername").has_value());
        fd_owner c = make_socket(AF_INET, SOCK_DGRAM);
        const socket_address caddr = bind_loopback(c);
        set_nonblocking(c);
        co_await loop().sock_sendto(c, "marco", bound);
        auto reply = co_await loop().sock_recvfrom(c, 100);
        EXPECT_EQ(reply.first, "marco");
        EXPECT_EQ(reply.second, bound);
        CO_ASSERT_TRUE(p->got.size() == 1);
        EXPECT_EQ(p->got[0].second, caddr);
        t->close();
        CO_UNTIL(p->lost);
        EXPECT_TRUE(fd_closed(fd));
    }());
}

// A socket the caller connected: sendto without an address goes to its peer, and the
// endpoint reports that peer.
TEST_F(SockOption, DatagramEndpointOnAConnectedSock) {
    std::vector<std::shared_ptr<dgram_probe>> made;
    run([&]() -> coro<void> {
        fd_owner peer = make_socket(AF_INET, SOCK_DGRAM);
        const socket_address peer_addr = bind_loopback(peer);
        set_nonblocking(peer);
        fd_owner s = make_socket(AF_INET, SOCK_DGRAM);
        bind_loopback(s);
        connect_to(s, peer_addr);
        const int fd = s.release();
        datagram_options o;
        o.sock = fd;
        auto tp = co_await loop().create_datagram_endpoint(dgrams(made, false), o);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_EQ(t->get_extra_info<socket_address>("peername"), peer_addr);
        t->sendto("to the peer");
        auto got = co_await loop().sock_recvfrom(peer, 100);
        EXPECT_EQ(got.first, "to the peer");
        t->close();
        CO_UNTIL(p->lost);
        EXPECT_TRUE(fd_closed(fd));
    }());
}

// test_datagram_send_to_non_listening_address: three endpoints on sockets of their own; the
// third aborted, the first sends to its address and still receives afterwards.
TEST_F(SockOption, DatagramSendToNonListeningAddress) {
    std::vector<std::shared_ptr<dgram_probe>> made;
    run([&]() -> coro<void> {
        std::vector<socket_address> addrs;
        std::vector<std::shared_ptr<datagram_transport>> ts;
        for (int i = 0; i < 3; ++i) {
            fd_owner s = make_socket(AF_INET, SOCK_DGRAM);
            set_nonblocking(s);
            addrs.push_back(bind_loopback(s));
            datagram_options o;
            o.sock = s.release();
            auto tp = co_await loop().create_datagram_endpoint(dgrams(made, false), o);
            ts.push_back(tp.first);
        }
        ts[2]->abort();
        ts[0]->sendto("a", addrs[1]);
        CO_UNTIL(made[1]->got.size() == 1);
        ts[1]->sendto("b", addrs[0]);
        CO_UNTIL(made[0]->got.size() == 1);
        ts[0]->sendto("c", addrs[2]);  // nothing listens there any more
        co_await duet::sleep(0);
        ts[1]->sendto("d", addrs[0]);
        CO_UNTIL(made[0]->got.size() == 2);
        EXPECT_EQ(made[0]->got[1].first, "d");
        ts[0]->close();
        ts[1]->close();
        CO_UNTIL(made[0]->lost && made[1]->lost && made[2]->lost);
    }());
}

// test_base_events' create_datagram_endpoint checks: a stream socket; any other option
// given with sock (named in the message). The fd stays the caller's.
TEST_F(SockOption, DatagramEndpointSockRefusals) {
    std::vector<std::shared_ptr<dgram_probe>> made;
    fd_owner udp = make_socket(AF_INET, SOCK_DGRAM);
    fd_owner tcp = make_socket(AF_INET, SOCK_STREAM);
    const std::string modifiers = "socket modifier keyword arguments can not be used when sock is specified";
    datagram_options o;
    o.sock = udp;
    o.local_addr = host_port{"127.0.0.1", 0};
    std::string m = refusal(loop().create_datagram_endpoint(dgrams(made, false), o));
    EXPECT_TRUE(contains(m, modifiers) && contains(m, "local_addr")) << m;
    o.local_addr.reset();
    o.remote_addr = host_port{"127.0.0.1", 9};
    m = refusal(loop().create_datagram_endpoint(dgrams(made, false), o));
    EXPECT_TRUE(contains(m, modifiers) && contains(m, "remote_addr")) << m;
    o.remote_addr.reset();
    o.family = AF_INET;
    o.allow_broadcast = true;
    m = refusal(loop().create_datagram_endpoint(dgrams(made, false), o));
    EXPECT_TRUE(contains(m, modifiers) && contains(m, "family") && contains(m, "allow_broadcast")) << m;
    EXPECT_TRUE(fd_open(udp));
    datagram_options s;
    s.sock = tcp;
    m = refusal(loop().create_datagram_endpoint(dgrams(made, false), s));
    EXPECT_TRUE(contains(m, "A datagram socket was expected, got fd " + std::to_string(tcp.fd))) << m;
    EXPECT_TRUE(fd_open(tcp));
    EXPECT_TRUE(made.empty()) << "no protocol is made for a refused socket";
}

// ---- connect_accepted_socket

// test_connect_accepted_socket: a connection accepted with accept(2) outside the loop is
// served by a protocol; the client's data arrives, the reply goes back, EOF closes it.
TEST_F(SockOption, ConnectAcceptedSocket) {
    run([&]() -> coro<void> {
        fd_owner ls = make_socket(AF_INET, SOCK_STREAM);
        const socket_address at = bind_loopback(ls);
        CO_ASSERT_TRUE(::listen(ls, 1) == 0);
        fd_owner c = make_socket(AF_INET, SOCK_STREAM);
        connect_to(c, at);  // loopback: complete once the listener's backlog has it
        const int fd = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
        CO_ASSERT_TRUE(fd >= 0);
        EXPECT_FALSE(nonblocking(fd));
        auto factory = probes([](probe& p) { p.on_data = [](probe& q) { q.tr->write("roger"); }; });
        auto tp = co_await loop().connect_accepted_socket(factory, fd);
        auto& t = tp.first;
        auto& p = tp.second;
        EXPECT_TRUE(nonblocking(fd));
        EXPECT_EQ(t->get_extra_info<socket_address>("peername"), detail::local_address_of(c));
        set_nonblocking(c);
        co_await loop().sock_sendall(c, "test data");
        std::string response = co_await loop().sock_recv(c, 99);
        EXPECT_EQ(response, "roger");
        c.reset();
        CO_UNTIL(p->lost);
        EXPECT_EQ(p->received, "test data");
        EXPECT_TRUE(p->has("eof"));
        EXPECT_TRUE(fd_closed(fd));
    }());
}

// An accepted Unix connection, and the refusals: not a stream socket, no socket at all.
TEST_F(SockOption, ConnectAcceptedSocketUnixAndRefusals) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    fd_owner peer(fds[1]);
    const int fd = fds[0];
    run([&]() -> coro<void> {
        auto tp = co_await loop().connect_accepted_socket(echoes(), fd);
        auto& t = tp.first;
        set_nonblocking(peer);
        co_await loop().sock_sendall(peer, "ping");
        std::string back = co_await loop().sock_recv(peer, 10);
        EXPECT_EQ(back, "ping");
        t->close();
        CO_UNTIL(accepted.at(0)->lost);
        EXPECT_TRUE(fd_closed(fd));
    }());
    fd_owner udp = make_socket(AF_INET, SOCK_DGRAM);
    std::string m = refusal(loop().connect_accepted_socket(client(), udp.fd));
    EXPECT_TRUE(contains(m, "connect_accepted_socket") &&
                contains(m, "A Stream Socket was expected, got fd " + std::to_string(udp.fd)))
        << m;
    EXPECT_TRUE(fd_open(udp));
    m = refusal(loop().connect_accepted_socket(client(), -1));
    EXPECT_TRUE(contains(m, "invalid file descriptor")) << m;
}

// ---- sock_recvfrom_into

// A datagram lands in the caller's buffer with its sender's address; one longer than the
// buffer is truncated to it (the rest of that datagram is gone, as with recvfrom(2)).
TEST_F(SockOption, SockRecvfromInto) {
    run([&]() -> coro<void> {
        fd_owner r = make_socket(AF_INET, SOCK_DGRAM);
        const socket_address raddr = bind_loopback(r);
        set_nonblocking(r);
        fd_owner w = make_socket(AF_INET, SOCK_DGRAM);
        const socket_address waddr = bind_loopback(w);
        set_nonblocking(w);
        char buf[64];
        // Waits: nothing has been sent yet.
        auto sender = loop().create_task(loop().sock_sendto(w, "hello", raddr));
        auto got = co_await loop().sock_recvfrom_into(r, buf);
        co_await sender;
        EXPECT_EQ(got.first, 5u);
        EXPECT_EQ(std::string(buf, got.first), "hello");
        EXPECT_EQ(got.second, waddr);
        co_await loop().sock_sendto(w, "hello world", raddr);
        auto part = co_await loop().sock_recvfrom_into(r, std::span<char>(buf, 5));
        EXPECT_EQ(part.first, 5u);
        EXPECT_EQ(std::string(buf, 5), "hello");
        // Empty datagram: zero bytes, still its sender.
        co_await loop().sock_sendto(w, "", raddr);
        auto empty = co_await loop().sock_recvfrom_into(r, buf);
        EXPECT_EQ(empty.first, 0u);
        EXPECT_EQ(empty.second, waddr);
    }());
}

// On a Unix datagram socket pair (unnamed peer), and the fd checks its siblings make.
TEST_F(SockOption, SockRecvfromIntoUnixPairAndChecks) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    fd_owner a(fds[0]), b(fds[1]);
    run([&]() -> coro<void> {
        CO_ASSERT_TRUE(::send(b, "pair", 4, 0) == 4);
        char buf[16];
        auto got = co_await loop().sock_recvfrom_into(a, buf);
        EXPECT_EQ(std::string(buf, got.first), "pair");
        // The sender is unnamed: no address (asyncio's None), or an empty Unix path.
        EXPECT_TRUE(got.second.empty() || got.second.path.empty()) << got.second.to_string();
    }());
    fd_owner blocking = make_socket(AF_INET, SOCK_DGRAM);
    char buf[4];
    std::string m = refusal(loop().sock_recvfrom_into(blocking, buf));
    EXPECT_TRUE(contains(m, "sock_recvfrom_into") && contains(m, "non-blocking")) << m;
}

}  // namespace
}  // namespace duet::nettest
