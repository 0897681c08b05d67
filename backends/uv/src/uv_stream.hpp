// The uv backend's stream part: one transport class over uv_stream_t (TCP, Unix sockets,
// pipes), servers, and the DNS lookups. Private to backends/uv.
//
// Lifetimes: a transport or server is owned by std::shared_ptr; while libuv holds its
// handles (and, for a transport, until connection_lost has been delivered) it keeps itself
// alive and stays registered in the loop's stream_part, so that close_streams() can find,
// report and close whatever the user left open when the loop closes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <uv.h>

#include <duet/base_events.hpp>
#include <duet/events.hpp>
#include <duet/futures.hpp>
#include <duet/network.hpp>
#include <duet/server.hpp>
#include <duet/sockets.hpp>
#include <duet/transports.hpp>

#include "uv_network.hpp"

namespace duet {

namespace uvs {

// A place in an intrusive doubly linked list: registration costs no allocation and
// unlinking is O(1). T derives from it, once per list it can be in (told apart by Tag), so
// that a member is found from its hook without a pointer of its own (an idle connection's
// memory counts).
template <class T, int Tag = 0>
struct list_hook {
    list_hook() noexcept = default;
    list_hook(const list_hook&) = delete;
    list_hook& operator=(const list_hook&) = delete;
    ~list_hook() { unlink(); }
    bool linked() const noexcept { return next != this; }
    void unlink() noexcept {
        prev->next = next;
        next->prev = prev;
        prev = next = this;
    }
    // The member this hook is part of (never the list's sentinel).
    T& owner() noexcept { return static_cast<T&>(*this); }
    list_hook* prev = this;
    list_hook* next = this;
};

template <class T, int Tag = 0>
struct intrusive_list {
    using hook = list_hook<T, Tag>;
    intrusive_list() noexcept = default;
    intrusive_list(const intrusive_list&) = delete;
    intrusive_list& operator=(const intrusive_list&) = delete;
    ~intrusive_list() {
        while (head.linked()) head.next->unlink();
    }
    hook head;  // the sentinel
    void push_back(T& t) noexcept {
        hook& h = t;
        h.unlink();
        h.prev = head.prev;
        h.next = &head;
        head.prev->next = &h;
        head.prev = &h;
    }
    bool empty() const noexcept { return !head.linked(); }
    std::size_t size() const noexcept {
        std::size_t n = 0;
        for (auto* h = head.next; h != &head; h = h->next) ++n;
        return n;
    }
    // The members, as strong references: callers may change the list while walking it.
    template <class Fn>
    void for_each(Fn&& fn) const {
        std::vector<T*> items;
        for (auto* h = head.next; h != &head; h = h->next) items.push_back(&h->owner());
        for (T* t : items) fn(*t);
    }
};

// Any stream handle libuv has (they share uv_stream_t's layout prefix).
union stream_handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
};

class stream_transport;
class stream_server;
struct lookup;

// A connection's two addresses as getsockname/getpeername gave them, kept compactly (an
// idle connection's memory counts): IPv4 pairs inline in 12 bytes, anything else (IPv6,
// Unix paths, a pair that is not both IPv4) on the heap.
class saved_addresses {
public:
    saved_addresses() noexcept = default;
    saved_addresses(const saved_addresses&) = delete;
    saved_addresses& operator=(const saved_addresses&) = delete;
    ~saved_addresses() { reset(); }
    void save(const socket_address& local, const socket_address& peer);
    socket_address local() const { return get(0); }
    socket_address peer() const { return get(1); }

private:
    struct far_pair {
        socket_address local, peer;
    };
    enum class form : std::uint8_t { none, inet4, far };
    socket_address get(int which) const;
    far_pair* far() const noexcept {
        far_pair* p;
        std::memcpy(&p, raw_, sizeof p);
        return p;
    }
    void reset() noexcept {
        if (form_ == form::far) delete far();
        form_ = form::none;
    }
    // inet4: the local and peer addresses (network order), then their ports (host order);
    // far: a far_pair*. Bytes, not a union with a pointer, so that the form byte packs
    // behind them (16 bytes in all).
    alignas(4) unsigned char raw_[12] = {};
    form form_ = form::none;
};

// A libuv status (a negative errno on Linux) as duet's OS error.
inline std::system_error uv_error(int status, const std::string& what) {
    return os_error(-status, what);
}

// Reports a failure of a user callback: a base-tier exception stops the loop (and leaves
// its run), anything else goes to the exception handler with `message`.
void report_failure(base_event_loop& loop, const char* message, std::exception_ptr e) noexcept;

// Whether `e` is an OS error of the connection itself (reset, broken pipe, aborted): asyncio
// delivers those through connection_lost without troubling the exception handler.
bool is_connection_error(const std::exception_ptr& e) noexcept;

}  // namespace uvs

