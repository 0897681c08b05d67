// Streams (asyncio's streams.py): stream_reader and stream_writer over any stream
// transport, the protocol that feeds a reader, and the openers open_connection /
// start_server / open_unix_connection / start_unix_server. Target-neutral: they use only
// the transport and protocol interfaces and abstract_event_loop's network methods, so
// they work on every loop with a network half.
//
// Ownership: stream_reader and stream_writer are cheap copyable handles to shared state
// (as futures are). The protocol holds the reader and the transport; the writer holds the
// protocol (and, unless it is the writer made with the connection, whose state lives in
// the protocol, the transport and the reader too). When the last handle of a writer goes
// away without close(), the transport is closed (asyncio's StreamWriter.__del__), so a
// connection cannot be forgotten open.
#pragma once

#include <any>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <duet/coro.hpp>
#include <duet/detail/stream_waiter.hpp>
#include <duet/detail/waiter.hpp>
#include <duet/events.hpp>
#include <duet/network.hpp>
#include <duet/protocols.hpp>
#include <duet/server.hpp>
#include <duet/transports.hpp>

namespace duet {

// The default buffer limit of a stream_reader (asyncio's _DEFAULT_LIMIT): 64 KiB.
inline constexpr std::size_t stream_default_limit = std::size_t{64} * 1024;

// A separator was not found within the limit, or the data before it is longer than the
// limit (asyncio.LimitOverrunError). The data stays in the reader's buffer; consumed()
// says how many bytes may be consumed (to skip them, read them with readexactly).
class limit_overrun_error : public std::runtime_error {
public:
    limit_overrun_error(const std::string& message, std::size_t consumed)
        : std::runtime_error(message), consumed_(consumed) {}
    std::size_t consumed() const noexcept { return consumed_; }

private:
    std::size_t consumed_;
};

// EOF came before the read was complete (asyncio.IncompleteReadError, an EOFError):
// partial() holds the bytes read (taken out of the buffer); expected() the count asked
// for, none for readuntil. Message: "N bytes read on a total of M expected bytes"
// ("undefined" when there was no count).
class incomplete_read_error : public std::runtime_error {
public:
    incomplete_read_error(std::string partial, std::optional<std::size_t> expected);
    const std::string& partial() const noexcept { return partial_; }
    std::optional<std::size_t> expected() const noexcept { return expected_; }

private:
    std::string partial_;
    std::optional<std::size_t> expected_;
};

class stream_writer;

namespace detail {
struct reader_state;
struct writer_state;

// What a reader operation is (the frameless ones: see stream_read).
enum class read_op : std::uint8_t { some, exactly, line };

// `co_await r.read(n)`, `r.readexactly(n)`, `r.readline()` in a coroutine: no frame of its
// own. When the buffer already answers the call, nothing suspends. Otherwise read(n) and
// readexactly(n) wait in this awaiter, which receives the incoming bytes directly (one copy,
// from the transport's read into the string returned) and is woken only once it can finish
// (read: any byte; readexactly: all n; either: EOF or an error). readline() and read(-1),
// which may need several waits, run as a coroutine when they have to wait.
class read_awaiter : public awaiter_tag, private waiter {
public:
    read_awaiter(const std::shared_ptr<reader_state>* owner, read_op op, std::ptrdiff_t n) noexcept
        : op_(op), owner_(owner), n_(n) {}
    // A copy is not parked (only the awaiter that suspends parks itself).
    read_awaiter(const read_awaiter& o) noexcept : awaiter_tag(), waiter(), op_(o.op_), owner_(o.owner_), n_(o.n_) {}
    read_awaiter& operator=(const read_awaiter&) = delete;
    ~read_awaiter() {
        unlink();
        if (slow_mode_)
            slow_.~coro();
        else
            error_.~exception_ptr();
    }

    bool await_ready();
    void await_suspend(co::coroutine_handle<> h);
    std::string await_resume();

private:
    friend struct reader_state;
    void unlink() noexcept {
        if (linked_) unlink_slow();
    }
    void unlink_slow() noexcept;

