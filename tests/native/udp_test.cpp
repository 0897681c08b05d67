// UDP on the uv loop (asyncio's create_datagram_endpoint): echo, explicit and connected
// destinations, error_received, reuse_port, close and abort, endpoints left open at loop
// close. Real sockets on 127.0.0.1; every test checks that the process has as many fds
// open after the loop is gone as before it existed.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include <duet/detail/sockaddr.hpp>
#include <duet/duet.hpp>
#include <duet/event_loop.hpp>

#include "fd_count.hpp"

namespace duet::test {
namespace {

int open_fd_count() {
    return nettest::count_fds();
}

// libuv opens a few fds once per process with its first loop: made here, before any count.
void warm_up() {
    static bool done = [] {
        event_loop loop;
        loop.close();
        return true;
    }();
    (void)done;
}

// Records every callback; echoes datagrams back when `echo` is set.
class recording_protocol : public datagram_protocol {
public:
    bool echo = false;
    std::shared_ptr<datagram_transport> transport;
    std::vector<std::pair<std::string, socket_address>> datagrams;
    std::vector<std::exception_ptr> errors;
    int made = 0;
    int lost = 0;
    std::exception_ptr lost_error;
    std::function<void(datagram_transport&)> on_made;

    void connection_made(std::shared_ptr<datagram_transport> t) override {
        ++made;
        transport = std::move(t);
        if (on_made) on_made(*transport);
    }
    void datagram_received(std::string_view data, const socket_address& from) override {
        datagrams.emplace_back(std::string(data), from);
        if (echo) transport->sendto(data, from);
    }
    void error_received(std::exception_ptr e) override { errors.push_back(e); }
    void connection_lost(std::exception_ptr e) override {
        ++lost;
        lost_error = e;
        transport.reset();  // as a protocol should: no cycle left
    }
};

std::error_code code_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::system_error& x) {
        return x.code();
    } catch (...) {
    }
    return {};
}

// A UDP port on 127.0.0.1 that nothing is bound to (bound, then released).
std::uint16_t closed_udp_port() {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_storage ss{};
    socklen_t len = detail::to_sockaddr(socket_address::inet("127.0.0.1", 0), ss);
    ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
    std::uint16_t port = detail::local_address_of(fd).port;
    ::close(fd);
    return port;
}

class Udp : public ::testing::Test {
protected:
    void TearDown() override {
        if (loop_ && !loop_->is_closed()) loop_->close();
        loop_.reset();
        EXPECT_EQ(open_fd_count(), fds_before_) << "an fd leaked";
    }
    event_loop& loop() { return *loop_; }
    template <class T>
    T run(coro<T> c) {
        return loop().run_until_complete(wait_for(std::move(c), 20.0));
    }
    using endpoint = transport_and_protocol<datagram_transport, recording_protocol>;
    endpoint open(datagram_options o, bool echo = false) {
        return run(loop().create_datagram_endpoint(
            [echo] {
                auto p = std::make_shared<recording_protocol>();
                p->echo = echo;
                return p;
            },
            std::move(o)));
    }
    static datagram_options local(std::string host = "127.0.0.1", std::uint16_t port = 0) {
        datagram_options o;
        o.local_addr = host_port{std::move(host), port};
        return o;
    }
    static datagram_options remote(const socket_address& to) {
        datagram_options o;
        o.remote_addr = host_port{to.host, to.port};
        return o;
    }
    static socket_address sockname(const datagram_transport& t) {
        return *t.get_extra_info<socket_address>("sockname");
    }
    // Lets the loop run until pred() holds (a 20 s limit fails the test instead of hanging).
    void run_until(const std::function<bool()>& pred) {
        run([&]() -> coro<void> {
            while (!pred()) co_await sleep(0.002);
        }());
    }
    int fds_before_ = (warm_up(), open_fd_count());
    std::optional<event_loop> loop_{std::in_place};
};

