// The scenarios of CPython's Lib/test/test_asyncio/test_subprocess.py (3.12/3.13), one TEST per
// case (a comment names it), with real children: /bin/sh and child_helper
// (tests/native/child_helper.cpp). Run once with the policy's default child watcher;
// subprocess_test.cpp runs its cases once per watcher. Every test checks that no fd is left
// open and no child is left behind.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>

#include "subprocess_test_util.hpp"

namespace duet::subtest {
namespace {

// stdout to /dev/null ("block" announces itself there).
subprocess_options quiet() {
    subprocess_options o;
    o.std_out = subprocess::devnull;
    return o;
}

// Input larger than any pipe buffer (support.PIPE_MAX_SIZE is 4 MiB + 1).
std::string large_input() {
    return std::string((std::size_t{4} << 20) + 1, 'x');
}

// What a write-and-drain raised: the error code, or 0.
struct raised {
    std::error_code code;
    std::string what;
};

coro<raised> write_and_drain(stream_writer w, std::string data) {
    raised r;
    try {
        w.write(std::move(data));
        co_await w.drain();
    } catch (const std::system_error& e) {
        r.code = e.code();
        r.what = e.what();
    } catch (const std::exception& e) {
        r.what = std::string("not a system_error: ") + e.what();
    }
    co_return r;
}

bool is_pipe_gone(const std::error_code& c) {
    return c == std::errc::broken_pipe || c == std::errc::connection_reset;
}

// Sleeps on the loop until `pred` holds (a guard of about 5 s).
template <class P>
coro<bool> until(P pred) {
    for (int i = 0; i < 2500; ++i) {
        if (pred()) co_return true;
        co_await duet::sleep(0.002);
    }
    co_return pred();
}

class SubprocessSteps : public subprocess_fixture<::testing::Test> {
protected:
    void SetUp() override { open_loop(); }
    void TearDown() override {
        settle_children();
        close_loop();
    }
};

// ---- pipes and communicate

// test_stdin_stdout_pipe: write, drain, close stdin, read stdout to EOF, wait. (3.12: the
// stdin writer's wait_closed ends once its pipe is closed.)
TEST_F(SubprocessSteps, StdinStdoutPipe) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("cat"), piped(true, true));
        p.std_in().write("some data");
        co_await p.std_in().drain();
        p.std_in().close();
        EXPECT_TRUE(p.std_in().is_closing());
        co_await p.std_in().wait_closed();
        std::string out = co_await p.std_out().read();
        EXPECT_EQ(out, "some data");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

// test_stdin_stdout_file: stdout to a file of the parent's.
TEST_F(SubprocessSteps, StdinStdoutFile) {
    std::string path = "/tmp/duet-subp-out-XXXXXX";
    const int fd = ::mkstemp(path.data());
    ASSERT_GE(fd, 0);
    run([fd]() -> coro<void> {
        subprocess_options o = piped(true, false);
        o.std_out = subprocess::fd(fd);
        auto p = co_await create_subprocess_exec(helper, args("cat"), o);
        EXPECT_FALSE(p.std_out());
        p.std_in().write("some data");
        co_await p.std_in().drain();
        p.std_in().close();
        EXPECT_EQ(co_await p.wait(), 0);
    }());
    std::string buf(64, '\0');
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), 0);
    ::close(fd);
    ::unlink(path.c_str());
    ASSERT_EQ(n, 9);
    EXPECT_EQ(buf.substr(0, 9), "some data");
}

// test_communicate
TEST_F(SubprocessSteps, Communicate) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("cat"), piped(true, true));
        auto [out, err] = co_await p.communicate("some data");
        EXPECT_EQ(out, "some data");
        EXPECT_EQ(err, "");
        EXPECT_EQ(p.returncode(), 0);
    }());
}

// test_communicate_none_input: stdin piped, no input: communicate still closes stdin, so the
// child sees EOF.
TEST_F(SubprocessSteps, CommunicateNoneInput) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("count"), piped(true, true));
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, "0\n");
        EXPECT_EQ(p.returncode(), 0);
    }());
}

// test_stdin_not_inheritable: the parent's end of stdin is not inherited (else the child
// would never see EOF and communicate would hang).
TEST_F(SubprocessSteps, StdinNotInheritable) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("count"), piped(true, true, true));
        auto [out, err] = co_await p.communicate("abc");
        EXPECT_EQ(out, "3\n");
        EXPECT_EQ(err, "");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

