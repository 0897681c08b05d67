#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include <duet/sockets.hpp>

namespace duet {

std::string socket_address::to_string() const {
    switch (family) {
        case family_type::inet:
            return host + ":" + std::to_string(port);
        case family_type::inet6:
            return "[" + host + "]:" + std::to_string(port);
        case family_type::unix_domain:
            if (!path.empty() && path[0] == '\0') {
                std::string r(1, '@');
                r.append(path, 1, std::string::npos);
                return r;
            }
            return path;
        case family_type::unspecified:
            break;
    }
    return "(no address)";
}

std::system_error os_error(int errno_value, const std::string& what) {
    return std::system_error(errno_value, std::generic_category(), what);
}

namespace {
class gai_error_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "getaddrinfo"; }
    std::string message(int code) const override { return ::gai_strerror(code); }
};
}  // namespace

const std::error_category& gai_category() noexcept {
    static const gai_error_category c;
    return c;
}

std::system_error gai_error(int eai_code, const std::string& what) {
    return std::system_error(eai_code, gai_category(), what);
}

}  // namespace duet

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <stdexcept>

#include <duet/detail/sockaddr.hpp>

namespace duet::detail {

socket_address from_sockaddr(const sockaddr* sa, socklen_t len) {
    socket_address a;
    if (!sa) return a;
    char buf[INET6_ADDRSTRLEN] = {};
    switch (sa->sa_family) {
        case AF_INET: {
            const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
            inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
            a = socket_address::inet(buf, ntohs(in->sin_port));
            break;
        }
        case AF_INET6: {
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
            inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
            a = socket_address::inet6(buf, ntohs(in6->sin6_port));
            a.flowinfo = ntohl(in6->sin6_flowinfo);
            a.scope_id = in6->sin6_scope_id;
            break;
        }
        case AF_UNIX: {
            const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
            std::size_t off = offsetof(sockaddr_un, sun_path);
            std::size_t n = len > off ? static_cast<std::size_t>(len) - off : 0;
            if (n > sizeof un->sun_path) n = sizeof un->sun_path;
            std::string path(un->sun_path, n);
            // A pathname ends at its NUL; an abstract name (leading NUL) uses every byte.
            if (!path.empty() && path[0] != '\0')
                path.resize(path.find('\0') == std::string::npos ? path.size() : path.find('\0'));
            a = socket_address::unix_path(std::move(path));
            break;
        }
        default:
            break;
    }
    return a;
}

socklen_t to_sockaddr(const socket_address& a, sockaddr_storage& out) {
    out = {};
    switch (a.family) {
        case socket_address::family_type::inet: {
            auto* in = reinterpret_cast<sockaddr_in*>(&out);
            in->sin_family = AF_INET;
            in->sin_port = htons(a.port);
            if (inet_pton(AF_INET, a.host.c_str(), &in->sin_addr) != 1)
                throw std::invalid_argument("not a numeric IPv4 address: \"" + a.host + "\"");
            return sizeof(sockaddr_in);
        }
        case socket_address::family_type::inet6: {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(a.port);
            in6->sin6_flowinfo = htonl(a.flowinfo);
            in6->sin6_scope_id = a.scope_id;
            if (inet_pton(AF_INET6, a.host.c_str(), &in6->sin6_addr) != 1)
                throw std::invalid_argument("not a numeric IPv6 address: \"" + a.host + "\"");
            return sizeof(sockaddr_in6);
        }
        case socket_address::family_type::unix_domain: {
            auto* un = reinterpret_cast<sockaddr_un*>(&out);
            un->sun_family = AF_UNIX;
            if (a.path.empty() || a.path.size() > sizeof un->sun_path - (a.path[0] == '\0' ? 0 : 1))
                throw std::invalid_argument("bad Unix socket path \"" + a.to_string() + "\" (empty or longer than " +
                                            std::to_string(sizeof un->sun_path - 1) + " bytes)");
            a.path.copy(un->sun_path, a.path.size());
            return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + a.path.size() +
                                          (a.path[0] == '\0' ? 0 : 1));
        }
        case socket_address::family_type::unspecified:
            break;
    }
    throw std::invalid_argument("no address given (family unspecified)");
}

socket_address local_address_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
    return from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

socket_address peer_address_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
    return from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace duet::detail
