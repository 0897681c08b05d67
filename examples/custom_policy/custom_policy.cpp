// asyncio's "Custom Policies" example: a policy derived from the default one that does
// something with each loop it hands out.
//     class MyEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
//         def get_event_loop(self):
//             loop = super().get_event_loop()
//             # Do something with loop ...
//             return loop
//     asyncio.set_event_loop_policy(MyEventLoopPolicy())
#include <cstdio>

#include <duet/duet.hpp>

class my_event_loop_policy : public duet::default_event_loop_policy {
public:
    std::unique_ptr<duet::abstract_event_loop> new_event_loop() override {
        auto loop = duet::default_event_loop_policy::new_event_loop();
        // Do something with the loop: here, log every unhandled error with a prefix.
        loop->set_exception_handler([](duet::abstract_event_loop& l, const duet::exception_context& ctx) {
            std::printf("[my policy] %s\n", ctx.message.c_str());
            std::fflush(stdout);
            l.default_exception_handler(ctx);
        });
        std::puts("[my policy] made a loop");
        return loop;
    }
};

duet::coro<void> main_coro() {
    auto& loop = duet::get_running_loop();
    loop.call_soon([] { throw std::runtime_error("a failing callback"); });
    co_await duet::sleep(0.01);
    std::puts("main: done");
}

int main() {
    duet::set_event_loop_policy(std::make_unique<my_event_loop_policy>());
    duet::run(main_coro());
}
