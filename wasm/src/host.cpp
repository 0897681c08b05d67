#include <duet/event_loop.hpp>
#include <duet/host.hpp>

namespace duet::wasm {

namespace {
abstract_event_loop* registered = nullptr;
}  // namespace

void start(abstract_event_loop& loop) {
    registered = &loop;
    if (!loop.is_running()) loop.base().start_hosted();
}

abstract_event_loop& host_loop() {
    if (!registered || registered->is_closed()) {
        // Never destroyed: the module's JS host may call into it until the page goes.
        registered = new event_loop();
    }
    if (!registered->is_running()) registered->base().start_hosted();
    return *registered;
}

}  // namespace duet::wasm
