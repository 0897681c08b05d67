// Placeholders until each part lands: every method raises not_supported_error naming it.
// (Removed part by part as uv_tcp.cpp, uv_udp.cpp, uv_signal.cpp, uv_dns.cpp arrive.)
#include <duet/exceptions.hpp>

#include "uv_network.hpp"

namespace duet {

namespace {
[[noreturn]] void not_yet(const char* m) {
    throw not_supported_error(std::string(m) + ": not implemented yet on the uv loop");
}
}  // namespace

struct uv_network::stream_part {};
void uv_network::destroy(stream_part* p) noexcept {
    delete p;
}

coro<transport_and_protocol<transport, base_protocol>> uv_network::create_connection(protocol_factory, std::string,
                                                                                     std::uint16_t,
                                                                                     connection_options) {
    not_yet("create_connection");
}
coro<std::shared_ptr<server>> uv_network::create_server(protocol_factory, std::vector<std::string>, std::uint16_t,
                                                        server_options) {
    not_yet("create_server");
}
coro<transport_and_protocol<transport, base_protocol>> uv_network::create_unix_connection(protocol_factory,
                                                                                          std::string) {
    not_yet("create_unix_connection");
}
coro<std::shared_ptr<server>> uv_network::create_unix_server(protocol_factory, std::string, server_options) {
    not_yet("create_unix_server");
}
coro<transport_and_protocol<transport, base_protocol>> uv_network::connect_read_pipe(protocol_factory, int) {
    not_yet("connect_read_pipe");
}
coro<transport_and_protocol<transport, base_protocol>> uv_network::connect_write_pipe(protocol_factory, int) {
    not_yet("connect_write_pipe");
}
void uv_network::close_streams() noexcept {}

coro<std::vector<address_info>> uv_network::getaddrinfo(std::string, std::string, address_hints) {
    not_yet("getaddrinfo");
}
coro<std::pair<std::string, std::string>> uv_network::getnameinfo(socket_address, int) {
    not_yet("getnameinfo");
}

}  // namespace duet
