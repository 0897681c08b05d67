// A listening server (asyncio's Server / AbstractServer), as create_server and
// create_unix_server return it.
#pragma once

#include <memory>
#include <vector>

#include <duet/coro.hpp>
#include <duet/sockets.hpp>

namespace duet {

class abstract_event_loop;

class server {
public:
    virtual ~server() = default;
    // Stops listening (the listening sockets close; a Unix server removes its socket
    // file). Connections already accepted stay open. Twice is a no-op.
    virtual void close() = 0;
    // 3.13: closes every accepted connection's transport (buffered data still sent).
    virtual void close_clients() = 0;
    // 3.13: aborts every accepted connection's transport.
    virtual void abort_clients() = 0;
    // Completes once close() was called and every accepted connection has been lost
    // (asyncio 3.12+).
    virtual coro<void> wait_closed() = 0;
    // Starts accepting if not yet (start_serving=false at creation); no-op if serving.
    virtual coro<void> start_serving() = 0;
    // Serves until cancelled; cancelling it closes the server. std::runtime_error if it
    // is already serving forever or closed.
    virtual coro<void> serve_forever() = 0;
    virtual bool is_serving() const noexcept = 0;
    // The listening sockets' addresses (port 0 resolved to the port the OS chose); empty
    // once closed.
    virtual std::vector<socket_address> sockets() const = 0;
    virtual abstract_event_loop& get_loop() const noexcept = 0;
};

}  // namespace duet
