// docs/futures.md
#include <future>
#include <thread>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

duet::coro<bool> futures_demo() {
    auto& loop = duet::get_running_loop();
    duet::future<int> f = loop.create_future<int>();
    int seen_by_callback = 0;
    f.add_done_callback([&](duet::basic_future&) { seen_by_callback = f.result(); });
    loop.call_later(0.001, [f]() mutable { f.set_result(7); });
    int v = co_await f;       // suspends until set_result
    co_await duet::sleep(0);  // done callbacks run as loop callbacks

    // A std::future from another thread becomes awaitable on the loop.
    std::promise<int> p;
    auto g = duet::wrap_future(p.get_future(), loop);
    std::thread producer([&p] { p.set_value(11); });
    int w = co_await g;
    producer.join();
    co_return v == 7 && seen_by_callback == 7 && w == 11 && f.done() && !f.cancelled();
}

}  // namespace

DUET_SNIPPET(futures_basics) {
    return duet::run(futures_demo());
}
