// The five child watchers (asyncio's "Process Watchers") with real children: every case
// runs once per watcher. Exit codes and signals, handler replacement and removal, an exit
// before registration, a pid reaped elsewhere (255 + a warning), moving to another loop,
// detaching and re-attaching, close, SIGCHLD ownership, the policy accessors, and a storm
// of 1,000 children. Each case checks that no child (zombie or running), fd or thread is
// left behind.
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>

#include "fd_count.hpp"

extern char** environ;

// The SIGCHLD watchers (safe, fast, multi_loop) land after pidfd and threaded.
#define WITH_SIGCHLD_WATCHERS 1

// ASSERT_* return from the function, which a coroutine may not: this co_returns.
#define CO_ASSERT_EQ(a, b)                                                              \
    do {                                                                                \
        if (!((a) == (b))) {                                                            \
            ADD_FAILURE() << #a << " == " << #b << " failed: " << (a) << " vs " << (b); \
            co_return;                                                                  \
        }                                                                               \
    } while (0)

namespace duet::test {
namespace {

using nettest::count_fds;

enum class kind { pidfd, threaded, safe, fast, multi_loop };

std::string kind_name(kind k) {
    switch (k) {
        case kind::pidfd:
            return "pidfd";
        case kind::threaded:
            return "threaded";
        case kind::safe:
            return "safe";
        case kind::fast:
            return "fast";
        case kind::multi_loop:
            return "multi_loop";
    }
    return "?";
}

std::shared_ptr<abstract_child_watcher> make_watcher(kind k) {
    switch (k) {
        case kind::pidfd:
            return std::make_shared<pidfd_child_watcher>();
        case kind::threaded:
            return std::make_shared<threaded_child_watcher>();
#if WITH_SIGCHLD_WATCHERS
        case kind::safe:
            return std::make_shared<safe_child_watcher>();
        case kind::fast:
            return std::make_shared<fast_child_watcher>();
        case kind::multi_loop:
            return std::make_shared<multi_loop_child_watcher>();
#else
        default:
            break;
#endif
    }
    return nullptr;
}

bool uses_sigchld(kind k) {
    return k == kind::safe || k == kind::fast || k == kind::multi_loop;
}

// posix_spawn of an absolute program; the child's pid.
int spawn(std::vector<std::string> argv) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv[0]);
    return pid;
}
int spawn_true() {
    return spawn({"/bin/true"});
}
int spawn_exit(int code) {
    return spawn({"/bin/sh", "-c", "exit " + std::to_string(code)});
}
int spawn_sleep() {
    return spawn({"/bin/sleep", "30"});
}

// Blocks until pid has exited, without reaping it (true), or finds it already reaped (false).
bool wait_exited_unreaped(int pid) {
    siginfo_t si{};
    for (;;) {
        if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOWAIT) == 0) return true;
        if (errno != EINTR) return false;
    }
}

// Reaps pid if nobody else has (a watcher may have).
void reap(int pid) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
}

// Children of this process that /proc lists (zombies included).
int proc_children() {
    int n = 0;
    const std::string me = std::to_string(::getpid());
    if (DIR* d = ::opendir("/proc")) {
        while (auto* e = ::readdir(d)) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
            std::string line;
            if (!std::getline(f, line)) continue;
            // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
            auto close = line.rfind(')');
            if (close == std::string::npos) continue;
            std::string state, ppid;
            std::istringstream rest(line.substr(close + 1));
            rest >> state >> ppid;
            if (ppid == me) ++n;
        }
        ::closedir(d);
    }
    return n;
}

int threads_of_process() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/task")) {
        while (auto* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
    }
    return n;
}

bool sigchld_is_default() {
    struct sigaction old {};
    ::sigaction(SIGCHLD, nullptr, &old);
    return !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
}

// libuv opens its signal pipes once per process (first loop, first signal watcher): made
// before any fd count.
void warm_up() {
    static bool done = [] {
        event_loop loop;
        loop.add_signal_handler(SIGUSR2, [] {});
        loop.remove_signal_handler(SIGUSR2);
        loop.close();
        return true;
    }();
    (void)done;
}

