// The target's default loop: hosted by the JavaScript event loop under Emscripten.
#pragma once

#include <duet/browser_backend.hpp>

namespace duet {
using event_loop = basic_event_loop<browser_backend>;
}  // namespace duet