// test_empty_input
TEST_F(SubprocessSteps, EmptyInput) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("count"), piped(true, true, true));
        auto [out, err] = co_await p.communicate("");
        EXPECT_EQ(out, "0\n");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

// test_devnull_input
TEST_F(SubprocessSteps, DevnullInput) {
    run([]() -> coro<void> {
        subprocess_options o = piped(false, true, true);
        o.std_in = subprocess::devnull;
        auto p = co_await create_subprocess_exec(helper, args("count"), o);
        EXPECT_FALSE(p.std_in());
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, "0\n");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

// test_devnull_output: asyncio returns None for stdout; duet an empty string and no reader.
TEST_F(SubprocessSteps, DevnullOutput) {
    run([]() -> coro<void> {
        subprocess_options o = piped(true, false, true);
        o.std_out = subprocess::devnull;
        auto p = co_await create_subprocess_exec(helper, args("count"), o);
        EXPECT_FALSE(p.std_out());
        auto [out, err] = co_await p.communicate("abc");
        EXPECT_EQ(out, "");
        EXPECT_EQ(err, "");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

// test_devnull_error
TEST_F(SubprocessSteps, DevnullError) {
    run([]() -> coro<void> {
        subprocess_options o = piped(true, true, false);
        o.std_err = subprocess::devnull;
        auto p = co_await create_subprocess_exec(helper, args("tee2"), o);
        EXPECT_FALSE(p.std_err());
        auto [out, err] = co_await p.communicate("abc");
        EXPECT_EQ(out, "abc");
        EXPECT_EQ(err, "");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

// stderr=STDOUT: both streams in the one pipe; with stdout to DEVNULL, both are discarded.
TEST_F(SubprocessSteps, StderrToStdout) {
    run([]() -> coro<void> {
        subprocess_options o = piped(false, true);
        o.std_err = subprocess::to_stdout;
        auto p = co_await create_subprocess_exec(helper, args("err", "to stderr "), o);
        EXPECT_FALSE(p.std_err());
        auto [out, err] = co_await p.communicate();
        // stderr is unbuffered, stdout flushed at exit.
        EXPECT_EQ(out, "to stderr out");
        EXPECT_EQ(err, "");
        subprocess_options d;
        d.std_out = subprocess::devnull;
        d.std_err = subprocess::to_stdout;
        auto q = co_await create_subprocess_exec(helper, args("err", "lost"), d);
        EXPECT_FALSE(q.std_out());
        auto r = co_await q.communicate();
        EXPECT_EQ(r.first, "");
        EXPECT_EQ(r.second, "");
        EXPECT_EQ(q.returncode(), 0);
    }());
}

// Large data on stdin, stdout and stderr at once: communicate reads both pipes while it
// writes, so a child that fills them does not deadlock.
TEST_F(SubprocessSteps, CommunicateLargeOnBothPipes) {
    run([]() -> coro<void> {
        std::string input(3 << 20, 'y');
        for (std::size_t i = 0; i < input.size(); i += 4093) input[i] = static_cast<char>('a' + i % 26);
        auto p = co_await create_subprocess_exec(helper, args("tee2"), piped(true, true, true));
        auto [out, err] = co_await p.communicate(input);
        EXPECT_EQ(out.size(), input.size());
        EXPECT_TRUE(out == input);
        EXPECT_TRUE(err == input);
        EXPECT_EQ(p.returncode(), 0);
    }());
}

// communicate after the caller closed stdin: nothing more is written, the output and the
// exit are still collected (asyncio drops a write to a closing pipe).
TEST_F(SubprocessSteps, CommunicateAfterStdinClosed) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("cat"), piped(true, true));
        p.std_in().write("abc");
        p.std_in().close();
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, "abc");
        EXPECT_EQ(p.returncode(), 0);
        auto q = co_await create_subprocess_exec(helper, args("cat"), piped(true, true));
        q.std_in().write("abc");
        q.std_in().close();
        auto r = co_await q.communicate("more");
        EXPECT_EQ(r.first, "abc");
        EXPECT_EQ(q.returncode(), 0);
    }());
}

// ---- a child that does not read its input

// test_stdin_broken_pipe: the child exited without reading; drain raises BrokenPipeError
// or ConnectionResetError.
TEST_F(SubprocessSteps, StdinBrokenPipe) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("exit", "0"), piped(true, false));
        auto exited = [&p] { return p.returncode().has_value(); };
        EXPECT_TRUE(co_await until(exited));
        raised r = co_await write_and_drain(p.std_in(), large_input());
        EXPECT_TRUE(is_pipe_gone(r.code)) << r.code.message() << " " << r.what;
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

// test_communicate_ignore_broken_pipe
TEST_F(SubprocessSteps, CommunicateIgnoreBrokenPipe) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("exit", "0"), piped(true, false));
        auto [out, err] = co_await p.communicate(large_input());
        EXPECT_EQ(out, "");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

// A child that closes its stdin and keeps running: communicate ignores the broken pipe and
// still returns what the child wrote.
TEST_F(SubprocessSteps, CommunicateChildClosesStdinEarly) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("closein"), piped(true, true));
        auto [out, err] = co_await p.communicate(large_input());
        EXPECT_EQ(out, "closed\n");
        EXPECT_EQ(p.returncode(), 0);
    }());
}