// Waits (polling each millisecond) until pred() holds; the test's wait_for bounds it.
coro<void> until(std::function<bool()> pred) {
    while (!pred()) co_await duet::sleep(0.001);
}

struct exit_record {
    int pid;
    int returncode;
    abstract_event_loop* loop;
};

class ChildWatcher : public ::testing::TestWithParam<kind> {
protected:
    void SetUp() override {
        warm_up();
        threads_before_ = threads_of_process();
        fds_before_ = count_fds();
        loop_.emplace();
        loop_->set_exception_handler(
            [this](abstract_event_loop&, const exception_context& c) { warnings.push_back(c.message); });
        w_ = make_watcher(GetParam());
        w_->attach_loop(&*loop_);
    }
    void TearDown() override {
        w_->close();
        w_.reset();
        if (loop_) {
            loop_->close();
            loop_.reset();
        }
        // Every exit was delivered or reaped by the test: nothing is left to reap.
        int st = 0;
        errno = 0;
        EXPECT_EQ(::waitpid(-1, &st, WNOHANG), -1) << "a child is left";
        EXPECT_EQ(errno, ECHILD);
        EXPECT_EQ(proc_children(), 0) << "a child (or zombie) is listed in /proc";
        EXPECT_EQ(count_fds(), fds_before_) << "an fd leaked";
        EXPECT_TRUE(sigchld_is_default()) << "SIGCHLD's disposition was not restored";
        // Threads end right after their child is reaped (the watcher joined or let them go).
        for (int i = 0; i < 2000 && threads_of_process() > threads_before_; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        EXPECT_EQ(threads_of_process(), threads_before_) << "a thread is left";
    }

    template <class T>
    T run(coro<T> c, double limit = 15) {
        return loop_->run_until_complete(wait_for(std::move(c), limit));
    }
    // A handler recording into got.
    abstract_child_watcher::child_callback recorder() {
        return [this](int pid, int rc) { got.push_back({pid, rc, running_loop()}); };
    }
    coro<void> until_got(std::size_t n) {
        co_await until([this, n] { return got.size() >= n; });
    }

    event_loop& loop() { return *loop_; }
    abstract_child_watcher& w() { return *w_; }

    std::vector<exit_record> got;
    std::vector<std::string> warnings;
    std::optional<event_loop> loop_;
    std::shared_ptr<abstract_child_watcher> w_;

private:
    int fds_before_ = 0;
    int threads_before_ = 0;
};

TEST_P(ChildWatcher, ReturnCodesAreExitStatusOrMinusTheSignal) {
    auto body = [&]() -> coro<void> {
        const int t = spawn_true();
        const int seven = spawn_exit(7);
        const int killed = spawn_sleep();
        const int termed = spawn_sleep();
        for (int pid : {t, seven, killed, termed}) w().add_child_handler(pid, recorder());
        ::kill(killed, SIGKILL);
        ::kill(termed, SIGTERM);
        co_await until_got(4);
        std::map<int, int> rc;
        for (auto& r : got) {
            rc[r.pid] = r.returncode;
            EXPECT_EQ(r.loop, &loop()) << "the callback runs on the loop";
        }
        EXPECT_EQ(rc[t], 0);
        EXPECT_EQ(rc[seven], 7);
        EXPECT_EQ(rc[killed], -SIGKILL);
        EXPECT_EQ(rc[termed], -SIGTERM);
        co_await duet::sleep(0.02);
        EXPECT_EQ(got.size(), 4u) << "each exit is delivered once";
        EXPECT_TRUE(warnings.empty());
    };
    run(body());
}

TEST_P(ChildWatcher, ASecondHandlerReplacesTheFirst) {
    auto body = [&]() -> coro<void> {
        const int pid = spawn_sleep();
        int first = 0;
        w().add_child_handler(pid, [&](int, int) { ++first; });
        w().add_child_handler(pid, recorder());
        ::kill(pid, SIGKILL);
        co_await until_got(1);
        co_await duet::sleep(0.02);
        EXPECT_EQ(first, 0);
        CO_ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0].pid, pid);
        EXPECT_EQ(got[0].returncode, -SIGKILL);
    };
    run(body());
}

