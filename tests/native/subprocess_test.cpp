// Subprocesses on the uv loop, once per child watcher (as CPython's SubprocessMixin runs
// once per watcher), with real programs: /bin/cat, /bin/sh, /bin/true, /bin/sleep and
// child_helper (tests/native/child_helper.cpp). Every test checks that no fd is left open
// and no child is left behind (neither running nor a zombie).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>

#include "subprocess_test_util.hpp"

namespace duet::subtest {
namespace {

class Subprocess : public subprocess_fixture<::testing::TestWithParam<std::string>> {
protected:
    Subprocess() { run_limit = 10; }
    void SetUp() override {
        open_loop();
        if (HasFatalFailure()) return;
        watcher_ = make_child_watcher(GetParam());
        ASSERT_TRUE(watcher_) << GetParam();
        set_child_watcher(watcher_);
        watcher_->attach_loop(&loop());
    }
    void TearDown() override {
        if (watcher_) {
            settle_children();
            set_child_watcher(nullptr);  // closes it
            watcher_.reset();
        }
        close_loop();
    }

    std::shared_ptr<abstract_child_watcher> watcher_;
};

// ---- the pipes

TEST_P(Subprocess, CatThroughPipes) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec("/bin/cat", args(), piped(true, true));
        EXPECT_GT(p.pid(), 0);
        EXPECT_FALSE(p.returncode());
        CO_ASSERT_TRUE(p.std_in() && p.std_out() && !p.std_err());
        p.std_in().write("hello, ");
        p.std_in().write("cat\n");
        co_await p.std_in().drain();
        p.std_in().close();
        std::string got = co_await p.std_out().read();
        EXPECT_EQ(got, "hello, cat\n");
        EXPECT_EQ(co_await p.wait(), 0);
        EXPECT_EQ(p.returncode(), 0);
        // The options alone after the program (README's snippet).
        subprocess_options o = piped(true, true);
        auto q = co_await create_subprocess_exec("/bin/cat", o);
        auto [out, err] = co_await q.communicate("hello");
        EXPECT_EQ(out, "hello");
        EXPECT_EQ(q.returncode(), 0);
    }());
}

TEST_P(Subprocess, CommunicateSizes) {
    run([]() -> coro<void> {
        for (std::size_t n : {std::size_t{65536}, std::size_t{65537}, std::size_t{1000000}}) {
            std::string input(n, 'x');
            for (std::size_t i = 0; i < n; i += 997) input[i] = static_cast<char>('a' + i % 26);
            auto p = co_await create_subprocess_exec("/bin/cat", args(), piped(true, true));
            auto [out, err] = co_await p.communicate(input);
            EXPECT_EQ(out.size(), n);
            EXPECT_TRUE(out == input) << n;
            EXPECT_EQ(err, "");
            EXPECT_EQ(p.returncode(), 0);
        }
    }());
}

TEST_P(Subprocess, CommunicateWithoutInput) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("err", "to stderr"), piped(false, true, true));
        EXPECT_FALSE(p.std_in());
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, "out");
        EXPECT_EQ(err, "to stderr");
        EXPECT_EQ(p.returncode(), 0);
        // stderr to stdout.
        subprocess_options o = piped(false, true);
        o.std_err = subprocess::to_stdout;
        auto q = co_await create_subprocess_shell("echo one; echo two >&2", o);
        auto both = co_await q.communicate();
        EXPECT_EQ(both.first, "one\ntwo\n");
        EXPECT_EQ(both.second, "");
    }());
}

TEST_P(Subprocess, ReadLineByLine) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("lines", "3"), piped(false, true));
        std::vector<std::string> lines;
        for (;;) {
            std::string l = co_await p.std_out().readline();
            if (l.empty()) break;
            lines.push_back(l);
        }
        EXPECT_EQ(lines, (std::vector<std::string>{"line 1\n", "line 2\n", "line 3\n"}));
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

