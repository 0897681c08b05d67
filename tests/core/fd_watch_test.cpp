// Watching file descriptors (asyncio's add_reader/add_writer/remove_reader/remove_writer):
// on loops whose backend can (uv, poll) with pipes and socket pairs; on the others (the
// virtual clock, the browser) every one of the four raises not_supported_error naming the
// method and the backend.
#ifndef __EMSCRIPTEN__
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <string>
#include <vector>

#include "test_loop.hpp"

namespace duet::test {
namespace {

template <class L>
class FdWatch : public ::testing::Test {};
TYPED_TEST_SUITE(FdWatch, contract_loops);

template <class Loop>
void expect_fd_methods_not_supported(Loop& loop, const std::string& backend) {
    auto check = [&](const char* method, auto&& call) {
        try {
            call();
            ADD_FAILURE() << method << " did not raise";
        } catch (const not_supported_error& e) {
            std::string m = e.what();
            EXPECT_NE(m.find(method), std::string::npos) << m;
            EXPECT_NE(m.find("\"" + backend + "\""), std::string::npos) << m;
        }
    };
    check("add_reader", [&] { loop.add_reader(0, [] {}); });
    check("add_writer", [&] { loop.add_writer(1, [] {}); });
    check("remove_reader", [&] { loop.remove_reader(0); });
    check("remove_writer", [&] { loop.remove_writer(1); });
}

TEST(FdWatchNotSupported, VirtualClockLoopRaises) {
    static_assert(!virtual_event_loop::can_watch_fds);
    virtual_event_loop loop;
    expect_fd_methods_not_supported(loop, "virtual");
    // Also through the abstract interface.
    abstract_event_loop& any = loop;
    EXPECT_THROW(any.add_reader(0, [] {}), not_supported_error);
}

TYPED_TEST(FdWatch, TheSuiteLoopSupportsItOrRaises) {
    TypeParam loop;
    if constexpr (TypeParam::can_watch_fds) {
        EXPECT_FALSE(loop.remove_reader(0));
        EXPECT_FALSE(loop.remove_writer(0));
    } else {
        expect_fd_methods_not_supported(loop, TypeParam::backend_type::name);
    }
}

#ifndef __EMSCRIPTEN__

// Both ends non-blocking; closed with the test.
struct fd_pair {
    int a = -1, b = -1;
    static fd_pair pipe() {
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("pipe");
        return fd_pair(fds);
    }
    static fd_pair sockets() {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) throw std::runtime_error("socketpair");
        return fd_pair(fds);
    }
    explicit fd_pair(int fds[2]) : a(fds[0]), b(fds[1]) {
        for (int fd : {a, b}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    fd_pair(fd_pair&& o) noexcept : a(std::exchange(o.a, -1)), b(std::exchange(o.b, -1)) {}
    ~fd_pair() {
        if (a >= 0) ::close(a);
        if (b >= 0) ::close(b);
    }
    static void put(int fd, const std::string& s) {
        ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
    }
    static std::string take(int fd) {
        char buf[256];
        ssize_t n = ::read(fd, buf, sizeof buf);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }
};

#define DUET_SKIP_WITHOUT_FD_WATCHING() \
    if constexpr (!TypeParam::can_watch_fds) GTEST_SKIP() << "this loop's backend does not watch fds"

// Stops the loop after `seconds` (real time on these loops) and remembers that it had to.
struct watchdog {
    bool fired = false;
    timer_handle h;
    watchdog(abstract_event_loop& loop, double seconds) {
        h = loop.call_later(seconds, [this, &loop] {
            fired = true;
            loop.stop();
        });
    }
};

TYPED_TEST(FdWatch, ReaderRunsAsALoopCallbackWithItsArguments) {
    DUET_SKIP_WITHOUT_FD_WATCHING();
    TypeParam loop;
    auto p = fd_pair::pipe();
    fd_pair::put(p.b, "hi");
    std::string got;
    int arg = 0;
    abstract_event_loop* running = nullptr;
    loop.add_reader(
        p.a,
        [&](int v) {
            arg = v;
            got = fd_pair::take(p.a);
            running = running_loop();
            loop.stop();
        },
        42);
    watchdog dog(loop, 5);
    loop.run_forever();
    EXPECT_FALSE(dog.fired);
    EXPECT_EQ(got, "hi");
    EXPECT_EQ(arg, 42);
    EXPECT_EQ(running, &loop);
    EXPECT_TRUE(loop.remove_reader(p.a));
    EXPECT_FALSE(loop.remove_reader(p.a));
}

context_var<std::string> watch_var("watch_var");

// As asyncio's fd Handle: the reader runs in a copy of the context current at
// add_reader (here a task's), every time; what one run sets the next run sees, and none
// of it reaches the task or the thread.
TYPED_TEST(FdWatch, ReaderRunsInTheContextOfItsRegistration) {
    DUET_SKIP_WITHOUT_FD_WATCHING();
    TypeParam loop;
    auto p = fd_pair::pipe();
    std::vector<std::string> seen;
    auto registrar = [&]() -> coro<void> {
        watch_var.set("registrar");
        get_running_loop().add_reader(p.a, [&] {
            fd_pair::take(p.a);
            seen.push_back(watch_var.get("none"));
            watch_var.set("reader run " + std::to_string(seen.size()));
            if (seen.size() == 2) get_running_loop().stop();
        });
        co_return;
    };
    loop.run_until_complete(registrar());
    watchdog dog(loop, 5);
    fd_pair::put(p.b, "1");
    loop.call_later(0.01, [&] { fd_pair::put(p.b, "2"); });
    loop.run_forever();
    EXPECT_FALSE(dog.fired);
    EXPECT_EQ(seen, (std::vector<std::string>{"registrar", "reader run 1"}));
    EXPECT_EQ(watch_var.get("none"), "none");
    EXPECT_TRUE(loop.remove_reader(p.a));
}

TYPED_TEST(FdWatch, WriterRunsWhileWritableUntilRemoved) {
    DUET_SKIP_WITHOUT_FD_WATCHING();
    TypeParam loop;
    auto p = fd_pair::pipe();
    int calls = 0;
    bool removed = false;
    loop.add_writer(p.b, [&] {
        ++calls;
        fd_pair::put(p.b, "x");
        removed = loop.remove_writer(p.b);
    });
    loop.call_later(0.03, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(removed);
    EXPECT_EQ(fd_pair::take(p.a), "x");
    EXPECT_FALSE(loop.remove_writer(p.b));
}

TYPED_TEST(FdWatch, ReaderAndWriterShareOneFd) {
    // One fd watched both ways (one uv_poll_t with both interests); removing the writer
    // leaves the reader working.
    DUET_SKIP_WITHOUT_FD_WATCHING();
    TypeParam loop;
    auto s = fd_pair::sockets();
    std::vector<std::string> log;
    loop.add_reader(s.a, [&] {
        log.push_back("read " + fd_pair::take(s.a));
        loop.stop();
    });
    loop.add_writer(s.a, [&] {
        log.push_back("writable");
        EXPECT_TRUE(loop.remove_writer(s.a));
        loop.call_later(0.01, [&] { fd_pair::put(s.b, "ping"); });
    });
    watchdog dog(loop, 5);
    loop.run_forever();
    EXPECT_FALSE(dog.fired);
    EXPECT_EQ(log, (std::vector<std::string>{"writable", "read ping"}));
    EXPECT_TRUE(loop.remove_reader(s.a));
    EXPECT_FALSE(loop.remove_writer(s.a));
}

TYPED_TEST(FdWatch, SecondAddReaderReplacesTheFirst) {
    DUET_SKIP_WITHOUT_FD_WATCHING();
    TypeParam loop;
    auto p = fd_pair::pipe();
    fd_pair::put(p.b, "x");
    int first = 0, second = 0;
    loop.add_reader(p.a, [&] { ++first; });
    loop.add_reader(p.a, [&] {
        ++second;
        (void)fd_pair::take(p.a);
        loop.stop();
    });
    watchdog dog(loop, 5);
    loop.run_forever();
    EXPECT_EQ(first, 0);
    EXPECT_EQ(second, 1);
    EXPECT_TRUE(loop.remove_reader(p.a));
}

TYPED_TEST(FdWatch, RemovingDropsACallbackAlreadyQueued) {
    // Both pipes are readable in the same wait; whichever callback runs first removes the
    // other reader, whose callback is queued already and must not run.
    DUET_SKIP_WITHOUT_FD_WATCHING();
    TypeParam loop;
    auto x = fd_pair::pipe();
    auto y = fd_pair::pipe();
    fd_pair::put(x.b, "x");
    fd_pair::put(y.b, "y");
    int ran_x = 0, ran_y = 0;
    bool removed_x = false, removed_y = false;
    loop.add_reader(x.a, [&] {
        ++ran_x;
        removed_y = loop.remove_reader(y.a);
        loop.remove_reader(x.a);
    });
    loop.add_reader(y.a, [&] {
        ++ran_y;
        removed_x = loop.remove_reader(x.a);
        loop.remove_reader(y.a);
    });
    loop.call_later(0.03, [&] { loop.stop(); });
    loop.run_forever();
    EXPECT_EQ(ran_x + ran_y, 1);
    EXPECT_EQ(removed_x + removed_y, 1);
}

TYPED_TEST(FdWatch, ExceptionsGoToTheHandler) {
    DUET_SKIP_WITHOUT_FD_WATCHING();
    TypeParam loop;
    handler_log log;
    log.install(loop);
    auto p = fd_pair::pipe();
    fd_pair::put(p.b, "x");
    loop.add_reader(p.a, [&] {
        loop.remove_reader(p.a);
        loop.stop();
        throw std::runtime_error("reader failed");
    });
    watchdog dog(loop, 5);
    loop.run_forever();
    EXPECT_FALSE(dog.fired);
    EXPECT_EQ(log.messages(), (std::vector<std::string>{"Exception in callback"}));
}

TYPED_TEST(FdWatch, MisuseRaises) {
    DUET_SKIP_WITHOUT_FD_WATCHING();
    TypeParam loop;
    EXPECT_THROW(loop.add_reader(-1, [] {}), std::invalid_argument);
    EXPECT_THROW(loop.add_writer(-1, [] {}), std::invalid_argument);
    auto p = fd_pair::pipe();
    loop.add_reader(p.a, [] {});
    loop.close();
    EXPECT_FALSE(loop.remove_reader(p.a));  // close() dropped it; asyncio returns False too
    EXPECT_THROW(loop.add_reader(p.a, [] {}), std::runtime_error);
}

#endif  // __EMSCRIPTEN__

}  // namespace
}  // namespace duet::test
