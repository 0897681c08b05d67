// Unix-domain sockets (in a temporary directory, and in Linux's abstract namespace) and
// pipes (connect_read_pipe / connect_write_pipe) on the uv loop.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "net_test_util.hpp"

namespace duet::nettest {
namespace {

using UnixSocket = net_test_in_dir;

TEST_F(UnixSocket, EchoWithProtocolAndBufferedProtocol) {
    run([&]() -> coro<void> {
        const std::string sock = path("echo.sock");
        auto srv = co_await loop().create_unix_server(echoes(), sock);
        EXPECT_EQ(srv->sockets(), std::vector<socket_address>{socket_address::unix_path(sock)});
        EXPECT_TRUE(std::filesystem::exists(sock));
        auto tp_ = co_await loop().create_unix_connection(client(), sock);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        EXPECT_EQ(t->get_extra_info<socket_address>("peername"), socket_address::unix_path(sock));
        EXPECT_TRUE(t->can_write_eof());
        const std::string msg(200000, 'u');
        t->write(msg);
        co_await until([&] { return p->received.size() == msg.size(); });
        EXPECT_EQ(p->received, msg);

        auto btbp_ = co_await loop().create_unix_connection([] { return std::make_shared<buffered_probe>(); }, sock);
        [[maybe_unused]] auto& bt = btbp_.first;
        [[maybe_unused]] auto& bp = btbp_.second;
        bt->write("zero-copy");
        co_await until([&] { return bp->received == "zero-copy"; });

        t->close();
        bt->close();
        co_await until([&] { return p->lost && bp->lost; });
        srv->close();
        co_await srv->wait_closed();
        // The server removed its socket file (3.13's cleanup_socket).
        EXPECT_FALSE(std::filesystem::exists(sock));
    }());
}

TEST_F(UnixSocket, ExistingPathIsAddressInUse) {
    const std::string file = path("taken");
    std::ofstream(file) << "not a socket";
    run([&]() -> coro<void> {
        try {
            auto srv = co_await loop().create_unix_server(probes(), file);
            ADD_FAILURE() << "listened on an existing file";
            srv->close();
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::address_in_use) << e.what();
            EXPECT_TRUE(contains(e.what(), file)) << e.what();
        }
    }());
    EXPECT_TRUE(std::filesystem::exists(file));  // not deleted
}

TEST_F(UnixSocket, ConnectingToNothingNamesThePath) {
    run([&]() -> coro<void> {
        const std::string missing = path("nobody");
        try {
            co_await loop().create_unix_connection(client(), missing);
            ADD_FAILURE() << "connected to nothing";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory) << e.what();
            EXPECT_TRUE(contains(e.what(), missing)) << e.what();
        }
    }());
}

