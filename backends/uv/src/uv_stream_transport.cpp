// The stream transport (TCP, Unix sockets, pipes) over uv_stream_t, the stream part's
// bookkeeping and close_streams().
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <duet/detail/sockaddr.hpp>
#include <duet/exceptions.hpp>

#include "uv_stream.hpp"

namespace duet {

// ---- the part

uv_network::stream_part::stream_part(uv_network& n)
    : net(n), loop(n.loop()), uv(n.uv()), read_buffer(new char[read_buffer_size]) {
    // A write to a socket or pipe whose peer has gone raises SIGPIPE, which kills the
    // process by default; as Python does at start-up, duet makes it an EPIPE error instead
    // (only if nobody chose a disposition for SIGPIPE).
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL)
        ::signal(SIGPIPE, SIG_IGN);
}

uv_network::stream_part& uv_network::streams() {
    // As asyncio: nothing new on a closed loop (libuv's loop is gone by then).
    if (loop_.is_closed()) throw std::runtime_error("Event loop is closed");
    if (!streams_) streams_.reset(new stream_part(*this));
    return *streams_;
}

void uv_network::destroy(stream_part* p) noexcept {
    delete p;
}

void uv_network::close_streams() noexcept {
    if (!streams_) return;
    auto& sp = *streams_;
    sp.closed = true;
    sp.servers.for_each([](uvs::stream_server& s) { s.close_at_loop_close(); });
    sp.transports.for_each([](uvs::stream_transport& t) { t.close_at_loop_close(); });
    sp.lookups.for_each([](uvs::lookup& l) { l.cancel(); });
}

namespace uvs {

void report_failure(base_event_loop& loop, const char* message, std::exception_ptr e) noexcept {
    if (detail::is_base_tier(e)) {
        // SystemExit & co. leave the loop's run, as from any callback.
        loop.raise_base_exception(std::move(e));
        try {
            loop.stop();
        } catch (...) {
        }
        return;
    }
    exception_context ctx;
    ctx.message = message;
    ctx.exception = std::move(e);
    loop.call_exception_handler(ctx);
}

bool is_connection_error(const std::exception_ptr& e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const std::system_error&) {
        // asyncio: an OSError of the connection reaches connection_lost only.
        return true;
    } catch (...) {
        return false;
    }
}

// ---- addresses

namespace {

// An IPv4 address as (network-order address, port), or false for any other.
bool as_inet4(const socket_address& a, std::uint32_t& addr, std::uint16_t& port) {
    if (a.family != socket_address::family_type::inet) return false;
    sockaddr_storage ss;
    if (detail::to_sockaddr(a, ss) < static_cast<socklen_t>(sizeof(sockaddr_in))) return false;
    const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
    addr = in.sin_addr.s_addr;
    port = ntohs(in.sin_port);
    return true;
}

socket_address from_inet4(std::uint32_t addr, std::uint16_t port) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = addr;
    in.sin_port = htons(port);
    return detail::from_sockaddr(reinterpret_cast<const sockaddr*>(&in), sizeof in);
}

}  // namespace

void saved_addresses::save(const socket_address& local, const socket_address& peer) {
    reset();
    std::uint32_t addr[2];
    std::uint16_t port[2];
    if (as_inet4(local, addr[0], port[0]) && as_inet4(peer, addr[1], port[1])) {
        std::memcpy(raw_, addr, sizeof addr);
        std::memcpy(raw_ + sizeof addr, port, sizeof port);
        form_ = form::inet4;
    } else if (!local.empty() || !peer.empty()) {
        auto* p = new far_pair{local, peer};
        std::memcpy(raw_, &p, sizeof p);
        form_ = form::far;
    }
}

socket_address saved_addresses::get(int which) const {
    switch (form_) {
        case form::inet4: {
            std::uint32_t addr[2];
            std::uint16_t port[2];
            std::memcpy(addr, raw_, sizeof addr);
            std::memcpy(port, raw_ + sizeof addr, sizeof port);
            return from_inet4(addr[which], port[which]);
        }
        case form::far:
            return which == 0 ? far()->local : far()->peer;
        case form::none:
            break;
    }
    return {};
}