TEST_P(Subprocess, LimitAppliesToTheReaders) {
    run([]() -> coro<void> {
        subprocess_options o = piped(false, true);
        o.limit = 16;
        auto p = co_await create_subprocess_shell("printf '%0100d\\nshort\\n' 0", o);
        EXPECT_EQ(p.std_out().limit(), 16u);
        bool raised = false;
        try {
            co_await p.std_out().readline();
        } catch (const std::invalid_argument&) {
            raised = true;
        }
        EXPECT_TRUE(raised);
        EXPECT_EQ(co_await p.std_out().readline(), "short\n");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

TEST_P(Subprocess, DevnullAndFdRedirects) {
    run([]() -> coro<void> {
        std::array<int, 2> fds{};
        CO_ASSERT_TRUE(::pipe2(fds.data(), O_CLOEXEC) == 0);
        subprocess_options o;
        o.std_in = subprocess::devnull;
        o.std_out = subprocess::fd(fds[1]);
        o.std_err = subprocess::devnull;
        auto p = co_await create_subprocess_exec(helper, args("err", "lost"), o);
        EXPECT_EQ(co_await p.wait(), 0);
        ::close(fds[1]);
        std::string buf(16, '\0');
        EXPECT_EQ(::read(fds[0], buf.data(), buf.size()), 3);
        EXPECT_EQ(buf.substr(0, 3), "out");
        ::close(fds[0]);
    }());
}

// ---- exit codes and signals

TEST_P(Subprocess, ShellExit7) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_shell("exit 7");
        EXPECT_EQ(co_await p.wait(), 7);
        EXPECT_EQ(p.returncode(), 7);
        auto q = co_await create_subprocess_exec("/bin/true");
        EXPECT_EQ(co_await q.wait(), 0);
        // asyncio's spelling: the arguments one by one, the options last.
        subprocess_options o;
        o.std_out = subprocess::pipe;
        auto r = co_await create_subprocess_exec("/bin/sh", "-c", "echo $0 $1; exit 4", "a", std::string("b"), o);
        EXPECT_EQ((co_await r.communicate()).first, "a b\n");
        EXPECT_EQ(r.returncode(), 4);
    }());
}

TEST_P(Subprocess, KillTerminateSendSignal) {
    run([]() -> coro<void> {
        auto a = co_await create_subprocess_exec("/bin/sleep", args("30"));
        EXPECT_THROW(a.send_signal(-1), std::invalid_argument);
        EXPECT_THROW(a.send_signal(100000), std::invalid_argument);
        a.kill();
        EXPECT_EQ(co_await a.wait(), -SIGKILL);
        auto b = co_await create_subprocess_exec("/bin/sleep", args("30"));
        b.terminate();
        EXPECT_EQ(co_await b.wait(), -SIGTERM);
        auto c = co_await create_subprocess_exec("/bin/sleep", args("30"));
        c.send_signal(SIGHUP);
        EXPECT_EQ(co_await c.wait(), -SIGHUP);
        // Once reaped, a signal is a no-op and the code stays.
        c.kill();
        EXPECT_EQ(c.returncode(), -SIGHUP);
        auto d = co_await create_subprocess_exec("/bin/true");
        EXPECT_EQ(co_await d.wait(), 0);
        d.kill();
        d.terminate();
        EXPECT_EQ(d.returncode(), 0);
        EXPECT_EQ(co_await d.wait(), 0);
    }());
}

TEST_P(Subprocess, KillRacingTheExitKeepsTheCode) {
    run([]() -> coro<void> {
        // The child exits at once; kill() comes while the exit may or may not be reported.
        for (int i = 0; i < 20; ++i) {
            auto p = co_await create_subprocess_shell("exit 3");
            if (i % 2) co_await duet::sleep(0.001);
            p.kill();
            const int rc = co_await p.wait();
            EXPECT_TRUE(rc == 3 || rc == -SIGKILL) << rc;
            p.kill();
            EXPECT_EQ(p.returncode(), rc);
        }
    }());
}

