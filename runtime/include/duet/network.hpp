// The loop's network interface (asyncio's "Creating network servers/connections", "Working
// with pipes", "DNS", "Unix signals"): the options those methods take, and loop_network,
// the interface a backend that does network I/O implements. abstract_event_loop's methods
// (events.hpp) are the public spelling; a loop whose backend has no loop_network raises
// not_supported_error from each, naming the method and the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <duet/coro.hpp>
#include <duet/handles.hpp>
#include <duet/protocols.hpp>
#include <duet/server.hpp>
#include <duet/sockets.hpp>
#include <duet/transports.hpp>

namespace duet {

// asyncio's (host, port) pair.
struct host_port {
    std::string host;
    std::uint16_t port = 0;
};

struct connection_options {
    int family = 0;                       // AF_INET / AF_INET6 / 0 = any
    std::optional<host_port> local_addr;  // bind before connecting
    // asyncio's sock=: an already connected stream socket (AF_INET, AF_INET6 or AF_UNIX;
    // its family decides TCP or Unix) for the transport to adopt instead of connecting: it
    // is made non-blocking and the transport closes it. -1: none. The host/port (or path)
    // must then be empty/0 (std::invalid_argument otherwise; family and local_addr are
    // ignored, as asyncio ignores them). An fd refused with std::invalid_argument (not a
    // stream socket, host given too) stays the caller's, unclosed.
    int sock = -1;
};

struct server_options {
    int family = 0;
    int backlog = 100;
    std::optional<bool> reuse_address;  // default: true (SO_REUSEADDR), as asyncio on POSIX
    bool reuse_port = false;            // SO_REUSEPORT: several loops/threads share one port
    bool start_serving = true;
    // asyncio's sock=: an already bound stream socket (TCP, or Unix: its family decides)
    // to listen on instead of making one; the server owns it from then on. -1: none. The
    // hosts/port (create_server) or path (create_unix_server) must then be empty/0, and
    // family, reuse_address and reuse_port are ignored (as in asyncio). A refused fd
    // (std::invalid_argument) stays the caller's.
    int sock = -1;
};

struct datagram_options {
    std::optional<host_port> local_addr;
    std::optional<host_port> remote_addr;  // connect(): sendto without an address goes there
    int family = 0;
    bool reuse_port = false;
    bool allow_broadcast = false;  // SO_BROADCAST; remote_addr is then not connect()ed (asyncio)
    // asyncio's sock=: an existing datagram socket (bound and/or connected as the caller
    // chose; connected: sendto without an address goes to its peer) for the endpoint to
    // adopt; the endpoint closes it. -1: none. Every other field must then be left as is
    // (std::invalid_argument naming them; the fd stays the caller's).
    int sock = -1;
};

// Makes a new protocol for each connection.
using protocol_factory = std::function<std::shared_ptr<base_protocol>()>;

// What create_connection & co. complete with: the transport and the protocol the factory
// made for it.
template <class T, class P>
using transport_and_protocol = std::pair<std::shared_ptr<T>, std::shared_ptr<P>>;

// A callable returning std::shared_ptr<P> for some protocol class P.
template <class F>
concept protocol_factory_of = requires(F& f) {
    typename std::invoke_result_t<F&>::element_type;
    requires std::is_base_of_v<base_protocol, typename std::invoke_result_t<F&>::element_type>;
};
template <class F>
using protocol_of_t = typename std::invoke_result_t<F&>::element_type;

// The network half of a backend. Every method runs on the loop thread; the coroutines
// raise std::system_error (os_error) for OS failures.
class loop_network {
public:
    virtual ~loop_network() = default;
    virtual coro<transport_and_protocol<transport, base_protocol>> create_connection(protocol_factory f,
                                                                                     std::string host,
                                                                                     std::uint16_t port,
                                                                                     connection_options opts) = 0;
    virtual coro<std::shared_ptr<server>> create_server(protocol_factory f, std::vector<std::string> hosts,
                                                        std::uint16_t port, server_options opts) = 0;
    virtual coro<transport_and_protocol<transport, base_protocol>> create_unix_connection(protocol_factory f,
                                                                                          std::string path,
                                                                                          connection_options opts) = 0;
    virtual coro<std::shared_ptr<server>> create_unix_server(protocol_factory f, std::string path,
                                                             server_options opts) = 0;
    virtual coro<transport_and_protocol<datagram_transport, base_protocol>> create_datagram_endpoint(
        protocol_factory f, datagram_options opts) = 0;
    virtual coro<transport_and_protocol<transport, base_protocol>> connect_accepted_socket(protocol_factory f,
                                                                                           int fd) = 0;
    virtual coro<transport_and_protocol<transport, base_protocol>> connect_read_pipe(protocol_factory f, int fd) = 0;
    virtual coro<transport_and_protocol<transport, base_protocol>> connect_write_pipe(protocol_factory f, int fd) = 0;
    virtual coro<std::vector<address_info>> getaddrinfo(std::string host, std::string service, address_hints hints) = 0;
    virtual coro<std::pair<std::string, std::string>> getnameinfo(socket_address addr, int flags) = 0;
    virtual void add_signal_handler(int sig, callback cb) = 0;
    virtual bool remove_signal_handler(int sig) = 0;
};

}  // namespace duet
