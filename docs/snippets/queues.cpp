// docs/queues.md
#include <string>
#include <vector>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

duet::coro<bool> queue_demo() {
    duet::queue<int> q(2);  // maxsize 2: put() waits while it is full
    std::vector<int> seen;
    auto producer = [&]() -> duet::coro<void> {
        for (int i = 0; i < 5; ++i) co_await q.put(i);
        q.shutdown();  // Python 3.13: consumers drain what is left, then get queue_shut_down
    };
    auto consumer = [&]() -> duet::coro<void> {
        try {
            for (;;) {
                seen.push_back(co_await q.get());
                q.task_done();
            }
        } catch (const duet::queue_shut_down&) {
        }
    };
    co_await duet::gather(producer(), consumer());
    co_return seen == std::vector<int>{0, 1, 2, 3, 4};
}

duet::coro<bool> priority_demo() {
    duet::priority_queue<std::pair<int, std::string>> jobs;  // smallest first
    jobs.put_nowait({2, "later"});
    jobs.put_nowait({1, "first"});
    auto first = co_await jobs.get();
    duet::lifo_queue<int> stack;
    stack.put_nowait(1);
    stack.put_nowait(2);
    bool empty_raised = false;
    duet::queue<int> none;
    try {
        none.get_nowait();
    } catch (const duet::queue_empty&) {
        empty_raised = true;
    }
    co_return first.second == "first" && stack.get_nowait() == 2 && empty_raised;
}

duet::coro<bool> join_demo() {
    duet::queue<int> q;
    int processed = 0;
    auto worker = [&]() -> duet::coro<void> {
        for (;;) {
            co_await q.get();
            ++processed;
            q.task_done();
        }
    };
    auto w = duet::create_task(worker());
    for (int i = 0; i < 10; ++i) q.put_nowait(i);
    co_await q.join();  // until task_done() was called for every item
    w.cancel();         // the worker uses q: let it finish before q goes out of scope
    try {
        co_await w;
    } catch (const duet::cancelled_error&) {
    }
    co_return processed == 10;
}

}  // namespace

DUET_SNIPPET(queues_queue) {
    return duet::run(queue_demo());
}
DUET_SNIPPET(queues_priority_lifo) {
    return duet::run(priority_demo());
}
DUET_SNIPPET(queues_join) {
    return duet::run(join_demo());
}