TEST_P(Subprocess, ChildExitingWithoutReading) {
    run([]() -> coro<void> {
        const std::string big(1 << 20, 'z');
        // drain raises: the reader is gone.
        auto p = co_await create_subprocess_exec(helper, args("exit", "0"), piped(true, false));
        p.std_in().write(big);
        bool raised = false;
        try {
            co_await p.std_in().drain();
            // Everything may have been buffered before the child exited: write again.
            co_await p.wait();
            p.std_in().write(big);
            co_await p.std_in().drain();
        } catch (const std::system_error& e) {
            raised = true;
            EXPECT_TRUE(e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset) << e.what();
        }
        EXPECT_TRUE(raised);
        EXPECT_EQ(co_await p.wait(), 0);
        // communicate does not.
        auto q = co_await create_subprocess_exec(helper, args("exit", "5"), piped(true, true));
        auto [out, err] = co_await q.communicate(big);
        EXPECT_EQ(out, "");
        EXPECT_EQ(q.returncode(), 5);
    }());
}

// ---- waiting

TEST_P(Subprocess, CancelledWaitLeavesLaterWaitsWorking) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec("/bin/sleep", args("30"));
        bool timed_out = false;
        try {
            co_await wait_for(p.wait(), 0.02);
        } catch (const timeout_error&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_FALSE(p.returncode());
        auto w = create_task(p.wait());
        co_await duet::sleep(0);
        w.cancel();
        co_await duet::sleep(0);
        EXPECT_TRUE(w.cancelled());
        p.terminate();
        EXPECT_EQ(co_await p.wait(), -SIGTERM);
    }());
}

TEST_P(Subprocess, TenConcurrentWaits) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_shell("sleep 0.05; exit 3");
        std::vector<coro<int>> waits;
        for (int i = 0; i < 10; ++i) waits.push_back(p.wait());
        auto all = gather(std::move(waits));
        std::vector<int> codes = co_await std::move(all);
        EXPECT_EQ(codes, std::vector<int>(10, 3));
    }());
}

// ---- cancellation, close, failures

// Counts the protocols made: one is made right before each spawn.
struct counting_protocol : subprocess_protocol {
    std::vector<std::string> events;
    std::string out;
    std::shared_ptr<subprocess_transport> tr;
    void connection_made(std::shared_ptr<subprocess_transport> t) override {
        tr = std::move(t);
        events.push_back("made");
    }
    void pipe_data_received(int fd, std::string_view d) override {
        if (fd == 1) out += d;
        if (events.empty() || events.back() != "data" + std::to_string(fd))
            events.push_back("data" + std::to_string(fd));
    }
    void pipe_connection_lost(int fd, std::exception_ptr) override {
        events.push_back("pipe_lost" + std::to_string(fd));
    }
    void process_exited() override { events.push_back("exited"); }
    void connection_lost(std::exception_ptr) override {
        events.push_back("lost");
        tr.reset();
    }
};

TEST_P(Subprocess, CancellingCreateSubprocessExecLeaksNothing) {
    run([]() -> coro<void> {
        // Cancelled before it starts: no child.
        auto t0 = create_task(create_subprocess_exec("/bin/sleep", args("30"), piped(true, true, true)));
        t0.cancel();
        co_await duet::sleep(0);
        EXPECT_TRUE(t0.cancelled());
        EXPECT_FALSE(has_children());
        // Cancelled after the spawn, while connection_made is pending: the child is
        // killed and reaped, every pipe closed.
        auto t1 = create_task(create_subprocess_exec("/bin/sleep", args("30"), piped(true, true, true)));
        co_await duet::sleep(0);
        t1.cancel();
        bool cancelled = false;
        try {
            co_await t1;
        } catch (const cancelled_error&) {
            cancelled = true;
        }
        EXPECT_TRUE(cancelled);
        // The low-level method the same way, with proof that the child was started.
        int made = 0;
        std::shared_ptr<counting_protocol> proto;
        auto factory = [&] {
            ++made;
            proto = std::make_shared<counting_protocol>();
            return proto;
        };
        auto t2 = create_task(get_running_loop().subprocess_exec(factory, "/bin/sleep", args("30"), piped(true, true)));
        co_await duet::sleep(0);
        EXPECT_EQ(made, 1);
        t2.cancel();
        cancelled = false;
        try {
            co_await t2;
        } catch (const cancelled_error&) {
            cancelled = true;
        }
        EXPECT_TRUE(cancelled);
        // Its protocol heard nothing, or (cancelled after connection_made was queued) the
        // whole story, ending with connection_lost.
        if (!proto->events.empty()) {
            EXPECT_EQ(proto->events.front(), "made");
            EXPECT_EQ(proto->events.back(), "lost");
        }
    }());
}

