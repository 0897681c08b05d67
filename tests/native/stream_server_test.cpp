// duet::server on the uv loop (asyncio's Server, 3.12+ wait_closed, 3.13 close_clients /
// abort_clients), address errors, and what the loop does with transports, servers and
// connects still pending when it closes.
#include <fcntl.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "net_test_util.hpp"

namespace duet::nettest {
namespace {

using StreamServer = net_test;

TEST_F(StreamServer, CloseThenWaitClosedWaitsForLiveClients) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        EXPECT_TRUE(srv->is_serving());
        EXPECT_EQ(&srv->get_loop(), &loop());
        const auto port = srv->sockets().at(0).port;
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        srv->close();
        srv->close();  // twice: a no-op
        EXPECT_FALSE(srv->is_serving());
        EXPECT_TRUE(srv->sockets().empty());
        auto waiting = loop().create_task(srv->wait_closed());
        co_await duet::sleep(0.05);
        EXPECT_FALSE(waiting.done());  // a client is still connected
        // The accepted connection still works.
        t->write("still here");
        co_await until([&] { return accepted[0]->received == "still here"; });
        // New connections are refused.
        try {
            co_await loop().create_connection(client(), "127.0.0.1", port);
            ADD_FAILURE() << "connected to a closed server";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
        }
        t->close();
        co_await waiting;
        EXPECT_TRUE(accepted[0]->lost);
        co_await srv->wait_closed();  // once closed, at once
    }());
}

TEST_F(StreamServer, CloseClientsAndAbortClients) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        const auto port = srv->sockets().at(0).port;
        auto t1p1_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t1 = t1p1_.first;
        [[maybe_unused]] auto& p1 = t1p1_.second;
        auto t2p2_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t2 = t2p2_.first;
        [[maybe_unused]] auto& p2 = t2p2_.second;
        co_await until([&] { return accepted.size() == 2; });
        srv->close();
        srv->close_clients();
        co_await srv->wait_closed();
        for (auto& a : accepted) {
            EXPECT_TRUE(a->lost);
            EXPECT_FALSE(a->error);
        }
        co_await until([&] { return p1->lost && p2->lost; });
        EXPECT_TRUE(p1->has("eof"));

        accepted.clear();
        auto srv2 = co_await loop().create_server(probes(), "127.0.0.1", 0);
        auto t3p3_ = co_await loop().create_connection(client(), "127.0.0.1", srv2->sockets().at(0).port);
        [[maybe_unused]] auto& t3 = t3p3_.first;
        [[maybe_unused]] auto& p3 = t3p3_.second;
        co_await until([&] { return accepted.size() == 1; });
        srv2->abort_clients();  // the server itself still serves
        co_await until([&] { return accepted[0]->lost && p3->lost; });
        EXPECT_FALSE(accepted[0]->error);
        EXPECT_TRUE(srv2->is_serving());
        srv2->close();
        co_await srv2->wait_closed();
    }());
}

TEST_F(StreamServer, ServeForeverUntilCancelled) {
    run([&]() -> coro<void> {
        server_options opts;
        opts.start_serving = false;
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0, opts);
        const auto port = srv->sockets().at(0).port;
        auto serving = loop().create_task(srv->serve_forever());
        co_await duet::sleep(0.01);
        EXPECT_TRUE(srv->is_serving());
        try {
            co_await srv->serve_forever();
            ADD_FAILURE() << "a second serve_forever ran";
        } catch (const std::runtime_error& e) {
            EXPECT_TRUE(contains(e.what(), "serve_forever")) << e.what();
        }
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        t->close();
        co_await until([&] { return accepted[0]->lost; });
        serving.cancel();
        try {
            co_await serving;
            ADD_FAILURE() << "serve_forever returned";
        } catch (const cancelled_error&) {
        }
        EXPECT_FALSE(srv->is_serving());
        EXPECT_TRUE(srv->sockets().empty());
        try {
            co_await srv->serve_forever();
            ADD_FAILURE() << "serve_forever on a closed server";
        } catch (const std::runtime_error& e) {
            EXPECT_TRUE(contains(e.what(), "closed")) << e.what();
        }
    }());
}