// ---- reading

// test_pause_reading: with a small limit the reader pauses the pipe once more than twice the
// limit is buffered (so a child writing 1 MiB is held back), and resumes it as it is read;
// communicate gets everything.
TEST_F(SubprocessSteps, PauseReading) {
    run([]() -> coro<void> {
        subprocess_options o = piped(true, true);
        o.limit = 10;
        auto p = co_await create_subprocess_exec(helper, args("write", "1048576", "0"), o);
        auto pipe = p.transport()->get_pipe_transport(1);
        CO_ASSERT_TRUE(pipe);
        auto filled = [&p] { return p.std_out().buffered() > 20; };
        EXPECT_TRUE(co_await until(filled));
        co_await duet::sleep(0.05);
        EXPECT_FALSE(pipe->is_reading());
        EXPECT_LT(p.std_out().buffered(), std::size_t{1} << 20);
        EXPECT_FALSE(p.returncode());  // blocked on the full pipe
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out.size(), std::size_t{1} << 20);
        EXPECT_EQ(out.find_first_not_of('x'), std::string::npos);
        EXPECT_EQ(p.returncode(), 0);
    }());
}

// test_read_stdout_after_process_exit: the child writes 256 KiB and exits with 1 while the
// parent reads slowly; every byte still arrives.
TEST_F(SubprocessSteps, ReadStdoutAfterProcessExit) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("write", "262144", "1"), piped(false, true));
        std::size_t total = 0;
        for (;;) {
            std::string d = co_await p.std_out().read(65536);
            if (d.empty()) break;
            EXPECT_LE(d.size(), 65536u);
            total += d.size();
            co_await duet::sleep(0.02);
        }
        EXPECT_EQ(total, 262144u);
        EXPECT_EQ(co_await p.wait(), 1);
    }());
}

// The child is reaped (returncode set) before its output is read; the output stays
// readable, and wait() then returns.
TEST_F(SubprocessSteps, ExitedBeforeItsPipeIsRead) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("write", "1000", "4"), piped(false, true));
        auto exited = [&p] { return p.returncode().has_value(); };
        EXPECT_TRUE(co_await until(exited));
        EXPECT_EQ(p.returncode(), 4);
        std::string out = co_await p.std_out().read();
        EXPECT_EQ(out.size(), 1000u);
        EXPECT_TRUE(p.std_out().at_eof());
        EXPECT_EQ(co_await p.wait(), 4);
    }());
}

// Process.wait() once the exit is known (returncode set) returns that code at once, even
// while a pipe is still open (asyncio's _wait returns _returncode when it is set). Here
// the reader holds stdout paused (a limit of 10), so the pipe's EOF is not read yet.
TEST_F(SubprocessSteps, WaitAfterExitWhilePipeIsOpen) {
    run([]() -> coro<void> {
        subprocess_options o = piped(false, true);
        o.limit = 10;
        auto p = co_await create_subprocess_exec(helper, args("write", "1000", "5"), o);
        auto exited = [&p] { return p.returncode().has_value(); };
        EXPECT_TRUE(co_await until(exited));
        EXPECT_TRUE(p.transport()->get_pipe_transport(1) && !p.std_out().at_eof());
        bool returned = false;
        try {
            EXPECT_EQ(co_await wait_for(p.wait(), 2.0), 5);
            returned = true;
        } catch (const timeout_error&) {
        }
        EXPECT_TRUE(returned) << "wait() waited for the unread pipe";
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out.size(), 1000u);
        EXPECT_EQ(co_await p.wait(), 5);
    }());
}