// ---- the transport

stream_transport::stream_transport(stream_part& part, kind k) noexcept : part_(&part), kind_(k) {}

stream_transport::~stream_transport() = default;

std::shared_ptr<stream_transport> stream_transport::create(stream_part& part, kind k) {
    auto t = std::make_shared<stream_transport>(part, k);
    t->ctx_ = detail::capture_context();
    int rc = k == kind::tcp ? uv_tcp_init(part.uv, &t->h_.tcp) : uv_pipe_init(part.uv, &t->h_.pipe, 0);
    if (rc < 0) throw uv_error(rc, "creating a stream handle");
    t->h_.handle.data = t.get();
    t->handle_open_ = true;
    t->open_handles_ = 1;
    t->keep_alive_ = t;
    part.transports.push_back(*t);
    return t;
}

void stream_transport::set_connected() {
    uv_os_fd_t fd = -1;
    if (uv_fileno(&h_.handle, &fd) == 0) fd_ = fd;
    if (is_pipe()) return;
    addrs_.save(detail::local_address_of(fd_), detail::peer_address_of(fd_));
    if (kind_ == kind::tcp) uv_tcp_nodelay(&h_.tcp, 1);  // as asyncio: small writes go out at once
}

std::string stream_transport::label() const {
    switch (kind_) {
        case kind::tcp: {
            socket_address peer = addrs_.peer();
            return peer.empty() ? "TCP socket " + std::to_string(fd_) : peer.to_string();
        }
        case kind::unix_socket: {
            // An accepted connection's peer is unnamed: its own address is the server's path.
            socket_address peer = addrs_.peer();
            std::string name = !peer.path.empty() ? peer.to_string() : addrs_.local().to_string();
            return "unix socket " + (name.empty() ? std::string("(unnamed)") : name);
        }
        case kind::read_pipe:
        case kind::write_pipe:
            break;
    }
    return "pipe " + std::to_string(fd_);
}

void stream_transport::watch_reader_close(int fd) {
    // A second fd on the same pipe, polled for errors: EPOLLERR on a pipe's write end
    // means the reader has gone (libuv polls the first fd only while writing).
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return;  // not fatal: the next write notices instead
    auto* w = new reader_watch;
    if (uv_poll_init(part_->uv, &w->poll, dup) < 0) {
        ::close(dup);
        delete w;
        return;
    }
    w->poll.data = w;
    w->fd = dup;
    w->owner = this;
    rare().reader = w;
    ++open_handles_;
    if (uv_poll_start(&w->poll, UV_READABLE, &on_reader_poll) < 0) {
        rare_->reader = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), &on_poll_close);
    }
}

void stream_transport::set_server(stream_server* s) noexcept {
    server_ = s;
}

void stream_transport::set_protocol(std::shared_ptr<base_protocol> p) {
    if (!p) throw std::invalid_argument("set_protocol: null protocol");
    // Decided once here, so that reads need no dynamic_cast (asyncio too checks
    // BufferedProtocol first).
    auto* bp = dynamic_cast<buffered_protocol*>(p.get());
    auto* sp = bp ? nullptr : dynamic_cast<protocol*>(p.get());
    if (!bp && !sp)
        throw std::invalid_argument("set_protocol: a stream transport needs a protocol or a buffered_protocol");
    protocol_ = std::move(p);
    buffered_ = bp != nullptr;
    direct_ = sp && dynamic_cast<detail::direct_read_protocol*>(sp) != nullptr;
}

void stream_transport::start(std::shared_ptr<base_protocol> p) {
    detail::context_scope in_ctx(&ctx_);
    set_protocol(std::move(p));
    started_ = true;
    try {
        auto self = keep_alive_;
        if (buffered_protocol* b = buffered_proto())
            b->connection_made(std::move(self));
        else
            stream_proto()->connection_made(std::move(self));
    } catch (...) {
        fatal_error(std::current_exception(), "Fatal error: protocol.connection_made() call failed.");
        return;
    }
    if (readable()) start_reading();
}

void stream_transport::discard() noexcept {
    closing_ = lost_ = lost_done_ = true;
    close_handles();
}