TEST_F(StreamServer, StartServingLater) {
    run([&]() -> coro<void> {
        server_options opts;
        opts.start_serving = false;
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0, opts);
        EXPECT_FALSE(srv->is_serving());
        CO_ASSERT_TRUE(srv->sockets().size() == 1u);
        const auto port = srv->sockets()[0].port;
        EXPECT_NE(port, 0);
        try {
            co_await loop().create_connection(client(), "127.0.0.1", port);
            ADD_FAILURE() << "connected before start_serving";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
        }
        co_await srv->start_serving();
        EXPECT_TRUE(srv->is_serving());
        co_await srv->start_serving();  // no-op
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        t->close();
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamServer, AddressInUseNamesTheAddress) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        const auto port = srv->sockets().at(0).port;
        try {
            auto second = co_await loop().create_server(probes(), "127.0.0.1", port);
            ADD_FAILURE() << "two servers on one port";
            second->close();
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::address_in_use) << e.what();
            EXPECT_TRUE(contains(e.what(), "127.0.0.1:" + std::to_string(port))) << e.what();
        }
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamServer, ReusePortLetsTwoServersShareAPort) {
    run([&]() -> coro<void> {
        server_options opts;
        opts.reuse_port = true;
        auto a = co_await loop().create_server(probes(), "127.0.0.1", 0, opts);
        const auto port = a->sockets().at(0).port;
        auto b = co_await loop().create_server(probes(), "127.0.0.1", port, opts);
        EXPECT_EQ(b->sockets().at(0).port, port);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        t->close();
        a->close();
        b->close();
        co_await a->wait_closed();
        co_await b->wait_closed();
    }());
}

TEST_F(StreamServer, SeveralHostsGiveSeveralListeners) {
    run([&]() -> coro<void> {
        const auto port = free_port();
        std::shared_ptr<server> srv;
        // (g++ 12 rejects an initializer list inside an expression that co_awaits.)
        std::vector<std::string> hosts{"127.0.0.1", "::1"};
        try {
            srv = co_await loop().create_server(probes(), hosts, port);
        } catch (const std::system_error& e) {
            CO_SKIP(std::string("no IPv6 loopback here: ") + e.what());
        }
        auto socks = srv->sockets();
        CO_ASSERT_TRUE(socks.size() == 2u);
        EXPECT_EQ(socks[0], socket_address::inet("127.0.0.1", port));
        EXPECT_EQ(socks[1], socket_address::inet6("::1", port));
        auto t4p4_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t4 = t4p4_.first;
        [[maybe_unused]] auto& p4 = t4p4_.second;
        auto t6p6_ = co_await loop().create_connection(client(), "::1", port);
        [[maybe_unused]] auto& t6 = t6p6_.first;
        [[maybe_unused]] auto& p6 = t6p6_.second;
        EXPECT_EQ(t6->get_extra_info<socket_address>("peername"), socket_address::inet6("::1", port));
        co_await until([&] { return accepted.size() == 2; });
        t4->close();
        t6->close();
        srv->close();
        co_await srv->wait_closed();
    }());
    if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
}

TEST_F(StreamServer, AllInterfacesWhenNoHost) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), std::vector<std::string>{}, 0);
        auto socks = srv->sockets();
        CO_ASSERT_TRUE(!socks.empty());
        bool any4 = false;
        for (const auto& s : socks) any4 = any4 || s == socket_address::inet("0.0.0.0", s.port);
        EXPECT_TRUE(any4);
        std::uint16_t port = 0;
        for (const auto& s : socks)
            if (s.family == socket_address::family_type::inet) port = s.port;
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        t->close();
        srv->close();
        co_await srv->wait_closed();
    }());
}

// A name with several addresses: every address is tried in order, and if none
// connects, the error lists them all.
TEST_F(StreamServer, EveryAddressOfANameIsTried) {
    run([&]() -> coro<void> {
        std::string name;
        bool found = false;
        std::vector<socket_address> addrs;
        // "": no host, which getaddrinfo answers with every loopback address (::1 and
        // 127.0.0.1 where both exist).
        for (const char* candidate : {"localhost", "ip6-localhost", ""}) {
            try {
                addrs.clear();
                for (auto& i : co_await loop().getaddrinfo(candidate, "1", {0, SOCK_STREAM, 0, 0}))
                    if (std::find(addrs.begin(), addrs.end(), i.address) == addrs.end()) addrs.push_back(i.address);
            } catch (const std::system_error&) {
                continue;
            }
            if (addrs.size() >= 2) {
                name = candidate;
                found = true;
                break;
            }
        }
        if (!found) CO_SKIP("no name with several addresses here");
        const auto port = free_port();
        try {
            co_await loop().create_connection(client(), name, port);
            ADD_FAILURE() << "connected";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
            EXPECT_TRUE(contains(e.what(), "Multiple exceptions")) << e.what();
        }
        // Listening on the last address only: the earlier ones fail, the last connects.
        socket_address last = addrs.back();
        auto srv = co_await loop().create_server(probes(), last.host, port);
        auto tp_ = co_await loop().create_connection(client(), name, port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        EXPECT_EQ(t->get_extra_info<socket_address>("peername")->host, last.host);
        t->close();
        srv->close();
        co_await srv->wait_closed();
    }());
    if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
}

TEST_F(StreamServer, FactoryFailureGoesToTheHandlerAndClosesTheConnection) {
    check_errors = false;
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server([]() -> std::shared_ptr<probe> { throw std::runtime_error("no"); },
                                                 "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return p->lost; });
        CO_ASSERT_TRUE(errors.size() == 1u);
        EXPECT_TRUE(contains(errors[0], "Error on transport creation for incoming connection")) << errors[0];
        EXPECT_TRUE(srv->is_serving());
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamServer, AConnectionOutlivesItsDroppedServer) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        const auto port = srv->sockets().at(0).port;
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t = tp_.first;
        co_await until([&] { return accepted.size() == 1; });
        std::weak_ptr<server> watch = srv;
        srv->close();
        srv.reset();
        co_await duet::sleep(0.01);  // the listener's close callback: the server goes
        EXPECT_TRUE(watch.expired()) << "a connection kept its server alive";
        // The accepted connection still works, and ends without its server.
        t->write("still here");
        co_await until([&] { return accepted[0]->received == "still here"; });
        t->close();
        co_await until([&] { return accepted[0]->lost; });
    }());
}