// The same, then the process dropped and its loop closed with the pipe still unread:
// everything goes (the process transport and its protocol held each other until their
// pipe said it was lost, which a closed loop never delivers).
TEST_F(SubprocessSteps, ALoopClosedUnderAnUnreadPipeLetsTheProcessGo) {
    std::weak_ptr<subprocess_transport> watch;
    run([&]() -> coro<void> {
        subprocess_options o = piped(false, true);
        o.limit = 10;
        auto p = co_await create_subprocess_exec(helper, args("write", "1000", "5"), o);
        watch = p.transport();
        auto exited = [&p] { return p.returncode().has_value(); };
        EXPECT_TRUE(co_await until(exited));
        EXPECT_EQ(co_await p.wait(), 5);
        EXPECT_FALSE(p.std_out().at_eof());
    }());
    EXPECT_FALSE(watch.expired()) << "the pipe is still open: the transport is alive";
    loop().close();
    EXPECT_TRUE(watch.expired()) << "the process transport outlived its loop";
    // Closing a loop under an open transport is reported, as asyncio warns.
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find("unclosed transport"), std::string::npos) << errors[0];
    errors.clear();
}

// communicate a second time: stdin is closed and stdout at EOF already: empty results,
// the same code.
TEST_F(SubprocessSteps, CommunicateTwice) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("cat"), piped(true, true, true));
        auto first = co_await p.communicate("once");
        EXPECT_EQ(first.first, "once");
        auto second = co_await p.communicate("twice");
        EXPECT_EQ(second.first, "");
        EXPECT_EQ(second.second, "");
        EXPECT_EQ(p.returncode(), 0);
    }());
}

// Reading stdout line by line to EOF.
TEST_F(SubprocessSteps, ReadLinesToEof) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("lines", "1000"), piped(false, true));
        int n = 0;
        std::string last;
        for (;;) {
            std::string l = co_await p.std_out().readline();
            if (l.empty()) break;
            ++n;
            if (l != "line " + std::to_string(n) + "\n") ADD_FAILURE() << "line " << n << ": " << l;
            last = l;
        }
        EXPECT_EQ(n, 1000);
        EXPECT_EQ(last, "line 1000\n");
        EXPECT_TRUE(p.std_out().at_eof());
        EXPECT_EQ(co_await p.std_out().readline(), "");
        EXPECT_EQ(co_await p.wait(), 0);
    }());
}

// The limit argument: 64 KiB by default (streams' _DEFAULT_LIMIT), given to both readers;
// it bounds a line, not readexactly.
TEST_F(SubprocessSteps, LimitArgument) {
    run([]() -> coro<void> {
        auto d = co_await create_subprocess_exec(helper, args("lines", "1"), piped(false, true, true));
        EXPECT_EQ(d.std_out().limit(), std::size_t{65536});
        EXPECT_EQ(d.std_err().limit(), std::size_t{65536});
        co_await d.communicate();
        subprocess_options o = piped(false, true, true);
        o.limit = 16;
        auto p = co_await create_subprocess_exec(helper, args("write", "100", "0"), o);
        EXPECT_EQ(p.std_out().limit(), 16u);
        EXPECT_EQ(p.std_err().limit(), 16u);
        std::string got = co_await p.std_out().readexactly(100);
        EXPECT_EQ(got, std::string(100, 'x'));
        EXPECT_EQ(co_await p.wait(), 0);
        auto q = co_await create_subprocess_exec(helper, args("write", "100", "0"), o);
        bool overrun = false;
        try {
            co_await q.std_out().readline();
        } catch (const std::invalid_argument&) {
            overrun = true;
        }
        EXPECT_TRUE(overrun);
        co_await q.communicate();
        EXPECT_EQ(q.returncode(), 0);
    }());
}

// ---- the shell

// test_shell
TEST_F(SubprocessSteps, Shell) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_shell("exit 7");
        EXPECT_EQ(co_await p.wait(), 7);
    }());
}