TEST_P(Subprocess, ProtocolOrder) {
    run([]() -> coro<void> {
        std::shared_ptr<counting_protocol> proto;
        auto factory = [&] {
            proto = std::make_shared<counting_protocol>();
            return proto;
        };
        auto tp =
            co_await get_running_loop().subprocess_exec(factory, helper, args("lines", "2000"), piped(false, true));
        auto& t = tp.first;
        EXPECT_EQ(t->get_pid() > 0, true);
        EXPECT_TRUE(t->get_pipe_transport(1));
        EXPECT_FALSE(t->get_pipe_transport(0));
        EXPECT_EQ(co_await t->wait(), 0);
        CO_ASSERT_TRUE(proto->events.size() >= 4);
        EXPECT_EQ(proto->events.front(), "made");
        EXPECT_EQ(proto->events.back(), "lost");
        // All of the pipe's data before its pipe_connection_lost.
        auto at = [&](const std::string& e) {
            return std::find(proto->events.begin(), proto->events.end(), e) - proto->events.begin();
        };
        EXPECT_LT(at("data1"), at("pipe_lost1"));
        EXPECT_LT(at("exited"), at("lost"));
        EXPECT_EQ(std::count(proto->events.begin(), proto->events.end(), "exited"), 1);
        EXPECT_EQ(proto->out.size(), 18893u);  // "line N\n" for N = 1..2000
    }());
}

context_var<std::string> spawn_var("spawn_var");

// asyncio's subprocess transport calls its protocol through handles made in the spawner's
// context: every call, process_exited included, sees the spawner's values, whichever
// watcher reports the exit and whichever task spawned first on the loop.
TEST_P(Subprocess, ProtocolCallsRunInTheSpawnersContext) {
    struct context_protocol : subprocess_protocol {
        std::vector<std::string> seen;
        std::shared_ptr<subprocess_transport> tr;
        void note(const char* what) { seen.push_back(std::string(what) + ":" + spawn_var.get("none")); }
        void connection_made(std::shared_ptr<subprocess_transport> t) override {
            tr = std::move(t);
            note("made");
        }
        void pipe_data_received(int, std::string_view) override {}
        void pipe_connection_lost(int, std::exception_ptr) override { note("pipe_lost"); }
        void process_exited() override { note("exited"); }
        void connection_lost(std::exception_ptr) override {
            note("lost");
            tr.reset();
        }
    };
    std::vector<std::shared_ptr<context_protocol>> protos;
    auto factory = [&] {
        protos.push_back(std::make_shared<context_protocol>());
        return protos.back();
    };
    auto spawn = [&](std::string value) -> coro<int> {
        spawn_var.set(value);
        auto tp = co_await get_running_loop().subprocess_exec(factory, helper, args("lines", "1"), piped(false, true));
        co_return co_await tp.first->wait();
    };
    run([&]() -> coro<void> {
        auto first = get_running_loop().create_task(spawn("first"));
        EXPECT_EQ(co_await first, 0);
        auto second = get_running_loop().create_task(spawn("second"));
        EXPECT_EQ(co_await second, 0);
    }());
    ASSERT_EQ(protos.size(), 2u);
    const char* values[2] = {"first", "second"};
    for (int i = 0; i < 2; ++i) {
        std::vector<std::string> seen = protos[i]->seen, expected;
        for (const char* what : {"exited", "lost", "made", "pipe_lost"})
            expected.push_back(std::string(what) + ":" + values[i]);
        std::sort(seen.begin(), seen.end());  // the order is ProtocolOrder's business
        EXPECT_EQ(seen, expected) << values[i];
    }
    EXPECT_EQ(spawn_var.get("none"), "none");
}

