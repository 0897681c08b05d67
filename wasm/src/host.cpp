#include <duet/event_loop.hpp>
#include <duet/host.hpp>

namespace duet::wasm {

namespace {
abstract_event_loop* registered = nullptr;
const base_event_loop* registered_base = nullptr;  // to notice the loop was destroyed
}  // namespace

void start(abstract_event_loop& loop) {
    registered = &loop;
    registered_base = &loop.base();
    if (!loop.is_running()) loop.base().start_hosted();
}

abstract_event_loop& host_loop() {
    if (!registered || !base_event_loop::alive(registered_base) || registered->is_closed()) {
        // Never destroyed: the module's JS host may call into it until the page goes.
        auto* loop = new event_loop();
        registered = loop;
        registered_base = loop;
    }
    if (!registered->is_running()) registered->base().start_hosted();
    return *registered;
}

}  // namespace duet::wasm