// The command goes to sh unchanged: quoting, expansion and exit codes are the shell's.
TEST_F(SubprocessSteps, ShellQuotingAndExitCodes) {
    run([]() -> coro<void> {
        subprocess_options o = piped(false, true);
        auto p = co_await create_subprocess_shell("printf '%s|' \"a b\" 'c\"d' \"it's\" ''; exit 255", o);
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, "a b|c\"d|it's||");
        EXPECT_EQ(p.returncode(), 255);
        auto q = co_await create_subprocess_shell("kill -KILL $$");
        EXPECT_EQ(co_await q.wait(), -SIGKILL);
        auto r = co_await create_subprocess_shell("exit 256");
        EXPECT_EQ(co_await r.wait(), 0);
        // A signal that may dump core is still -N.
        subprocess_options nocore;
        auto a = co_await create_subprocess_shell("ulimit -c 0; kill -ABRT $$", nocore);
        EXPECT_EQ(co_await a.wait(), -SIGABRT);
        auto b = co_await create_subprocess_shell("kill -SEGV $$");
        EXPECT_EQ(co_await b.wait(), -SIGSEGV);
        // exec: every argument reaches the program as it is, with no shell in between.
        auto s =
            co_await create_subprocess_exec("/bin/sh", "-c", "printf '%s|' \"$@\"", "sh", "a b", "", "$HOME", "c'd", o);
        auto t = co_await s.communicate();
        EXPECT_EQ(t.first, "a b||$HOME|c'd|");
    }());
}

// test_start_new_session
TEST_F(SubprocessSteps, StartNewSession) {
    run([]() -> coro<void> {
        subprocess_options o;
        o.start_new_session = true;
        auto p = co_await create_subprocess_shell("exit 8", o);
        EXPECT_EQ(co_await p.wait(), 8);
    }());
}

// test_create_subprocess_env_shell
TEST_F(SubprocessSteps, EnvShell) {
    run([]() -> coro<void> {
        subprocess_options o = piped(false, true);
        o.env = std::map<std::string, std::string>{{"FOO", "bar"}};
        auto p = co_await create_subprocess_shell("echo \"$FOO\"", o);
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, "bar\n");
        EXPECT_EQ(p.returncode(), 0);
    }());
}

// test_create_subprocess_env_exec
TEST_F(SubprocessSteps, EnvExec) {
    run([]() -> coro<void> {
        subprocess_options o = piped(false, true);
        o.env = std::map<std::string, std::string>{{"FOO", "baz"}};
        auto p = co_await create_subprocess_exec(helper, args("env", "FOO"), o);
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, "baz\n");
        EXPECT_EQ(p.returncode(), 0);
    }());
}

// env= with a PATH: a bare program name is looked up in the child's PATH (Popen searches
// os.get_exec_path(env)), not the parent's.
TEST_F(SubprocessSteps, EnvPathFindsTheProgram) {
    const std::filesystem::path h(helper);
    const std::string dir = h.parent_path().string();
    const std::string name = h.filename().string();
    run([dir, name]() -> coro<void> {
        subprocess_options o = piped(false, true);
        o.env = std::map<std::string, std::string>{{"PATH", "/nonexistent:" + dir}};
        std::string out;
        std::string what;
        try {
            auto p = co_await create_subprocess_exec(name, args("env", "PATH"), o);
            out = (co_await p.communicate()).first;
        } catch (const std::exception& e) {
            what = e.what();
        }
        EXPECT_EQ(out, "/nonexistent:" + dir + "\n") << what;
        // An env without PATH: the default path (/bin:/usr/bin) finds sh.
        subprocess_options n = piped(false, true);
        n.env = std::map<std::string, std::string>{{"FOO", "bar"}};
        auto q = co_await create_subprocess_exec("sh", "-c", "echo $FOO", n);
        EXPECT_EQ((co_await q.communicate()).first, "bar\n");
    }());
}

// cwd: a relative program path is looked up from the child's new working directory (as
// Popen does on POSIX).
TEST_F(SubprocessSteps, CwdAndARelativeProgram) {
    const std::filesystem::path h(helper);
    const std::string dir = h.parent_path().string();
    const std::string rel = "./" + h.filename().string();
    run([dir, rel]() -> coro<void> {
        subprocess_options o = piped(false, true);
        o.cwd = dir;
        auto p = co_await create_subprocess_exec(rel, args("cwd"), o);
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, std::filesystem::canonical(dir).string() + "\n");
        EXPECT_EQ(p.returncode(), 0);
        subprocess_options s = piped(false, true);
        s.cwd = "/";
        auto q = co_await create_subprocess_shell("pwd", s);
        EXPECT_EQ((co_await q.communicate()).first, "/\n");
    }());
}