TEST_F(Udp, EchoBetweenAServerAndAClientEndpoint) {
    auto server_ep = open(local(), true);
    auto& server_t = server_ep.first;
    auto& server_p = server_ep.second;
    socket_address server_addr = sockname(*server_t);
    EXPECT_EQ(server_addr.host, "127.0.0.1");
    EXPECT_NE(server_addr.port, 0);
    auto client_ep = open(remote(server_addr));
    auto& client_t = client_ep.first;
    auto& client_p = client_ep.second;
    EXPECT_EQ(server_p->made, 1);
    EXPECT_EQ(client_p->made, 1);
    client_t->sendto("hello");
    client_t->sendto("");  // an empty datagram is a datagram
    client_t->sendto("world");
    run_until([&] { return client_p->datagrams.size() == 3; });
    ASSERT_EQ(client_p->datagrams.size(), 3u);
    EXPECT_EQ(client_p->datagrams[0].first, "hello");
    EXPECT_EQ(client_p->datagrams[1].first, "");
    EXPECT_EQ(client_p->datagrams[2].first, "world");
    EXPECT_EQ(client_p->datagrams[0].second, server_addr);
    ASSERT_EQ(server_p->datagrams.size(), 3u);
    EXPECT_EQ(server_p->datagrams[0].second, sockname(*client_t));
    EXPECT_TRUE(client_p->errors.empty());
    EXPECT_TRUE(server_p->errors.empty());
    client_t->close();
    server_t->close();
    run_until([&] { return client_p->lost == 1 && server_p->lost == 1; });
}

context_var<std::string> udp_var("udp_var");

// The protocol's callbacks run in a copy of the context current at
// create_datagram_endpoint (asyncio: the endpoint's reader handle), whoever sends.
TEST_F(Udp, ProtocolCallbacksRunInTheCreatorsContext) {
    struct seeing_protocol : recording_protocol {
        std::vector<std::string> seen;
        void connection_made(std::shared_ptr<datagram_transport> t) override {
            seen.push_back("made:" + udp_var.get("none"));
            recording_protocol::connection_made(std::move(t));
        }
        void datagram_received(std::string_view data, const socket_address& from) override {
            seen.push_back(udp_var.get("none"));
            udp_var.set("set by the protocol");
            recording_protocol::datagram_received(data, from);
        }
    };
    std::shared_ptr<seeing_protocol> server_p;
    std::shared_ptr<datagram_transport> server_t;
    auto creator = [&]() -> coro<void> {
        udp_var.set("creator");
        auto ep = co_await get_running_loop().create_datagram_endpoint(
            [&] { return server_p = std::make_shared<seeing_protocol>(); }, local());
        server_t = ep.first;
    };
    run(creator());
    auto client_ep = open(remote(sockname(*server_t)));
    client_ep.first->sendto("a");
    client_ep.first->sendto("b");
    run_until([&] { return server_p->datagrams.size() == 2; });
    EXPECT_EQ(server_p->seen, (std::vector<std::string>{"made:creator", "creator", "set by the protocol"}));
    EXPECT_EQ(udp_var.get("none"), "none");
    client_ep.first->close();
    server_t->close();
    run_until([&] { return client_ep.second->lost == 1 && server_p->lost == 1; });
}

TEST_F(Udp, SendtoWithAnExplicitAddress) {
    auto server_ep = open(local());
    auto& server_t = server_ep.first;
    auto& server_p = server_ep.second;
    auto client_ep = open(local());
    auto& client_t = client_ep.first;
    auto& client_p = client_ep.second;
    EXPECT_FALSE(client_t->get_extra_info("peername").has_value());
    EXPECT_THROW(client_t->sendto("nowhere"), std::invalid_argument);  // not connected, no address
    EXPECT_THROW(client_t->sendto("x", socket_address::inet("not-numeric", 1)), std::invalid_argument);
    client_t->sendto("direct", sockname(*server_t));
    run_until([&] { return !server_p->datagrams.empty(); });
    EXPECT_EQ(server_p->datagrams[0].first, "direct");
    EXPECT_EQ(server_p->datagrams[0].second, sockname(*client_t));
    client_t->close();
    server_t->close();
    run_until([&] { return client_p->lost == 1 && server_p->lost == 1; });
}

