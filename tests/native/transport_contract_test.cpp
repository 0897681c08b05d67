// Contract details of the uv transports that the broader suites leave loose (issue 11's
// audit): the exact flow-control thresholds (pause when the buffer is > high, resume as
// soon as it is <= low, not when it is empty), the synchronous first write, writelines,
// signal delivery outside the signal handler, cancelled DNS lookups, and the
// connection-refused error. Every test checks that no fd leaks (the net_test fixture).
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <duet/event_loop.hpp>

#include "net_test_util.hpp"
#include "signal_test_util.hpp"

namespace duet::nettest {
namespace {

// net_test that also counts fds itself, so that a test can close its loop and check for
// leaks explicitly in its body.
class TransportContract : public net_test {
protected:
    void SetUp() override {
        nettest::open_libuv_process_fds();
        fds_at_start = count_fds();
        net_test::SetUp();
    }
    int fds_at_start = 0;
};

// A probe that notes the transport's buffer size at each pause_writing / resume_writing.
struct flow_probe : probe {
    std::vector<std::size_t> size_at_pause, size_at_resume;
    void pause_writing() override {
        probe::pause_writing();
        size_at_pause.push_back(tr->get_write_buffer_size());
    }
    void resume_writing() override {
        probe::resume_writing();
        size_at_resume.push_back(tr->get_write_buffer_size());
    }
};

// ---- 1. flow-control thresholds, on a write pipe of one page whose reader reads slowly

TEST_F(TransportContract, FlowControlPausesAboveHighAndResumesAtLowBeforeEmpty) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    fd_owner rd(fds[0]);
    const int wr = fds[1];  // the transport owns it
    ASSERT_GE(::fcntl(wr, F_SETPIPE_SZ, 4096), 0) << errno;
    const int cap_i = ::fcntl(wr, F_GETPIPE_SZ);
    ASSERT_GT(cap_i, 0);
    const auto cap = static_cast<std::size_t>(cap_i);
    ASSERT_EQ(::fcntl(rd, F_SETFL, ::fcntl(rd, F_GETFL) | O_NONBLOCK), 0);
    run([&]() -> coro<void> {
        auto factory = [] { return std::make_shared<flow_probe>(); };
        auto tp_ = co_await loop().connect_write_pipe(factory, wr);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        const std::size_t high = 8 * cap;

        // Fill the pipe: the first write leaves part of itself buffered.
        std::size_t total = 2 * cap;
        t->write(std::string(total, 'a'));
        const std::size_t queued = t->get_write_buffer_size();
        CO_ASSERT_TRUE(queued > 0);
        CO_ASSERT_TRUE(queued < high);
        // The buffered part is one libuv write request, already started; what is written
        // from now on waits behind it: high + 2 bytes in all below (up to high, then two
        // single bytes). When the peer takes one pipeful, that request completes and the
        // rest (high + 2 - queued bytes) becomes the next one, the pipe being full again:
        // the first moment the transport looks at its buffer again, so with
        // low = high + 2 - queued the buffer is exactly at low then, far from empty.
        const std::size_t low = high + 2 - queued;
        t->set_write_buffer_limits(high, low);
        EXPECT_EQ(t->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{low, high}));

        // Exactly high buffered: no pause.
        t->write(std::string(high - queued, 'b'));
        total += high - queued;
        EXPECT_EQ(t->get_write_buffer_size(), high);
        EXPECT_EQ(p->events, std::vector<std::string>{"made"});
        // One byte more: one pause.
        t->write("c");
        ++total;
        EXPECT_EQ(t->get_write_buffer_size(), high + 1);
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "pause"}));
        EXPECT_EQ(p->size_at_pause, std::vector<std::size_t>{high + 1});
        // More writes while paused: no second pause.
        t->write("d");
        ++total;
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "pause"}));

        // The peer reads one pipeful at a time, slowly.
        std::string got;
        std::vector<char> buf(cap);
        while (got.size() < total) {
            const ssize_t n = ::read(rd, buf.data(), buf.size());
            if (n > 0) got.append(buf.data(), static_cast<std::size_t>(n));
            CO_ASSERT_TRUE(n > 0 || errno == EAGAIN);
            co_await duet::sleep(0.005);
        }
        EXPECT_EQ(got, std::string(2 * cap, 'a') + std::string(high - queued, 'b') + "cd");
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "pause", "resume"}));
        CO_ASSERT_TRUE(p->size_at_resume.size() == 1u);
        // Resumed at <= low, and before the buffer was empty.
        EXPECT_LE(p->size_at_resume[0], low);
        EXPECT_GT(p->size_at_resume[0], 0u);
        EXPECT_EQ(p->size_at_resume[0], low);  // at low itself (see above): <=, not <
        EXPECT_EQ(t->get_write_buffer_size(), 0u);
        t->close();
        co_await until([&] { return p->lost; });
        EXPECT_FALSE(p->error);
        EXPECT_EQ(p->events, (std::vector<std::string>{"made", "pause", "resume", "lost"}));
    }());
}

