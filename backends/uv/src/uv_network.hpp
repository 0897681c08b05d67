// The uv backend's network half (loop_network): stream transports over uv_tcp_t / uv_pipe_t,
// servers, UDP, pipes, DNS on libuv's thread pool, signals. Private to backends/uv.
//
// Each area keeps its state in its own part (defined in its own .cpp file), so that the
// parts can grow independently; close_all() closes what the user left open when the loop
// closes (reported through the exception handler, never leaked).
#pragma once

#include <memory>

#include <duet/network.hpp>

struct uv_loop_s;

namespace duet {

class base_event_loop;

// A socket the caller hands over (asyncio's sock=): checks that `fd` is a socket of type
// `type` (SOCK_STREAM / SOCK_DGRAM) and returns its family. std::invalid_argument
// "<method>: <expected> was expected, got fd N" if it is not (or is no socket at all),
// std::system_error if the fd cannot be asked (EBADF). Leaves the fd untouched.
int adopted_socket_family(int fd, int type, const char* method, const char* expected);

class uv_network final : public loop_network {
public:
    uv_network(base_event_loop& loop, uv_loop_s* uv);
    ~uv_network() override;

    coro<transport_and_protocol<transport, base_protocol>> create_connection(protocol_factory f, std::string host,
                                                                             std::uint16_t port,
                                                                             connection_options opts) override;
    coro<std::shared_ptr<server>> create_server(protocol_factory f, std::vector<std::string> hosts, std::uint16_t port,
                                                server_options opts) override;
    coro<transport_and_protocol<transport, base_protocol>> create_unix_connection(protocol_factory f, std::string path,
                                                                                  connection_options opts) override;
    coro<std::shared_ptr<server>> create_unix_server(protocol_factory f, std::string path,
                                                     server_options opts) override;
    coro<transport_and_protocol<datagram_transport, base_protocol>> create_datagram_endpoint(
        protocol_factory f, datagram_options opts) override;
    coro<transport_and_protocol<transport, base_protocol>> connect_accepted_socket(protocol_factory f, int fd) override;
    coro<transport_and_protocol<transport, base_protocol>> connect_read_pipe(protocol_factory f, int fd) override;
    coro<transport_and_protocol<transport, base_protocol>> connect_write_pipe(protocol_factory f, int fd) override;
    coro<std::vector<address_info>> getaddrinfo(std::string host, std::string service, address_hints hints) override;
    coro<std::pair<std::string, std::string>> getnameinfo(socket_address addr, int flags) override;
    void add_signal_handler(int sig, callback cb) override;
    bool remove_signal_handler(int sig) override;

    // The loop is closing: everything still open is reported and closed (the uv loop then
    // runs once more to finish the closes).
    void close_all() noexcept;

    base_event_loop& loop() noexcept { return loop_; }
    uv_loop_s* uv() noexcept { return uv_; }

    // The parts (each defined in its own source file).
    struct stream_part;    // uv_stream_transport.cpp / uv_tcp.cpp: transports, servers, pipes
    struct datagram_part;  // uv_udp.cpp
    struct signal_part;    // uv_signal.cpp

    // Each part's file defines its destroy (the parts are incomplete here).
    static void destroy(stream_part* p) noexcept;
    static void destroy(datagram_part* p) noexcept;
    static void destroy(signal_part* p) noexcept;
    template <class P>
    struct part_deleter {
        void operator()(P* p) const noexcept { uv_network::destroy(p); }
    };
    template <class P>
    using part_ptr = std::unique_ptr<P, part_deleter<P>>;

private:
    base_event_loop& loop_;
    uv_loop_s* uv_;
    part_ptr<stream_part> streams_;
    part_ptr<datagram_part> datagrams_;
    part_ptr<signal_part> signals_;
    // Each part is created on first use and closed by close_all().
    stream_part& streams();
    datagram_part& datagrams();
    signal_part& signals();
    void close_streams() noexcept;
    void close_datagrams() noexcept;
    void close_signals() noexcept;
};

}  // namespace duet