void stream_transport::close_at_loop_close() noexcept {
    if (!part_) return;
    auto self = keep_alive_;
    if (started_ && !closing_) {
        try {
            exception_context ctx;
            ctx.message = "unclosed transport " + label();
            part_->loop.call_exception_handler(ctx);
        } catch (...) {
        }
    }
    closing_ = lost_ = true;
    drop_pending();
    reset_flow();
    close_handles();
    release_protocol();
    lost_done_ = true;
    if (server_) {
        stream_server* s = std::exchange(server_, nullptr);
        s->detach(*this);
    }
    part_ = nullptr;
    maybe_finish();
}

[[noreturn]] void stream_transport::wrong_direction(const char* method) const {
    throw std::logic_error(std::string(method) + ": " + label() + " is a " +
                           (kind_ == kind::read_pipe ? "read" : "write") + " pipe");
}

// ---- reading

void stream_transport::start_reading() {
    if (reading_ || paused_ || eof_received_ || closing_ || !handle_open_ || !readable()) return;
    int rc = uv_read_start(&h_.stream, &on_alloc, &on_read);
    if (rc < 0) {
        fatal_error(std::make_exception_ptr(uv_error(rc, "read from " + label())), "Fatal read error on transport");
        return;
    }
    reading_ = true;
}

void stream_transport::stop_reading() noexcept {
    if (!reading_) return;
    reading_ = false;
    uv_read_stop(&h_.stream);
}

void stream_transport::pause_reading() {
    if (!readable()) wrong_direction("pause_reading");
    if (closing_ || paused_) return;
    paused_ = true;
    stop_reading();
}

void stream_transport::resume_reading() {
    if (!readable()) wrong_direction("resume_reading");
    if (closing_ || !paused_) return;
    paused_ = false;
    start_reading();
}

bool stream_transport::is_reading() const noexcept {
    return readable() && !paused_ && !closing_;
}

void stream_transport::on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) {
    auto* t = static_cast<stream_transport*>(h->data);
    detail::context_scope in_ctx(&t->ctx_);
    if (buffered_protocol* bp = t->buffered_proto()) {
        // Zero-copy: the kernel writes straight into the protocol's buffer.
        try {
            std::span<char> b = bp->get_buffer(suggested);
            if (b.empty()) throw std::runtime_error("get_buffer() returned an empty buffer");
            *buf = uv_buf_init(b.data(), static_cast<unsigned>(std::min<std::size_t>(b.size(), UINT_MAX)));
        } catch (...) {
            try {
                t->rare().alloc_error = std::current_exception();
            } catch (...) {  // out of memory: reported as libuv's ENOBUFS
            }
            *buf = uv_buf_init(nullptr, 0);  // libuv then reports UV_ENOBUFS
        }
        return;
    }
    if (detail::direct_read_protocol* dp = t->direct_proto(); dp && t->last_full_) {
        // Bulk data keeps coming: read straight into the protocol's storage.
        try {
            std::span<char> b = dp->read_buffer();
            if (!b.empty()) {
                *buf = uv_buf_init(b.data(), static_cast<unsigned>(std::min<std::size_t>(b.size(), UINT_MAX)));
                t->lent_ = true;
                return;
            }
        } catch (...) {  // out of memory: the transport's own buffer still works
        }
    }
    *buf = uv_buf_init(t->part_->read_buffer.get(), stream_part::read_buffer_size);
}

void stream_transport::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* t = static_cast<stream_transport*>(s->data);
    detail::context_scope in_ctx(&t->ctx_);
    if (nread >= 0) t->last_full_ = static_cast<std::size_t>(nread) == buf->len;
    if (t->lent_) {
        t->lent_ = false;
        const std::size_t n = nread > 0 && !t->lost_ ? static_cast<std::size_t>(nread) : 0;
        if (detail::direct_read_protocol* dp = t->direct_proto()) {
            try {
                dp->read_done(n);
            } catch (...) {
                t->fatal_error(std::current_exception(), "Fatal error: protocol.data_received() call failed.");
                return;
            }
        }
        if (nread >= 0) return;
    } else if (nread > 0) {
        t->deliver(buf->base, static_cast<std::size_t>(nread));
        return;
    }
    if (nread == 0 || t->lost_) return;  // EAGAIN, or closed meanwhile
    if (nread == UV_EOF) {
        t->on_eof();
        return;
    }
    if (nread == UV_ENOBUFS && t->rare_ && t->rare_->alloc_error) {
        t->fatal_error(std::exchange(t->rare_->alloc_error, nullptr),
                       "Fatal error: protocol.get_buffer() call failed.");
        return;
    }
    t->fatal_error(std::make_exception_ptr(uv_error(static_cast<int>(nread), "read from " + t->label())),
                   t->is_pipe() ? "Fatal read error on pipe transport" : "Fatal read error on socket transport");
}