// ---- 2. the synchronous first write (uv_try_write)

TEST_F(TransportContract, SmallWritesGoOutBeforeWriteReturns) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        // Back to back, with no loop iteration between: each goes to the kernel inside
        // write(), so none waits behind a queued request.
        std::string sent;
        for (int i = 0; i < 10; ++i) {
            const std::string msg = "small write " + std::to_string(i) + ";";
            t->write(msg);
            sent += msg;
            EXPECT_EQ(t->get_write_buffer_size(), 0u) << "after write " << i;
        }
        co_await until([&] { return accepted[0]->received.size() == sent.size(); });
        EXPECT_EQ(accepted[0]->received, sent);
        EXPECT_EQ(p->events, std::vector<std::string>{"made"});  // never paused
        t->close();
        co_await until([&] { return p->lost && accepted[0]->lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

// ---- 3. transport::writelines

TEST_F(TransportContract, WritelinesSendsTheConcatenationInOrder) {
    run([&]() -> coro<void> {
        auto srv = co_await loop().create_server(probes(), "127.0.0.1", 0);
        auto tp_ = co_await loop().create_connection(client(), "127.0.0.1", srv->sockets().at(0).port);
        [[maybe_unused]] auto& t = tp_.first;
        [[maybe_unused]] auto& p = tp_.second;
        co_await until([&] { return accepted.size() == 1; });
        // Small parts (sent at once) and one larger than the kernel takes (partly queued),
        // so that the later parts queue behind it.
        const std::string big(4u << 20, 'B');
        t->writelines({"one,", "two,", std::string_view(big), ",three"});
        std::vector<std::string> more{"[four]", "", "[five]", std::string(70000, 'F'), "[six]"};
        t->writelines(more);
        std::string expected = "one,two," + big + ",three";
        for (const auto& s : more) expected += s;
        co_await until([&] { return accepted[0]->received.size() >= expected.size(); });
        EXPECT_EQ(accepted[0]->received.size(), expected.size());
        EXPECT_TRUE(accepted[0]->received == expected) << "the parts arrived out of order or altered";
        t->close();
        co_await until([&] { return p->lost && accepted[0]->lost; });
        srv->close();
        co_await srv->wait_closed();
    }());
}

// ---- 6. connection refused

TEST_F(TransportContract, ConnectionRefusedNamesTheOperationAndTheAddress) {
    run([&]() -> coro<void> {
        const auto port = free_port();
        const std::string where = "connect 127.0.0.1:" + std::to_string(port);
        try {
            co_await loop().create_connection(client(), "127.0.0.1", port);
            ADD_FAILURE() << "connected to a port nobody listens on";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
            EXPECT_EQ(e.code(), std::error_code(ECONNREFUSED, std::generic_category())) << e.what();
            EXPECT_TRUE(contains(e.what(), where)) << e.what();
            EXPECT_FALSE(contains(e.what(), "Multiple exceptions")) << e.what();
        }
        // The streams opener raises the same.
        try {
            co_await open_connection(loop(), "127.0.0.1", port);
            ADD_FAILURE() << "open_connection connected to a port nobody listens on";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
            EXPECT_TRUE(contains(e.what(), where)) << e.what();
        }
    }());
}

// ---- 5. cancelled lookups

TEST_F(TransportContract, CancelledGetnameinfoRaisesCancelledErrorAndReportsNothing) {
    run([&]() -> coro<void> {
        for (int i = 0; i < 20; ++i) {
            bool started = false, completed = false, awaiter_cancelled = false;
            auto lookup = [&]() -> coro<void> {
                started = true;
                try {
                    co_await loop().getnameinfo(socket_address::inet("127.0.0.1", static_cast<std::uint16_t>(80 + i)),
                                                NI_NUMERICHOST | NI_NUMERICSERV);
                    completed = true;
                } catch (const cancelled_error&) {
                    awaiter_cancelled = true;
                    throw;
                }
            };
            auto tk = loop().create_task(lookup());
            // One step: the task has started its lookup and waits for libuv's pool, whose
            // completion cannot be seen before the loop polls again.
            co_await duet::sleep(0);
            EXPECT_TRUE(started);
            tk.cancel();
            bool raised = false;
            try {
                co_await tk;
            } catch (const cancelled_error&) {
                raised = true;
            }
            EXPECT_TRUE(raised) << "lookup " << i;
            EXPECT_TRUE(tk.cancelled()) << "lookup " << i;
            EXPECT_TRUE(awaiter_cancelled) << "lookup " << i;
            EXPECT_FALSE(completed) << "lookup " << i;
        }
        co_await duet::sleep(0.2);  // late completions arrive and touch nothing
        EXPECT_TRUE(errors.empty());
    }());
    EXPECT_TRUE(errors.empty());
    close_loop();
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(count_fds(), fds_at_start);
}

TEST_F(TransportContract, CancelledGetaddrinfoRaisesCancelledErrorAndReportsNothing) {
    run([&]() -> coro<void> {
        int cancelled_in_flight = 0;
        for (int i = 0; i < 20; ++i) {
            auto tk = loop().create_task(loop().getaddrinfo("localhost", std::to_string(1000 + i)));
            // Even: cancelled before it starts; odd: while the pool has it.
            if (i % 2) co_await duet::sleep(0);
            tk.cancel();
            bool raised = false;
            try {
                co_await tk;
            } catch (const cancelled_error&) {
                raised = true;
            }
            EXPECT_TRUE(raised) << "lookup " << i;
            EXPECT_TRUE(tk.cancelled()) << "lookup " << i;
            if (i % 2 && raised) ++cancelled_in_flight;
        }
        EXPECT_EQ(cancelled_in_flight, 10);
        co_await duet::sleep(0.2);  // late completions arrive and touch nothing
        EXPECT_TRUE(errors.empty());
    }());
    EXPECT_TRUE(errors.empty());
    close_loop();
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(count_fds(), fds_at_start);
}

// ---- 4. signals: delivered on the loop thread, never inside the signal handler

class TransportContractSignals : public TransportContract {
protected:
    void SetUp() override {
        // libuv opens its signal pipes with the first signal watcher: before any count.
        nettest::open_libuv_signal_fds();
        TransportContract::SetUp();
    }
    void TearDown() override {
        TransportContract::TearDown();
        EXPECT_TRUE(disposition_is_default(SIGUSR1));
    }
    // Runs the loop until stop() or 20 s (then fails).
    void run_until_stopped() { nettest::run_until_stopped(loop()); }
};

TEST_F(TransportContractSignals, CallbackRunsLaterOnTheLoopNotInsideRaise) {
    int runs = 0;
    std::optional<int> runs_when_raise_returned;
    std::thread::id ran_on;
    abstract_event_loop* ran_in = nullptr;
    const auto loop_thread = std::this_thread::get_id();
    loop().add_signal_handler(SIGUSR1, [&] {
        ++runs;
        ran_on = std::this_thread::get_id();
        ran_in = running_loop();
        loop().stop();
    });
    loop().call_soon([&] {
        ::raise(SIGUSR1);  // the handler has run when raise returns
        runs_when_raise_returned = runs;
    });
    run_until_stopped();
    ASSERT_TRUE(runs_when_raise_returned.has_value());
    EXPECT_EQ(*runs_when_raise_returned, 0) << "the callback ran inside the signal handler";
    EXPECT_EQ(runs, 1);
    EXPECT_EQ(ran_on, loop_thread);
    EXPECT_EQ(ran_in, &loop());
    EXPECT_TRUE(loop().remove_signal_handler(SIGUSR1));
}

// The signal is sent from another thread to the loop's thread.
TEST_F(TransportContractSignals, SignalSentFromAnotherThreadRunsOnTheLoopThread) {
    std::vector<std::thread::id> ran_on;
    const auto loop_thread = std::this_thread::get_id();
    const pthread_t loop_pthread = ::pthread_self();
    loop().add_signal_handler(SIGUSR1, [&] {
        ran_on.push_back(std::this_thread::get_id());
        loop().stop();
    });
    std::thread sender;
    loop().call_soon([&] { sender = std::thread([loop_pthread] { ::pthread_kill(loop_pthread, SIGUSR1); }); });
    run_until_stopped();
    sender.join();
    EXPECT_EQ(ran_on, std::vector<std::thread::id>{loop_thread});
    EXPECT_TRUE(loop().remove_signal_handler(SIGUSR1));
}

// The signal is taken by another thread (its handler runs there): the callback still runs
// on the loop thread.
TEST_F(TransportContractSignals, SignalHandledOnAnotherThreadRunsOnTheLoopThread) {
    std::vector<std::thread::id> ran_on;
    std::thread::id sender_id;
    const auto loop_thread = std::this_thread::get_id();
    loop().add_signal_handler(SIGUSR1, [&] {
        ran_on.push_back(std::this_thread::get_id());
        loop().stop();
    });
    std::thread sender;
    loop().call_soon([&] {
        sender = std::thread([] { ::pthread_kill(::pthread_self(), SIGUSR1); });
        sender_id = sender.get_id();
    });
    run_until_stopped();
    sender.join();
    EXPECT_EQ(ran_on, std::vector<std::thread::id>{loop_thread});
    EXPECT_NE(sender_id, loop_thread);
    EXPECT_TRUE(loop().remove_signal_handler(SIGUSR1));
}

}  // namespace
}  // namespace duet::nettest