    // In the waiter's tail padding (the awaiter sits in the awaiting frame, whose size
    // counts for every idle connection).
    read_op op_;
    bool linked_ = false;                         // the reader points at it (waiting, or woken and not run yet)
    bool suspended_ = false;                      // it waited (its result is taken_)
    bool slow_mode_ = false;                      // it became a coroutine (slow_, not error_, is alive)
    const std::shared_ptr<reader_state>* owner_;  // the handle awaited on (outlives this)
    std::ptrdiff_t n_;
    // Never both: what woke a frameless wait, if an error did; or the coroutine it became.
    union {
        std::exception_ptr error_{};
        coro<std::string> slow_;
    };
    std::string taken_;  // the bytes it received while it waited
};

// stream_writer::drain() in a coroutine: returns at once, with no frame, unless writing is
// paused or the connection is closing; then it runs as a coroutine.
class drain_awaiter : public awaiter_tag {
public:
    explicit drain_awaiter(const stream_writer* owner) noexcept : owner_(owner) {}
    drain_awaiter(const drain_awaiter& o) noexcept : awaiter_tag(), owner_(o.owner_) {}
    drain_awaiter& operator=(const drain_awaiter&) = delete;

    bool await_ready();
    void await_suspend(co::coroutine_handle<> h);
    void await_resume();
    // The drain as a coroutine (when it has to wait, and for stream_drain::as_coro).
    static coro<void> run(stream_writer w);

private:
    const stream_writer* owner_;
    coro<void> slow_;
};
}  // namespace detail

// What stream_reader::read, readexactly and readline return: `co_await` it (no coroutine
// frame; see detail::read_awaiter), or pass it wherever a coro<std::string> goes
// (create_task, wait_for, gather, run_until_complete; it converts to one). It refers to the
// stream_reader it came from, which must outlive it (as in `co_await r.read(n)`).
class [[nodiscard]] stream_read {
public:
    using coro_type = coro<std::string>;
    detail::read_awaiter awaiter() const noexcept { return detail::read_awaiter(st(), op(), n_); }
    coro<std::string> as_coro() &&;
    operator coro<std::string>() && { return std::move(*this).as_coro(); }

private:
    friend class stream_reader;
    using state_ptr = std::shared_ptr<detail::reader_state>;
    static_assert(alignof(state_ptr) >= 4);
    stream_read(const state_ptr* st, detail::read_op op, std::ptrdiff_t n) noexcept
        : st_op_(reinterpret_cast<std::uintptr_t>(st) | static_cast<std::uintptr_t>(op)), n_(n) {}
    const state_ptr* st() const noexcept {
        // NOLINTNEXTLINE(performance-no-int-to-ptr): a tagged pointer
        return reinterpret_cast<const state_ptr*>(st_op_ & ~std::uintptr_t{3});
    }
    detail::read_op op() const noexcept { return static_cast<detail::read_op>(st_op_ & 3); }
    // The handle and (in its low bits) the operation: 16 bytes, as it stays in the awaiting
    // frame while the read waits (an idle connection's memory counts).
    std::uintptr_t st_op_;
    std::ptrdiff_t n_;
};

// What stream_writer::drain returns: `co_await` it (no frame when there is nothing to wait
// for), or use it as the coro<void> it stands for. It refers to the stream_writer it came
// from, which must outlive it.
class [[nodiscard]] stream_drain {
public:
    using coro_type = coro<void>;
    detail::drain_awaiter awaiter() const noexcept { return detail::drain_awaiter(st_); }
    coro<void> as_coro() &&;
    operator coro<void>() && { return std::move(*this).as_coro(); }

private:
    friend class stream_writer;
    explicit stream_drain(const stream_writer* st) noexcept : st_(st) {}
    const stream_writer* st_;
};

// asyncio.StreamReader: a buffer fed by a protocol (or by hand) and read by coroutines.
// One coroutine at a time may wait for data. Reading is paused on the transport while
// more than 2 x limit bytes are buffered and resumed once the buffer drops to the limit.
class stream_reader {
public:
    // An empty handle (every other operation needs a reader made by the next constructor).
    stream_reader() noexcept = default;
    // A new reader bound to `loop` (asyncio's StreamReader(limit)); std::invalid_argument
    // if limit is 0.
    explicit stream_reader(abstract_event_loop& loop, std::size_t limit = stream_default_limit);

