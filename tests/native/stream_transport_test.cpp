// The libuv stream transport over TCP on 127.0.0.1: echo with protocol and
// buffered_protocol, many clients, flow control, closing, half-close, errors.
#include <sys/socket.h>

#include <string>
#include <vector>

#include "net_test_util.hpp"

namespace duet::nettest {
namespace {

using StreamTcp = net_test;

TEST_F(StreamTcp, EchoWithProtocol) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(echoes(), "127.0.0.1", 0);
        const auto port = srv->sockets().at(0).port;
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        // connection_made ran before create_connection returned.
        EXPECT_EQ(p->events, std::vector<std::string>{"made"});
        EXPECT_EQ(p->tr, t);
        t->write("hello ");
        const std::string big(300000, 'x');
        t->write(big);
        co_await until([&] { return p->received.size() == 6 + big.size(); });
        EXPECT_EQ(p->received, "hello " + big);

        auto peer = t->get_extra_info<socket_address>("peername");
        CO_ASSERT_TRUE(peer);
        EXPECT_EQ(*peer, socket_address::inet("127.0.0.1", port));
        auto me = t->get_extra_info<socket_address>("sockname");
        CO_ASSERT_TRUE(me);
        EXPECT_EQ(me->host, "127.0.0.1");
        EXPECT_NE(me->port, 0);
        EXPECT_TRUE(t->get_extra_info<int>("socket"));
        EXPECT_FALSE(t->get_extra_info<int>("pipe"));
        EXPECT_TRUE(t->can_write_eof());
        EXPECT_TRUE(t->is_reading());

