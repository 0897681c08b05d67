// duet's versions of the peer benchmarks in ../shared/bench-peers (same scenarios, same
// default N, same JSON line). Written against the public API, as a user would.
//
//   duet_bench BENCH [N]
//   native:    callsoon_batch callsoon_chain spawn spawn_yield pingpong_future
//              pingpong_queue timers mem_event mem_sleep
//   wasm/node: callsoon_batch callsoon_chain spawn spawn_yield pingpong_future
//              pingpong_queue jsawait
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <duet/duet.hpp>

#ifdef __EMSCRIPTEN__
#include <emscripten.h>

#include <duet/host.hpp>
#include <duet/js.hpp>
#else
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace {

#ifdef __EMSCRIPTEN__
constexpr const char* target_name = "wasm-node";
// clang-format off
EM_JS(double, js_cpu_seconds, (), { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; });
EM_JS(double, js_minflt, (), { return process.resourceUsage().minorPageFault; });
EM_JS(void, js_exit, (int code), { process.exit(code); });
// clang-format on
double cpu_seconds() {
    return js_cpu_seconds();
}
long minor_faults() {
    return static_cast<long>(js_minflt());
}
#else
constexpr const char* target_name = "native";
double cpu_seconds() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}
long minor_faults() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return r.ru_minflt;
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

// One measurement: wall and CPU time from construction to emit().
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
            "%.6f, \"rate\": %.1f, \"ns_per_op\": %.2f%s, \"minflt_total\": %ld}\n",
            target_name, bench, n, wall, cpu, ops / wall, wall * 1e9 / ops, extra.c_str(), minor_faults());
        std::fflush(stdout);
    }
};

long counter = 0;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "duet_bench: %s\n", what);
    std::exit(1);
}

// ---- 1. call_soon -----------------------------------------------------------------
duet::coro<void> callsoon_batch(long n) {
    auto& loop = duet::get_running_loop();
    auto done = loop.create_future<void>();
    measure m{"callsoon_batch", n};
    for (long i = 0; i < n; ++i)
        loop.call_soon([n, &done] {
            if (++counter == n) done.set_result();
        });
    co_await done;
    m.emit();
}

struct chain_step {
    duet::abstract_event_loop* loop;
    long n;
    duet::future<void>* done;
    void operator()() const {
        if (++counter < n)
            loop->call_soon(chain_step{loop, n, done});
        else
            done->set_result();
    }
};

duet::coro<void> callsoon_chain(long n) {
    auto& loop = duet::get_running_loop();
    auto done = loop.create_future<void>();
    measure m{"callsoon_chain", n};
    loop.call_soon(chain_step{&loop, n, &done});
    co_await done;
    m.emit();
}

// ---- 2. spawn ---------------------------------------------------------------------
duet::coro<void> noop() {
    ++counter;
    co_return;
}
duet::coro<void> yield_once() {
    co_await duet::sleep(0);
    ++counter;
}

duet::coro<void> spawn(long n, bool yield) {
    measure m{yield ? "spawn_yield" : "spawn", n};
    std::vector<duet::task<void>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) tasks.push_back(duet::create_task(yield ? yield_once() : noop()));
    co_await duet::gather(std::move(tasks));
    if (counter != n) fail("spawn: not every task ran");
    m.emit();
}

// ---- 3. ping-pong -----------------------------------------------------------------
// A single-waiter rendezvous on a fresh future per message (the peers' pingpong_future).
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
    duet::coro<long> recv() {
        if (has_) {
            has_ = false;
            co_return value_;
        }
        waiter_ = duet::get_running_loop().create_future<long>();
        auto f = *waiter_;
        co_return co_await f;
    }

private:
    std::optional<duet::future<long>> waiter_;
    long value_ = 0;
    bool has_ = false;
};

duet::coro<void> pong_future(channel& in, channel& out) {
    for (;;) {
        long v = co_await in.recv();
        if (v < 0) co_return;
        out.send(v);
    }
}
duet::coro<void> ping_future(channel& out, channel& in, long n) {
    for (long i = 0; i < n; ++i) {
        out.send(i);
        if (co_await in.recv() != i) fail("pingpong_future: wrong reply");
    }
    out.send(-1);
}
duet::coro<void> pingpong_future(long n) {
    channel a, b;
    measure m{"pingpong_future", n};
    auto pong = duet::create_task(pong_future(a, b));
    auto ping = duet::create_task(ping_future(a, b, n));
    co_await duet::gather(std::move(ping), std::move(pong));
    m.emit(2.0 * static_cast<double>(n), ", \"unit\": \"switch\"");
}

duet::coro<void> pong_queue(duet::queue<long>& in, duet::queue<long>& out) {
    for (;;) {
        long v = co_await in.get();
        if (v < 0) co_return;
        out.put_nowait(v);
    }
}
duet::coro<void> ping_queue(duet::queue<long>& out, duet::queue<long>& in, long n) {
    for (long i = 0; i < n; ++i) {
        out.put_nowait(i);
        if (co_await in.get() != i) fail("pingpong_queue: wrong reply");
    }
    out.put_nowait(-1);
}
duet::coro<void> pingpong_queue(long n) {
    duet::queue<long> q1, q2;
    measure m{"pingpong_queue", n};
    auto pong = duet::create_task(pong_queue(q1, q2));
    auto ping = duet::create_task(ping_queue(q1, q2, n));
    co_await duet::gather(std::move(ping), std::move(pong));
    m.emit(2.0 * static_cast<double>(n), ", \"unit\": \"switch\"");
}

