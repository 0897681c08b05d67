// Helpers of the native stream tests: a fixture that owns a uv loop, records what its
// exception handler hears and checks that no fd leaks (/proc/self/fd counted before the
// loop exists and after it is closed); recording protocols; small socket utilities.
// (The tests name a (transport, protocol) pair's halves by reference, not with structured
// bindings: clang 14 cannot capture those in the lambdas the tests wait with.)
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <duet/duet.hpp>

// GTEST_SKIP from a coroutine: the test body skips after run() (see net_test::skipped).
#define CO_SKIP(why)         \
    do {                     \
        skip_reason = (why); \
        co_return;           \
    } while (0)

#include "co_assert.hpp"
#include "fd_count.hpp"

namespace duet::nettest {

inline std::string what_of(const std::exception_ptr& e) {
    if (!e) return "(none)";
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (const cancelled_error& c) {
        return std::string("cancelled: ") + c.what();
    } catch (...) {
        return "(unknown exception)";
    }
}

inline std::error_code code_of(const std::exception_ptr& e) {
    try {
        if (e) std::rethrow_exception(e);
    } catch (const std::system_error& x) {
        return x.code();
    } catch (...) {
    }
    return {};
}

// Waits (polling each millisecond) until pred() holds; the test's wait_for bounds it.
inline coro<void> until(std::function<bool()> pred) {
    while (!pred()) co_await duet::sleep(0.001);
}

inline bool contains(const std::string& hay, std::string_view needle) {
    return hay.find(needle) != std::string::npos;
}

// Records every callback; echoes if asked to.
struct probe : protocol {
    std::shared_ptr<transport> tr;
    std::string received;
    std::vector<std::string> events;
    bool keep_open = false;  // what eof_received answers
    bool echo = false;
    bool pause_on_made = false;
    bool lost = false;
    std::exception_ptr error;
    std::function<void(probe&)> on_data;

    void connection_made(std::shared_ptr<transport> t) override {
        tr = std::move(t);
        events.push_back("made");
        if (pause_on_made) tr->pause_reading();
    }
    void data_received(std::string_view d) override {
        received += d;
        if (echo) tr->write(d);
        if (on_data) on_data(*this);
    }
    bool eof_received() override {
        events.push_back("eof");
        return keep_open;
    }
    void pause_writing() override { events.push_back("pause"); }
    void resume_writing() override { events.push_back("resume"); }
    void connection_lost(std::exception_ptr e) override {
        events.push_back("lost");
        lost = true;
        error = std::move(e);
    }
    bool has(std::string_view ev) const {
        for (const auto& e : events)
            if (e == ev) return true;
        return false;
    }
};

// The zero-copy protocol: reads land in its own small buffer.
struct buffered_probe : buffered_protocol {
    std::shared_ptr<transport> tr;
    std::string received;
    char buf[777];  // an odd size: reads get split
    std::size_t get_buffer_calls = 0;
    bool echo = false;
    bool eof = false;
    bool lost = false;
    std::exception_ptr error;

    void connection_made(std::shared_ptr<transport> t) override { tr = std::move(t); }
    std::span<char> get_buffer(std::size_t) override {
        ++get_buffer_calls;
        return buf;
    }
    void buffer_updated(std::size_t n) override {
        received.append(buf, n);
        if (echo) tr->write(std::string_view(buf, n));
    }
    bool eof_received() override {
        eof = true;
        return false;
    }
    void connection_lost(std::exception_ptr e) override {
        lost = true;
        error = std::move(e);
    }
};

class net_test : public ::testing::Test {
protected:
    void SetUp() override {
        // libuv opens a process-wide pipe with its first loop (for signals): open it before
        // counting.
        open_libuv_process_fds();
        fds_before_ = count_fds();
        loop_ = std::make_unique<event_loop>();
        loop_->set_exception_handler([this](abstract_event_loop&, const exception_context& c) {
            errors.push_back(c.message + (c.exception ? " | " + what_of(c.exception) : std::string()));
        });
    }
    void TearDown() override {
        close_loop();
        accepted.clear();
        buffered_accepted.clear();
        EXPECT_EQ(count_fds(), fds_before_) << "file descriptors leaked";
        if (check_errors)
            for (const auto& e : errors) ADD_FAILURE() << "exception handler: " << e;
    }
    void close_loop() {
        if (loop_) {
            loop_->close();
            loop_.reset();
        }
    }
    event_loop& loop() { return *loop_; }

    // Runs the coroutine on the loop, failing (not hanging) after `timeout` seconds.
    template <class C>
    auto run(C&& c, double timeout = 20) {
        return loop_->run_until_complete(duet::wait_for(std::forward<C>(c), timeout));
    }

    // A factory making probes (kept in `accepted`), each set up by `setup`.
    protocol_factory_of auto probes(std::function<void(probe&)> setup = {}) {
        return [this, setup] {
            auto p = std::make_shared<probe>();
            if (setup) setup(*p);
            accepted.push_back(p);
            return p;
        };
    }
    auto echoes() {
        return probes([](probe& p) { p.echo = true; });
    }
    auto buffered_echoes() {
        return [this] {
            auto p = std::make_shared<buffered_probe>();
            p->echo = true;
            buffered_accepted.push_back(p);
            return p;
        };
    }
    static auto client() {
        return [] { return std::make_shared<probe>(); };
    }

    std::string skip_reason;          // set by CO_SKIP
    std::vector<std::string> errors;  // what the exception handler heard
    bool check_errors = true;         // fail the test if it heard anything unexpected
    std::vector<std::shared_ptr<probe>> accepted;
    std::vector<std::shared_ptr<buffered_probe>> buffered_accepted;

private:
    int fds_before_ = 0;
    std::unique_ptr<event_loop> loop_;
};

// net_test with a temporary directory for Unix sockets, removed with the test.
class net_test_in_dir : public net_test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/duet-net-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        net_test::SetUp();
    }
    void TearDown() override {
        net_test::TearDown();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string path(const std::string& name) const { return dir_ + "/" + name; }
    std::string dir_;
};

// A TCP port on 127.0.0.1 that nothing listens on (bound, read, released).
inline std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace duet::nettest
