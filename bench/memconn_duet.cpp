// Memory per idle TCP connection in duet, the peer of bench/memconn_uv.c and
// bench/memconn_tokio: N (10,000) connected pairs on 127.0.0.1 on one loop per process,
// every end reading:
//   streams  (default): the server's start_server callback and, on the client, a task per
//            connection await reader.read(64 KiB) (asyncio's usual idle connection);
//   protocol: a duet::protocol holding its transport at each end.
// 2 x N sockets do not fit this machine's fd hard limit (20,000) in one process, so the
// process that listens (the server ends) starts itself again as the client (the connecting
// ends); each measures its RSS before and after its N connections. Prints one JSON line.
// usage: memconn_duet [streams|protocol] [N=10000]   (child: memconn_duet --client VARIANT PORT N)
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <duet/duet.hpp>

extern char** environ;

namespace {

constexpr int in_flight = 128;  // connects outstanding at once, as the other programs

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "memconn_duet: %s\n", what.c_str());
    std::exit(1);
}

long rss_bytes() {
    FILE* f = std::fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f || std::fscanf(f, "%ld %ld", &size, &resident) != 2) die("/proc/self/statm");
    std::fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

void raise_nofile() {
    rlimit r{};
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
}

// ---- the idle ends

duet::coro<void> idle_stream(duet::stream_reader reader, duet::stream_writer writer) {
    try {
        while (!(co_await reader.read(64 * 1024)).empty()) {
        }
    } catch (const std::system_error&) {
    }
    writer.close();
}

class idle_protocol final : public duet::protocol {
public:
    void connection_made(std::shared_ptr<duet::transport> t) override { t_ = std::move(t); }
    void connection_lost(std::exception_ptr) override { t_.reset(); }

private:
    std::shared_ptr<duet::transport> t_;
};

// ---- the client (child process)

duet::coro<void> connect_one(bool streams, std::uint16_t port) {
    if (streams) {
        auto [reader, writer] = co_await duet::open_connection("127.0.0.1", port);
        duet::get_running_loop().create_task(idle_stream(std::move(reader), std::move(writer)));
    } else {
        co_await duet::get_running_loop().create_connection([] { return std::make_shared<idle_protocol>(); },
                                                            "127.0.0.1", port);
    }
}

duet::coro<void> client_main(bool streams, std::uint16_t port, int n) {
    long before = rss_bytes();
    for (int done = 0; done < n;) {
        int k = std::min(in_flight, n - done);
        std::vector<duet::coro<void>> batch;
        batch.reserve(static_cast<std::size_t>(k));
        for (int i = 0; i < k; ++i) batch.push_back(connect_one(streams, port));
        co_await duet::gather(std::move(batch));
        done += k;
    }
    co_await duet::sleep(0.1);  // every reading task has started and waits
    long after = rss_bytes();
    std::printf("%ld %ld\n", before, after);
    std::fflush(stdout);
    // Hold the connections until the server has measured (it closes our stdin then).
    char c;
    while (read(0, &c, 1) > 0) {
    }
    std::_Exit(0);  // the figures are out; 10,000 graceful closes would only cost time
}

// ---- the server (parent process)

struct server_side {
    bool streams = true;
    int n = 10000;
    int accepted = 0;
    duet::event all_in;
    void one_more() {
        if (++accepted == n) all_in.set();
    }
};

class counting_protocol final : public duet::protocol {
public:
    explicit counting_protocol(server_side& s) : s_(s) {}
    void connection_made(std::shared_ptr<duet::transport> t) override {
        t_ = std::move(t);
        s_.one_more();
    }
    void connection_lost(std::exception_ptr) override { t_.reset(); }

private:
    server_side& s_;
    std::shared_ptr<duet::transport> t_;
};

duet::coro<void> server_main(server_side& s, const char* self_variant) {
    auto& loop = duet::get_running_loop();
    duet::server_options so;
    so.backlog = 4096;
    std::shared_ptr<duet::server> srv;
    if (s.streams) {
        srv = co_await duet::start_server(
            [&s](duet::stream_reader r, duet::stream_writer w) {
                s.one_more();
                return idle_stream(std::move(r), std::move(w));
            },
            "127.0.0.1", 0, duet::stream_default_limit, so);
    } else {
        srv = co_await loop.create_server([&s] { return std::make_shared<counting_protocol>(s); }, "127.0.0.1", 0, so);
    }
    std::string port = std::to_string(srv->sockets().at(0).port), count = std::to_string(s.n);

    long before = rss_bytes();
    int to_child[2], from_child[2];
    if (pipe(to_child) || pipe(from_child)) die("pipe: " + std::string(std::strerror(errno)));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from_child[1], 1);
    posix_spawn_file_actions_addclose(&fa, to_child[1]);
    posix_spawn_file_actions_addclose(&fa, from_child[0]);
    std::string exe = "/proc/self/exe", flag = "--client", variant = self_variant;
    char* child_argv[] = {exe.data(), flag.data(), variant.data(), port.data(), count.data(), nullptr};
    pid_t pid;
    if (int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, child_argv, environ))
        die("posix_spawn: " + std::string(std::strerror(rc)));
    posix_spawn_file_actions_destroy(&fa);
    close(to_child[0]);
    close(from_child[1]);

    co_await duet::wait_for(s.all_in.wait(), 120.0);
    co_await duet::sleep(0.1);  // every callback task has started and waits
    long after = rss_bytes();

    // The client has measured by the time it printed; blocking here is fine (all idle).
    FILE* f = fdopen(from_child[0], "r");
    long c_before = 0, c_after = 0;
    if (!f || std::fscanf(f, "%ld %ld", &c_before, &c_after) != 2) die("reading the client's figures");
    std::fclose(f);
    close(to_child[1]);
    int status = 0;
    waitpid(pid, &status, 0);
    double sb = static_cast<double>(after - before) / s.n, cb = static_cast<double>(c_after - c_before) / s.n;
    std::printf(
        "{\"peer\": \"duet_%s\", \"bench\": \"memconn\", \"n\": %d, \"server_rss_before\": %ld, "
        "\"server_rss_after\": %ld, \"client_rss_before\": %ld, \"client_rss_after\": %ld, "
        "\"server_bytes_per_conn\": %.1f, \"client_bytes_per_conn\": %.1f, \"bytes_per_pair\": %.1f}\n",
        self_variant, s.n, before, after, c_before, c_after, sb, cb, sb + cb);
    std::fflush(stdout);
    std::_Exit(0);  // as the client: skip 10,000 closes
}

}  // namespace

int main(int argc, char** argv) {
    raise_nofile();
    if (argc > 4 && std::strcmp(argv[1], "--client") == 0) {
        duet::run(client_main(std::strcmp(argv[2], "streams") == 0, static_cast<std::uint16_t>(std::atoi(argv[3])),
                              std::atoi(argv[4])));
        return 0;
    }
    server_side s;
    const char* variant = argc > 1 ? argv[1] : "streams";
    if (std::strcmp(variant, "streams") != 0 && std::strcmp(variant, "protocol") != 0) {
        std::fprintf(stderr, "usage: memconn_duet [streams|protocol] [N]\n");
        return 2;
    }
    s.streams = std::strcmp(variant, "streams") == 0;
    if (argc > 2) s.n = std::atoi(argv[2]);
    duet::run(server_main(s, variant));
    return 0;
}
