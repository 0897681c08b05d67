// uv_network's shell: construction and close_all. Each area lives in its own file.
#include "uv_network.hpp"

namespace duet {

uv_network::uv_network(base_event_loop& loop, uv_loop_s* uv) : loop_(loop), uv_(uv) {}

uv_network::~uv_network() {
    close_all();
}

void uv_network::close_all() noexcept {
    close_streams();
    close_datagrams();
    close_signals();
}

}  // namespace duet
