// Socket addresses and address lookups (what asyncio passes as tuples), and the OS errors
// network operations raise: std::system_error carrying the errno as a std::errc, with a
// message naming the operation and the address (asyncio's OSError subclasses, C++-style).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace duet {

// An IPv4, IPv6 or Unix-domain address. For inet/inet6 `host` is the numeric address
// ("127.0.0.1", "::1") and `port` the port; for unix `path` is the file name, or for a
// Linux abstract-namespace name a path starting with '\0'.
struct socket_address {
    enum class family_type { unspecified, inet, inet6, unix_domain };
    family_type family = family_type::unspecified;
    std::string host;
    std::uint16_t port = 0;
    std::string path;
    std::uint32_t flowinfo = 0;  // inet6 only
    std::uint32_t scope_id = 0;  // inet6 only

    static socket_address inet(std::string host, std::uint16_t port) {
        return {family_type::inet, std::move(host), port, {}};
    }
    static socket_address inet6(std::string host, std::uint16_t port) {
        return {family_type::inet6, std::move(host), port, {}};
    }
    static socket_address unix_path(std::string path) { return {family_type::unix_domain, {}, 0, std::move(path)}; }
    // "127.0.0.1:8888", "[::1]:8888", the path, or "@name" for an abstract name.
    std::string to_string() const;
    bool empty() const noexcept { return family == family_type::unspecified; }
    friend bool operator==(const socket_address&, const socket_address&) = default;
};

// One result of getaddrinfo: family/type/protocol as the C API spells them (AF_INET,
// SOCK_STREAM, IPPROTO_TCP), the canonical name if asked for, and the address.
struct address_info {
    int family = 0;
    int socktype = 0;
    int protocol = 0;
    std::string canonname;
    socket_address address;
};

// What getaddrinfo is asked for (0: any), as the C API's hints.
struct address_hints {
    int family = 0;
    int socktype = 0;
    int protocol = 0;
    int flags = 0;
};

// The std::system_error every failed OS call of duet's network layer raises:
// "<what>: <strerror>" with code() == std::errc of `errno_value`.
std::system_error os_error(int errno_value, const std::string& what);

// The category of getaddrinfo/getnameinfo failures (asyncio's socket.gaierror): value()
// is the EAI_* code of <netdb.h> (EAI_NONAME, EAI_AGAIN, ...), message() gai_strerror's
// text. An EAI_SYSTEM failure is reported as os_error with its errno instead.
const std::error_category& gai_category() noexcept;
// "<what>: <gai_strerror>" with code() == {eai_code, gai_category()}.
std::system_error gai_error(int eai_code, const std::string& what);

}  // namespace duet