TEST_P(Subprocess, TransportCloseKillsARunningChild) {
    run([]() -> coro<void> {
        auto factory = [] { return std::make_shared<counting_protocol>(); };
        auto tp = co_await get_running_loop().subprocess_exec(factory, "/bin/sleep", args("30"), piped(true, true));
        auto t = tp.first;
        auto p = tp.second;
        EXPECT_FALSE(t->is_closing());
        t->close();
        EXPECT_TRUE(t->is_closing());
        EXPECT_EQ(co_await t->wait(), -SIGKILL);
        EXPECT_EQ(p->events.back(), "lost");
        // A child already reaped is never signalled: the code stays.
        auto tq = co_await get_running_loop().subprocess_exec(factory, "/bin/true", args());
        EXPECT_EQ(co_await tq.first->wait(), 0);
        tq.first->close();
        EXPECT_EQ(tq.first->get_returncode(), 0);
    }());
}

// What a failed start raised: its errno and message (checked inside the handler: g++ 12
// mishandles an exception_ptr taken with current_exception() in a coroutine's handler).
struct start_error {
    int code = 0;
    std::string what;
};

coro<start_error> start_failure(std::string program, subprocess_options o) {
    start_error r;
    try {
        auto p = co_await create_subprocess_exec(std::move(program), args(), std::move(o));
        r.what = "started: pid " + std::to_string(p.pid());
        co_await p.wait();
    } catch (const std::system_error& x) {
        r.code = x.code().value();
        r.what = x.what();
    } catch (const std::exception& x) {
        r.what = std::string("not a system_error: ") + x.what();
    }
    co_return r;
}

TEST_P(Subprocess, SpawnFailures) {
    run([]() -> coro<void> {
        auto check = [](const start_error& e, int err, const std::string& name) {
            EXPECT_EQ(e.code, err) << e.what;
            EXPECT_NE(e.what.find(name), std::string::npos) << e.what;
        };
        start_error e = co_await start_failure("/nonexistent/duet-program", piped(true, true, true));
        check(e, ENOENT, "/nonexistent/duet-program");
        e = co_await start_failure("duet-no-such-program-in-path", piped(true, true));
        check(e, ENOENT, "duet-no-such-program-in-path");
        // Not executable (mode 0644: even root may not run it).
        std::string noexec = "/tmp/duet-noexec-XXXXXX";
        const int tfd = ::mkstemp(noexec.data());
        CO_ASSERT_TRUE(tfd >= 0);
        ::fchmod(tfd, 0644);
        ::close(tfd);
        e = co_await start_failure(noexec, piped(false, true));
        ::unlink(noexec.c_str());
        check(e, EACCES, noexec);
        subprocess_options o = piped(true, true);
        o.cwd = "/nonexistent/dir";
        e = co_await start_failure("/bin/true", o);
        check(e, ENOENT, "/bin/true");
        EXPECT_FALSE(has_children());
    }());
}

TEST_P(Subprocess, InactiveWatcherStartsNothing) {
    struct inactive_watcher : abstract_child_watcher {
        void add_child_handler(int, child_callback) override { ADD_FAILURE() << "a child was started"; }
        bool remove_child_handler(int) override { return false; }
        void attach_loop(abstract_event_loop*) override {}
        bool is_active() const override { return false; }
        void close() override {}
        const char* name() const noexcept override { return "inactive_watcher"; }
    };
    set_child_watcher(std::make_shared<inactive_watcher>());
    run([]() -> coro<void> {
        bool raised = false;
        try {
            co_await create_subprocess_exec("/bin/true", args(), piped(true, true));
        } catch (const std::runtime_error& e) {
            raised = true;
            EXPECT_NE(std::string(e.what()).find("inactive_watcher"), std::string::npos) << e.what();
        }
        EXPECT_TRUE(raised);
        EXPECT_FALSE(has_children());
    }());
    // (set_child_watcher closed the one it replaced: start again with a new one.)
    watcher_ = make_child_watcher(GetParam());
    set_child_watcher(watcher_);
    // A real watcher detached from its loop: safe and fast are inactive then.
    watcher_->attach_loop(nullptr);
    if (!watcher_->is_active()) {
        run([this]() -> coro<void> {
            bool raised = false;
            try {
                co_await create_subprocess_exec("/bin/true", args(), piped(true, true));
            } catch (const std::runtime_error& e) {
                raised = true;
                EXPECT_NE(std::string(e.what()).find(watcher_->name()), std::string::npos) << e.what();
            }
            EXPECT_TRUE(raised);
            EXPECT_FALSE(has_children());
        }());
    }
    watcher_->attach_loop(&loop());
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec("/bin/true");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

// ---- what the child gets

TEST_P(Subprocess, FdHygieneAndPassFds) {
    run([]() -> coro<void> {
        // An fd without close-on-exec: still closed in the child.
        const int leaky = ::open("/dev/null", O_RDONLY);
        CO_ASSERT_TRUE(leaky > 2);
        std::array<int, 2> passed{};
        CO_ASSERT_TRUE(::pipe2(passed.data(), O_CLOEXEC) == 0);
        auto p = co_await create_subprocess_exec(helper, args("fds"), piped(true, true, true));
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, "0 1 2\n");
        subprocess_options o = piped(false, true);
        o.pass_fds = {passed[1]};
        auto q = co_await create_subprocess_exec(helper, args("fds"), o);
        auto r = co_await q.communicate();
        EXPECT_EQ(r.first, "0 1 2 " + std::to_string(passed[1]) + "\n");
        ::close(leaky);
        ::close(passed[0]);
        ::close(passed[1]);
    }());
}