#ifndef __EMSCRIPTEN__
// ---- 4. timers --------------------------------------------------------------------
duet::coro<void> timers(long n) {
    auto& loop = duet::get_running_loop();
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> dist(0.0, 1.0);  // seconds, as asyncio's call_later
    std::vector<double> delays(static_cast<std::size_t>(n));
    double longest = 0;
    for (auto& d : delays) longest = std::max(longest, d = dist(rng));
    auto done = loop.create_future<void>();
    measure m{"timers", n};
    for (double d : delays)
        loop.call_later(d, [n, &done] {
            if (++counter == n) done.set_result();
        });
    double scheduled = wall_seconds();
    co_await done;
    double wall = wall_seconds() - m.t0;
    double cpu = cpu_seconds() - m.c0;
    char extra[160];
    std::snprintf(
        extra, sizeof extra, ", \"cpu_ns_per_timer\": %.1f, \"sched_ns_per_timer\": %.1f, \"overshoot_s\": %.4f",
        cpu * 1e9 / static_cast<double>(n), (scheduled - m.t0) * 1e9 / static_cast<double>(n), wall - longest);
    m.emit(0, extra);
}

// ---- 5. memory --------------------------------------------------------------------
// RSS per suspended task: every task waits on one event, or on its own sleep(10).
duet::coro<void> wait_event(duet::event& ev) {
    co_await ev.wait();
    ++counter;
}
duet::coro<void> wait_sleep() {
    co_await duet::sleep(10);
    ++counter;
}
duet::coro<void> mem(long n, bool event) {
    duet::event ev;
    long before = rss_kb();
    measure m{event ? "mem_event" : "mem_sleep", n};
    std::vector<duet::task<void>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) tasks.push_back(duet::create_task(event ? wait_event(ev) : wait_sleep()));
    // Two turns: every task has run up to its suspension point.
    co_await duet::sleep(0);
    co_await duet::sleep(0);
    long after = rss_kb();
    char extra[200];
    std::snprintf(extra, sizeof extra, ", \"rss_before_kb\": %ld, \"rss_after_kb\": %ld, \"bytes_per_task\": %.1f",
                  before, after, static_cast<double>(after - before) * 1024.0 / static_cast<double>(n));
    m.emit(0, extra);
    if (!event) _exit(0);  // as the peers: do not wait the 10 s
    ev.set();
    co_await duet::gather(std::move(tasks));
    if (counter != n) fail("mem_event: not every task woke");
}
#else
// ---- jsawait: a coroutine awaiting an already-resolved JS promise N times ---------------
duet::coro<void> jsawait(long n) {
    auto p = duet::js_value::global("Promise").call("resolve", 1.0);
    measure m{"jsawait", n};
    double sum = 0;
    for (long i = 0; i < n; ++i) sum += co_await duet::js::await_promise<double>(p);
    if (sum != static_cast<double>(n)) fail("jsawait: wrong sum");
    m.emit();
}
#endif

struct bench_entry {
    const char* name;
    long default_n;
    duet::coro<void> (*make)(long);
};

const bench_entry benches[] = {
    {"callsoon_batch", 10'000'000, callsoon_batch},
    {"callsoon_chain", 10'000'000, callsoon_chain},
    {"spawn", 1'000'000, [](long n) { return spawn(n, false); }},
    {"spawn_yield", 1'000'000, [](long n) { return spawn(n, true); }},
    {"pingpong_future", 1'000'000, pingpong_future},
    {"pingpong_queue", 1'000'000, pingpong_queue},
#ifndef __EMSCRIPTEN__
    {"timers", 1'000'000, timers},
    {"mem_event", 100'000, [](long n) { return mem(n, true); }},
    {"mem_sleep", 100'000, [](long n) { return mem(n, false); }},
#else
    {"jsawait", 1'000'000, jsawait},
#endif
};

}  // namespace

int main(int argc, char** argv) {
    const bench_entry* b = nullptr;
    for (const auto& e : benches)
        if (argc >= 2 && std::strcmp(argv[1], e.name) == 0) b = &e;
    if (!b) {
        std::fprintf(stderr, "usage: duet_bench BENCH [N]\nBENCH:");
        for (const auto& e : benches) std::fprintf(stderr, " %s", e.name);
        std::fprintf(stderr, "\n");
        return 2;
    }
    long n = argc > 2 ? std::atol(argv[2]) : b->default_n;
    if (n <= 0) fail("N must be a positive integer");
#ifdef __EMSCRIPTEN__
    // The JS event loop drives the loop; the bench ends the process when it is done.
    static duet::event_loop loop;
    duet::wasm::start(loop);
    static auto main_task = loop.create_task([](const bench_entry* b, long n) -> duet::coro<void> {
        try {
            co_await b->make(n);
        } catch (const std::exception& e) {
            fail(e.what());
        }
        js_exit(0);
    }(b, n));
    return 0;
#else
    duet::run(b->make(n));
    return 0;
#endif
}
