// The loop a page (or a node script) drives: wasm code never blocks the JS thread, so it
// starts tasks on a hosted loop and returns; the JS event loop runs them.
#pragma once

#include <string_view>
#include <utility>

#include <duet/events.hpp>

namespace duet::wasm {

// The module's host loop: the one given to start(), else a duet::event_loop created and
// started on first use. Exported coroutines (DUET_EXPORT_ASYNC) run on it.
abstract_event_loop& host_loop();

// Makes `loop` (a duet::event_loop) the module's host loop and lets the JS event loop
// drive it from now on (it counts as running until stop()). Returns at once. Once `loop`
// is closed or destroyed, host_loop() makes a fresh one.
void start(abstract_event_loop& loop);

// Starts `c` (a coroutine argument) as a task on the host loop.
template <coroutine_arg C>
task<coroutine_result_t<C>> spawn(C&& c, std::string_view name = {}, call_site site = {}) {
    return host_loop().create_task(std::forward<C>(c), name, {}, site);
}

}  // namespace duet::wasm