TEST_P(ChildWatcher, RemovedHandlerNeverRuns) {
    auto body = [&]() -> coro<void> {
        const int pid = spawn_sleep();
        w().add_child_handler(pid, recorder());
        EXPECT_TRUE(w().remove_child_handler(pid));
        EXPECT_FALSE(w().remove_child_handler(pid));
        ::kill(pid, SIGKILL);
        wait_exited_unreaped(pid);
        co_await duet::sleep(0.05);
        EXPECT_TRUE(got.empty());
        // The child is its owner's to reap (threaded and fast reap it themselves).
        reap(pid);
        co_await duet::sleep(0.02);
        EXPECT_TRUE(got.empty());
        EXPECT_TRUE(warnings.empty());
    };
    run(body());
}

TEST_P(ChildWatcher, AChildThatExitedBeforeRegistrationStillFires) {
    auto body = [&]() -> coro<void> {
        const int pid = spawn_exit(3);
        EXPECT_TRUE(wait_exited_unreaped(pid));
        co_await duet::sleep(0.01);  // a SIGCHLD watcher sees the signal first
        w().add_child_handler(pid, recorder());
        co_await until_got(1);
        EXPECT_EQ(got[0].pid, pid);
        EXPECT_EQ(got[0].returncode, 3);
        EXPECT_TRUE(warnings.empty());
    };
    run(body());
}

TEST_P(ChildWatcher, APidReapedElsewhereReports255WithAWarning) {
    auto body = [&]() -> coro<void> {
        const int pid = spawn_true();
        int st = 0;
        EXPECT_EQ(::waitpid(pid, &st, 0), pid);
        w().add_child_handler(pid, recorder());
        co_await until_got(1);
        EXPECT_EQ(got[0].pid, pid);
        EXPECT_EQ(got[0].returncode, 255);
        CO_ASSERT_EQ(warnings.size(), 1u);
        EXPECT_NE(warnings[0].find("pid " + std::to_string(pid)), std::string::npos) << warnings[0];
        EXPECT_NE(warnings[0].find("255"), std::string::npos) << warnings[0];
    };
    run(body());
}

TEST_P(ChildWatcher, AttachedToANewLoopDeliversThere) {
    {
        event_loop other;
        w().attach_loop(&other);
        auto body = [&]() -> coro<void> {
            const int pid = spawn_exit(5);
            w().add_child_handler(pid, recorder());
            co_await until_got(1);
        };
        other.run_until_complete(wait_for(body(), 15));
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0].returncode, 5);
        EXPECT_EQ(got[0].loop, &other);
        // Back to the fixture's loop before `other` goes.
        w().attach_loop(&loop());
        other.close();
    }
    auto body = [&]() -> coro<void> {
        const int pid = spawn_exit(6);
        w().add_child_handler(pid, recorder());
        co_await until_got(2);
        EXPECT_EQ(got[1].returncode, 6);
        EXPECT_EQ(got[1].loop, &loop());
    };
    run(body());
}

TEST_P(ChildWatcher, ExitsWhileDetachedAreDeliveredOnReattach) {
    auto body = [&]() -> coro<void> {
        const int a = spawn_sleep();
        const int b = spawn_sleep();
        w().add_child_handler(a, recorder());
        w().add_child_handler(b, recorder());
        w().attach_loop(nullptr);
        if (GetParam() == kind::safe || GetParam() == kind::fast) {
            EXPECT_FALSE(w().is_active());
        }
        ::kill(a, SIGKILL);
        ::kill(b, SIGTERM);
        wait_exited_unreaped(a);
        wait_exited_unreaped(b);
        co_await duet::sleep(0.05);
        // The SIGCHLD watchers see nothing while detached; the others deliver anyway.
        if (GetParam() == kind::safe || GetParam() == kind::fast) {
            EXPECT_TRUE(got.empty());
        }
        w().attach_loop(&loop());
        EXPECT_TRUE(w().is_active());
        co_await until_got(2);
        co_await duet::sleep(0.02);
        CO_ASSERT_EQ(got.size(), 2u);
        std::map<int, int> rc;
        for (auto& r : got) rc[r.pid] = r.returncode;
        EXPECT_EQ(rc[a], -SIGKILL);
        EXPECT_EQ(rc[b], -SIGTERM);
    };
    run(body());
}