// pass_fds: the child writes to a pipe it inherited at the same number.
TEST_F(SubprocessSteps, PassFdsCarriesData) {
    std::array<int, 2> fds{};
    ASSERT_EQ(::pipe2(fds.data(), O_CLOEXEC), 0);
    run([&fds]() -> coro<void> {
        subprocess_options o;
        o.pass_fds = {fds[1]};
        auto p = co_await create_subprocess_shell("printf passed > /dev/fd/" + std::to_string(fds[1]), o);
        EXPECT_EQ(co_await p.wait(), 0);
    }());
    ::close(fds[1]);
    std::string buf(32, '\0');
    const ssize_t n = ::read(fds[0], buf.data(), buf.size());
    ::close(fds[0]);
    ASSERT_EQ(n, 6);
    EXPECT_EQ(buf.substr(0, 6), "passed");
}

// pass_fds naming a closed fd: the start fails with EBADF (Popen reports the child's
// error) and nothing is left behind.
TEST_F(SubprocessSteps, PassFdsClosedFd) {
    // A number no fd of the test takes meanwhile (a reused number would be passed).
    constexpr int fd = 1000;
    ASSERT_EQ(::fcntl(fd, F_GETFD), -1);
    run([]() -> coro<void> {
        subprocess_options o = piped(true, true);
        o.pass_fds = {fd};
        std::error_code code;
        std::string what;
        try {
            auto p = co_await create_subprocess_exec(helper, args("fds"), o);
            auto [out, err] = co_await p.communicate();
            what = "started: " + out;
        } catch (const std::system_error& e) {
            code = e.code();
            what = e.what();
        }
        EXPECT_EQ(code, std::errc::bad_file_descriptor) << what;
    }());
}

// close_fds=True (the default): an inheritable fd of the parent's is not in the child; a
// shell sees it as a bad descriptor.
TEST_F(SubprocessSteps, CloseFdsByDefault) {
    const int leaky = ::open("/dev/null", O_WRONLY);  // no O_CLOEXEC
    ASSERT_GT(leaky, 2);
    run([leaky]() -> coro<void> {
        subprocess_options o = piped(false, true, true);
        auto p = co_await create_subprocess_shell("echo x >&" + std::to_string(leaky) + " && echo open", o);
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, "");
        EXPECT_NE(p.returncode(), 0);
    }());
    ::close(leaky);
}

// ---- signals

// test_kill
TEST_F(SubprocessSteps, Kill) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("block"), quiet());
        p.kill();
        EXPECT_EQ(co_await p.wait(), -SIGKILL);
        EXPECT_EQ(p.returncode(), -SIGKILL);
    }());
}

// test_kill_issue43884: killing the shell ends wait() with -SIGKILL even though a
// grandchild held the stdout pipe for a while.
TEST_F(SubprocessSteps, KillShellWithAGrandchild) {
    run([]() -> coro<void> {
        subprocess_options o = piped(false, true);
        auto p = co_await create_subprocess_shell("sleep 0.2; sleep 0.2", o);
        co_await duet::sleep(0.05);
        p.kill();
        EXPECT_EQ(co_await p.wait(), -SIGKILL);
        EXPECT_EQ(co_await p.std_out().read(), "");
    }());
}

// test_terminate
TEST_F(SubprocessSteps, Terminate) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("block"), quiet());
        p.terminate();
        EXPECT_EQ(co_await p.wait(), -SIGTERM);
    }());
}

// test_send_signal: once the child reports it is running, SIGHUP (at its default action)
// ends it.
TEST_F(SubprocessSteps, SendSignal) {
    struct sigaction old {};
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGHUP, &dfl, &old);
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("block"), piped(false, true));
        EXPECT_EQ(co_await p.std_out().readline(), "ready\n");
        p.send_signal(SIGHUP);
        EXPECT_EQ(co_await p.wait(), -SIGHUP);
    }());
    ::sigaction(SIGHUP, &old, nullptr);
}

// kill twice before the exit is reported, then signals once the child is reaped: no
// error, and the code stays the first signal's. (asyncio's Popen: a no-op once reaped.)
TEST_F(SubprocessSteps, KillTwiceAndSignalsAfterExit) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("block"), quiet());
        p.kill();
        p.kill();
        EXPECT_EQ(co_await p.wait(), -SIGKILL);
        p.kill();
        p.terminate();
        p.send_signal(SIGHUP);
        EXPECT_EQ(p.returncode(), -SIGKILL);
        auto q = co_await create_subprocess_exec(helper, args("exit", "2"));
        EXPECT_EQ(co_await q.wait(), 2);
        q.send_signal(SIGTERM);
        q.kill();
        EXPECT_EQ(q.returncode(), 2);
    }());
}

// ---- waiting and cancelling