struct uv_network::stream_part {
    explicit stream_part(uv_network& n);
    uv_network& net;
    base_event_loop& loop;
    uv_loop_t* uv;
    // The read buffer every `protocol` (not buffered_protocol) reads into: reads are
    // delivered one at a time on the loop thread, so one per loop suffices.
    static constexpr std::size_t read_buffer_size = 64 * 1024;
    std::unique_ptr<char[]> read_buffer;
    uvs::intrusive_list<uvs::stream_transport> transports;
    uvs::intrusive_list<uvs::stream_server> servers;
    uvs::intrusive_list<uvs::lookup> lookups;
    // close_streams() ran: the loop is closing, nothing new may be scheduled.
    bool closed = false;

    // Resolves host:port into stream-socket addresses (numeric hosts without a lookup;
    // empty host with passive=true: every interface), in getaddrinfo's order, duplicates
    // dropped. std::system_error naming the host if it does not resolve.
    coro<std::vector<socket_address>> resolve(std::string host, std::uint16_t port, int family, bool passive);
};

namespace uvs {

using stream_part = uv_network::stream_part;

// One transport class for every uv stream.
// The lists a transport is in: its part's, and its server's if a server accepted it.
class stream_transport;
using transport_part_hook = list_hook<stream_transport, 0>;
using transport_server_hook = list_hook<stream_transport, 1>;

class stream_transport final : public transport, public transport_part_hook, public transport_server_hook {
public:
    enum class kind : std::uint8_t { tcp, unix_socket, read_pipe, write_pipe };

    stream_transport(stream_part& part, kind k) noexcept;
    ~stream_transport() override;

    // A transport with an initialised (not yet connected) handle, registered in `part`.
    // std::system_error if libuv refuses.
    static std::shared_ptr<stream_transport> create(stream_part& part, kind k);

    stream_handle& handle() noexcept { return h_; }
    kind get_kind() const noexcept { return kind_; }
    // The fd is connected (or opened): records the addresses (asyncio keeps them after close).
    void set_connected();
    // Write pipes: watch for the reader closing (a second fd on the same pipe, polled).
    void watch_reader_close(int fd);
    // Hands the connection to its protocol: connection_made, then reading. A failing
    // connection_made goes to the exception handler and aborts the transport.
    void start(std::shared_ptr<base_protocol> p);
    // Closes a transport that never got a protocol (a failed or cancelled connect).
    void discard() noexcept;
    // The loop is closing: reported if the user left it open; the handle closed, the
    // protocol released (no connection_lost: the loop cannot run it any more).
    void close_at_loop_close() noexcept;
    // For the server that accepted it (detached when the connection is lost).
    void set_server(stream_server* s) noexcept;
    // The server is being destroyed: nothing to detach from any more.
    void forget_server() noexcept { server_ = nullptr; }
    // What errors and reports call it: the peer's address, the Unix path, "pipe <fd>".
    std::string label() const;
    // A strong reference, while registered (instead of enable_shared_from_this: one
    // self-reference per transport is enough).
    std::shared_ptr<stream_transport> self() const noexcept { return keep_alive_; }

    // ---- base_transport
    void close() override;
    bool is_closing() const noexcept override { return closing_; }
    std::any get_extra_info(std::string_view name) const override;
    std::shared_ptr<base_protocol> get_protocol() const override { return protocol_; }
    void set_protocol(std::shared_ptr<base_protocol> p) override;

    // ---- transport
    void pause_reading() override;
    void resume_reading() override;
    bool is_reading() const noexcept override;
    using transport::write;
    void write(std::string_view data) override;
    void write_owned(std::string&& data) override;
    void write_eof() override;
    bool can_write_eof() const noexcept override;
    void abort() override;
    std::size_t get_write_buffer_size() const noexcept override { return buffered(); }
    std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override {
        return rare_ ? rare_->flow.limits() : write_flow_control().limits();
    }
    void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                 std::optional<std::size_t> low = std::nullopt) override;

