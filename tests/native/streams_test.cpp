// Streams over real sockets and pipes on the uv loop: open_connection / start_server and
// the Unix variants, drain and flow control, the client_connected_cb's task, reads paused
// over 2 x limit. Every test runs under a time limit (a bug fails instead of hanging) and
// checks that no fd is left open once its loop is closed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>
#include <duet/event_loop.hpp>

#include "fd_count.hpp"

namespace duet {
namespace {

int count_open_fds() {
    return nettest::count_fds();
}

// Each test gets a fresh uv loop and a temporary directory; after the test the loop is
// closed and the process must have exactly the fds it had before.
class Streams : public ::testing::Test {
protected:
    // libuv opens process-wide fds with its first loop (the signal pipe): count after it.
    static void SetUpTestSuite() {
        event_loop warm_up;
        warm_up.close();
    }
    void SetUp() override {
        fds_before_ = count_open_fds();
        char tmpl[] = "/tmp/duet-streams-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        loop_ = std::make_unique<event_loop>();
        loop_->set_exception_handler([this](abstract_event_loop&, const exception_context& c) {
            std::string what;
            try {
                if (c.exception) std::rethrow_exception(c.exception);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
                what = "?";
            }
            handler_calls_.push_back({c.message, what});
        });
    }
    void TearDown() override {
        if (loop_) {
            loop_->close();
            loop_.reset();
        }
        // What the tests bound there is gone with their servers; remove the rest.
        std::string cmd = "rm -rf '" + dir_ + "'";
        EXPECT_EQ(std::system(cmd.c_str()), 0);
        EXPECT_EQ(count_open_fds(), fds_before_) << "an fd leaked";
    }

    // Runs c on the test's loop with a time limit.
    template <class T>
    T run(coro<T> c, double limit = 20) {
        return loop_->run_until_complete(wait_for(std::move(c), limit));
    }
    abstract_event_loop& loop() { return *loop_; }
    std::string path(const std::string& name) const { return dir_ + "/" + name; }

