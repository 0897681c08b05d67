// docs/synchronization.md: one snippet per primitive (linked from README.md).
#include <algorithm>
#include <string>
#include <vector>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

// ---- lock: `async with lock:` is `auto held = co_await lock.scoped();`
duet::coro<void> append_twice(duet::lock& l, std::vector<std::string>& log, std::string who) {
    auto held = co_await l.scoped();  // FIFO: a later caller queues behind the waiters
    log.push_back(who + " in");
    co_await duet::sleep(0.001);  // the other task cannot enter meanwhile
    log.push_back(who + " out");
}  // released here, also when an exception leaves the scope

duet::coro<bool> lock_demo() {
    duet::lock l;
    std::vector<std::string> log;
    co_await duet::gather(append_twice(l, log, "a"), append_twice(l, log, "b"));
    co_return log == std::vector<std::string>{"a in", "a out", "b in", "b out"} && !l.locked();
}

// ---- event: one task sets, every waiter wakes
duet::coro<bool> event_demo() {
    duet::event ready;
    int woken = 0;
    auto waiter = [&]() -> duet::coro<void> {
        co_await ready.wait();
        ++woken;
    };
    auto t1 = duet::create_task(waiter());
    auto t2 = duet::create_task(waiter());
    co_await duet::sleep(0);  // both are waiting now
    ready.set();              // later waits return at once until ready.clear()
    co_await duet::gather(t1, t2);
    co_return woken == 2 && ready.is_set();
}

// ---- condition: wait for a predicate under the condition's lock
duet::coro<bool> condition_demo() {
    duet::condition cond;
    std::vector<int> items;
    auto consumer = [&]() -> duet::coro<int> {
        auto held = co_await cond.scoped();
        co_await cond.wait_for([&] { return !items.empty(); });  // releases the lock while waiting
        co_return items.back();
    };
    auto t = duet::create_task(consumer());
    co_await duet::sleep(0);
    {
        auto held = co_await cond.scoped();
        items.push_back(7);
        cond.notify();  // needs the lock, as in asyncio
    }
    co_return co_await t == 7;
}

// ---- semaphore: at most N holders at once
duet::coro<bool> semaphore_demo() {
    duet::semaphore slots(2);
    int inside = 0, most = 0;
    auto job = [&]() -> duet::coro<void> {
        auto held = co_await slots.scoped();
        most = std::max(most, ++inside);
        co_await duet::sleep(0.001);
        --inside;
    };
    std::vector<duet::coro<void>> jobs;
    for (int i = 0; i < 5; ++i) jobs.push_back(job());
    co_await duet::gather(std::move(jobs));
    co_return most == 2;
}

// ---- bounded_semaphore: releasing more than acquired is an error
duet::coro<bool> bounded_semaphore_demo() {
    duet::bounded_semaphore s(1);
    co_await s.acquire();
    s.release();
    try {
        s.release();                          // one release too many
    } catch (const std::invalid_argument&) {  // "BoundedSemaphore released too many times"
        co_return true;
    }
    co_return false;
}

// ---- barrier: N tasks meet, then all go on
duet::coro<bool> barrier_demo() {
    duet::barrier meet(3);
    std::vector<std::size_t> arrivals;
    auto party = [&]() -> duet::coro<void> { arrivals.push_back(co_await meet.wait()); };
    co_await duet::gather(party(), party(), party());
    std::sort(arrivals.begin(), arrivals.end());
    co_return arrivals == std::vector<std::size_t>{0, 1, 2} && !meet.broken();
}

}  // namespace

DUET_SNIPPET(sync_lock) {
    return duet::run(lock_demo());
}
DUET_SNIPPET(sync_event) {
    return duet::run(event_demo());
}
DUET_SNIPPET(sync_condition) {
    return duet::run(condition_demo());
}
DUET_SNIPPET(sync_semaphore) {
    return duet::run(semaphore_demo());
}
DUET_SNIPPET(sync_bounded_semaphore) {
    return duet::run(bounded_semaphore_demo());
}
DUET_SNIPPET(sync_barrier) {
    return duet::run(barrier_demo());
}
