// Subprocess throughput (bench-peers' table 7): 500 x /bin/true through
// create_subprocess_exec + wait(), one at a time (subproc_seq) or 50 in flight
// (subproc_conc), with the child watcher named on the command line.
//   subproc subproc_seq|subproc_conc [pidfd|threaded|safe|fast|multi_loop] [N]
// Prints one JSON line as the peers do; cpu_s is the parent's CPU (all its threads).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <duet/duet.hpp>

namespace {

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double cpu() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

duet::coro<void> one() {
    auto p = co_await duet::create_subprocess_exec("/bin/true");
    if (co_await p.wait() != 0) std::abort();
}

duet::coro<void> worker(long* left) {
    while (*left > 0) {
        --*left;
        co_await one();
    }
}

duet::coro<void> bench(long n, long conc) {
    duet::get_child_watcher().attach_loop(&duet::get_running_loop());
    if (conc == 1) {
        for (long i = 0; i < n; ++i) co_await one();
    } else {
        long left = n;
        std::vector<duet::coro<void>> workers;
        for (long i = 0; i < conc; ++i) workers.push_back(worker(&left));
        auto all = duet::gather(std::move(workers));
        co_await std::move(all);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const std::string variant = argc > 1 ? argv[1] : "subproc_seq";
    const std::string watcher = argc > 2 ? argv[2] : "pidfd";
    const long n = argc > 3 ? std::atol(argv[3]) : 500;
    if ((variant != "subproc_seq" && variant != "subproc_conc") || n <= 0) {
        std::fprintf(stderr, "usage: subproc subproc_seq|subproc_conc [pidfd|threaded|safe|fast|multi_loop] [N]\n");
        return 2;
    }
    std::shared_ptr<duet::abstract_child_watcher> w;
    try {
        w = duet::make_child_watcher(watcher);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
    const long conc = variant == "subproc_seq" ? 1 : 50;
    duet::set_child_watcher(w);
    const double t0 = now(), c0 = cpu();
    duet::run(bench(n, conc));
    const double t1 = now(), c1 = cpu();
    duet::set_child_watcher(nullptr);
    const double wall = t1 - t0;
    std::printf(
        "{\"peer\": \"duet\", \"bench\": \"%s\", \"watcher\": \"%s\", \"n\": %ld, \"wall_s\": %.6f, \"cpu_s\": %.6f, "
        "\"rate\": %.1f, \"ns_per_op\": %.1f, \"cpu_us_per_proc\": %.1f, \"conc\": %ld}\n",
        variant.c_str(), watcher.c_str(), n, wall, c1 - c0, static_cast<double>(n) / wall,
        wall * 1e9 / static_cast<double>(n), (c1 - c0) * 1e6 / static_cast<double>(n), conc);
}