void stream_transport::deliver(const char* data, std::size_t n) {
    if (lost_) return;
    if (buffered_protocol* bp = buffered_proto()) {
        try {
            bp->buffer_updated(n);
        } catch (...) {
            fatal_error(std::current_exception(), "Fatal error: protocol.buffer_updated() call failed.");
        }
    } else if (protocol* sp = stream_proto()) {
        try {
            sp->data_received(std::string_view(data, n));
        } catch (...) {
            fatal_error(std::current_exception(), "Fatal error: protocol.data_received() call failed.");
        }
    }
}

void stream_transport::on_eof() {
    eof_received_ = true;
    stop_reading();
    bool keep_open = false;
    try {
        if (buffered_protocol* bp = buffered_proto())
            keep_open = bp->eof_received();
        else if (protocol* sp = stream_proto())
            keep_open = sp->eof_received();
    } catch (...) {
        fatal_error(std::current_exception(), "Fatal error: protocol.eof_received() call failed.");
        return;
    }
    if (is_pipe()) {
        // asyncio's read pipe: EOF ends it whatever eof_received says.
        schedule_lost(nullptr);
        return;
    }
    // Half-open if the protocol asks: it may still write, and closes later.
    if (!keep_open) close();
}

// ---- writing

void stream_transport::write(std::string_view data) {
    write_impl(data, nullptr);
}

void stream_transport::write_owned(std::string&& data) {
    write_impl(data, &data);
}

void stream_transport::write_impl(std::string_view data, std::string* owned) {
    if (!writable()) wrong_direction("write");
    if (eof_written_) throw std::runtime_error("Cannot call write() after write_eof()");
    if (data.empty()) return;
    if (closing_ || !handle_open_) {
        // asyncio ignores writes once the connection is closing or lost, and says so
        // after a few.
        if (ignored_writes_ < 5 && ++ignored_writes_ == 5 && part_ && !part_->closed) {
            try {
                exception_context ctx;
                ctx.message = "write() on closed " + label() + ": data ignored (5 writes so far)";
                part_->loop.call_exception_handler(ctx);
            } catch (...) {
            }
        }
        return;
    }
    if (!write_in_flight_) {
        // Nothing queued: try to send at once, and copy only what the OS did not take.
        uv_buf_t b = uv_buf_init(const_cast<char*>(data.data()),
                                 static_cast<unsigned>(std::min<std::size_t>(data.size(), INT_MAX)));
        int n = uv_try_write(&h_.stream, &b, 1);
        if (n >= 0 && static_cast<std::size_t>(n) == data.size()) return;
        if (n < 0 && n != UV_EAGAIN) {
            fatal_error(std::make_exception_ptr(uv_error(n, "write to " + label())),
                        is_pipe() ? "Fatal write error on pipe transport" : "Fatal write error on socket transport");
            return;
        }
        if (n > 0) data.remove_prefix(static_cast<std::size_t>(n));
        std::string& p = pending();
        if (owned && n <= 0 && p.empty())
            p = std::move(*owned);  // nothing sent yet: the caller's string is the buffer
        else
            p.append(data);
        start_write();
        if (lost_) return;
    } else if (owned && rare_->pending.empty()) {  // a write is in flight: rare_ exists
        rare_->pending = std::move(*owned);
    } else {
        rare_->pending.append(data);
    }
    update_flow();
}

