// asyncio's Queue example: three workers take "sleep for N seconds" jobs from a queue;
// main waits for the queue to be fully processed, then cancels the workers.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <duet/duet.hpp>

duet::coro<void> worker(std::string name, duet::queue<double>& q) {
    for (;;) {
        double sleep_for = co_await q.get();
        co_await duet::sleep(sleep_for);
        q.task_done();
        std::printf("%s has slept for %.3f seconds\n", name.c_str(), sleep_for);
    }
}

duet::coro<void> main_coro() {
    duet::queue<double> q;
    std::mt19937 rng(42);
    std::uniform_real_distribution<double> dist(0.005, 0.05);
    double total = 0;
    for (int i = 0; i < 20; ++i) {
        double s = dist(rng);
        total += s;
        q.put_nowait(s);
    }

    std::vector<duet::task<void>> workers;
    for (int i = 0; i < 3; ++i) workers.push_back(duet::create_task(worker("worker-" + std::to_string(i), q)));

    double started = duet::get_running_loop().time();
    co_await q.join();  // every item got its task_done()
    double took = duet::get_running_loop().time() - started;

    for (auto& w : workers) w.cancel();
    for (auto& w : workers) {
        try {
            co_await w;
        } catch (const duet::cancelled_error&) {
        }
    }
    std::printf("====\n3 workers slept in parallel for %.3f seconds\n", took);
    std::printf("total expected sleep time: %.3f seconds\n", total);
}

int main() {
    duet::run(main_coro());
}