TEST_P(ChildWatcher, CloseForgetsHandlers) {
    auto body = [&]() -> coro<void> {
        const int pid = spawn_sleep();
        w().add_child_handler(pid, recorder());
        w().close();
        if (uses_sigchld(GetParam())) {
            EXPECT_FALSE(w().is_active());
        }
        EXPECT_FALSE(w().remove_child_handler(pid));
        ::kill(pid, SIGKILL);
        wait_exited_unreaped(pid);
        co_await duet::sleep(0.05);
        EXPECT_TRUE(got.empty());
        reap(pid);
        EXPECT_TRUE(sigchld_is_default());
    };
    run(body());
}

TEST_P(ChildWatcher, ActiveOnlyWhenItCanObserveExits) {
    auto fresh = make_watcher(GetParam());
    if (GetParam() == kind::pidfd || GetParam() == kind::threaded) {
        EXPECT_TRUE(fresh->is_active());
        return;
    }
    EXPECT_FALSE(fresh->is_active()) << "unattached";
    EXPECT_TRUE(w().is_active());
    w().attach_loop(nullptr);
    if (GetParam() != kind::multi_loop) {
        EXPECT_FALSE(w().is_active()) << "detached";
    }
    fresh->close();
    EXPECT_FALSE(fresh->is_active());
}

TEST_P(ChildWatcher, SigchldHasOneOwner) {
    if (!uses_sigchld(GetParam())) {
        // No SIGCHLD used: the user may handle it meanwhile.
        int seen = 0;
        loop().add_signal_handler(SIGCHLD, [&] { ++seen; });
        auto body = [&]() -> coro<void> {
            const int pid = spawn_true();
            w().add_child_handler(pid, recorder());
            co_await until_got(1);
            co_await until([&] { return seen > 0; });
        };
        run(body());
        EXPECT_TRUE(loop().remove_signal_handler(SIGCHLD));
        return;
    }
    // The watcher owns SIGCHLD: the user's handler is refused, naming it.
    try {
        loop().add_signal_handler(SIGCHLD, [] {});
        ADD_FAILURE() << "add_signal_handler(SIGCHLD) was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(w().name()), std::string::npos) << e.what();
    }
    // A second SIGCHLD watcher is refused too.
    for (kind k : {kind::safe, kind::fast, kind::multi_loop}) {
        auto other = make_watcher(k);
        try {
            other->attach_loop(&loop());
            ADD_FAILURE() << kind_name(k) << " attached while " << w().name() << " owns SIGCHLD";
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find(w().name()), std::string::npos) << e.what();
        }
        EXPECT_FALSE(other->is_active());
    }
    // The other way round: the user's handler owns it, the watcher is refused.
    w().close();
    loop().add_signal_handler(SIGCHLD, [] {});
    auto fresh = make_watcher(GetParam());
    try {
        fresh->attach_loop(&loop());
        ADD_FAILURE() << "attached while the user handles SIGCHLD";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("add_signal_handler"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fresh->is_active());
    EXPECT_TRUE(loop().remove_signal_handler(SIGCHLD));
    // Given up: the watcher attaches and works.
    fresh->attach_loop(&loop());
    EXPECT_TRUE(fresh->is_active());
    auto body = [&]() -> coro<void> {
        const int pid = spawn_exit(9);
        fresh->add_child_handler(pid, recorder());
        co_await until_got(1);
        EXPECT_EQ(got[0].returncode, 9);
    };
    run(body());
    fresh->close();
}