    transport_part_hook& part_hook() noexcept { return *this; }
    transport_server_hook& server_hook() noexcept { return *this; }

private:
    bool readable() const noexcept { return kind_ != kind::write_pipe; }
    bool writable() const noexcept { return kind_ != kind::read_pipe; }
    bool is_pipe() const noexcept { return kind_ == kind::read_pipe || kind_ == kind::write_pipe; }
    [[noreturn]] void wrong_direction(const char* method) const;
    // write() and write_owned(): `owned`, if not null, holds `data` and may be taken.
    void write_impl(std::string_view data, std::string* owned);
    std::size_t buffered() const noexcept {
        if (lost_) return 0;  // dropped (abort) or flushed
        return pending_size() + (write_in_flight_ ? h_.stream.write_queue_size : 0);
    }
    void start_reading();
    void stop_reading() noexcept;
    void start_write();
    void maybe_shutdown();
    void update_flow();
    // asyncio's _fatal_error: the handler hears of anything but a connection error, then
    // the transport closes with `e` as connection_lost's argument.
    void fatal_error(std::exception_ptr e, const char* message);
    // asyncio's _force_close: drops the buffer, closes the handle, schedules connection_lost(e).
    void force_close(std::exception_ptr e);
    // Closes the handles and schedules connection_lost(e) (once).
    void schedule_lost(std::exception_ptr e);
    void close_handles() noexcept;
    void deliver_lost(std::exception_ptr e) noexcept;
    void release_protocol() noexcept;
    void maybe_finish() noexcept;
    void on_eof();
    void deliver(const char* data, std::size_t n);
    void reader_closed();

    static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
    static void on_write(uv_write_t* req, int status);
    static void on_shutdown(uv_shutdown_t* req, int status);
    static void on_close(uv_handle_t* h);
    static void on_reader_poll(uv_poll_t* p, int status, int events);
    static void on_poll_close(uv_handle_t* h);

    // Write pipes only: a poll on a second fd of the pipe (allocated when needed: most
    // transports never have one).
    struct reader_watch {
        uv_poll_t poll{};
        int fd = -1;
        stream_transport* owner = nullptr;
    };

    stream_part* part_;  // null once the loop closed
    stream_handle h_{};

    std::shared_ptr<stream_transport> keep_alive_;  // while registered
    std::shared_ptr<base_protocol> protocol_;
    // The server that accepted it: not owned (a server forgets its clients when destroyed,
    // see ~stream_server), so that the transport holds no reference it does not need.
    stream_server* server_ = nullptr;

    // What most connections never need, made on first use (an idle connection's memory
    // counts): the write side beyond uv_try_write (made on the first write the OS did not
    // take at once, then kept: inflight is what uv_write is sending, pending collects writes
    // meanwhile, both keep their capacity, so steady-state writing allocates nothing), the
    // flow control (a protocol can only be paused once writes are buffered, or limits
    // set), a failed get_buffer's error, and a write pipe's reader watch.
    struct rare_state {
        uv_write_t req{};  // the one write in flight
        std::string inflight;
        std::string pending;
        write_flow_control flow;
        std::exception_ptr alloc_error;  // get_buffer failed in on_alloc
        reader_watch* reader = nullptr;
    };
    std::unique_ptr<rare_state> rare_;
    rare_state& rare() {
        if (!rare_) rare_ = std::make_unique<rare_state>();
        return *rare_;
    }
    std::size_t pending_size() const noexcept { return rare_ ? rare_->pending.size() : 0; }
    std::string& pending() { return rare().pending; }
    void drop_pending() noexcept {
        if (rare_) rare_->pending.clear();
    }
    void reset_flow() noexcept {
        if (rare_) rare_->flow.reset();
    }
    // The protocol, as the kind set_protocol found (null once released).
    buffered_protocol* buffered_proto() const noexcept {
        return buffered_ ? static_cast<buffered_protocol*>(protocol_.get()) : nullptr;
    }
    protocol* stream_proto() const noexcept { return buffered_ ? nullptr : static_cast<protocol*>(protocol_.get()); }
    detail::direct_read_protocol* direct_proto() const noexcept {
        return direct_ ? static_cast<detail::direct_read_protocol*>(protocol_.get()) : nullptr;
    }

    saved_addresses addrs_;
    // The protocol's callbacks run in a copy of the context current when the transport was
    // made (asyncio: its reader handle's), so a server's connections see its creator's.
    detail::context_slot ctx_;
    int fd_ = -1;

    // Bits: an idle connection's memory counts.
    kind kind_ : 2;
    std::uint8_t open_handles_ : 2 = 0;    // the handle and a write pipe's reader watch
    std::uint8_t ignored_writes_ : 3 = 0;  // counted up to the one report (5)
    bool handle_open_ : 1 = false;
    bool started_ : 1 = false;    // connection_made was called
    bool closing_ : 1 = false;    // close()/abort() or lost
    bool lost_ : 1 = false;       // connection_lost scheduled (or will never be)
    bool lost_done_ : 1 = false;  // ... and delivered (or dropped)
    bool reading_ : 1 = false;
    bool paused_ : 1 = false;
    bool eof_received_ : 1 = false;
    bool eof_written_ : 1 = false;
    bool shutdown_sent_ : 1 = false;  // an uv_shutdown_t (allocated; freed by its callback) is out
    bool write_in_flight_ : 1 = false;
    bool buffered_ : 1 = false;   // the protocol is a buffered_protocol (decided once in set_protocol)
    bool direct_ : 1 = false;     // ... or a detail::direct_read_protocol
    bool last_full_ : 1 = false;  // the last read filled its buffer: data keeps coming (bulk)
    bool lent_ : 1 = false;       // the read in progress goes into the direct protocol's room
};