TEST_F(Udp, ConnectedEndpointRefusesAnotherAddress) {
    auto server_ep = open(local());
    auto& server_t = server_ep.first;
    auto& server_p = server_ep.second;
    socket_address server_addr = sockname(*server_t);
    auto client_ep = open(remote(server_addr));
    auto& client_t = client_ep.first;
    auto& client_p = client_ep.second;
    EXPECT_EQ(client_t->get_extra_info<socket_address>("peername"), server_addr);
    socket_address other = socket_address::inet("127.0.0.1", static_cast<std::uint16_t>(server_addr.port + 1));
    try {
        client_t->sendto("x", other);
        ADD_FAILURE() << "sent to another address";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find(server_addr.to_string()), std::string::npos) << e.what();
    }
    client_t->sendto("to the peer", server_addr);  // its own remote address is fine
    client_t->sendto("implicit");
    run_until([&] { return server_p->datagrams.size() == 2; });
    EXPECT_EQ(server_p->datagrams[0].first, "to the peer");
    EXPECT_EQ(server_p->datagrams[1].first, "implicit");
    client_t->close();
    server_t->close();
    run_until([&] { return client_p->lost == 1 && server_p->lost == 1; });
}

TEST_F(Udp, ErrorReceivedOnAConnectedSocketWhosePeerPortIsClosed) {
    socket_address dead = socket_address::inet("127.0.0.1", closed_udp_port());
    auto ep = open(remote(dead));
    auto& t = ep.first;
    auto& p = ep.second;
    // The ICMP port-unreachable answer arrives as ECONNREFUSED on the next receive or send;
    // keep sending until it is reported.
    run([&]() -> coro<void> {
        while (p->errors.empty()) {
            t->sendto("anyone?");
            co_await sleep(0.01);
        }
    }());
    ASSERT_FALSE(p->errors.empty());
    EXPECT_EQ(code_of(p->errors[0]), std::errc::connection_refused);
    EXPECT_FALSE(t->is_closing());  // errors leave the endpoint open
    EXPECT_EQ(p->lost, 0);
    t->close();
    run_until([&] { return p->lost == 1; });
}

TEST_F(Udp, TwoEndpointsShareAPortWithReusePort) {
    datagram_options o = local();
    o.reuse_port = true;
    auto ep_a = open(o);
    auto& a_t = ep_a.first;
    auto& a_p = ep_a.second;
    std::uint16_t port = sockname(*a_t).port;
    datagram_options same = local("127.0.0.1", port);
    same.reuse_port = true;
    auto ep_b = open(same);
    auto& b_t = ep_b.first;
    auto& b_p = ep_b.second;
    EXPECT_EQ(sockname(*b_t).port, port);
    // Without reuse_port the port is taken: EADDRINUSE naming the address.
    try {
        open(local("127.0.0.1", port));
        ADD_FAILURE() << "bound a port in use";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::address_in_use) << e.what();
        EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
    }
    a_t->close();
    b_t->close();
    run_until([&] { return a_p->lost == 1 && b_p->lost == 1; });
}

TEST_F(Udp, CloseDeliversConnectionLostLaterAndReleasesTheProtocol) {
    auto ep = open(local());
    auto& t = ep.first;
    auto& p = ep.second;
    EXPECT_FALSE(t->is_closing());
    t->close();
    EXPECT_TRUE(t->is_closing());
    EXPECT_EQ(p->lost, 0);  // not inside close()
    t->close();             // twice is a no-op
    t->sendto("ignored", socket_address::inet("127.0.0.1", 9));
    run_until([&] { return p->lost == 1; });
    EXPECT_EQ(p->lost_error, nullptr);
    EXPECT_EQ(t->get_protocol(), nullptr);  // the transport let its protocol go
    EXPECT_FALSE(t->get_extra_info("socket").has_value());
    EXPECT_EQ(sockname(*t).host, "127.0.0.1");  // still known after close
    run([]() -> coro<void> { co_await sleep(0.01); }());
    EXPECT_EQ(p->lost, 1);  // exactly once
}

TEST_F(Udp, AbortDeliversConnectionLost) {
    auto ep = open(local());
    auto& t = ep.first;
    auto& p = ep.second;
    t->abort();
    EXPECT_TRUE(t->is_closing());
    run_until([&] { return p->lost == 1; });
    EXPECT_EQ(p->lost_error, nullptr);
}

