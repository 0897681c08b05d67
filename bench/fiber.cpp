// Fiber benchmarks (issue 13), in duet_bench's JSON line format (bench/run.py reads them):
//
//   duet_fiber_bench fiber_pingpong [N]  two fibers passing a value through futures,
//                                        duet_bench pingpong_future's scenario with
//                                        duet::await instead of co_await (switches/s)
//   duet_fiber_bench fiber_spawn [N]     spawn N fibers that return at once, gather them
//                                        (tasks/s); natively also the RSS each live fiber
//                                        with the default stack actually touches
//
// Natively on the uv loop; in wasm an ASYNCIFY build (fibers need it) that node runs.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <duet/duet.hpp>

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#else
#include <sys/resource.h>
#endif

namespace {

#ifdef __EMSCRIPTEN__
constexpr const char* target_name = "wasm-node";
// clang-format off
EM_JS(double, js_cpu_seconds, (), { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; });
// clang-format on
double cpu_seconds() {
    return js_cpu_seconds();
}
#else
constexpr const char* target_name = "native";
double cpu_seconds() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}
long rss_kb() {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long v = 0;
    while (std::fgets(line, sizeof line, f))
        if (!std::strncmp(line, "VmRSS:", 6)) {
            v = std::atol(line + 6);
            break;
        }
    std::fclose(f);
    return v;
}
#endif

double wall_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct measure {
    const char* bench;
    long n;
    double t0 = wall_seconds();
    double c0 = cpu_seconds();

    void emit(double ops = 0, const std::string& extra = {}) const {
        double wall = wall_seconds() - t0;
        double cpu = cpu_seconds() - c0;
        if (ops == 0) ops = static_cast<double>(n);
        std::printf(
            "{\"peer\": \"duet\", \"target\": \"%s\", \"bench\": \"%s\", \"n\": %ld, \"wall_s\": %.6f, \"cpu_s\": "
            "%.6f, \"rate\": %.1f, \"ns_per_op\": %.2f%s}\n",
            target_name, bench, n, wall, cpu, ops / wall, wall * 1e9 / ops, extra.c_str());
        std::fflush(stdout);
    }
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "duet_fiber_bench: %s\n", what);
    std::exit(1);
}

// ---- fiber_pingpong -----------------------------------------------------------------
// duet_bench's channel (a fresh future per message), received with duet::await.
class channel {
public:
    void send(long v) {
        if (waiter_) {
            auto w = std::move(*waiter_);
            waiter_.reset();
            w.set_result(v);
        } else {
            value_ = v;
            has_ = true;
        }
    }
    long recv() {
        if (has_) {
            has_ = false;
            return value_;
        }
        waiter_ = duet::get_running_loop().create_future<long>();
        auto f = *waiter_;
        return duet::await(f);
    }

private:
    std::optional<duet::future<long>> waiter_;
    long value_ = 0;
    bool has_ = false;
};

duet::coro<void> fiber_pingpong(long n) {
    channel a, b;
    measure m{"fiber_pingpong", n};
    auto pong = duet::spawn_fiber([&] {
        for (;;) {
            long v = a.recv();
            if (v < 0) return;
            b.send(v);
        }
    });
    auto ping = duet::spawn_fiber([&] {
        for (long i = 0; i < n; ++i) {
            a.send(i);
            if (b.recv() != i) fail("fiber_pingpong: wrong reply");
        }
        a.send(-1);
    });
    co_await duet::gather(std::move(ping), std::move(pong));
    m.emit(2.0 * static_cast<double>(n), ", \"unit\": \"switch\"");
}

// ---- fiber_spawn ----------------------------------------------------------------------
long counter = 0;

duet::coro<void> fiber_spawn(long n) {
    std::string extra;
#ifndef __EMSCRIPTEN__
    {
        // Memory per live fiber, default stack: 10,000 fibers each blocked on an event.
        constexpr long live = 10'000;
        duet::event go;
        std::vector<duet::task<void>> parked;
        parked.reserve(live);
        long before = rss_kb();
        for (long i = 0; i < live; ++i) parked.push_back(duet::spawn_fiber([&go] { duet::await(go.wait()); }));
        co_await duet::sleep(0);  // every fiber has run up to its await
        long during = rss_kb();
        go.set();
        co_await duet::gather(std::move(parked));
        extra = ", \"rss_bytes_per_live_fiber\": " + std::to_string((during - before) * 1024 / live);
    }
#endif
    measure m{"fiber_spawn", n};
    std::vector<duet::task<void>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) tasks.push_back(duet::spawn_fiber([] { ++counter; }));
    co_await duet::gather(std::move(tasks));
    if (counter != n) fail("fiber_spawn: not every fiber ran");
    m.emit(0, extra);
}

struct bench_entry {
    const char* name;
    long default_n;
    duet::coro<void> (*make)(long);
};

const bench_entry benches[] = {
    {"fiber_pingpong", 1'000'000, fiber_pingpong},
    {"fiber_spawn", 1'000'000, fiber_spawn},
};

}  // namespace

int main(int argc, char** argv) {
    const bench_entry* b = nullptr;
    for (const auto& e : benches)
        if (argc >= 2 && std::strcmp(argv[1], e.name) == 0) b = &e;
    if (!b) {
        std::fprintf(stderr, "usage: duet_fiber_bench BENCH [N]\nBENCH: fiber_pingpong fiber_spawn\n");
        return 2;
    }
    long n = argc > 2 ? std::atol(argv[2]) : b->default_n;
    if (n <= 0) fail("N must be a positive integer");
    duet::run(b->make(n));
    return 0;
}
