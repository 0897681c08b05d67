// uv_network's shell: construction and close_all. Each area lives in its own file.
#include "uv_network.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include <duet/sockets.hpp>

namespace duet {

int adopted_socket_family(int fd, int type, const char* method, const char* expected) {
    const std::string prefix = std::string(method) + ": ";
    if (fd < 0) throw std::invalid_argument(prefix + "invalid file descriptor " + std::to_string(fd));
    auto refuse = [&](const std::string& why) {
        return std::invalid_argument(prefix + expected + " was expected, got fd " + std::to_string(fd) + " (" + why +
                                     ")");
    };
    int got = 0;
    socklen_t len = sizeof got;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &got, &len) != 0) {
        if (errno == ENOTSOCK) throw refuse("not a socket");
        throw os_error(errno, prefix + "fd " + std::to_string(fd));
    }
    if (got != type)
        throw refuse(got == SOCK_STREAM  ? "SOCK_STREAM"
                     : got == SOCK_DGRAM ? "SOCK_DGRAM"
                                         : "socket type " + std::to_string(got));
    int family = 0;
    len = sizeof family;
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0)
        throw os_error(errno, prefix + "fd " + std::to_string(fd));
    return family;
}

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
