// Runs ordinary duet code — tasks, sleeps, futures, call_soon_threadsafe — on the custom
// poll(2) loop (duet::basic_event_loop<poll_backend>), and uses what its backend can do that
// not every backend can: add_reader on a pipe that a timer callback feeds.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <duet/duet.hpp>

#include "poll_event_loop.hpp"

using duet::examples::poll_event_loop;

namespace {

double t0 = 0;

template <class... A>
void say(poll_event_loop& loop, const char* fmt, A... a) {
    std::printf("[%4.0f ms] ", (loop.time() - t0) * 1e3);
    std::printf(fmt, a...);
    std::putchar('\n');
    std::fflush(stdout);
}

duet::coro<void> worker(poll_event_loop& loop, const char* name, double delay, int rounds) {
    for (int i = 1; i <= rounds; ++i) {
        co_await duet::sleep(delay);
        say(loop, "%s: round %d of %d", name, i, rounds);
    }
}

// A timer callback that writes a line into the pipe every 25 ms and closes it after the
// last one; the reader on the other end sees the lines, then EOF.
struct feeder {
    poll_event_loop& loop;
    int fd;
    int sent = 0;
    int total = 3;
    void operator()() {
        std::string line = "line " + std::to_string(++sent);
        say(loop, "feeder: writing '%s'", line.c_str());
        if (::write(fd, line.data(), line.size()) < 0) std::perror("write");
        if (sent == total) {
            say(loop, "feeder: closing the pipe");
            ::close(fd);
            return;
        }
        loop.call_later(0.025, [this] { (*this)(); });
    }
};

duet::coro<int> main_coro(poll_event_loop& loop) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);

    // The reader runs as a loop callback whenever the pipe is readable; at EOF it removes
    // itself and completes a future the coroutine is waiting on.
    auto eof = loop.create_future<int>();
    int received = 0;
    loop.add_reader(fds[0], [&] {
        char buf[64];
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n > 0) {
            ++received;
            say(loop, "reader: got '%.*s'", static_cast<int>(n), buf);
        } else if (n == 0) {
            bool removed = loop.remove_reader(fds[0]);
            say(loop, "reader: EOF, remove_reader -> %s", removed ? "true" : "false");
            ::close(fds[0]);
            eof.set_result(received);
        }
    });
    feeder feed{loop, fds[1]};
    loop.call_later(0.025, [&feed] { feed(); });

    auto fast = loop.create_task(worker(loop, "fast", 0.02, 3), "fast");
    auto slow = loop.create_task(worker(loop, "slow", 0.045, 2), "slow");
    co_await fast;
    co_await slow;
    int lines = co_await eof;
    say(loop, "main: both workers done, %d lines read", lines);
    co_return lines;
}

}  // namespace

int main() {
    poll_event_loop loop;
    t0 = loop.time();

    // Another thread wakes the loop while it is blocked in poll(): call_soon_threadsafe
    // writes to the loop's self-pipe.
    std::thread helper([&loop] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        loop.call_soon_threadsafe([&loop] { say(loop, "hello from another thread"); });
    });

    int lines = loop.run_until_complete(main_coro(loop));
    helper.join();
    loop.close();
    std::printf("done: %d lines\n", lines);
    return lines == 3 ? 0 : 1;
}