// 1,000 children, 100 in flight: every exit delivered exactly once.
TEST_P(ChildWatcher, StormOfAThousandChildren) {
    constexpr int total = 1000;
    constexpr int in_flight = 100;
    std::vector<int> deliveries(total, 0);
    std::vector<int> codes(total, -1);
    int started = 0;
    int done = 0;
    auto body = [&]() -> coro<void> {
        while (done < total) {
            while (started < total && started - done < in_flight) {
                const int i = started++;
                const int pid = spawn_true();
                w().add_child_handler(pid, [&, i](int, int rc) {
                    ++deliveries[i];
                    codes[i] = rc;
                    ++done;
                });
            }
            co_await duet::sleep(0.001);
        }
        co_await duet::sleep(0.05);
    };
    run(body(), 30);
    for (int i = 0; i < total; ++i) {
        EXPECT_EQ(deliveries[i], 1) << "child #" << i;
        EXPECT_EQ(codes[i], 0) << "child #" << i;
    }
    EXPECT_TRUE(warnings.empty()) << warnings.front();
}

#if WITH_SIGCHLD_WATCHERS
const auto all_kinds = ::testing::Values(kind::pidfd, kind::threaded, kind::safe, kind::fast, kind::multi_loop);
#else
const auto all_kinds = ::testing::Values(kind::pidfd, kind::threaded);
#endif
INSTANTIATE_TEST_SUITE_P(AllWatchers, ChildWatcher, all_kinds,
                         [](const ::testing::TestParamInfo<kind>& i) { return kind_name(i.param); });

#if WITH_SIGCHLD_WATCHERS
// safe_child_watcher needs the main thread's loop.
TEST(SafeChildWatcher, AttachFromAnotherThreadIsRefused) {
    safe_child_watcher w;
    std::string error;
    std::thread([&] {
        event_loop other;
        try {
            w.attach_loop(&other);
        } catch (const std::runtime_error& e) {
            error = e.what();
        }
        other.close();
    }).join();
    EXPECT_NE(error.find("main thread"), std::string::npos) << error;
    EXPECT_FALSE(w.is_active());
}

// multi_loop_child_watcher delivers to the loop that registered each pid, in any thread.
TEST(MultiLoopChildWatcher, DeliversToLoopsInOtherThreads) {
    multi_loop_child_watcher w;
    w.attach_loop(nullptr);
    ASSERT_TRUE(w.is_active());
    std::vector<std::pair<int, std::thread::id>> got(2);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            event_loop l;
            auto body = [&]() -> coro<void> {
                const int pid = spawn_exit(10 + t);
                bool fired = false;
                w.add_child_handler(pid, [&](int, int rc) {
                    got[t] = {rc, std::this_thread::get_id()};
                    fired = true;
                });
                co_await until([&] { return fired; });
            };
            l.run_until_complete(wait_for(body(), 15));
            l.close();
            EXPECT_EQ(got[t].second, std::this_thread::get_id());
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(got[0].first, 10);
    EXPECT_EQ(got[1].first, 11);
    w.close();
    EXPECT_TRUE(sigchld_is_default());
}

void dummy_sigchld(int) {}

// multi_loop_child_watcher puts back whatever SIGCHLD disposition it found.
TEST(MultiLoopChildWatcher, CloseRestoresThePreviousDisposition) {
    struct sigaction mine {};
    mine.sa_handler = &dummy_sigchld;
    sigemptyset(&mine.sa_mask);
    ASSERT_EQ(::sigaction(SIGCHLD, &mine, nullptr), 0);
    multi_loop_child_watcher w;
    w.attach_loop(nullptr);
    struct sigaction now {};
    ::sigaction(SIGCHLD, nullptr, &now);
    EXPECT_NE(now.sa_handler, &dummy_sigchld) << "installed its own";
    w.close();
    ::sigaction(SIGCHLD, nullptr, &now);
    EXPECT_EQ(now.sa_handler, &dummy_sigchld) << "restored";
    ::signal(SIGCHLD, SIG_DFL);
}
#endif

// The watchers that deliver to the running loop say so when there is none.
TEST(ChildWatcherErrors, AddWithoutARunningLoopIsRefused) {
    for (kind k : {kind::pidfd, kind::threaded, kind::multi_loop}) {
        auto w = make_watcher(k);
        if (!w) continue;
        try {
            w->add_child_handler(12345, [](int, int) {});
            ADD_FAILURE() << kind_name(k);
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find("no running event loop"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("12345"), std::string::npos) << e.what();
        }
        w->close();
    }
}