// wait several times, and from several tasks at once: each gets the same code.
TEST_F(SubprocessSteps, WaitSeveralTimesAndConcurrently) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("block"), piped(false, true));
        EXPECT_EQ(co_await p.std_out().readline(), "ready\n");
        auto a = create_task(p.wait());
        auto b = create_task(p.wait());
        co_await duet::sleep(0);
        EXPECT_FALSE(a.done() || b.done());
        p.kill();
        EXPECT_EQ(co_await a, -SIGKILL);
        EXPECT_EQ(co_await b, -SIGKILL);
        EXPECT_EQ(co_await p.wait(), -SIGKILL);
        EXPECT_EQ(co_await p.wait(), -SIGKILL);
    }());
}

// test_cancel_process_wait: a cancelled wait leaves the child running; cancelling the done
// task again does nothing; kill and wait still work.
TEST_F(SubprocessSteps, CancelProcessWait) {
    run([this]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("block"), quiet());
        auto t = create_task(p.wait());
        auto cancel = [t]() mutable { t.cancel(); };
        loop().call_soon(cancel);
        bool cancelled = false;
        try {
            co_await t;
        } catch (const cancelled_error&) {
            cancelled = true;
        }
        EXPECT_TRUE(cancelled);
        EXPECT_FALSE(t.cancel());
        EXPECT_FALSE(p.returncode());
        p.kill();
        EXPECT_EQ(co_await p.wait(), -SIGKILL);
    }());
}

// Cancelling communicate: the child keeps running with its pipes; a later wait works.
TEST_F(SubprocessSteps, CancelCommunicate) {
    run([]() -> coro<void> {
        auto p = co_await create_subprocess_exec(helper, args("block"), piped(false, true));
        bool timed_out = false;
        try {
            co_await wait_for(p.communicate(), 0.05);
        } catch (const timeout_error&) {
            timed_out = true;
        }
        EXPECT_TRUE(timed_out);
        EXPECT_FALSE(p.returncode());
        p.terminate();
        EXPECT_EQ(co_await p.wait(), -SIGTERM);
    }());
}

// test_cancel_make_subprocess_transport_exec: create_subprocess_exec cancelled on the next
// loop turn; whatever was started is gone when the cancellation is delivered.
TEST_F(SubprocessSteps, CancelMakeSubprocessTransportExec) {
    run([this]() -> coro<void> {
        auto t = create_task(create_subprocess_exec(helper, args("block"), piped(true, true, true)));
        auto cancel = [t]() mutable { t.cancel(); };
        loop().call_soon(cancel);
        bool cancelled = false;
        try {
            co_await t;
        } catch (const cancelled_error&) {
            cancelled = true;
        }
        EXPECT_TRUE(cancelled);
        EXPECT_FALSE(has_children());
    }());
}

// test_cancel_post_init: the loop's subprocess_exec with a plain protocol, cancelled the same
// way.
TEST_F(SubprocessSteps, CancelPostInit) {
    run([this]() -> coro<void> {
        auto factory = [] { return std::make_shared<subprocess_protocol>(); };
        auto t = create_task(loop().subprocess_exec(factory, helper, args("block"), piped(true, true, true)));
        auto cancel = [t]() mutable { t.cancel(); };
        loop().call_soon(cancel);
        bool cancelled = false;
        try {
            co_await t;
        } catch (const cancelled_error&) {
            cancelled = true;
        }
        EXPECT_TRUE(cancelled);
        for (int i = 0; i < 3; ++i) co_await duet::sleep(0);
        EXPECT_FALSE(has_children());
    }());
}

// test_close_kill_running: closing the transport of a running child kills it.
TEST_F(SubprocessSteps, CloseKillRunning) {
    run([this]() -> coro<void> {
        auto factory = [] { return std::make_shared<subprocess_protocol>(); };
        auto tp = co_await loop().subprocess_exec(factory, helper, args("block"), quiet());
        auto t = tp.first;
        EXPECT_FALSE(t->get_returncode());
        t->close();
        EXPECT_EQ(co_await wait_for(t->wait(), 5), -SIGKILL);
    }());
}

