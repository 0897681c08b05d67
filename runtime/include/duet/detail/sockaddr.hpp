// Conversions between socket_address and the C API's sockaddr (POSIX; native code and
// the target-neutral sock_* methods use them).
#pragma once

#include <sys/socket.h>

#include <string>

#include <duet/sockets.hpp>

namespace duet::detail {

// The address in `sa` (AF_INET, AF_INET6 or AF_UNIX; `len` matters for Unix names).
socket_address from_sockaddr(const sockaddr* sa, socklen_t len);
// Fills `out` from a *numeric* address; its length. std::invalid_argument naming the
// address if it is not numeric or its family is unspecified.
socklen_t to_sockaddr(const socket_address& a, sockaddr_storage& out);
// The socket's own / peer address (empty on error).
socket_address local_address_of(int fd);
socket_address peer_address_of(int fd);

}  // namespace duet::detail