    // ---- the protocol's side
    // Appends bytes and wakes the waiting reader; invalid_state_error after feed_eof().
    void feed_data(std::string_view data) const;
    // Marks EOF and wakes the waiting reader (twice is fine).
    void feed_eof() const;
    // Every later read raises `e`; a reader waiting now is woken with it.
    void set_exception(std::exception_ptr e) const;
    // The transport to pause and resume (once: invalid_state_error if one is already set).
    void set_transport(std::shared_ptr<transport> t) const;

    // EOF was fed and the buffer is empty.
    bool at_eof() const noexcept;
    // What set_exception set, or null.
    std::exception_ptr exception() const noexcept;
    std::size_t limit() const noexcept;
    // Bytes buffered and not read yet.
    std::size_t buffered() const noexcept;
    abstract_event_loop& get_loop() const noexcept;

    // ---- reading (each raises the exception set_exception set, if any; a second
    // coroutine waiting for data while one already does gets std::runtime_error)
    // Up to n bytes (at least one unless at EOF: then empty); n = 0: empty at once;
    // n < 0: everything up to EOF.
    stream_read read(std::ptrdiff_t n = -1) const { return stream_read(&st_, detail::read_op::some, n); }
    // One line with its "\n", or what is left before EOF (possibly empty). A line longer
    // than the limit is discarded (up to and including its "\n", or the whole buffer if
    // none was found) and std::invalid_argument raised with limit_overrun_error's message
    // (asyncio raises ValueError there).
    stream_read readline() const { return stream_read(&st_, detail::read_op::line, 0); }
    // Exactly n bytes; incomplete_read_error (with the bytes read) if EOF comes first;
    // std::invalid_argument for n < 0.
    stream_read readexactly(std::ptrdiff_t n) const { return stream_read(&st_, detail::read_op::exactly, n); }
    // The data up to and including `separator`; incomplete_read_error at EOF (the whole
    // buffer as partial()), limit_overrun_error over the limit (the data stays);
    // std::invalid_argument for an empty separator.
    coro<std::string> readuntil(std::string separator = "\n") const;
    // The data up to the first match of any of the separators: the match that ends
    // earliest wins (the shorter one on a tie), as in asyncio 3.13. std::invalid_argument
    // for an empty list or an empty separator. (g++ 12 cannot compile a braced list
    // inside a co_await: name the vector first, `co_await r.readuntil(seps)`.)
    coro<std::string> readuntil(std::vector<std::string> separators) const;
    coro<std::string> readuntil(std::initializer_list<std::string> separators) const {
        return readuntil(std::vector<std::string>(separators));
    }