TEST_F(Udp, EndpointLeftOpenAtLoopCloseIsReportedAndClosed) {
    std::vector<std::string> messages;
    loop().set_exception_handler(
        [&](abstract_event_loop&, const exception_context& c) { messages.push_back(c.message); });
    std::weak_ptr<recording_protocol> protocol;
    std::weak_ptr<datagram_transport> transport;
    std::string where;
    {
        auto ep = open(local());
        auto& t = ep.first;
        auto& p = ep.second;
        where = sockname(*t).to_string();
        protocol = p;
        transport = t;
    }
    // The protocol holds its transport and the transport its protocol: still alive.
    EXPECT_FALSE(protocol.expired());
    loop().close();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_NE(messages[0].find("unclosed datagram endpoint"), std::string::npos) << messages[0];
    EXPECT_NE(messages[0].find(where), std::string::npos) << messages[0];
    loop_.reset();
    EXPECT_TRUE(protocol.expired()) << "the transport/protocol cycle was not broken";
    EXPECT_TRUE(transport.expired());
}

TEST_F(Udp, ExtraInfoAndBroadcast) {
    datagram_options o = local();
    o.allow_broadcast = true;
    auto ep = open(o);
    auto& t = ep.first;
    auto& p = ep.second;
    auto fd = t->get_extra_info<int>("socket");
    ASSERT_TRUE(fd.has_value());
    int on = 0;
    socklen_t len = sizeof on;
    ASSERT_EQ(::getsockopt(*fd, SOL_SOCKET, SO_BROADCAST, &on, &len), 0);
    EXPECT_NE(on, 0);
    EXPECT_EQ(detail::local_address_of(*fd), sockname(*t));
    EXPECT_EQ(t->get_write_buffer_size(), 0u);
    EXPECT_FALSE(t->get_extra_info("no such thing").has_value());
    t->close();
    run_until([&] { return p->lost == 1; });
}

TEST_F(Udp, LocalhostResolvesAndAnUnknownNameRaises) {
    auto server_ep = open(local(), true);
    auto& server_t = server_ep.first;
    auto& server_p = server_ep.second;
    datagram_options o;
    o.family = AF_INET;
    o.remote_addr = host_port{"localhost", sockname(*server_t).port};
    auto client_ep = open(o);
    auto& client_t = client_ep.first;
    auto& client_p = client_ep.second;
    EXPECT_EQ(client_t->get_extra_info<socket_address>("peername"), sockname(*server_t));
    client_t->sendto("via localhost");
    run_until([&] { return !client_p->datagrams.empty(); });
    EXPECT_EQ(client_p->datagrams[0].first, "via localhost");
    try {
        datagram_options bad;
        bad.remote_addr = host_port{"no-such-host.invalid", 9};
        open(bad);
        ADD_FAILURE() << "resolved a name that does not exist";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("no-such-host.invalid"), std::string::npos) << e.what();
    }
    client_t->close();
    server_t->close();
    run_until([&] { return client_p->lost == 1 && server_p->lost == 1; });
}

TEST_F(Udp, ArgumentErrors) {
    EXPECT_THROW(open(datagram_options{}), std::invalid_argument);  // neither address nor family
    datagram_options mixed;
    mixed.local_addr = host_port{"127.0.0.1", 0};
    mixed.remote_addr = host_port{"::1", 9};
    EXPECT_THROW(open(mixed), std::invalid_argument);  // no family in common
}

// An exception escaping a protocol callback goes to the exception handler and closes the
// endpoint with that error.
TEST_F(Udp, ExceptionInDatagramReceivedIsFatal) {
    std::vector<std::string> messages;
    loop().set_exception_handler(
        [&](abstract_event_loop&, const exception_context& c) { messages.push_back(c.message); });
    struct throwing : recording_protocol {
        void datagram_received(std::string_view, const socket_address&) override {
            throw std::runtime_error("bad datagram");
        }
    };
    auto ep = run(loop().create_datagram_endpoint([] { return std::make_shared<throwing>(); }, local()));
    auto& t = ep.first;
    auto& p = ep.second;
    auto client_ep = open(remote(sockname(*t)));
    auto& c = client_ep.first;
    auto& cp = client_ep.second;
    c->sendto("boom");
    run_until([&] { return p->lost == 1; });
    EXPECT_TRUE(t->is_closing());
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_NE(messages[0].find("datagram_received"), std::string::npos) << messages[0];
    EXPECT_NE(p->lost_error, nullptr);
    c->close();
    run_until([&] { return cp->lost == 1; });
}

}  // namespace
}  // namespace duet::test