// test_close_dont_kill_finished: the child exited but the watcher may not have told the
// transport yet; close() must not turn its exit code into a kill.
TEST_F(SubprocessSteps, CloseDontKillFinished) {
    run([this]() -> coro<void> {
        auto factory = [] { return std::make_shared<subprocess_protocol>(); };
        auto tp = co_await loop().subprocess_exec(factory, helper, args("exit", "3"));
        auto t = tp.first;
        // Until it is a zombie, without reaping it (the watcher does that).
        siginfo_t si{};
        while (::waitid(P_PID, static_cast<id_t>(t->get_pid()), &si, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
        }
        t->close();
        EXPECT_EQ(co_await wait_for(t->wait(), 5), 3);
    }());
}

// ---- failures

// test_popen_error, test_popen_error_with_stdin_pipe: a failed start raises and leaves no
// pipe open and no child (here: the program does not exist, FileNotFoundError). A child
// started first makes the loop's own per-loop state (the pidfd watcher's epoll set), which
// is not the failed start's.
TEST_F(SubprocessSteps, SpawnErrorLeaksNothing) {
    run([]() -> coro<void> {
        auto first = co_await create_subprocess_exec("/bin/true");
        EXPECT_EQ(co_await first.wait(), 0);
        const int before = count_fds();
        for (bool in : {false, true}) {
            std::error_code code;
            try {
                auto p = co_await create_subprocess_exec("/nonexistent/duet-subp", args("x"), piped(in, true, true));
                ADD_FAILURE() << "started " << p.pid();
            } catch (const std::system_error& e) {
                code = e.code();
            }
            EXPECT_EQ(code, std::errc::no_such_file_or_directory);
            EXPECT_EQ(count_fds(), before);
            EXPECT_FALSE(has_children());
        }
        // Through the shell the start succeeds; sh reports 127.
        subprocess_options o = piped(false, false, false);
        o.std_err = subprocess::devnull;
        auto p = co_await create_subprocess_shell("/nonexistent/duet-subp", o);
        EXPECT_EQ(co_await p.wait(), 127);
    }());
}

// ---- the protocol

struct recording_protocol : subprocess_protocol {
    std::vector<std::string> events;
    std::map<int, std::string> data;
    std::shared_ptr<subprocess_transport> tr;
    void connection_made(std::shared_ptr<subprocess_transport> t) override {
        tr = std::move(t);
        events.emplace_back("connection_made");
    }
    void pipe_data_received(int fd, std::string_view d) override {
        data[fd] += d;
        if (events.back() != "pipe_data_received " + std::to_string(fd))
            events.push_back("pipe_data_received " + std::to_string(fd));
    }
    void pipe_connection_lost(int fd, std::exception_ptr e) override {
        events.push_back("pipe_connection_lost " + std::to_string(fd) + (e ? " error" : ""));
    }
    void process_exited() override { events.emplace_back("process_exited"); }
    void connection_lost(std::exception_ptr e) override {
        events.emplace_back(e ? "connection_lost error" : "connection_lost");
        tr.reset();
    }
};

// test_subprocess_consistent_callbacks (gh-108973): every protocol method is called; per
// pipe the data comes before pipe_connection_lost; connection_made first, connection_lost
// last. (Between the pipes and process_exited the order is the OS's.)
TEST_F(SubprocessSteps, ConsistentCallbacks) {
    run([this]() -> coro<void> {
        std::shared_ptr<recording_protocol> proto;
        auto factory = [&proto] {
            proto = std::make_shared<recording_protocol>();
            return proto;
        };
        auto tp = co_await loop().subprocess_exec(factory, "/bin/sh", args("-c", "printf stdout; printf stderr >&2"),
                                                  piped(false, true, true));
        EXPECT_EQ(co_await tp.first->wait(), 0);
        const auto& ev = proto->events;
        auto at = [&ev](const std::string& e) { return std::find(ev.begin(), ev.end(), e) - ev.begin(); };
        const auto n = static_cast<std::ptrdiff_t>(ev.size());
        for (const char* e : {"pipe_data_received 1", "pipe_data_received 2", "pipe_connection_lost 1",
                              "pipe_connection_lost 2", "process_exited"}) {
            EXPECT_LT(at(e), n) << e << " missing";
            EXPECT_EQ(std::count(ev.begin(), ev.end(), std::string(e)), 1) << e;
        }
        EXPECT_LT(at("pipe_data_received 1"), at("pipe_connection_lost 1"));
        EXPECT_LT(at("pipe_data_received 2"), at("pipe_connection_lost 2"));
        CO_ASSERT_TRUE(n == 7);
        EXPECT_EQ(ev.front(), "connection_made");
        EXPECT_EQ(ev.back(), "connection_lost");
        EXPECT_EQ(proto->data[1], "stdout");
        EXPECT_EQ(proto->data[2], "stderr");
    }());
}

}  // namespace
}  // namespace duet::subtest