void stream_transport::start_write() {
    rare_state& w = *rare_;  // pending data exists, so rare_ does
    std::swap(w.inflight, w.pending);
    w.pending.clear();
    // At most four buffers of 1 GiB per request (libuv's inline buffer count); anything
    // beyond goes back to pending for the next request.
    constexpr std::size_t chunk = std::size_t(1) << 30;
    constexpr std::size_t max_bufs = 4;
    if (w.inflight.size() > chunk * max_bufs) {
        w.pending.assign(w.inflight, chunk * max_bufs, std::string::npos);
        w.inflight.resize(chunk * max_bufs);
    }
    uv_buf_t bufs[max_bufs];
    unsigned nbufs = 0;
    for (std::size_t off = 0; off < w.inflight.size(); off += chunk)
        bufs[nbufs++] =
            uv_buf_init(w.inflight.data() + off, static_cast<unsigned>(std::min(chunk, w.inflight.size() - off)));
    w.req.data = this;
    int rc = uv_write(&w.req, &h_.stream, bufs, nbufs, &on_write);
    if (rc < 0) {
        w.inflight.clear();
        fatal_error(std::make_exception_ptr(uv_error(rc, "write to " + label())),
                    is_pipe() ? "Fatal write error on pipe transport" : "Fatal write error on socket transport");
        return;
    }
    write_in_flight_ = true;
}

void stream_transport::on_write(uv_write_t* req, int status) {
    auto* t = static_cast<stream_transport*>(req->data);
    detail::context_scope in_ctx(&t->ctx_);
    t->write_in_flight_ = false;
    t->rare_->inflight.clear();
    if (status == UV_ECANCELED || t->lost_) return;
    if (status < 0) {
        t->fatal_error(std::make_exception_ptr(uv_error(status, "write to " + t->label())),
                       t->is_pipe() ? "Fatal write error on pipe transport" : "Fatal write error on socket transport");
        return;
    }
    if (!t->rare_->pending.empty()) {
        t->start_write();
        if (t->lost_) return;
    }
    t->maybe_shutdown();
    t->update_flow();  // resume_writing may write more
    if (t->closing_ && !t->lost_ && t->buffered() == 0) t->schedule_lost(nullptr);
}

void stream_transport::update_flow() {
    // Without rare_ nothing is buffered and nothing was paused: nothing to do.
    if (rare_ && protocol_ && part_ && !lost_) rare_->flow.update(buffered(), *protocol_, part_->loop, *this);
}

void stream_transport::set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
    if (!writable()) wrong_direction("set_write_buffer_limits");
    rare().flow.set_limits(high, low);
    update_flow();
}

void stream_transport::write_eof() {
    if (!writable()) wrong_direction("write_eof");
    if (is_pipe()) {
        // asyncio's write pipe: its EOF is closing it once the buffer is flushed.
        close();
        return;
    }
    if (closing_ || eof_written_) return;
    eof_written_ = true;
    maybe_shutdown();
}

bool stream_transport::can_write_eof() const noexcept {
    return kind_ != kind::read_pipe;
}

void stream_transport::maybe_shutdown() {
    // libuv runs the shutdown after the writes already queued, so it only waits for
    // pending data to be handed over.
    if (!eof_written_ || shutdown_sent_ || pending_size() != 0 || !handle_open_ || lost_) return;
    auto* req = new uv_shutdown_t;
    req->data = this;
    int rc = uv_shutdown(req, &h_.stream, &on_shutdown);
    if (rc < 0) {
        delete req;
        fatal_error(std::make_exception_ptr(uv_error(rc, "shutdown " + label())), "Fatal error on transport");
        return;
    }
    shutdown_sent_ = true;
}

void stream_transport::on_shutdown(uv_shutdown_t* req, int status) {
    // Always called (ECANCELED if the handle closed first), before the handle's close callback.
    auto* t = static_cast<stream_transport*>(req->data);
    delete req;
    detail::context_scope in_ctx(&t->ctx_);
    if (status == UV_ECANCELED || t->lost_) return;
    if (status < 0)
        t->fatal_error(std::make_exception_ptr(uv_error(status, "shutdown " + t->label())), "Fatal error on transport");
}

// ---- closing