    explicit operator bool() const noexcept { return static_cast<bool>(st_); }
    friend bool operator==(const stream_reader& a, const stream_reader& b) noexcept { return a.st_ == b.st_; }

private:
    friend class stream_reader_protocol;  // its direct reads
    std::shared_ptr<detail::reader_state> st_;
};

class stream_writer;

// What start_server & co. call for each connection: a coroutine (run as a task) taking
// the connection's reader and writer. An empty coro<void> means nothing to run.
using client_connected_callback = std::function<coro<void>(stream_reader, stream_writer)>;

// asyncio.StreamReaderProtocol: feeds a reader (if it has one) from a stream transport,
// and gives stream_writer::drain its flow control: pause_writing/resume_writing park and
// wake drains; connection_lost wakes every waiter (with the error, if any). With a
// client_connected_callback (servers), connection_made makes the writer and runs the
// callback as a task; an exception escaping it goes to the loop's exception handler
// ("Unhandled exception in client_connected_cb") and the transport is closed; a callback
// that ends cancelled just closes the transport.
//
// Without a reader it is a plain flow-control protocol, e.g. for a write pipe:
//   auto [t, p] = co_await loop.connect_write_pipe(
//       [] { return std::make_shared<stream_reader_protocol>(); }, fd);
//   stream_writer w(t, p, {}, loop);
class stream_reader_protocol : public detail::direct_read_protocol,
                               public std::enable_shared_from_this<stream_reader_protocol> {
public:
    explicit stream_reader_protocol(stream_reader reader = {});
    stream_reader_protocol(stream_reader reader, client_connected_callback cb);
    // The callback shared by every connection of a server (it must outlive the tasks).
    stream_reader_protocol(stream_reader reader, std::shared_ptr<const client_connected_callback> cb);
    ~stream_reader_protocol() override;

    void connection_made(std::shared_ptr<transport> t) override;
    void data_received(std::string_view data) override;
    // Bulk data (a transport whose last read filled its buffer): the next read goes
    // straight into the waiting read's result or the reader's buffer (no copy through
    // the transport's buffer); empty when there is no reader, the data is small, or the
    // protocol is a subclass (which may override data_received to see every byte).
    std::span<char> read_buffer() override;
    void read_done(std::size_t n) override;
    // Feeds EOF to the reader and keeps the connection half-open (the writer may still
    // write).
    bool eof_received() override;
    void connection_lost(std::exception_ptr error) override;
    void pause_writing() override;
    void resume_writing() override;

    const stream_reader& reader() const noexcept { return reader_; }
    // Whether connection_lost has run.
    bool is_connection_lost() const noexcept { return lost_; }
    // Whether writing is paused (the transport's buffer is over its high-water mark).
    bool is_writing_paused() const noexcept { return paused_; }

    // stream_writer::drain's wait: returns at once unless paused; std::system_error once
    // the connection is lost (its error, or ECONNRESET "Connection lost" if none).
    coro<void> drain_helper();
    // Waits for connection_lost; raises its error if there was one.
    coro<void> wait_closed();

private:
    stream_reader reader_;
    std::shared_ptr<const client_connected_callback> cb_;
    std::shared_ptr<transport> transport_;
    // The drains and close waiters and connection_lost's error: made when first needed
    // (an idle connection's memory counts).
    struct waits_state;
    std::unique_ptr<waits_state> waits_;
    waits_state& waits();
    std::exception_ptr lost_error() const noexcept;
    // The embedded writer (see stream_writer): its handles' reference to this protocol
    // and their count.
    friend class stream_writer;
    std::shared_ptr<stream_reader_protocol> writer_self_;
    std::uint32_t writers_ = 0;
    bool lost_ = false;
    bool paused_ = false;
};

// asyncio.StreamWriter: writes through the transport, with drain() for flow control.
class stream_writer {
public:
    // An empty handle.
    stream_writer() noexcept = default;
    // A writer on `t`, whose protocol is `p` (std::invalid_argument if either is null);
    // `reader` (may be empty) is the connection's reader, whose exception drain raises.
    stream_writer(std::shared_ptr<duet::transport> t, std::shared_ptr<stream_reader_protocol> p, stream_reader reader,
                  abstract_event_loop& loop);
    stream_writer(const stream_writer& o) noexcept : h_(o.h_) { add_ref(); }
    stream_writer(stream_writer&& o) noexcept : h_(std::exchange(o.h_, 0)) {}
    stream_writer& operator=(stream_writer o) noexcept {
        std::swap(h_, o.h_);
        return *this;
    }
    ~stream_writer() { release(); }

    // Forwarded to the transport (write copies: the data need not outlive the call).
    void write(std::string_view data) const;
    // The same, taking the string (what must be buffered is not copied).
    template <class S>
    requires std::same_as<S, std::string>
    void write(S&& data) const { write_owned(std::forward<S>(data)); }
    void writelines(std::initializer_list<std::string_view> parts) const {
        for (auto p : parts) write(p);
    }
    template <class Range>
    void writelines(const Range& parts) const {
        for (const auto& p : parts) write(std::string_view(p));
    }
    void write_eof() const;
    bool can_write_eof() const noexcept;
    // Closes the transport (buffered data is still sent).
    void close() const;
    bool is_closing() const noexcept;
    // Waits until the connection is lost; raises its error if it had one.
    coro<void> wait_closed() const;
    // Waits while the transport's buffer is over its high-water mark; returns at once
    // otherwise. Raises the reader's exception if it has one, and once the connection is
    // lost or the transport is closing, the connection's error (or, if none,
    // std::system_error ECONNRESET "Connection lost"), so a write/drain loop against a
    // dead peer ends. Any number of coroutines may drain at once; all resume together.
    stream_drain drain() const { return stream_drain(this); }
    std::any get_extra_info(std::string_view name) const;
    template <class T>
    std::optional<T> get_extra_info(std::string_view name) const {
        std::any v = get_extra_info(name);
        if (const T* p = std::any_cast<T>(&v)) return *p;
        return std::nullopt;
    }
    const std::shared_ptr<duet::transport>& transport() const noexcept;
    const std::shared_ptr<stream_reader_protocol>& protocol() const noexcept;
    abstract_event_loop& get_loop() const noexcept;