    struct handler_call {
        std::string message;
        std::string what;
    };
    std::vector<handler_call> handler_calls_;

private:
    int fds_before_ = 0;
    std::string dir_;
    std::unique_ptr<event_loop> loop_;
};

// Echoes lines until EOF, then closes.
coro<void> echo_lines(stream_reader r, stream_writer w) {
    for (;;) {
        std::string line = co_await r.readline();
        if (line.empty()) break;
        w.write(line);
        co_await w.drain();
    }
    w.close();
    co_await w.wait_closed();
}

std::uint16_t port_of(const std::shared_ptr<server>& s) {
    auto socks = s->sockets();
    return socks.empty() ? 0 : socks.front().port;
}

bool is_reset_or_broken_pipe(const std::system_error& e) {
    return e.code() == std::errc::connection_reset || e.code() == std::errc::broken_pipe;
}

TEST_F(Streams, EchoOverTcp) {
    run([&]() -> coro<void> {
        auto srv = co_await start_server(echo_lines, "127.0.0.1", 0);
        EXPECT_TRUE(srv->is_serving());
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        auto peer = w.get_extra_info<socket_address>("peername");
        EXPECT_TRUE(peer.has_value() && peer->port == port_of(srv));
        w.write("hello\n");
        w.writelines({"wor", "ld\n"});
        co_await w.drain();
        EXPECT_EQ(co_await r.readline(), "hello\n");
        EXPECT_EQ(co_await r.readline(), "world\n");
        w.write_eof();  // the server sees EOF, ends its loop and closes
        EXPECT_EQ(co_await r.read(), "");
        EXPECT_TRUE(r.at_eof());
        w.close();
        co_await w.wait_closed();
        EXPECT_TRUE(w.is_closing());
        srv->close();
        co_await srv->wait_closed();
    }());
    EXPECT_TRUE(handler_calls_.empty());
}

context_var<std::string> conn_var("conn_var");

// asyncio's contexts for a server: its connections run in a copy of the context current
// at start_server (the handler's task sees the starter's values) and what a handler sets
// stays in its connection; the client side's protocol runs in its opener's context.
TEST_F(Streams, ConnectionsRunInACopyOfTheStartersContext) {
    std::vector<std::string> seen;
    auto handler = [&](stream_reader r, stream_writer w) -> coro<void> {
        seen.push_back(conn_var.get("none"));
        conn_var.set("set by a handler");
        std::string line = co_await r.readline();
        w.write(line);
        co_await w.drain();
        w.close();
        co_await w.wait_closed();
    };
    run([&]() -> coro<void> {
        conn_var.set("starter");
        auto srv = co_await start_server(handler, "127.0.0.1", 0);
        conn_var.set("changed after start");  // the server keeps its copy
        for (int i = 0; i < 2; ++i) {
            auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
            w.write("x\n");
            co_await w.drain();
            EXPECT_EQ(co_await r.readline(), "x\n");
            w.close();
            co_await w.wait_closed();
        }
        EXPECT_EQ(conn_var.get("none"), "changed after start");
        srv->close();
        co_await srv->wait_closed();
    }());
    EXPECT_EQ(seen, (std::vector<std::string>{"starter", "starter"}));
    EXPECT_EQ(conn_var.get("none"), "none") << "nothing leaked into the thread's context";
    EXPECT_TRUE(handler_calls_.empty());
}

// A handler keeping its connection's writer (in something its callable captures) makes
// no cycle that outlives the connection: each connection lets the callable go once its
// task has ended (or at once, for a plain function). asyncio's GC would collect it.
TEST_F(Streams, AHandlerKeepingItsWriterLeaksNothing) {
    std::weak_ptr<std::vector<stream_writer>> watch_plain, watch_coro;
    run([&]() -> coro<void> {
        auto kept_plain = std::make_shared<std::vector<stream_writer>>();
        auto kept_coro = std::make_shared<std::vector<stream_writer>>();
        watch_plain = kept_plain;
        watch_coro = kept_coro;
        std::function<void(stream_reader, stream_writer)> plain = [kept_plain](stream_reader, stream_writer w) {
            kept_plain->push_back(std::move(w));
        };
        auto with_task = [kept_coro](stream_reader, stream_writer w) -> coro<void> {
            kept_coro->push_back(w);
            co_return;
        };
        auto srv1 = co_await start_server(plain, "127.0.0.1", 0);
        auto srv2 = co_await start_server(with_task, "127.0.0.1", 0);
        for (auto* srv : {&srv1, &srv2}) {
            auto [r, w] = co_await open_connection("127.0.0.1", port_of(*srv));
            co_await sleep(0.01);
            w.close();
            co_await w.wait_closed();
        }
        EXPECT_EQ(kept_plain->size(), 1u);
        EXPECT_EQ(kept_coro->size(), 1u);
        // The server ends are closed, but still kept by what the callables captured.
        for (auto& w : *kept_plain) w.close();
        for (auto& w : *kept_coro) w.close();
        for (auto* srv : {&srv1, &srv2}) {
            (*srv)->close();
            co_await (*srv)->wait_closed();
        }
    }());
    EXPECT_TRUE(watch_plain.expired()) << "the plain handler's captures outlived everything";
    EXPECT_TRUE(watch_coro.expired()) << "the coroutine handler's captures outlived everything";
}

TEST_F(Streams, EchoOverUnixSockets) {
    const std::string sock = path("echo.sock");
    run([&]() -> coro<void> {
        auto srv = co_await start_unix_server(echo_lines, sock);
        auto [r, w] = co_await open_unix_connection(sock);
        EXPECT_TRUE(w.can_write_eof());
        w.write("over unix\n");
        EXPECT_EQ(co_await r.readline(), "over unix\n");
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
    EXPECT_TRUE(handler_calls_.empty());
}

TEST_F(Streams, ExplicitLoopOverloads) {
    abstract_event_loop& l = loop();
    run([&]() -> coro<void> {
        auto srv = co_await start_server(l, echo_lines, "127.0.0.1", 0, 1024);
        auto [r, w] = co_await open_connection(l, "127.0.0.1", port_of(srv), 1024);
        EXPECT_EQ(r.limit(), 1024u);
        EXPECT_EQ(&w.get_loop(), &l);
        w.write("x\n");
        EXPECT_EQ(co_await r.readline(), "x\n");
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(Streams, HundredConcurrentClients) {
    run([&]() -> coro<void> {
        auto srv = co_await start_server(echo_lines, "127.0.0.1", 0);
        const std::uint16_t port = port_of(srv);
        auto client = [port](int i) -> coro<std::string> {
            auto [r, w] = co_await open_connection("127.0.0.1", port);
            std::string msg = "client " + std::to_string(i) + "\n";
            for (int k = 0; k < 3; ++k) {
                w.write(msg);
                co_await w.drain();
                if (co_await r.readline() != msg) co_return "bad echo for " + msg;
            }
            w.close();
            co_await w.wait_closed();
            co_return msg;
        };
        std::vector<task<std::string>> clients;
        for (int i = 0; i < 100; ++i) clients.push_back(create_task(client(i)));
        for (int i = 0; i < 100; ++i) EXPECT_EQ(co_await clients[i], "client " + std::to_string(i) + "\n");
        srv->close();
        co_await srv->wait_closed();
    }());
    EXPECT_TRUE(handler_calls_.empty());
}

// Writes 64 KiB chunks until the transport pauses the writer (the peer is not reading).
coro<std::size_t> write_until_paused(stream_writer w) {
    const std::string chunk(64 * 1024, 'x');
    std::size_t written = 0;
    while (!w.protocol()->is_writing_paused()) {
        if (written > 256u * 1024 * 1024) throw std::runtime_error("the writer never paused");
        w.write(chunk);
        written += chunk.size();
        co_await sleep(0);
    }
    co_return written;
}

TEST_F(Streams, TenConcurrentDrainsAllResume) {
    event go;
    std::size_t received = 0;
    auto slow_reader = [&go, &received](stream_reader r, stream_writer w) -> coro<void> {
        co_await go.wait();
        for (;;) {
            std::string s = co_await r.read(1 << 20);
            if (s.empty()) break;
            received += s.size();
        }
        w.close();
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(slow_reader, "127.0.0.1", 0);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        std::size_t written = co_await write_until_paused(w);
        EXPECT_GT(w.transport()->get_write_buffer_size(), w.transport()->get_write_buffer_limits().second);
        int resumed = 0;
        std::vector<task<void>> drains;
        for (int i = 0; i < 10; ++i)
            drains.push_back(create_task([](stream_writer wr, int& n) -> coro<void> {
                co_await wr.drain();
                ++n;
            }(w, resumed)));
        co_await sleep(0.05);
        EXPECT_EQ(resumed, 0);  // all ten wait while the peer does not read
        go.set();
        for (auto& d : drains) co_await d;
        EXPECT_EQ(resumed, 10);
        EXPECT_FALSE(w.protocol()->is_writing_paused());
        w.write_eof();
        EXPECT_EQ(co_await r.read(), "");  // the server read everything, then closed
        EXPECT_EQ(received, written);
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
    EXPECT_TRUE(handler_calls_.empty());
}

TEST_F(Streams, DrainAgainstAClosedPeerRaisesInsteadOfLooping) {
    // The server closes at once without reading: the client's writes end in a reset or a
    // broken pipe, which drain must raise.
    auto closer = [](stream_reader, stream_writer w) -> coro<void> {
        w.transport()->abort();
        co_return;
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(closer, "127.0.0.1", 0);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        const std::string chunk(64 * 1024, 'y');
        bool raised = false;
        for (int i = 0; i < 10000 && !raised; ++i) {
            try {
                w.write(chunk);
                co_await w.drain();
            } catch (const std::system_error& e) {
                raised = true;
                EXPECT_TRUE(is_reset_or_broken_pipe(e)) << e.what();
            }
        }
        EXPECT_TRUE(raised);
        // Once lost, every drain raises at once.
        EXPECT_THROW(co_await w.drain(), std::system_error);
        EXPECT_TRUE(w.is_closing());
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(Streams, WriteAfterCloseIsIgnoredAndDrainRaisesConnectionLost) {
    run([&]() -> coro<void> {
        auto srv = co_await start_server(echo_lines, "127.0.0.1", 0);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        w.close();
        EXPECT_TRUE(w.is_closing());
        w.write("ignored\n");  // no error, as asyncio
        try {
            co_await w.drain();
            ADD_FAILURE() << "drain after close did not raise";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_reset);
            EXPECT_NE(std::string(e.what()).find("Connection lost"), std::string::npos) << e.what();
        }
        co_await w.wait_closed();
        w.write("still ignored\n");
        EXPECT_THROW(co_await w.drain(), std::system_error);
        EXPECT_EQ(co_await r.read(), "");  // the reader got EOF
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(Streams, WaitClosed) {
    std::string server_saw = "nothing";
    event server_done;
    auto cb = [&](stream_reader r, stream_writer w) -> coro<void> {
        server_saw = co_await r.read();  // to EOF
        w.close();
        co_await w.wait_closed();
        server_done.set();
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(cb, "127.0.0.1", 0);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        w.write("last words");
        // Several waiters, and one after the close.
        auto w1 = create_task(w.wait_closed());
        auto w2 = create_task(w.wait_closed());
        co_await sleep(0);
        EXPECT_FALSE(w1.done());
        w.close();
        co_await w1;
        co_await w2;
        co_await w.wait_closed();
        EXPECT_TRUE(w.protocol()->is_connection_lost());
        co_await server_done.wait();
        EXPECT_EQ(server_saw, "last words");
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(Streams, AWriterDestroyedWithoutCloseClosesTheConnection) {
    std::string server_saw = "nothing";
    event server_done;
    auto cb = [&](stream_reader r, stream_writer) -> coro<void> {
        server_saw = co_await r.read();
        server_done.set();
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(cb, "127.0.0.1", 0);
        std::shared_ptr<transport> t;
        {
            auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
            t = w.transport();
            w.write("forgotten");
        }  // the last writer handle goes: the transport closes (after sending)
        EXPECT_TRUE(t->is_closing());
        co_await server_done.wait();
        EXPECT_EQ(server_saw, "forgotten");
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(Streams, EveryWriterClosesWhenItsOwnLastHandleGoes) {
    std::string server_saw;
    event server_done;
    auto cb = [&](stream_reader r, stream_writer) -> coro<void> {
        server_saw = co_await r.read();
        server_done.set();
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(cb, "127.0.0.1", 0);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        {
            stream_writer copy = w;  // the same writer: its going closes nothing
            EXPECT_TRUE(copy == w);
        }
        EXPECT_FALSE(w.is_closing());
        {
            // A second writer on the same connection (as asyncio allows): its own handles.
            stream_writer second(w.transport(), w.protocol(), r, w.get_loop());
            EXPECT_FALSE(second == w);
            EXPECT_EQ(second.transport(), w.transport());
            EXPECT_EQ(second.protocol(), w.protocol());
            stream_writer again = second;
            second = stream_writer();
            EXPECT_FALSE(w.is_closing());
            again.write("from the second");
        }  // its last handle goes: the transport closes (after sending)
        EXPECT_TRUE(w.is_closing());
        co_await server_done.wait();
        EXPECT_EQ(server_saw, "from the second");
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(Streams, HalfCloseKeepsTheOtherDirectionOpen) {
    auto cb = [](stream_reader r, stream_writer w) -> coro<void> {
        std::string all = co_await r.read();  // the client's EOF
        EXPECT_TRUE(r.at_eof());
        w.write("got " + std::to_string(all.size()) + " bytes");  // our side is still open
        co_await w.drain();
        w.close();
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(cb, "127.0.0.1", 0);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        w.write("12345");
        w.write_eof();
        EXPECT_EQ(co_await r.read(), "got 5 bytes");
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(Streams, CallbackRaisingGoesToTheHandlerAndClosesTheConnection) {
    auto cb = [](stream_reader r, stream_writer w) -> coro<void> {
        std::string line = co_await r.readline();
        w.write("before the error\n");
        throw std::runtime_error("callback failed on " + line);
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(cb, "127.0.0.1", 0);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        w.write("x\n");
        EXPECT_EQ(co_await r.readline(), "before the error\n");
        EXPECT_EQ(co_await r.read(), "");  // closed by the server
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
    ASSERT_EQ(handler_calls_.size(), 1u);
    EXPECT_EQ(handler_calls_[0].message, "Unhandled exception in client_connected_cb");
    EXPECT_EQ(handler_calls_[0].what, "callback failed on x\n");
}

TEST_F(Streams, CallbackCancellingItselfLogsNothing) {
    // The callback keeps its writer (so only the cancellation can close the connection).
    std::vector<stream_writer> kept;
    auto cb = [&kept](stream_reader, stream_writer w) -> coro<void> {
        kept.push_back(w);
        current_task()->cancel();
        co_await sleep(10);
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(cb, "127.0.0.1", 0);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        EXPECT_EQ(co_await r.read(), "");  // the cancelled callback's connection is closed
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
    EXPECT_EQ(kept.size(), 1u);
    EXPECT_TRUE(handler_calls_.empty());
    kept.clear();
}

TEST_F(Streams, ReadsPausedOverTwiceTheLimitAndResumedAtTheLimit) {
    constexpr std::size_t limit = 1024;
    stream_reader server_reader;
    stream_writer server_writer;
    event connected;
    event done;
    auto cb = [&](stream_reader r, stream_writer w) -> coro<void> {
        server_reader = r;
        server_writer = w;
        connected.set();
        co_await done.wait();
    };
    run([&]() -> coro<void> {
        auto srv = co_await start_server(cb, "127.0.0.1", 0, limit);
        auto [r, w] = co_await open_connection("127.0.0.1", port_of(srv));
        const std::string payload(64 * 1024, 'p');
        w.write(payload);
        co_await connected.wait();
        auto t = server_writer.transport();
        // Wait until more than 2 x limit is buffered: reading is then paused.
        while (server_reader.buffered() <= 2 * limit) co_await sleep(0.001);
        EXPECT_FALSE(t->is_reading());
        // Nothing more arrives while paused.
        std::size_t held = server_reader.buffered();
        co_await sleep(0.05);
        EXPECT_EQ(server_reader.buffered(), held);
        // Reading down to the limit resumes it.
        std::string got = co_await server_reader.readexactly(static_cast<std::ptrdiff_t>(held - limit - 1));
        EXPECT_FALSE(t->is_reading());  // limit + 1 left: still paused
        got += co_await server_reader.readexactly(1);
        EXPECT_TRUE(t->is_reading());
        // The rest arrives; a read needing more than is buffered resumes by itself.
        got += co_await server_reader.readexactly(static_cast<std::ptrdiff_t>(payload.size() - got.size()));
        EXPECT_EQ(got, payload);
        done.set();
        server_reader = {};
        server_writer = {};
        w.close();
        co_await w.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    }());
}

TEST_F(Streams, OverPipes) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    // Each end belongs to its transport once connected; until then, to the test.
    struct owned_fds {
        int* fds;
        ~owned_fds() {
            for (int i = 0; i < 2; ++i)
                if (fds[i] >= 0) ::close(fds[i]);
        }
    } guard{fds};
    run([&]() -> coro<void> {
        abstract_event_loop& l = loop();
        stream_reader r(l);
        // Named first: g++ 12 miscompiles a capturing lambda temporary inside co_await.
        auto read_factory = [r] { return std::make_shared<stream_reader_protocol>(r); };
        auto [rt, rp] = co_await l.connect_read_pipe(read_factory, fds[0]);
        fds[0] = -1;
        auto [wt, wp] =
            co_await l.connect_write_pipe([] { return std::make_shared<stream_reader_protocol>(); }, fds[1]);
        fds[1] = -1;
        stream_writer w(wt, wp, {}, l);
        w.write("line 1\nline 2\n");
        co_await w.drain();
        EXPECT_EQ(co_await r.readline(), "line 1\n");
        EXPECT_EQ(co_await r.readexactly(7), "line 2\n");
        // A big write through the pipe, drained and read back whole.
        const std::string big(1 << 20, 'b');
        auto reading = create_task(r.readexactly(static_cast<std::ptrdiff_t>(big.size())));
        w.write(big);
        co_await w.drain();
        EXPECT_EQ(co_await reading, big);
        w.close();
        co_await w.wait_closed();
        EXPECT_EQ(co_await r.read(), "");  // the write end closed: EOF
        EXPECT_TRUE(r.at_eof());
        rt->close();
        co_await rp->wait_closed();
    }());
    EXPECT_TRUE(handler_calls_.empty());
}

TEST_F(Streams, CallbackKinds) {
    // A plain function (nothing to run: its writer, dropped, closes the connection) and a
    // coroutine with a result (dropped).
    auto plain = [](stream_reader, stream_writer w) { w.write("from a plain function"); };
    auto with_result = [](stream_reader r, stream_writer w) -> coro<int> {
        std::string s = co_await r.readline();
        w.write("echo " + s);
        co_await w.drain();
        co_return 42;
    };
    run([&]() -> coro<void> {
        auto s1 = co_await start_server(plain, "127.0.0.1", 0);
        auto s2 = co_await start_server(with_result, "127.0.0.1", 0);
        auto [r1, w1] = co_await open_connection("127.0.0.1", port_of(s1));
        EXPECT_EQ(co_await r1.read(), "from a plain function");
        auto [r2, w2] = co_await open_connection("127.0.0.1", port_of(s2));
        w2.write("x\n");
        EXPECT_EQ(co_await r2.read(), "echo x\n");  // then the callback's writer goes: EOF
        for (auto* w : {&w1, &w2}) {
            w->close();
            co_await w->wait_closed();
        }
        for (auto* s : {&s1, &s2}) {
            (*s)->close();
            co_await (*s)->wait_closed();
        }
    }());
    EXPECT_TRUE(handler_calls_.empty());
}

TEST_F(Streams, OpenConnectionRefused) {
    run([&]() -> coro<void> {
        // A port nobody listens on: bind a server, note its port, close it.
        auto srv = co_await start_server(echo_lines, "127.0.0.1", 0);
        const std::uint16_t port = port_of(srv);
        srv->close();
        co_await srv->wait_closed();
        try {
            co_await open_connection("127.0.0.1", port);
            ADD_FAILURE() << "connected";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
        }
    }());
}

}  // namespace
}  // namespace duet
