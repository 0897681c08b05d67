// Compiled into ASYNCIFY builds only (duet_blocking_run): lets browser_backend::run()
// suspend the wasm stack between turns instead of refusing to block.
#include <duet/browser_backend.hpp>

extern "C" int duet_host_block(int host_id);  // js/library_duet.js, an ASYNCIFY import

namespace {
struct enable_blocking {
    enable_blocking() noexcept { duet::wasm::detail::block_until_woken = &duet_host_block; }
} enable;
}  // namespace
