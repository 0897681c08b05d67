// Protocols (asyncio's protocols.py): the callbacks a transport calls. Every callback runs
// on the loop thread; an exception escaping one goes to the loop's exception handler and
// the transport is closed (asyncio's "Fatal error on transport").
//
// Ownership: a transport owns its protocol (a std::shared_ptr) until connection_lost has
// been delivered, then lets it go; a protocol may keep the std::shared_ptr<transport> it
// is given in connection_made. Neither can dangle while the OS handle is open, and the
// cycle ends when the connection does.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <span>
#include <string_view>

#include <duet/sockets.hpp>

namespace duet {

class transport;
class datagram_transport;
class subprocess_transport;

class base_protocol {
public:
    virtual ~base_protocol() = default;
    // The connection is gone: `error` is null after close()/EOF, the cause otherwise
    // (a std::system_error: reset, broken pipe, ...). Called exactly once.
    virtual void connection_lost(std::exception_ptr error) { (void)error; }
    // The transport's write buffer went above its high-water mark.
    virtual void pause_writing() {}
    // ... and back to or below its low-water mark.
    virtual void resume_writing() {}
};

// A stream protocol (TCP, Unix sockets, pipes).
class protocol : public base_protocol {
public:
    // By value: an override usually keeps the transport, so ownership moves in.
    // NOLINTNEXTLINE(performance-unnecessary-value-param)
    virtual void connection_made(std::shared_ptr<transport> t) { (void)t; }
    // Bytes arrived; the view is valid only during the call.
    virtual void data_received(std::string_view data) { (void)data; }
    // The peer sent EOF. Return true to keep the connection half-open (the protocol
    // closes it later), false to let the transport close itself.
    virtual bool eof_received() { return false; }
};

// The zero-copy stream protocol: the transport reads straight into the protocol's buffer.
namespace detail {
// A protocol a transport may read into directly, skipping the copy through its own read
// buffer (stream_reader_protocol, for bulk data). Transports that do not know it call
// data_received as for any protocol.
class direct_read_protocol : public protocol {
public:
    // Room for the next read, or empty: then the transport reads into its own buffer and
    // calls data_received.
    virtual std::span<char> read_buffer() = 0;
    // The read into read_buffer()'s room is done: n bytes (0: none, e.g. EOF or EAGAIN).
    virtual void read_done(std::size_t n) = 0;
};
}  // namespace detail

class buffered_protocol : public base_protocol {
public:
    // By value: an override usually keeps the transport, so ownership moves in.
    // NOLINTNEXTLINE(performance-unnecessary-value-param)
    virtual void connection_made(std::shared_ptr<transport> t) { (void)t; }
    // A writable buffer for the next read (size_hint: a suggestion, 0 = any); must not
    // be empty.
    virtual std::span<char> get_buffer(std::size_t size_hint) = 0;
    // The first n bytes of the last buffer were filled.
    virtual void buffer_updated(std::size_t n) = 0;
    virtual bool eof_received() { return false; }
};

// A datagram protocol (UDP).
class datagram_protocol : public base_protocol {
public:
    // NOLINTNEXTLINE(performance-unnecessary-value-param): overrides keep the transport
    virtual void connection_made(std::shared_ptr<datagram_transport> t) { (void)t; }
    virtual void datagram_received(std::string_view data, const socket_address& from) {
        (void)data;
        (void)from;
    }
    // A send or receive failed (ICMP port unreachable arrives as connection refused);
    // the endpoint stays open.
    virtual void error_received(std::exception_ptr error) { (void)error; }
};

// A child process's protocol (asyncio.SubprocessProtocol). Order of calls: connection_made,
// then pipe_data_received / pipe_connection_lost for each pipe (all of a pipe's data before
// its pipe_connection_lost) and process_exited once the child is reaped (always delivered,
// in any order relative to the pipes), then connection_lost(null) once the child has exited
// and every pipe is closed.
class subprocess_protocol : public base_protocol {
public:
    // NOLINTNEXTLINE(performance-unnecessary-value-param): overrides keep the transport
    virtual void connection_made(std::shared_ptr<subprocess_transport> t) { (void)t; }
    // Bytes from the child's stdout (fd 1) or stderr (fd 2); valid only during the call.
    virtual void pipe_data_received(int fd, std::string_view data) {
        (void)fd;
        (void)data;
    }
    // The pipe to the child's fd (0, 1 or 2) is closed: `error` is null at EOF/close.
    virtual void pipe_connection_lost(int fd, std::exception_ptr error) {
        (void)fd;
        (void)error;
    }
    // The child was reaped (subprocess_transport::get_returncode has its code).
    virtual void process_exited() {}
};

}  // namespace duet