TEST_F(StreamServer, LeftOpenAtLoopCloseIsReportedAndClosed) {
    check_errors = false;
    std::uint16_t port = 0;
    std::weak_ptr<probe> client_probe;
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        port = srv->sockets().at(0).port;
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        client_probe = p;
        co_await until([&] { return accepted.size() == 1; });
        // The protocol holds its transport and the transport its protocol: only the
        // loop's close can end that cycle now.
    }());
    close_loop();
    EXPECT_TRUE(client_probe.expired());  // the transport released its protocol
    bool server_reported = false;
    int transports_reported = 0;
    for (const auto& e : errors) {
        if (contains(e, "unclosed server 127.0.0.1:" + std::to_string(port))) server_reported = true;
        if (contains(e, "unclosed transport")) ++transports_reported;
    }
    EXPECT_TRUE(server_reported) << ::testing::PrintToString(errors);
    EXPECT_EQ(transports_reported, 2) << ::testing::PrintToString(errors);  // both ends
    EXPECT_FALSE(accepted.at(0)->lost);  // no connection_lost: the loop could not run it
}

TEST_F(StreamServer, NothingNewOnAClosedLoop) {
    event_loop other;
    loop().close();
    other.run_until_complete([&]() -> coro<void> {
        try {
            co_await loop().create_connection(client(), "127.0.0.1", 9);
            ADD_FAILURE() << "connected from a closed loop";
        } catch (const std::runtime_error& e) {
            EXPECT_TRUE(contains(e.what(), "closed")) << e.what();
        }
        try {
            co_await loop().create_server(probes(), "127.0.0.1", 0);
            ADD_FAILURE() << "listened on a closed loop";
        } catch (const std::runtime_error& e) {
            EXPECT_TRUE(contains(e.what(), "closed")) << e.what();
        }
    }());
    other.close();
}

// A listener whose backlog is full: connects to it stay pending.
struct full_listener {
    int lfd = -1, filler = -1;
    std::uint16_t port = 0;
    full_listener() {
        lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(lfd, 0);
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        filler = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ::connect(filler, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    ~full_listener() {
        ::close(filler);
        ::close(lfd);
    }
};

TEST_F(StreamServer, ConnectCancelledByTimeoutClosesItsSocket) {
    full_listener l;
    run([&]() -> coro<void> {
        co_await duet::sleep(0.05);  // the filler's handshake completes
        try {
            auto r = co_await duet::wait_for(loop().create_connection(client(), "127.0.0.1", l.port), 0.2);
            r.first->close();
            CO_SKIP("this kernel accepted past the backlog");
        } catch (const timeout_error&) {
        }
    }());
    if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
    // The fixture checks that the cancelled connect's socket was closed.
}

TEST_F(StreamServer, LoopClosingWithAConnectPendingLeaksNothing) {
    full_listener l;
    {
        auto pending = loop().create_task(loop().create_connection(client(), "127.0.0.1", l.port));
        run(duet::sleep(0.1));
        EXPECT_FALSE(pending.done());
    }
    close_loop();
    // asyncio's report of a task the closing loop destroyed; its connect was closed quietly.
    EXPECT_EQ(errors, std::vector<std::string>{"Task was destroyed but it is pending!"});
    errors.clear();
}

}  // namespace
}  // namespace duet::nettest