// A listening server over one or more listening stream handles.
class stream_server final : public server,
                            public std::enable_shared_from_this<stream_server>,
                            public list_hook<stream_server> {
public:
    stream_server(stream_part& part, protocol_factory f, bool unix_socket, int backlog);
    ~stream_server() override;

    // Wraps a bound socket (the listener owns fd from then on, even on failure).
    void add_listener(int fd, socket_address addr);
    // A Unix server removes its socket file on close if it is still the one it bound
    // (same device and inode).
    void set_unix_path(std::string path, std::uint64_t dev, std::uint64_t ino);
    // Starts listening on every socket; std::system_error naming the address on failure.
    void begin_serving();
    // The loop is closing: reported if still open, listeners closed, everything released.
    void close_at_loop_close() noexcept;
    // An accepted connection's transport is gone.
    void detach(stream_transport& t) noexcept;
    std::string describe() const;

    void close() override;
    void close_clients() override;
    void abort_clients() override;
    coro<void> wait_closed() override;
    coro<void> start_serving() override;
    coro<void> serve_forever() override;
    bool is_serving() const noexcept override { return serving_; }
    std::vector<socket_address> sockets() const override;
    abstract_event_loop& get_loop() const noexcept override { return *loop_; }

private:
    struct listener {
        stream_handle h{};
        stream_server* owner = nullptr;
        socket_address addr;
        bool listening = false;
    };
    static void on_connection(uv_stream_t* s, int status);
    static void on_listener_close(uv_handle_t* h);
    void accept_one(listener& l);
    void close_listeners() noexcept;
    void wakeup() noexcept;
    void remove_socket_file() noexcept;
    void release_factory() noexcept;

    stream_part* part_;  // null once the loop closed
    abstract_event_loop* loop_;
    protocol_factory factory_;
    std::vector<listener*> listeners_;
    std::vector<socket_address> addrs_;
    std::shared_ptr<stream_server> keep_alive_;  // while listeners are open
    intrusive_list<stream_transport, 1> clients_;
    std::vector<future<void>> waiters_;
    future<void> serving_forever_;
    std::string unix_path_;
    std::uint64_t unix_dev_ = 0, unix_ino_ = 0;
    unsigned open_listeners_ = 0;
    int backlog_;
    bool unix_socket_;
    bool closed_ = false;  // close() was called (sockets() empty)
    bool woken_ = false;   // the waiters were released: wait_closed returns at once
    bool serving_ = false;
    // Accepting runs in a copy of the context current at create_server (asyncio: its
    // listening sockets' reader handles): each connection's transport copies it.
    detail::context_slot ctx_;
    bool in_factory_ = false;  // the factory is running: close() must not destroy it
};

// A DNS request on libuv's thread pool (getaddrinfo or getnameinfo). Shared by the
// awaiting coroutine and libuv: if the coroutine goes away first (cancelled, or its frame
// destroyed), the request is cancelled if it has not started; its completion then only
// frees it.
struct lookup : std::enable_shared_from_this<lookup>, list_hook<lookup> {
    explicit lookup(stream_part& p) : part(&p) {}
    virtual ~lookup() = default;
    void cancel() noexcept;
    // Registered in the part until libuv is done with it.
    void begin(std::shared_ptr<lookup> self) noexcept;
    void end() noexcept;
    virtual uv_req_t* req() noexcept = 0;

    stream_part* part;
    std::shared_ptr<lookup> keep_alive;
    bool finished = false;
};

// Cancels the lookup if it is still running when the awaiting coroutine leaves.
struct lookup_guard {
    explicit lookup_guard(std::shared_ptr<lookup> x) noexcept : l(std::move(x)) {}
    std::shared_ptr<lookup> l;
    lookup_guard(const lookup_guard&) = delete;
    lookup_guard& operator=(const lookup_guard&) = delete;
    ~lookup_guard() {
        if (l && !l->finished) l->cancel();
    }
};

// asyncio's sock= and connect_accepted_socket: wraps `fd`, a connected stream socket of
// `family` (AF_INET / AF_INET6: TCP, AF_UNIX: a Unix socket; anything else is refused with
// std::invalid_argument), in a transport and starts it with a new protocol. The fd is the
// transport's once libuv takes it; if libuv refuses it, it stays the caller's.
transport_and_protocol<transport, base_protocol> adopt_connected(stream_part& sp, protocol_factory& f, int fd,
                                                                 int family, const char* method);

}  // namespace uvs

}  // namespace duet