void stream_transport::close() {
    if (closing_) return;
    closing_ = true;
    stop_reading();
    if (buffered() == 0) schedule_lost(nullptr);
    // Otherwise on_write finishes the close once the buffer is flushed.
}

void stream_transport::abort() {
    force_close(nullptr);
}

void stream_transport::fatal_error(std::exception_ptr e, const char* message) {
    if (part_ && !is_connection_error(e)) report_failure(part_->loop, message, e);
    force_close(std::move(e));
}

void stream_transport::force_close(std::exception_ptr e) {
    if (lost_) return;
    drop_pending();
    schedule_lost(std::move(e));
}

void stream_transport::schedule_lost(std::exception_ptr e) {
    if (lost_) return;
    lost_ = closing_ = true;
    stop_reading();
    reset_flow();
    close_handles();
    if (part_ && !part_->closed && !part_->loop.is_closed()) {
        try {
            // As asyncio: connection_lost runs in a later iteration, never inside the
            // call that closed the transport.
            part_->loop.call_soon([self = keep_alive_, e]() mutable noexcept { self->deliver_lost(std::move(e)); });
            return;
        } catch (...) {
        }
    }
    deliver_lost(std::move(e));
}

void stream_transport::deliver_lost(std::exception_ptr e) noexcept {
    if (lost_done_) return;
    std::shared_ptr<base_protocol> p = std::move(protocol_);
    if (p && started_ && part_ && !part_->closed) {
        try {
            p->connection_lost(std::move(e));
        } catch (...) {
            report_failure(part_->loop, "Exception in callback protocol.connection_lost()", std::current_exception());
        }
    }
    p.reset();  // the protocol may hold this transport: the cycle ends here
    lost_done_ = true;
    if (server_) {
        stream_server* s = std::exchange(server_, nullptr);
        s->detach(*this);
    }
    maybe_finish();
}

void stream_transport::release_protocol() noexcept {
    std::shared_ptr<base_protocol> p = std::move(protocol_);
}

void stream_transport::close_handles() noexcept {
    if (handle_open_) {
        handle_open_ = false;
        reading_ = false;
        uv_close(&h_.handle, &on_close);
    }
    if (rare_ && rare_->reader) {
        uv_close(reinterpret_cast<uv_handle_t*>(&std::exchange(rare_->reader, nullptr)->poll), &on_poll_close);
    }
}

void stream_transport::on_close(uv_handle_t* h) {
    auto* t = static_cast<stream_transport*>(h->data);
    detail::context_scope in_ctx(&t->ctx_);
    --t->open_handles_;
    t->maybe_finish();
}

void stream_transport::on_poll_close(uv_handle_t* h) {
    auto* w = static_cast<reader_watch*>(h->data);
    stream_transport* t = w->owner;
    ::close(w->fd);
    delete w;
    --t->open_handles_;
    t->maybe_finish();
}

void stream_transport::maybe_finish() noexcept {
    // Registered (and self-owned) until libuv has let go of every handle and
    // connection_lost is behind us.
    if (open_handles_ > 0 || !lost_done_) return;
    part_hook().unlink();
    auto self = std::move(keep_alive_);  // may be the last reference: nothing after this
}

void stream_transport::on_reader_poll(uv_poll_t* p, int status, int events) {
    (void)status;
    (void)events;
    stream_transport* t = static_cast<reader_watch*>(p->data)->owner;
    detail::context_scope in_ctx(&t->ctx_);
    t->reader_closed();
}

void stream_transport::reader_closed() {
    if (lost_) return;
    // asyncio: a broken pipe if data was still to be sent, a plain close otherwise.
    if (buffered() > 0)
        force_close(std::make_exception_ptr(os_error(EPIPE, "write to " + label())));
    else
        force_close(nullptr);
}

// ---- extra info

std::any stream_transport::get_extra_info(std::string_view name) const {
    if (is_pipe()) {
        if ((name == "pipe" || name == "fd") && handle_open_) return fd_;
        return {};
    }
    if (name == "peername") return addrs_.peer();
    if (name == "sockname") return addrs_.local();
    if ((name == "socket" || name == "fd") && handle_open_) return fd_;
    return {};
}

}  // namespace uvs

}  // namespace duet
