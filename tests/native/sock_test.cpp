// asyncio's sock_* methods on sockets the caller owns (a socket pair, a TCP listener on
// 127.0.0.1, UDP sockets), and add_reader on a pipe: on the uv loop and on the poll(2) loop
// of examples/custom_loop, since both are built on add_reader/add_writer. Every test
// checks that the process has as many fds open after the loop closed as before.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include <duet/detail/sockaddr.hpp>
#include <duet/duet.hpp>
#include <duet/event_loop.hpp>

#include "fd_count.hpp"

#include "poll_event_loop.hpp"

namespace duet::test {
namespace {

int open_fd_count() {
    return nettest::count_fds();
}

using nettest::fd_owner;

void set_nonblocking(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

std::pair<fd_owner, fd_owner> socket_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        throw std::runtime_error("socketpair");
    return {fd_owner(fds[0]), fd_owner(fds[1])};
}

fd_owner inet_socket(int type) {
    int fd = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket");
    return fd_owner(fd);
}

// A socket bound to 127.0.0.1 on a free port, and that address.
std::pair<fd_owner, socket_address> bound_socket(int type) {
    fd_owner s = inet_socket(type);
    sockaddr_storage ss{};
    socklen_t len = detail::to_sockaddr(socket_address::inet("127.0.0.1", 0), ss);
    if (::bind(s, reinterpret_cast<sockaddr*>(&ss), len) != 0) throw std::runtime_error("bind");
    socket_address addr = detail::local_address_of(s);
    return {std::move(s), std::move(addr)};
}

// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
std::uint16_t closed_tcp_port() {
    return bound_socket(SOCK_STREAM).second.port;
}

// libuv opens a few fds once per process (its signal lock pipe) with the first loop: made
// here, before any count.
void warm_up() {
    static bool done = [] {
        event_loop loop;
        loop.close();
        return true;
    }();
    (void)done;
}

template <class L>
class SockOps : public ::testing::Test {
protected:
    // The count is taken before the loop exists and compared after it is gone.
    void TearDown() override {
        if (!loop_.is_closed()) loop_.close();
        loop_holder_.reset();
        EXPECT_EQ(open_fd_count(), fds_before_) << "an fd leaked";
    }
    // Runs c on the loop, failing (not hanging) after 20 s.
    template <class T>
    T run(coro<T> c) {
        return loop_.run_until_complete(wait_for(std::move(c), 20.0));
    }
    int fds_before_ = (warm_up(), open_fd_count());
    std::optional<L> loop_holder_{std::in_place};
    L& loop_ = *loop_holder_;
};

using sock_loops = ::testing::Types<event_loop, examples::poll_event_loop>;
TYPED_TEST_SUITE(SockOps, sock_loops);

TYPED_TEST(SockOps, SendAndRecvOnASocketPair) {
    auto pair = socket_pair();
    auto& a = pair.first;
    auto& b = pair.second;
    auto& loop = this->loop_;
    std::string got = this->run([&]() -> coro<std::string> {
        co_await loop.sock_sendall(a, "hello");
        co_return co_await loop.sock_recv(b, 100);
    }());
    EXPECT_EQ(got, "hello");
    // sock_recv_into fills the caller's buffer.
    std::size_t n = this->run([&]() -> coro<std::size_t> {
        co_await loop.sock_sendall(b, "world!");
        char buf[16];
        std::size_t k = co_await loop.sock_recv_into(a, buf);
        EXPECT_EQ(std::string(buf, k), "world!");
        co_return k;
    }());
    EXPECT_EQ(n, 6u);
}

TYPED_TEST(SockOps, RecvWaitsUntilDataArrives) {
    auto pair = socket_pair();
    auto& a = pair.first;
    auto& b = pair.second;
    auto& loop = this->loop_;
    std::string got = this->run([&]() -> coro<std::string> {
        auto reader = loop.create_task(loop.sock_recv(b, 100));
        co_await sleep(0.02);
        EXPECT_FALSE(reader.done());
        co_await loop.sock_sendall(a, "late");
        co_return co_await reader;
    }());
    EXPECT_EQ(got, "late");
    EXPECT_FALSE(loop.remove_reader(b));  // the wait left nothing behind
}

TYPED_TEST(SockOps, RecvAtEofReturnsEmpty) {
    auto pair = socket_pair();
    auto& a = pair.first;
    auto& b = pair.second;
    auto& loop = this->loop_;
    std::string got = this->run([&]() -> coro<std::string> {
        auto reader = loop.create_task(loop.sock_recv(b, 100));
        co_await sleep(0.01);
        ::shutdown(a, SHUT_WR);
        co_return co_await reader;
    }());
    EXPECT_EQ(got, "");
    char buf[4];
    EXPECT_EQ(this->run(loop.sock_recv_into(b, buf)), 0u);
}

TYPED_TEST(SockOps, SendallOfFourMiBWhileThePeerReadsSlowly) {
    auto pair = socket_pair();
    auto& a = pair.first;
    auto& b = pair.second;
    auto& loop = this->loop_;
    std::string data(4 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
    std::string received = this->run([&]() -> coro<std::string> {
        auto sender = loop.create_task(loop.sock_sendall(a, data));
        std::string got;
        while (got.size() < data.size()) {
            std::string chunk = co_await loop.sock_recv(b, 64 * 1024);
            if (chunk.empty()) break;
            got += chunk;
            co_await sleep(0.0005);  // slow reader: the sender must wait for room
        }
        co_await sender;
        co_return got;
    }());
    EXPECT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data);
    EXPECT_FALSE(loop.remove_writer(a));
    EXPECT_FALSE(loop.remove_reader(b));
}

TYPED_TEST(SockOps, AcceptAndConnectOverTcp) {
    auto listener_addr = bound_socket(SOCK_STREAM);
    auto& listener = listener_addr.first;
    auto& addr = listener_addr.second;
    ASSERT_EQ(::listen(listener, 8), 0);
    fd_owner client = inet_socket(SOCK_STREAM);
    auto& loop = this->loop_;
    auto accepted_peer = this->run([&]() -> coro<std::pair<int, socket_address>> {
        auto acceptor = loop.create_task(loop.sock_accept(listener));
        co_await loop.sock_connect(client, addr);
        co_return co_await acceptor;
    }());
    int accepted = accepted_peer.first;
    socket_address peer = accepted_peer.second;
    fd_owner server_side(accepted);
    ASSERT_GE(accepted, 0);
    EXPECT_EQ(peer, detail::local_address_of(client));
    EXPECT_TRUE(::fcntl(accepted, F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(accepted, F_GETFD) & FD_CLOEXEC);
    std::string echoed = this->run([&]() -> coro<std::string> {
        co_await loop.sock_sendall(client, "ping");
        std::string s = co_await loop.sock_recv(server_side, 10);
        co_await loop.sock_sendall(server_side, s + "/pong");
        co_return co_await loop.sock_recv(client, 20);
    }());
    EXPECT_EQ(echoed, "ping/pong");
}

TYPED_TEST(SockOps, ConnectRefusedRaisesNamingTheAddress) {
    std::uint16_t port = closed_tcp_port();
    fd_owner client = inet_socket(SOCK_STREAM);
    auto& loop = this->loop_;
    try {
        this->run(loop.sock_connect(client, socket_address::inet("127.0.0.1", port)));
        ADD_FAILURE() << "connected to a closed port";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
        EXPECT_NE(std::string(e.what()).find("sock_connect to 127.0.0.1:" + std::to_string(port)), std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(loop.remove_writer(client));
}

TYPED_TEST(SockOps, SendtoAndRecvfromOverUdp) {
    auto sock_a = bound_socket(SOCK_DGRAM);
    auto& a = sock_a.first;
    auto& a_addr = sock_a.second;
    auto sock_b = bound_socket(SOCK_DGRAM);
    auto& b = sock_b.first;
    auto& b_addr = sock_b.second;
    auto& loop = this->loop_;
    auto data_from = this->run([&]() -> coro<std::pair<std::string, socket_address>> {
        auto receiver = loop.create_task(loop.sock_recvfrom(b, 100));
        co_await sleep(0.01);
        std::size_t n = co_await loop.sock_sendto(a, "datagram", b_addr);
        EXPECT_EQ(n, 8u);
        co_return co_await receiver;
    }());
    auto& data = data_from.first;
    auto& from = data_from.second;
    EXPECT_EQ(data, "datagram");
    EXPECT_EQ(from, a_addr);
}

// sock_recvfrom_into waits for a datagram and fills the caller's buffer (on both loops:
// it is built on add_reader like its siblings).
TYPED_TEST(SockOps, RecvfromIntoOverUdp) {
    auto sock_a = bound_socket(SOCK_DGRAM);
    auto& a = sock_a.first;
    auto& a_addr = sock_a.second;
    auto sock_b = bound_socket(SOCK_DGRAM);
    auto& b = sock_b.first;
    auto& b_addr = sock_b.second;
    auto& loop = this->loop_;
    char buf[32];
    auto n_from = this->run([&]() -> coro<std::pair<std::size_t, socket_address>> {
        auto receiver = loop.create_task(loop.sock_recvfrom_into(b, buf));
        co_await sleep(0.01);
        co_await loop.sock_sendto(a, "into the buffer", b_addr);
        co_return co_await receiver;
    }());
    EXPECT_EQ(std::string(buf, n_from.first), "into the buffer");
    EXPECT_EQ(n_from.second, a_addr);
}

TYPED_TEST(SockOps, CancellingARecvLeavesNoReader) {
    auto pair = socket_pair();
    auto& a = pair.first;
    auto& b = pair.second;
    auto& loop = this->loop_;
    bool cancelled = this->run([&]() -> coro<bool> {
        auto reader = loop.create_task(loop.sock_recv(b, 100));
        co_await sleep(0.01);  // the reader waits on b now
        reader.cancel();
        try {
            co_await reader;
        } catch (const cancelled_error&) {
            co_return true;
        }
        co_return false;
    }());
    EXPECT_TRUE(cancelled);
    EXPECT_FALSE(loop.remove_reader(b));
    // Data arriving afterwards finds no stale callback, and a new recv gets it.
    ASSERT_EQ(::write(a, "x", 1), 1);
    EXPECT_EQ(this->run(loop.sock_recv(b, 10)), "x");
}

TYPED_TEST(SockOps, ErrorsNameTheMethodAndTheFd) {
    auto pair = socket_pair();
    auto& a = pair.first;
    auto& b = pair.second;
    auto& loop = this->loop_;
    ::shutdown(b, SHUT_RD);
    b.reset();
    try {
        this->run(loop.sock_sendall(a, std::string(1 << 20, 'x')));
        ADD_FAILURE() << "sendall to a closed peer succeeded";
    } catch (const std::system_error& e) {
        EXPECT_TRUE(e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset) << e.what();
        EXPECT_NE(std::string(e.what()).find("sock_sendall on fd " + std::to_string(a.fd)), std::string::npos)
            << e.what();
    }
    // A blocking socket would block the loop: refused.
    auto blocking = socket_pair();
    auto& c = blocking.first;
    ::fcntl(c, F_SETFL, ::fcntl(c, F_GETFL) & ~O_NONBLOCK);
    EXPECT_THROW(this->run(loop.sock_recv(c, 1)), std::invalid_argument);
}

TYPED_TEST(SockOps, AddReaderOnAPipeRunsTheCallbackOnTheLoop) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    fd_owner r(p[0]), w(p[1]);
    set_nonblocking(r);
    auto& loop = this->loop_;
    std::string got;
    abstract_event_loop* ran_on = nullptr;
    std::thread::id thread;
    loop.add_reader(r, [&] {
        char buf[16];
        ssize_t n = ::read(r, buf, sizeof buf);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        ran_on = running_loop();
        thread = std::this_thread::get_id();
        loop.remove_reader(r);
        loop.stop();
    });
    loop.call_later(0.01, [&] { ASSERT_EQ(::write(w, "pipe", 4), 4); });
    auto dog = loop.call_later(20.0, [&] { loop.stop(); });
    loop.run_forever();
    dog.cancel();
    EXPECT_EQ(got, "pipe");
    EXPECT_EQ(ran_on, &loop);
    EXPECT_EQ(thread, std::this_thread::get_id());
    EXPECT_FALSE(loop.remove_reader(r));
}

}  // namespace
}  // namespace duet::test