TEST_F(UnixSocket, AbstractName) {
    run([&]() -> coro<void> {
        std::string name("\0duet-test-", 11);
        name += std::to_string(::getpid());
        auto srv = co_await loop().create_unix_server(echoes(), name);
        EXPECT_EQ(srv->sockets().at(0).path, name);
        EXPECT_EQ(srv->sockets().at(0).to_string(), "@duet-test-" + std::to_string(::getpid()));
        auto tp_ = co_await loop().create_unix_connection(client(), name);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        EXPECT_EQ(t->get_extra_info<socket_address>("peername"), socket_address::unix_path(name));
        t->write("abstract");
        co_await until([&] { return p->received == "abstract"; });
        t->close();
        co_await until([&] { return p->lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

struct test_pipe {
    int r = -1, w = -1;
    test_pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
        r = fds[0];
        w = fds[1];
    }
};

using Pipes = net_test;

TEST_F(Pipes, ReadPipeAndWritePipe) {
    test_pipe fds;
    run([&]() -> coro<void> {
        auto rtrp_ = co_await loop().connect_read_pipe(client(), fds.r);
        [[maybe_unused]] auto& rt = rtrp_.first;
        [[maybe_unused]] auto& rp = rtrp_.second;
        auto wtwp_ = co_await loop().connect_write_pipe(client(), fds.w);
        [[maybe_unused]] auto& wt = wtwp_.first;
        [[maybe_unused]] auto& wp = wtwp_.second;
        EXPECT_EQ(rt->get_extra_info<int>("pipe"), fds.r);
        EXPECT_EQ(wt->get_extra_info<int>("pipe"), fds.w);
        EXPECT_FALSE(rt->can_write_eof());
        EXPECT_TRUE(wt->can_write_eof());  // asyncio's write pipe: write_eof closes it
        EXPECT_TRUE(rt->is_reading());
        EXPECT_FALSE(wt->is_reading());
        // A read pipe cannot write, a write pipe cannot read: logic errors naming the pipe.
        try {
            rt->write("x");
            ADD_FAILURE() << "wrote to a read pipe";
        } catch (const std::logic_error& e) {
            EXPECT_TRUE(contains(e.what(), "pipe " + std::to_string(fds.r))) << e.what();
        }
        EXPECT_THROW(rt->write_eof(), std::logic_error);
        EXPECT_THROW(wt->pause_reading(), std::logic_error);
        EXPECT_THROW(wt->resume_reading(), std::logic_error);

        const std::string data(300000, 'p');  // more than a pipe holds: some is buffered
        wt->write("hello ");
        wt->write(data);
        wt->write_eof();  // flushes, then closes the pipe
        EXPECT_TRUE(wt->is_closing());
        co_await until([&] { return rp->lost && wp->lost; });
        EXPECT_EQ(rp->received, "hello " + data);
        EXPECT_EQ(rp->events, (std::vector<std::string>{"made", "eof", "lost"}));
        EXPECT_FALSE(rp->error);
        EXPECT_FALSE(wp->error);
        EXPECT_TRUE(rt->is_closing());
    }());
    // The transports closed both fds.
    EXPECT_EQ(::fcntl(fds.r, F_GETFD), -1);
    EXPECT_EQ(::fcntl(fds.w, F_GETFD), -1);
}

TEST_F(Pipes, WritePipeNoticesItsReaderClosing) {
    test_pipe fds;
    run([&]() -> coro<void> {
        auto wtwp_ = co_await loop().connect_write_pipe(client(), fds.w);
        [[maybe_unused]] auto& wt = wtwp_.first;
        [[maybe_unused]] auto& wp = wtwp_.second;
        ::close(fds.r);  // nothing pending: a plain close
        co_await until([&] { return wp->lost; });
        EXPECT_FALSE(wp->error);
        EXPECT_TRUE(wt->is_closing());
    }());
}

TEST_F(Pipes, WritePipeWithPendingDataGetsBrokenPipe) {
    test_pipe fds;
    run([&]() -> coro<void> {
        auto wtwp_ = co_await loop().connect_write_pipe(client(), fds.w);
        [[maybe_unused]] auto& wt = wtwp_.first;
        [[maybe_unused]] auto& wp = wtwp_.second;
        wt->write(std::string(1 << 20, 'b'));
        CO_ASSERT_TRUE(wt->get_write_buffer_size() > 0);
        ::close(fds.r);
        co_await until([&] { return wp->lost; });
        EXPECT_EQ(code_of(wp->error), std::errc::broken_pipe) << what_of(wp->error);
        EXPECT_TRUE(contains(what_of(wp->error), "pipe " + std::to_string(fds.w))) << what_of(wp->error);
        EXPECT_EQ(wt->get_write_buffer_size(), 0u);
    }());
}

TEST_F(Pipes, ARegularFileIsRefused) {
    char tmpl[] = "/tmp/duet-file-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::unlink(tmpl);
    run([&]() -> coro<void> {
        try {
            co_await loop().connect_read_pipe(client(), fd);
            ADD_FAILURE() << "a regular file as a pipe";
        } catch (const std::invalid_argument& e) {
            EXPECT_TRUE(contains(e.what(), "fd " + std::to_string(fd))) << e.what();
        }
    }());
    EXPECT_EQ(::close(fd), 0);  // still the caller's
}

}  // namespace
}  // namespace duet::nettest
