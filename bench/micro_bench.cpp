// Per-operation costs of the core's hot paths (Google Benchmark, native only). The peer
// comparison is whole-process runs (duet_bench); these isolate one operation each, so a
// regression shows where it is.
#include <benchmark/benchmark.h>

#include <duet/duet.hpp>

namespace {

// call_soon + its run, one per iteration, on a loop driven by hand.
void call_soon_and_run(benchmark::State& state) {
    duet::event_loop loop;
    long hits = 0;
    for (auto _ : state) {
        loop.call_soon([&hits] { ++hits; });
        loop.process();
    }
    benchmark::DoNotOptimize(hits);
    loop.close();
}
BENCHMARK(call_soon_and_run);

// A future created, resolved and its result read (no waiter).
void future_round_trip(benchmark::State& state) {
    duet::event_loop loop;
    for (auto _ : state) {
        auto f = loop.create_future<int>();
        f.set_result(1);
        benchmark::DoNotOptimize(f.result());
    }
    loop.close();
}
BENCHMARK(future_round_trip);

duet::coro<void> noop() {
    co_return;
}

// A task created and run to completion (one loop turn).
void task_spawn_and_finish(benchmark::State& state) {
    duet::event_loop loop;
    for (auto _ : state) {
        auto t = loop.create_task(noop());
        loop.process();
        benchmark::DoNotOptimize(t.done());
    }
    loop.close();
}
BENCHMARK(task_spawn_and_finish);

// A timer armed and cancelled (the timer heap's push and lazy removal).
void timer_arm_and_cancel(benchmark::State& state) {
    duet::event_loop loop;
    for (auto _ : state) {
        auto h = loop.call_later(10.0, [] {});
        h.cancel();
    }
    loop.close();
}
BENCHMARK(timer_arm_and_cancel);

}  // namespace

BENCHMARK_MAIN();