TEST_P(Subprocess, CwdEnvSession) {
    run([]() -> coro<void> {
        subprocess_options o = piped(false, true);
        o.cwd = "/tmp";
        auto a = co_await create_subprocess_exec(helper, args("cwd"), o);
        EXPECT_EQ((co_await a.communicate()).first, "/tmp\n");

        subprocess_options e = piped(false, true);
        e.extra_env = {{"DUET_TEST_VAR", "extended"}};
        auto b = co_await create_subprocess_exec(helper, args("env", "DUET_TEST_VAR"), e);
        EXPECT_EQ((co_await b.communicate()).first, "extended\n");
        auto c = co_await create_subprocess_exec(helper, args("env", "PATH"), e);
        EXPECT_NE((co_await c.communicate()).first, "<unset>\n");  // the rest is inherited

        subprocess_options r = piped(false, true);
        r.env = std::map<std::string, std::string>{{"DUET_TEST_VAR", "replaced"}};
        auto d = co_await create_subprocess_exec(helper, args("env", "DUET_TEST_VAR"), r);
        EXPECT_EQ((co_await d.communicate()).first, "replaced\n");
        auto f = co_await create_subprocess_exec(helper, args("env", "PATH"), r);
        EXPECT_EQ((co_await f.communicate()).first, "<unset>\n");

        subprocess_options s = piped(false, true);
        auto g = co_await create_subprocess_exec(helper, args("sid"), s);
        EXPECT_EQ((co_await g.communicate()).first, "member\n");
        s.start_new_session = true;
        auto h = co_await create_subprocess_exec(helper, args("sid"), s);
        EXPECT_EQ((co_await h.communicate()).first, "leader\n");
    }());
}

// The child starts with an empty signal mask and SIGPIPE/SIGXFSZ at their defaults whatever
// the parent did (Popen's restore_signals); other ignored signals stay ignored (POSIX exec),
// handled ones are back to their defaults.
TEST_P(Subprocess, ChildSignalMaskAndDispositions) {
    struct saved_signal {
        int sig;
        struct sigaction old {};
        saved_signal(int s, void (*h)(int)) : sig(s) {
            struct sigaction sa {};
            sa.sa_handler = h;
            sigaction(sig, &sa, &old);
        }
        ~saved_signal() { sigaction(sig, &old, nullptr); }
    };
    const saved_signal pipe(SIGPIPE, SIG_IGN), xfsz(SIGXFSZ, SIG_IGN), usr2(SIGUSR2, SIG_IGN), hup(SIGHUP, [](int) {});
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &block, &old_mask);
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("signals"), piped(false, true));
        EXPECT_EQ((co_await p.communicate()).first,
                  "blocked=none pipe=default xfsz=default usr2=ignored hup=default\n");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Watchers, Subprocess, ::testing::Values("pidfd", "threaded", "safe", "fast", "multi_loop"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace duet::subtest