// --- the policy accessors

struct policy_reset {
    ~policy_reset() { set_event_loop_policy(nullptr); }
};

TEST(ChildWatcherPolicy, TheDefaultIsPidfdMadeOnce) {
    policy_reset r;
    set_event_loop_policy(nullptr);
    ASSERT_TRUE(pidfd_child_watcher::available()) << "this kernel has pidfd_open (TOOLCHAIN.md)";
    auto& w = get_child_watcher();
    EXPECT_STREQ(w.name(), "pidfd_child_watcher");
    EXPECT_EQ(&w, &get_child_watcher());
    EXPECT_EQ(&w, &get_event_loop_policy().get_child_watcher());
}

TEST(ChildWatcherPolicy, MakeChildWatcherByName) {
    for (const char* name : {"pidfd", "threaded", "safe", "fast", "multi_loop"}) {
        auto w = make_child_watcher(name);
        ASSERT_NE(w, nullptr);
        EXPECT_EQ(std::string(w->name()), std::string(name) + "_child_watcher");
    }
    try {
        make_child_watcher("kqueue");
        ADD_FAILURE() << "no error";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("'kqueue'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("multi_loop"), std::string::npos) << e.what();
    }
}

TEST(ChildWatcherPolicy, SetAndGet) {
    policy_reset r;
    set_event_loop_policy(nullptr);
    auto t = std::make_shared<threaded_child_watcher>();
    set_child_watcher(t);
    EXPECT_EQ(&get_child_watcher(), t.get());
    set_child_watcher(nullptr);
    EXPECT_STREQ(get_child_watcher().name(), "pidfd_child_watcher") << "the default again";
}

#if WITH_SIGCHLD_WATCHERS
TEST(ChildWatcherPolicy, TheMainThreadLoopIsAttached) {
    policy_reset r;
    set_event_loop_policy(nullptr);
    warm_up();
    event_loop loop;
    set_event_loop(&loop);
    auto s = std::make_shared<safe_child_watcher>();
    set_child_watcher(s);
    EXPECT_TRUE(s->is_active()) << "set in the main thread, which has a loop: attached";
    set_event_loop(nullptr);
    EXPECT_FALSE(s->is_active()) << "set_event_loop in the main thread re-attaches (to none)";
    set_event_loop(&loop);
    EXPECT_TRUE(s->is_active());
    // Delivery through the policy's watcher.
    int rc = -1;
    auto body = [&]() -> coro<void> {
        const int pid = spawn_exit(4);
        get_child_watcher().add_child_handler(pid, [&](int, int code) { rc = code; });
        co_await until([&] { return rc != -1; });
    };
    loop.run_until_complete(wait_for(body(), 15));
    EXPECT_EQ(rc, 4);
    // Replacing the watcher closes the old one (SIGCHLD is given back).
    set_child_watcher(std::make_shared<threaded_child_watcher>());
    EXPECT_FALSE(s->is_active());
    loop.add_signal_handler(SIGCHLD, [] {});
    EXPECT_TRUE(loop.remove_signal_handler(SIGCHLD));
    set_event_loop(nullptr);
    loop.close();
}
#endif

TEST(ChildWatcherPolicy, APolicyWithoutWatchersSaysSo) {
    struct bare_policy : abstract_event_loop_policy {
        abstract_event_loop& get_event_loop() override { throw std::runtime_error("unused"); }
        void set_event_loop(abstract_event_loop*) override {}
        std::unique_ptr<abstract_event_loop> new_event_loop() override { return nullptr; }
    };
    policy_reset r;
    set_event_loop_policy(std::make_unique<bare_policy>());
    try {
        get_child_watcher();
        ADD_FAILURE() << "no error";
    } catch (const not_supported_error& e) {
        EXPECT_NE(std::string(e.what()).find("bare_policy"), std::string::npos) << e.what();
    }
    EXPECT_THROW(set_child_watcher(std::make_shared<pidfd_child_watcher>()), not_supported_error);
}

}  // namespace
}  // namespace duet::test
