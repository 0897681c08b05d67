// docs/event-loop.md
#include <string>
#include <thread>
#include <vector>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

int count_words(std::string s) {
    int n = 0;
    bool in_word = false;
    for (char c : s) {
        if (c != ' ' && !in_word) ++n;
        in_word = c != ' ';
    }
    return n;
}

duet::coro<bool> callbacks_demo() {
    auto& loop = duet::get_running_loop();
    std::vector<std::string> order;
    loop.call_later(0.002, [&] { order.push_back("later"); });
    loop.call_at(loop.time() + 0.001, [&] { order.push_back("at"); });
    loop.call_soon([&](std::string s) { order.push_back(s); }, std::string("soon"));
    duet::timer_handle never = loop.call_later(0.001, [&] { order.push_back("never"); });
    never.cancel();
    co_await duet::sleep(0.01);

    // Blocking work goes to a thread; the loop keeps running meanwhile.
    int words = co_await duet::to_thread(count_words, std::string("one two three"));
    co_return order == std::vector<std::string>{"soon", "at", "later"} && words == 3;
}

}  // namespace

DUET_SNIPPET(event_loop_callbacks) {
    return duet::run(callbacks_demo());
}

DUET_SNIPPET(event_loop_low_level) {
    // The loop as an object: new_event_loop, run_until_complete, an exception handler.
    auto loop = duet::new_event_loop();
    std::string reported;
    loop->set_exception_handler(
        [&](duet::abstract_event_loop&, const duet::exception_context& ctx) { reported = ctx.message; });
    loop->call_soon([] { throw std::runtime_error("a failing callback"); });
    int v = loop->run_until_complete(duet::sleep(0.001, 5));
    loop->close();
    return v == 5 && !reported.empty();
}
