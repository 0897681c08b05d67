// Installs debug mode's bookkeeping (detail::debug_ops). Not part of the runtime library:
// native programs get it from native/CMakeLists.txt, wasm programs from
// duet_debug_mode(target), so that a module without debug mode does not carry it.
#include <duet/base_events.hpp>
#include <duet/detail/debug.hpp>

namespace {

void run_batch(duet::base_event_loop& loop) {
    loop.run_batch_debug();
}

const duet::detail::debug_ops ops{&duet::detail::record_site_impl,          &duet::detail::mark_started_impl,
                                  &duet::detail::forget_site_impl,          &duet::detail::find_site_impl,
                                  &duet::detail::report_never_awaited_impl, &run_batch};

const bool installed = (duet::detail::debug_impl = &ops, true);

}  // namespace
