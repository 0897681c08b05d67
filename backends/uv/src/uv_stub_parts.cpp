// Placeholders until each part lands: every method raises not_supported_error naming it.
// (Removed part by part as uv_udp.cpp and uv_signal.cpp arrive; streams and DNS are in
// uv_stream_transport.cpp, uv_tcp.cpp, uv_server.cpp, uv_pipe.cpp and uv_dns.cpp.)
#include <duet/exceptions.hpp>

#include "uv_network.hpp"

namespace duet {

namespace {
[[noreturn]] void not_yet(const char* m) {
    throw not_supported_error(std::string(m) + ": not implemented yet on the uv loop");
}
}  // namespace

struct uv_network::datagram_part {};
struct uv_network::signal_part {};
void uv_network::destroy(datagram_part* p) noexcept {
    delete p;
}
void uv_network::destroy(signal_part* p) noexcept {
    delete p;
}

coro<transport_and_protocol<datagram_transport, base_protocol>> uv_network::create_datagram_endpoint(protocol_factory,
                                                                                                     datagram_options) {
    not_yet("create_datagram_endpoint");
}
void uv_network::close_datagrams() noexcept {}

void uv_network::add_signal_handler(int, callback) {
    not_yet("add_signal_handler");
}
bool uv_network::remove_signal_handler(int) {
    not_yet("remove_signal_handler");
}
void uv_network::close_signals() noexcept {}

}  // namespace duet
