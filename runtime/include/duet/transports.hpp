// Transports (asyncio's transports.py): the loop's side of a connection. The interfaces and
// the flow-control bookkeeping are target-neutral; the libuv transports implement them
// natively, and a JS-hosted transport could implement them unchanged.
#pragma once

#include <any>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <duet/coro.hpp>
#include <duet/protocols.hpp>
#include <duet/sockets.hpp>

namespace duet {

class abstract_event_loop;

class base_transport {
public:
    virtual ~base_transport() = default;
    // Closes the transport: buffered data is still sent, then the protocol's
    // connection_lost(null) runs (in a later loop iteration). Twice is a no-op.
    virtual void close() = 0;
    // Whether close() or abort() was called or the connection is gone.
    virtual bool is_closing() const noexcept = 0;
    // asyncio's get_extra_info: "peername" / "sockname" (socket_address), "socket" / "fd"
    // / "pipe" (int, the fd; the transport keeps owning it). Empty when unknown.
    virtual std::any get_extra_info(std::string_view name) const = 0;
    template <class T>
    std::optional<T> get_extra_info(std::string_view name) const {
        std::any v = get_extra_info(name);
        if (const T* p = std::any_cast<T>(&v)) return *p;
        return std::nullopt;
    }
    // The protocol the transport calls (may be replaced while the connection is open).
    virtual std::shared_ptr<base_protocol> get_protocol() const = 0;
    virtual void set_protocol(std::shared_ptr<base_protocol> p) = 0;
};

// A stream transport: TCP, Unix sockets, pipes. A read-only pipe's write side and a
// write-only pipe's read side raise std::logic_error naming the pipe.
class transport : public base_transport {
public:
    // ---- reading
    // Stops calling data_received until resume_reading(); no-op if already paused or closing.
    virtual void pause_reading() = 0;
    virtual void resume_reading() = 0;
    virtual bool is_reading() const noexcept = 0;

    // ---- writing
    // Sends the bytes: as much as the OS takes at once, the rest buffered (copied: the
    // caller's buffer need not outlive the call). Ignored once the connection is lost;
    // std::runtime_error after write_eof().
    virtual void write(std::string_view data) = 0;
    // The same, taking the string: what the OS does not take at once is buffered without a
    // copy. (A template so that write("literal") still means the string_view overload.)
    template <class S>
    requires std::same_as<S, std::string>
    void write(S&& data) { write_owned(std::forward<S>(data)); }
    // What write(std::string&&) calls; by default the copying write. `data` may be left
    // in any valid state.
    virtual void write_owned(std::string&& data) { write(std::string_view(data)); }
    void write(std::span<const std::byte> data) {
        write(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
    }
    void writelines(std::initializer_list<std::string_view> parts) {
        for (auto p : parts) write(p);
    }
    template <class Range>
    void writelines(const Range& parts) {
        for (const auto& p : parts) write(std::string_view(p));
    }
    // Half-closes after the buffered data (shutdown(SHUT_WR)); the read side stays open.
    virtual void write_eof() = 0;
    virtual bool can_write_eof() const noexcept = 0;
    // Closes at once: the buffer is dropped, connection_lost(null) follows.
    virtual void abort() = 0;
    // Bytes buffered, not yet handed to the OS.
    virtual std::size_t get_write_buffer_size() const noexcept = 0;
    // (low, high) water marks.
    virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept = 0;
    // asyncio's rules: high defaults to 64 KiB (4 x low if only low is given), low to
    // high / 4; std::invalid_argument unless high >= low >= 0.
    virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                         std::optional<std::size_t> low = std::nullopt) = 0;
};

// A datagram transport (UDP).
class datagram_transport : public base_transport {
public:
    // Sends one datagram to `to`, or to the connected remote address when `to` is empty
    // (std::invalid_argument if the endpoint is connected and `to` differs from it, or
    // not connected and `to` is empty). Errors go to error_received.
    virtual void sendto(std::string_view data, const socket_address& to = {}) = 0;
    virtual void abort() = 0;
    virtual std::size_t get_write_buffer_size() const noexcept = 0;
};

// A child process (asyncio.SubprocessTransport), made by abstract_event_loop::subprocess_exec
// / subprocess_shell. close() closes the pipes and kills a child still running (never one
// the watcher has reaped); the protocol's connection_lost follows once the child has exited
// and every pipe is closed.
class subprocess_transport : public base_transport {
public:
    virtual int get_pid() const noexcept = 0;
    // The exit status, or -N for a child killed by signal N; empty until the child is reaped.
    virtual std::optional<int> get_returncode() const noexcept = 0;
    // The transport of the pipe to the child's fd 0, 1 or 2; null when that fd is not piped.
    virtual std::shared_ptr<transport> get_pipe_transport(int fd) const = 0;
    // Sends sig to the child unless it was reaped already (then a no-op): a signal racing
    // the exit never reaches another process. std::invalid_argument for an invalid signal.
    virtual void send_signal(int sig) = 0;
    virtual void terminate() = 0;  // SIGTERM
    virtual void kill() = 0;       // SIGKILL
    // The returncode, once the child has exited and every pipe is closed (after the
    // protocol's connection_lost); any number of waiters; cancelling one leaves the others.
    // (asyncio's private _wait, which Process.wait uses.)
    virtual coro<int> wait() = 0;
};

// The write side's flow control, shared by every transport: the water marks, and the
// pause_writing/resume_writing calls as the buffered size crosses them. An exception
// from either callback goes to the loop's exception handler.
class write_flow_control {
public:
    static constexpr std::size_t default_high = std::size_t{64} * 1024;
    void set_limits(std::optional<std::size_t> high, std::optional<std::size_t> low);
    std::pair<std::size_t, std::size_t> limits() const noexcept { return {low_, high_}; }
    bool paused() const noexcept { return paused_; }
    // The buffered size is now `buffered`: pauses the protocol above high, resumes it
    // at or below low. Call after every change (and after set_limits).
    void update(std::size_t buffered, base_protocol& p, abstract_event_loop& loop, const base_transport& t);
    // Forgets a pause (the connection is gone: resume_writing is never owed).
    void reset() noexcept { paused_ = false; }

private:
    std::size_t high_ = default_high;
    std::size_t low_ = default_high / 4;
    bool paused_ = false;
};

}  // namespace duet