    explicit operator bool() const noexcept { return h_ != 0; }
    friend bool operator==(const stream_writer& a, const stream_writer& b) noexcept { return a.h_ == b.h_; }

private:
    friend class detail::drain_awaiter;
    void write_owned(std::string&& data) const;
    const stream_reader& reader() const noexcept;
    // The state the handles share, counted by them (the last one gone closes a transport
    // nobody closed): a detail::writer_state of its own, or (low bit set) the protocol's
    // embedded writer, for the writer made with the connection (start_server's callback,
    // open_connection), whose transport, reader and loop are the protocol's own: no
    // allocation of its own (an idle connection's memory counts).
    std::uintptr_t h_ = 0;
    stream_reader_protocol* embedded() const noexcept {
        // NOLINTNEXTLINE(performance-no-int-to-ptr): a tagged pointer
        return (h_ & 1) ? reinterpret_cast<stream_reader_protocol*>(h_ & ~std::uintptr_t{1}) : nullptr;
    }
    detail::writer_state* own() const noexcept {
        return reinterpret_cast<detail::writer_state*>(h_);  // NOLINT(performance-no-int-to-ptr): tagged
    }
    void add_ref() const noexcept;
    void release() noexcept;
};

namespace detail {

// Runs a callback whose coroutine has a result (dropped) or is a frameless awaitable; the
// frame keeps the callable alive.
template <class F>
coro<void> run_client_callback(std::shared_ptr<F> fp, stream_reader r, stream_writer w) {
    coro_of_t<std::invoke_result_t<F&, stream_reader, stream_writer>> c = to_coro((*fp)(r, w));
    co_await std::move(c);
}

// The callback as start_server & co. store it: a callable (reader, writer) returning a
// coroutine (coro<T>, or a frameless awaitable standing for one) or nothing.
template <class F>
client_connected_callback make_client_callback(F f) {
    using R = std::invoke_result_t<F&, stream_reader, stream_writer>;
    // Shared, so that a move-only callable fits std::function, and so that a lambda
    // coroutine's captures stay where its frames point.
    auto fp = std::make_shared<F>(std::move(f));
    if constexpr (std::is_same_v<R, coro<void>>) {
        return [fp](stream_reader r, stream_writer w) { return (*fp)(std::move(r), std::move(w)); };
    } else if constexpr (std::is_void_v<R>) {
        return [fp](stream_reader r, stream_writer w) {
            (*fp)(std::move(r), std::move(w));
            return coro<void>();
        };
    } else {
        static_assert(coroutine_arg<R>, "client_connected_cb must return a coroutine (coro<T>) or void");
        return [fp](stream_reader r, stream_writer w) { return run_client_callback(fp, std::move(r), std::move(w)); };
    }
}

coro<std::shared_ptr<server>> start_server_impl(abstract_event_loop* loop, client_connected_callback cb,
                                                std::vector<std::string> hosts, std::uint16_t port, std::size_t limit,
                                                server_options opts);
coro<std::shared_ptr<server>> start_unix_server_impl(abstract_event_loop* loop, client_connected_callback cb,
                                                     std::string path, std::size_t limit, server_options opts);

}  // namespace detail

template <class F>
concept client_connected_callable = std::move_constructible<F> && std::is_invocable_v<F&, stream_reader, stream_writer>;

// ---- the openers (asyncio's open_connection & co.). Without a loop argument they use
// the running loop. Built on abstract_event_loop's create_connection & co., they raise
// what those raise (std::system_error naming the address; not_supported_error on a loop
// without a network half).

// Connects to host:port: the reader and the writer of the new connection.
coro<std::pair<stream_reader, stream_writer>> open_connection(abstract_event_loop& loop, std::string host,
                                                              std::uint16_t port,
                                                              std::size_t limit = stream_default_limit,
                                                              connection_options opts = {});
coro<std::pair<stream_reader, stream_writer>> open_connection(std::string host, std::uint16_t port,
                                                              std::size_t limit = stream_default_limit,
                                                              connection_options opts = {});
// Connects to the Unix socket at `path`.
coro<std::pair<stream_reader, stream_writer>> open_unix_connection(abstract_event_loop& loop, std::string path,
                                                                   std::size_t limit = stream_default_limit);
coro<std::pair<stream_reader, stream_writer>> open_unix_connection(std::string path,
                                                                   std::size_t limit = stream_default_limit);

// Listens on host:port (empty host: every interface; port 0: a free one, see
// server::sockets()); each connection runs client_connected_cb(reader, writer) as a task.
// The server keeps the callable until its last connection's task ends, so a lambda
// coroutine may use its captures. (g++ 12: a lambda that captures by value must be named
// before the co_await, not written inside it; see README's coroutine pitfalls.)
template <client_connected_callable F>
coro<std::shared_ptr<server>> start_server(abstract_event_loop& loop, F client_connected_cb, std::string host,
                                           std::uint16_t port, std::size_t limit = stream_default_limit,
                                           server_options opts = {}) {
    std::vector<std::string> hosts;
    if (!host.empty()) hosts.push_back(std::move(host));
    return detail::start_server_impl(&loop, detail::make_client_callback(std::move(client_connected_cb)),
                                     std::move(hosts), port, limit, std::move(opts));
}
template <client_connected_callable F>
coro<std::shared_ptr<server>> start_server(F client_connected_cb, std::string host, std::uint16_t port,
                                           std::size_t limit = stream_default_limit, server_options opts = {}) {
    std::vector<std::string> hosts;
    if (!host.empty()) hosts.push_back(std::move(host));
    return detail::start_server_impl(nullptr, detail::make_client_callback(std::move(client_connected_cb)),
                                     std::move(hosts), port, limit, std::move(opts));
}
// Listens on every address of every host named.
template <client_connected_callable F>
// NOLINTNEXTLINE(performance-unnecessary-value-param): moved on (clang-tidy 14 misreads the dependent call)
coro<std::shared_ptr<server>> start_server(F client_connected_cb, std::vector<std::string> hosts, std::uint16_t port,
                                           std::size_t limit = stream_default_limit, server_options opts = {}) {
    return detail::start_server_impl(nullptr, detail::make_client_callback(std::move(client_connected_cb)),
                                     std::move(hosts), port, limit, std::move(opts));
}
// Listens on the Unix socket `path`.
template <client_connected_callable F>
// NOLINTNEXTLINE(performance-unnecessary-value-param): moved on (clang-tidy 14 misreads the dependent call)
coro<std::shared_ptr<server>> start_unix_server(abstract_event_loop& loop, F client_connected_cb, std::string path,
                                                std::size_t limit = stream_default_limit, server_options opts = {}) {
    return detail::start_unix_server_impl(&loop, detail::make_client_callback(std::move(client_connected_cb)),
                                          std::move(path), limit, std::move(opts));
}
template <client_connected_callable F>
// NOLINTNEXTLINE(performance-unnecessary-value-param): moved on (clang-tidy 14 misreads the dependent call)
coro<std::shared_ptr<server>> start_unix_server(F client_connected_cb, std::string path,
                                                std::size_t limit = stream_default_limit, server_options opts = {}) {
    return detail::start_unix_server_impl(nullptr, detail::make_client_callback(std::move(client_connected_cb)),
                                          std::move(path), limit, std::move(opts));
}

}  // namespace duet