        t->close();
        EXPECT_TRUE(t->is_closing());
        co_await until([&] { return p->lost; });
        EXPECT_FALSE(p->error);
        // The transport let its protocol go once connection_lost was delivered.
        EXPECT_EQ(t->get_protocol(), nullptr);
        co_await until([&] { return accepted.at(0)->lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, EchoWithBufferedProtocol) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(buffered_echoes(), "127.0.0.1", 0);
        const auto port = srv->sockets().at(0).port;
        auto tp_ =
            co_await loop().create_connection([] { return std::make_shared<buffered_probe>(); }, "127.0.0.1", port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        std::string msg;
        for (int i = 0; i < 20000; ++i) msg += std::to_string(i) + ",";
        t->write(msg);
        co_await until([&] { return p->received.size() == msg.size(); });
        EXPECT_EQ(p->received, msg);
        EXPECT_GT(p->get_buffer_calls, 1u);
        t->close();
        co_await until([&] { return p->lost; });
        EXPECT_FALSE(p->error);
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, HundredConcurrentClients) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(echoes(), "127.0.0.1", 0);
        const auto port = srv->sockets().at(0).port;
        auto one = [&](int i) -> coro<void> {
            auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", port);
            [[maybe_unused]] auto& t = tp_.first;
            [[maybe_unused]] auto& p = tp_.second;
            const std::string msg = "client " + std::to_string(i) + std::string(1000 + i, '.');
            t->write(msg);
            co_await until([&] { return p->received.size() >= msg.size(); });
            EXPECT_EQ(p->received, msg);
            t->close();
            co_await until([&] { return p->lost; });
        };
        std::vector<task<void>> tasks;
        for (int i = 0; i < 100; ++i) tasks.push_back(loop().create_task(one(i)));
        for (auto& t : tasks) co_await t;
        EXPECT_EQ(accepted.size(), 100u);
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, FlowControlPausesThenResumesOnce) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes([](probe& p) { p.pause_on_made = true; }), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        auto& peer = *accepted[0];
        EXPECT_FALSE(peer.tr->is_reading());
        const std::size_t total = 8u << 20;
        const std::string chunk(64 * 1024, 'z');
        for (std::size_t n = 0; n < total; n += chunk.size()) t->write(chunk);
        // The peer does not read: most of 8 MiB waits in the buffer, above the high mark.
        EXPECT_GT(t->get_write_buffer_size(), 64u * 1024);
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "pause"}));
        peer.tr->resume_reading();
        co_await until([&] { return peer.received.size() == total; });
        co_await until([&] { return t->get_write_buffer_size() == 0 && p->has("resume"); });
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "pause", "resume"}));
        t->close();
        co_await until([&] { return p->lost && peer.lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, WriteBufferLimits) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        using limits = std::pair<std::size_t, std::size_t>;
        EXPECT_EQ(t->get_write_buffer_limits(), (limits{16 * 1024, 64 * 1024}));
        t->set_write_buffer_limits(100);
        EXPECT_EQ(t->get_write_buffer_limits(), (limits{25, 100}));
        t->set_write_buffer_limits(std::nullopt, 10);
        EXPECT_EQ(t->get_write_buffer_limits(), (limits{10, 40}));
        t->set_write_buffer_limits(0, 0);
        EXPECT_EQ(t->get_write_buffer_limits(), (limits{0, 0}));
        EXPECT_THROW(t->set_write_buffer_limits(10, 20), std::invalid_argument);
        EXPECT_EQ(t->get_write_buffer_limits(), (limits{0, 0}));  // unchanged
        t->set_write_buffer_limits();
        EXPECT_EQ(t->get_write_buffer_limits(), (limits{16 * 1024, 64 * 1024}));
        EXPECT_EQ(t->get_write_buffer_size(), 0u);
        t->close();
        co_await until([&] { return p->lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, WriteAfterCloseIsIgnored) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        t->write("before");
        t->close();
        EXPECT_NO_THROW(t->write("after close"));
        EXPECT_EQ(t->get_write_buffer_size(), 0u);
        co_await until([&] { return p->lost; });
        EXPECT_NO_THROW(t->write("after connection_lost"));
        co_await until([&] { return accepted.size() == 1 && accepted[0]->lost; });
        EXPECT_EQ(accepted[0]->received, "before");
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, WriteAfterWriteEofRaises) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        t->write_eof();
        EXPECT_THROW(t->write("x"), std::runtime_error);
        t->write_eof();  // twice: a no-op
        t->close();
        co_await until([&] { return p->lost; });
        co_await until([&] { return accepted.size() == 1 && accepted[0]->lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, HalfCloseKeptOpenByThePeer) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes([](probe& p) { p.keep_open = true; }), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        t->write("ping");
        t->write_eof();
        co_await until([&] { return accepted.size() == 1 && accepted[0]->has("eof"); });
        auto& peer = *accepted[0];
        EXPECT_EQ(peer.received, "ping");
        // eof_received returned true: the peer can still answer.
        EXPECT_FALSE(peer.tr->is_closing());
        peer.tr->write("pong");
        peer.tr->close();
        co_await until([&] { return p->lost && peer.lost; });
        EXPECT_EQ(p->received, "pong");
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "eof", "lost"}));
        EXPECT_FALSE(p->error);
        EXPECT_FALSE(peer.error);
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, HalfCloseRefusedByThePeerClosesIt) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);  // eof_received -> false
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        t->write("ping");
        t->write_eof();
        co_await until([&] { return accepted.size() == 1 && accepted[0]->lost; });
        auto& peer = *accepted[0];
        EXPECT_EQ(peer.events, (std::vector<std::string>{"made", "eof", "lost"}));
        EXPECT_FALSE(peer.error);
        co_await until([&] { return p->lost; });
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "eof", "lost"}));
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, CloseFlushesThenConnectionLost) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes([](probe& p) { p.pause_on_made = true; }), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        auto& peer = *accepted[0];
        const std::string data(16u << 20, 'c');  // more than the kernel's buffers take
        t->write(data);
        CO_ASSERT_TRUE(t->get_write_buffer_size() > 0u);
        t->close();
        EXPECT_TRUE(t->is_closing());
        EXPECT_FALSE(p->lost);  // never inside close()
        co_await duet::sleep(0.02);
        EXPECT_FALSE(p->lost);  // still flushing
        peer.tr->resume_reading();
        co_await until([&] { return peer.lost; });
        EXPECT_EQ(peer.received.size(), data.size());
        EXPECT_TRUE(peer.has("eof"));
        co_await until([&] { return p->lost; });
        EXPECT_FALSE(p->error);
        EXPECT_EQ(t->get_write_buffer_size(), 0u);
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, AbortDropsTheBuffer) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes([](probe& p) { p.pause_on_made = true; }), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        auto& peer = *accepted[0];
        const std::string data(4u << 20, 'a');
        t->write(data);
        const std::size_t unsent = t->get_write_buffer_size();
        CO_ASSERT_TRUE(unsent > 0u);
        t->abort();
        EXPECT_TRUE(t->is_closing());
        EXPECT_EQ(t->get_write_buffer_size(), 0u);
        EXPECT_FALSE(p->lost);  // delivered in a later iteration
        co_await until([&] { return p->lost; });
        EXPECT_FALSE(p->error);
        peer.tr->resume_reading();
        co_await until([&] { return peer.lost; });
        EXPECT_LE(peer.received.size(), data.size() - unsent);
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, PeerResetArrivesAsConnectionLost) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        const auto port = srv->sockets().at(0).port;
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        auto& peer = *accepted[0];
        auto fd = peer.tr->get_extra_info<int>("socket");
        CO_ASSERT_TRUE(fd);
        linger l{1, 0};  // close sends RST
        CO_ASSERT_TRUE(::setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
        peer.tr->abort();
        co_await until([&] { return p->lost; });
        CO_ASSERT_TRUE(p->error);
        EXPECT_EQ(code_of(p->error), std::errc::connection_reset) << what_of(p->error);
        EXPECT_TRUE(contains(what_of(p->error), "127.0.0.1:" + std::to_string(port))) << what_of(p->error);
        EXPECT_TRUE(t->is_closing());
        co_await until([&] { return peer.lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, ProtocolExceptionGoesToTheHandlerAndClosesTheTransport) {
    check_errors = false;
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(
            probes([](probe& p) { p.on_data = [](probe&) { throw std::runtime_error("boom"); }; }), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        t->write("x");
        co_await until([&] { return accepted.size() == 1 && accepted[0]->lost; });
        // asyncio's _fatal_error: the handler, then connection_lost with the exception.
        EXPECT_EQ(what_of(accepted[0]->error), "boom");
        co_await until([&] { return p->lost; });
        CO_ASSERT_TRUE(errors.size() == 1u);
        EXPECT_TRUE(contains(errors[0], "Fatal error: protocol.data_received() call failed.")) << errors[0];
        EXPECT_TRUE(contains(errors[0], "boom")) << errors[0];
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, PauseAndResumeReading) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(echoes(), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        t->pause_reading();
        EXPECT_FALSE(t->is_reading());
        t->pause_reading();  // twice: no-op
        t->write("held back");
        co_await duet::sleep(0.05);
        EXPECT_EQ(p->received, "");
        t->resume_reading();
        EXPECT_TRUE(t->is_reading());
        co_await until([&] { return p->received == "held back"; });
        t->close();
        EXPECT_FALSE(t->is_reading());
        co_await until([&] { return p->lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(StreamTcp, ConnectionRefusedNamesTheAddress) {
    run([&]() -> coro<void> {
        const auto port = free_port();
        try {
            co_await loop().create_connection(client(), "127.0.0.1", port);
            ADD_FAILURE() << "connected to a port nobody listens on";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
            EXPECT_TRUE(contains(e.what(), "127.0.0.1:" + std::to_string(port))) << e.what();
        }
    }());
}

TEST_F(StreamTcp, ConnectByNameAndFromALocalAddress) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        const auto port = srv->sockets().at(0).port;
        const auto local_port = free_port();
        connection_options opts;
        opts.local_addr = host_port{"127.0.0.1", local_port};
        auto tp_ = co_await loop().create_connection(client(), "localhost", port, opts);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        EXPECT_EQ(t->get_extra_info<socket_address>("sockname"), socket_address::inet("127.0.0.1", local_port));
        co_await until([&] { return accepted.size() == 1; });
        EXPECT_EQ(accepted[0]->tr->get_extra_info<socket_address>("peername"),
                  socket_address::inet("127.0.0.1", local_port));
        t->close();
        co_await until([&] { return p->lost && accepted[0]->lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

}  // namespace
}  // namespace duet::nettest
