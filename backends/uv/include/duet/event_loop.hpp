// The target's default loop: libuv natively.
#pragma once

#include <duet/uv_backend.hpp>

namespace duet {
using event_loop = basic_event_loop<uv_backend>;
}  // namespace duet
