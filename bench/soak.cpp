// Soak (not in CI; scripts/bench.sh --only soak or run directly): a duet echo server and
// CONNECTIONS (1,000) clients on one loop in this process, for SECONDS (30). Each client
// opens a connection, does 1-20 echo round trips of 1 B-4 KiB (write, drain, readexactly),
// then closes it gracefully, or every tenth time sends one more message and aborts at once
// (the server's echo then meets a closed socket), and starts over until the time is up. Prints the open fds, RSS,
// libuv's handles (all, and active) and the loop's tasks at the start, after a warm-up, every 5 s and at the end (once
// the server side has let go of its connections), then one JSON line. Exits 1 if fds or
// handles are not back where they started, or a client failed. 127.0.0.1 only; every wait
// is bounded, so it stops by itself.
// usage: soak [--connections N] [--seconds S] [--protocol]
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <duet/duet.hpp>

namespace {

struct snapshot {
    long fds = 0;
    long rss = 0;
    std::size_t handles = 0;         // every uv handle of the loop
    std::size_t active_handles = 0;  // active and referenced ones
    std::size_t tasks = 0;
};

long count_fds() {
    long n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
        --n;  // the directory's own fd
    }
    return n;
}

long rss_bytes() {
    FILE* f = std::fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
        std::fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

struct soak {
    explicit soak(duet::event_loop& l) : loop(l) {}
    duet::event_loop& loop;
    int connections = 1000;
    double seconds = 30;
    bool protocol = false;
    std::uint16_t port = 0;
    double deadline = 0;
    // counters
    std::uint64_t opened = 0, closed = 0, aborted = 0, echoes = 0, client_errors = 0;
    std::string first_error;

    snapshot take() {
        return {count_fds(), rss_bytes(), loop.backend().handle_count(), loop.backend().active_handles(),
                duet::all_tasks(loop).size()};
    }
    void print(const char* when, const snapshot& s) {
        std::printf(
            "%-8s fds=%ld rss=%.1f MiB uv_handles=%zu active=%zu tasks=%zu | opened=%llu closed=%llu "
            "aborted=%llu echoes=%llu errors=%llu\n",
            when, s.fds, static_cast<double>(s.rss) / (1 << 20), s.handles, s.active_handles, s.tasks,
            static_cast<unsigned long long>(opened), static_cast<unsigned long long>(closed),
            static_cast<unsigned long long>(aborted), static_cast<unsigned long long>(echoes),
            static_cast<unsigned long long>(client_errors));
        std::fflush(stdout);
    }
};

// ---- the server side

duet::coro<void> echo_stream(duet::stream_reader reader, duet::stream_writer writer) {
    try {
        for (;;) {
            std::string data = co_await reader.read(64 * 1024);
            if (data.empty()) break;
            writer.write(data);
            co_await writer.drain();
        }
    } catch (const std::system_error&) {
        // A client's abort can surface here as a reset: the connection just ends.
    }
    writer.close();
}

class echo_protocol final : public duet::protocol {
public:
    void connection_made(std::shared_ptr<duet::transport> t) override { t_ = std::move(t); }
    void data_received(std::string_view data) override { t_->write(data); }
    void connection_lost(std::exception_ptr) override { t_.reset(); }

private:
    std::shared_ptr<duet::transport> t_;
};

// ---- the clients

duet::coro<void> session(soak& s, std::mt19937& rng, bool abort_it) {
    auto [reader, writer] = co_await duet::open_connection("127.0.0.1", s.port);
    ++s.opened;
    int trips = std::uniform_int_distribution<int>(1, 20)(rng);
    for (int i = 0; i < trips; ++i) {
        std::string msg(std::uniform_int_distribution<std::size_t>(1, 4096)(rng),
                        static_cast<char>('a' + std::uniform_int_distribution<int>(0, 25)(rng)));
        writer.write(msg);
        co_await writer.drain();
        if (co_await reader.readexactly(static_cast<std::ptrdiff_t>(msg.size())) != msg)
            throw std::runtime_error("an echo came back different");
        ++s.echoes;
    }
    if (abort_it) {
        // A last message the client does not wait for: the server's echo meets a closed
        // socket (a reset), and the abort drops whatever is still buffered here.
        writer.write(std::string(4096, 'z'));
        writer.transport()->abort();
        ++s.aborted;
    } else {
        writer.close();
        co_await writer.wait_closed();
        ++s.closed;
    }
}

duet::coro<void> client(soak& s, int id) {
    std::mt19937 rng(static_cast<std::uint32_t>(id) * 7919u + 1);
    for (std::uint64_t round = 0; s.loop.time() < s.deadline; ++round) {
        try {
            // Bounded: a stuck echo fails this client instead of hanging the soak.
            co_await duet::timeout(10.0).run(session(s, rng, round % 10 == 9));
        } catch (const std::exception& e) {
            if (s.client_errors++ == 0) s.first_error = e.what();
        }
    }
}

duet::coro<int> soak_main(soak& s) {
    std::shared_ptr<duet::server> srv;
    duet::server_options so;
    so.backlog = 4096;
    if (s.protocol) {
        srv = co_await s.loop.create_server([] { return std::make_shared<echo_protocol>(); }, "127.0.0.1", 0, so);
    } else {
        srv = co_await duet::start_server(echo_stream, "127.0.0.1", 0, duet::stream_default_limit, so);
    }
    s.port = srv->sockets().at(0).port;
    std::printf("soak: %d connections x %g s against a duet %s echo server on 127.0.0.1:%u\n", s.connections, s.seconds,
                s.protocol ? "protocol" : "streams", static_cast<unsigned>(s.port));
    snapshot start = s.take();
    s.print("start", start);

    s.deadline = s.loop.time() + s.seconds;
    std::vector<duet::coro<void>> clients;
    for (int i = 0; i < s.connections; ++i) clients.push_back(client(s, i));
    auto all = duet::gather(std::move(clients));  // the clients run as tasks
    std::vector<decltype(all)> watched;
    watched.push_back(all);

    snapshot warm{};
    bool have_warm = false;
    double t0 = s.loop.time();
    while (!all.done()) {
        co_await duet::wait(watched, duet::return_when::all_completed, 5.0);  // 5 s, or all done
        if (all.done()) break;
        snapshot now = s.take();
        // (a std::string: g++ 12 cannot keep a C array in a coroutine frame)
        std::string when = "t=" + std::to_string(static_cast<long>(s.loop.time() - t0 + 0.5)) + "s";
        s.print(when.c_str(), now);
        if (!have_warm) {
            warm = now;
            have_warm = true;
        }
    }
    co_await all;

    // The server side lets go of its connections a little after the clients (their EOFs and
    // resets arrive in later iterations): wait, bounded, for the fds and handles to settle.
    snapshot end = s.take();
    for (int i = 0; i < 500 && (end.fds != start.fds || end.handles != start.handles); ++i) {
        co_await duet::sleep(0.01);
        end = s.take();
    }
    s.print("end", end);
    if (!have_warm) warm = end;

    srv->close();
    co_await duet::wait_for(srv->wait_closed(), 10.0);
    snapshot closed = s.take();
    s.print("closed", closed);

    // Flat: fds and libuv handles back where they started, tasks too, and RSS no more than
    // 5 % (or 1 MiB, for short runs) above its size after the warm-up: the pools keep what
    // they grew to, so growth past the warm-up would be a leak.
    const long rss_slack = std::max(warm.rss / 20, 1L << 20);
    bool flat = end.fds == start.fds && end.handles == start.handles && end.tasks == start.tasks &&
                end.rss <= warm.rss + rss_slack;
    std::printf(
        "soak: fds %ld -> %ld, uv handles %zu -> %zu (active %zu -> %zu), tasks %zu -> %zu, "
        "RSS after warm-up %.1f MiB -> end %.1f MiB (%+.1f%%): %s\n",
        start.fds, end.fds, start.handles, end.handles, start.active_handles, end.active_handles, start.tasks,
        end.tasks, static_cast<double>(warm.rss) / (1 << 20), static_cast<double>(end.rss) / (1 << 20),
        100.0 * static_cast<double>(end.rss - warm.rss) / static_cast<double>(warm.rss), flat ? "flat" : "NOT FLAT");
    if (s.client_errors)
        std::printf("soak: %llu client errors, the first: %s\n", static_cast<unsigned long long>(s.client_errors),
                    s.first_error.c_str());
    std::printf(
        "{\"peer\": \"duet_%s\", \"bench\": \"soak\", \"connections\": %d, \"seconds\": %g, "
        "\"opened\": %llu, \"closed\": %llu, \"aborted\": %llu, \"echoes\": %llu, \"client_errors\": %llu, "
        "\"fds_start\": %ld, \"fds_end\": %ld, \"handles_start\": %zu, "
        "\"handles_end\": %zu, \"active_handles_start\": %zu, \"active_handles_end\": %zu, "
        "\"tasks_start\": %zu, \"tasks_end\": %zu, \"rss_start\": %ld, \"rss_warm\": %ld, \"rss_end\": %ld, "
        "\"flat\": %s, \"rate\": %.1f}\n",
        s.protocol ? "protocol" : "streams", s.connections, s.seconds, static_cast<unsigned long long>(s.opened),
        static_cast<unsigned long long>(s.closed), static_cast<unsigned long long>(s.aborted),
        static_cast<unsigned long long>(s.echoes), static_cast<unsigned long long>(s.client_errors), start.fds, end.fds,
        start.handles, end.handles, start.active_handles, end.active_handles, start.tasks, end.tasks, start.rss,
        warm.rss, end.rss, flat ? "true" : "false", static_cast<double>(s.opened) / s.seconds);
    co_return flat&& s.client_errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    duet::event_loop loop;
    soak s(loop);
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
            s.connections = std::atoi(argv[++i]);
        } else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            s.seconds = std::atof(argv[++i]);
        } else if (std::strcmp(argv[i], "--protocol") == 0) {
            s.protocol = true;
        } else {
            std::fprintf(stderr, "usage: soak [--connections N] [--seconds S] [--protocol]\n");
            return 2;
        }
    }
    int rc = loop.run_until_complete(soak_main(s));
    loop.close();
    return rc;
}
