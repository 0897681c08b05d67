// UDP (asyncio's create_datagram_endpoint): a datagram_transport over a uv_udp_t.
//
// The socket is made here (socket, setsockopt, bind, connect) and handed to libuv with
// uv_udp_open, so that reuse_port and allow_broadcast are set before bind. Datagrams are
// read into one buffer per loop (no allocation per datagram) and passed on as views; a
// send is tried at once (uv_udp_try_send) and only queued, as a copy, when the socket
// would block. Receive and send errors go to the protocol's error_received; the endpoint
// stays open.
//
// Lifetime: the endpoint is owned by shared_ptrs: the user's, the protocol's, and two of
// its own. `self_` is libuv's: held from uv_udp_open until the handle's close callback, so
// the handle never dangles. The part's registry holds the other until connection_lost has
// been delivered (or the loop closes), so that close_datagrams() can find every endpoint
// whose protocol is still held, and break the transport <-> protocol cycle.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <uv.h>

#include <duet/base_events.hpp>
#include <duet/detail/sockaddr.hpp>

#include "uv_network.hpp"

namespace duet {

namespace {

class udp_endpoint;

// The addresses of host:port for a UDP socket: numeric hosts at once, an empty host as
// the wildcard address (local_addr only), anything else through getaddrinfo.
coro<std::vector<socket_address>> resolve(uv_network& net, const host_port& hp, int family, bool local,
                                          const char* which) {
    std::vector<socket_address> out;
    auto accept = [&](int f) { return family == 0 || family == f; };
    if (hp.host.empty()) {
        if (!local) throw std::invalid_argument(std::string("create_datagram_endpoint: ") + which + " has no host");
        if (accept(AF_INET)) out.push_back(socket_address::inet("0.0.0.0", hp.port));
        if (accept(AF_INET6)) out.push_back(socket_address::inet6("::", hp.port));
        co_return out;
    }
    unsigned char probe[sizeof(in6_addr)];
    if (inet_pton(AF_INET, hp.host.c_str(), probe) == 1) {
        if (accept(AF_INET)) out.push_back(socket_address::inet(hp.host, hp.port));
    } else if (inet_pton(AF_INET6, hp.host.c_str(), probe) == 1) {
        if (accept(AF_INET6)) out.push_back(socket_address::inet6(hp.host, hp.port));
    } else {
        // A name: the loop's getaddrinfo (libuv's pool, cancellable, errors naming the host).
        auto infos = co_await net.getaddrinfo(hp.host, std::to_string(hp.port), {family, SOCK_DGRAM, IPPROTO_UDP, 0});
        for (auto& i : infos)
            if (i.family == AF_INET || i.family == AF_INET6) out.push_back(std::move(i.address));
    }
    if (out.empty())
        throw std::invalid_argument(std::string("create_datagram_endpoint: ") + which + " " + hp.host +
                                    " has no address of the family asked for");
    co_return out;
}

int family_of(const socket_address& a) {
    return a.family == socket_address::family_type::inet6 ? AF_INET6 : AF_INET;
}

bool same_endpoint(const socket_address& a, const socket_address& b) {
    if (a.family != b.family || a.port != b.port) return false;
    // Compare the parsed addresses: "::1" and "0:0::1" are the same host.
    sockaddr_storage sa{}, sb{};
    try {
        socklen_t la = detail::to_sockaddr(a, sa);
        socklen_t lb = detail::to_sockaddr(b, sb);
        return la == lb && std::memcmp(&sa, &sb, la) == 0;
    } catch (const std::invalid_argument&) {
        return false;
    }
}

}  // namespace

struct uv_network::datagram_part {
    // The one receive buffer of this loop's endpoints: libuv reads one datagram into it
    // and hands it to the endpoint's callback before reading the next.
    std::unique_ptr<char[]> buffer{new char[buffer_size]};
    static constexpr std::size_t buffer_size = 64 * 1024;
    // Endpoints whose protocol is still held (connection_lost not yet delivered).
    std::unordered_map<udp_endpoint*, std::shared_ptr<udp_endpoint>> endpoints;
};

namespace {

class udp_endpoint final : public datagram_transport, public std::enable_shared_from_this<udp_endpoint> {
public:
    // The protocol's callbacks run in a copy of the context current here (asyncio: its
    // reader handle's).
    udp_endpoint(uv_network& net, uv_network::datagram_part& part)
        : net_(net), part_(part), ctx_(detail::capture_context()) {}

    // ---- datagram_transport
    void sendto(std::string_view data, const socket_address& to) override {
        sockaddr_storage ss{};
        const sockaddr* dest = nullptr;
        if (connected_) {
            if (!to.empty() && !same_endpoint(to, remote_))
                throw std::invalid_argument("sendto: invalid address " + to.to_string() +
                                            ": the endpoint is connected to " + remote_.to_string());
            if (!socket_connected_) {
                detail::to_sockaddr(remote_, ss);
                dest = reinterpret_cast<const sockaddr*>(&ss);
            }
        } else {
            if (to.empty()) throw std::invalid_argument("sendto: no address given and the endpoint is not connected");
            detail::to_sockaddr(to, ss);  // std::invalid_argument unless numeric
            dest = reinterpret_cast<const sockaddr*>(&ss);
        }
        if (closing_) return;  // as a stream transport's write after close: ignored
        uv_buf_t b = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
        int rc = uv_udp_try_send(&handle_, &b, 1, dest);  // EAGAIN while sends are queued
        if (rc >= 0) return;
        if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
            report_error(-rc, "sendto " + destination(to));
            return;
        }
        auto* req = new send_request;
        req->data.assign(data);
        req->to = to;
        req->self = shared_from_this();
        req->req.data = req;
        b = uv_buf_init(req->data.data(), static_cast<unsigned>(req->data.size()));
        if (rc = uv_udp_send(&req->req, &handle_, &b, 1, dest, &on_sent); rc < 0) {
            delete req;
            report_error(-rc, "sendto " + destination(to));
            return;
        }
        update_flow();
    }
    void close() override {
        if (closing_) return;
        closing_ = true;
        uv_udp_recv_stop(&handle_);
        // Queued datagrams are still sent; the last one's completion closes.
        if (uv_udp_get_send_queue_count(&handle_) == 0) shut(nullptr);
    }
    void abort() override { force_close(nullptr); }
    bool is_closing() const noexcept override { return closing_; }
    std::size_t get_write_buffer_size() const noexcept override {
        return handle_open_ ? uv_udp_get_send_queue_size(&handle_) : 0;
    }
    std::any get_extra_info(std::string_view name) const override {
        if (name == "sockname") return handle_open_ ? detail::local_address_of(fd_) : sockname_;
        if (name == "peername") return socket_connected_ ? std::any(remote_) : std::any();
        if (name == "socket" || name == "fd") return handle_open_ ? std::any(fd_) : std::any();
        return {};
    }
    std::shared_ptr<base_protocol> get_protocol() const override { return protocol_; }
    void set_protocol(std::shared_ptr<base_protocol> p) override {
        auto* d = dynamic_cast<datagram_protocol*>(p.get());
        if (!d) throw std::invalid_argument("set_protocol: a datagram transport needs a datagram_protocol");
        protocol_ = std::move(p);
        dproto_ = d;
    }

    // ---- set-up (create_datagram_endpoint)
    // Adopts the socket `fd`, whose datagrams go to `remote` by default if `connected`
    // (and the socket itself is connected to it if `socket_connected`); on failure the
    // caller still owns fd.
    void open(int fd, bool connected, bool socket_connected, socket_address remote) {
        if (int rc = uv_udp_init(net_.uv(), &handle_); rc < 0) throw os_error(-rc, "create_datagram_endpoint");
        handle_.data = this;
        // Some libuv versions set SO_REUSEADDR on an opened socket; on Linux that would let
        // another socket bind this port too (sharing a port is what reuse_port is for). It
        // is put back as it was (off for duet's own sockets; an adopted one keeps its own).
        int reuse_before = 0;
        socklen_t reuse_len = sizeof reuse_before;
        if (::getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse_before, &reuse_len) != 0) reuse_before = 0;
        if (int rc = uv_udp_open(&handle_, fd); rc < 0) {
            // The handle holds no fd yet: closing it leaves fd to the caller.
            self_ = shared_from_this();
            handle_open_ = true;
            shut_handle();
            throw os_error(-rc, "create_datagram_endpoint: uv_udp_open");
        }
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse_before, sizeof reuse_before);
        fd_ = fd;
        handle_open_ = true;
        self_ = shared_from_this();
        connected_ = connected;
        socket_connected_ = socket_connected;
        remote_ = std::move(remote);
        sockname_ = detail::local_address_of(fd);
        part_.endpoints.emplace(this, shared_from_this());
    }
    // Calls connection_made and starts receiving. An exception from connection_made
    // closes the endpoint and is raised to the caller of create_datagram_endpoint.
    void start(std::shared_ptr<base_protocol> p) {
        detail::context_scope in_ctx(&ctx_);
        set_protocol(std::move(p));
        try {
            dproto_->connection_made(std::static_pointer_cast<datagram_transport>(shared_from_this()));
        } catch (...) {
            discard();
            throw;
        }
        if (closing_) return;  // connection_made closed it
        if (int rc = uv_udp_recv_start(&handle_, &on_alloc, &on_recv); rc < 0)
            report_error(-rc, "recvfrom on " + sockname_.to_string());
    }

    // Closes an endpoint that never reached the user (its set-up failed after open()).
    void discard() noexcept {
        closing_ = true;
        lost_ = true;
        shut_handle();
        protocol_.reset();
        dproto_ = nullptr;
        part_.endpoints.erase(this);
    }

    // ---- loop close (close_datagrams)
    void close_at_loop_close(base_event_loop& loop) noexcept {
        if (handle_open_) {
            if (!closing_) {
                exception_context ctx;
                ctx.message = "unclosed datagram endpoint " + sockname_.to_string();
                if (connected_) ctx.message += " -> " + remote_.to_string();
                loop.call_exception_handler(ctx);
            }
            closing_ = true;
            shut_handle();
        }
        // No iteration is left to deliver connection_lost (asyncio's unclosed transports
        // get none either): the protocol is let go, which ends the cycle.
        protocol_.reset();
        dproto_ = nullptr;
    }

private:
    struct send_request {
        uv_udp_send_t req{};
        std::string data;
        socket_address to;
        std::shared_ptr<udp_endpoint> self;
    };

    static udp_endpoint& of(const uv_handle_t* h) { return *static_cast<udp_endpoint*>(h->data); }

    static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto& part = of(h).part_;
        *buf = uv_buf_init(part.buffer.get(), static_cast<unsigned>(uv_network::datagram_part::buffer_size));
    }
    static void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned flags) {
        (void)flags;  // UV_UDP_PARTIAL: a datagram longer than the buffer arrives truncated
        auto& ep = of(reinterpret_cast<uv_handle_t*>(h));
        if (ep.closing_ || !ep.dproto_) return;
        detail::context_scope in_ctx(&ep.ctx_);
        if (nread < 0) {
            // ICMP errors arrive here on a connected socket (port unreachable: ECONNREFUSED).
            ep.report_error(static_cast<int>(-nread), "recvfrom on " + ep.sockname_.to_string());
            return;
        }
        if (nread == 0 && !addr) return;  // nothing (more) to read
        socket_address from = detail::from_sockaddr(addr, sizeof(sockaddr_storage));
        ep.guarded("datagram_received", [&] {
            ep.dproto_->datagram_received(std::string_view(buf->base, static_cast<std::size_t>(nread)), from);
        });
    }
    static void on_sent(uv_udp_send_t* r, int status) {
        std::unique_ptr<send_request> req(static_cast<send_request*>(r->data));
        udp_endpoint& ep = *req->self;
        if (status == UV_ECANCELED) return;  // aborted (or closed with the loop)
        detail::context_scope in_ctx(&ep.ctx_);
        if (status < 0 && !ep.lost_) ep.report_error(-status, "sendto " + ep.destination(req->to));
        ep.update_flow();
        if (ep.closing_ && ep.handle_open_ && uv_udp_get_send_queue_count(&ep.handle_) == 0) ep.shut(nullptr);
    }
    static void on_closed(uv_handle_t* h) {
        // The last reference may be this one: nothing touches the endpoint after it.
        auto keep = std::move(of(h).self_);
    }

    std::string destination(const socket_address& to) const { return (connected_ ? remote_ : to).to_string(); }

    // A send or receive error: error_received(os_error), the endpoint stays open.
    void report_error(int err, const std::string& what) {
        if (!dproto_) return;
        std::exception_ptr e = std::make_exception_ptr(os_error(err, what));
        guarded("error_received", [&] { dproto_->error_received(e); });
    }

    // Runs a protocol callback. What escapes it goes to the exception handler and closes
    // the endpoint with that error (asyncio's fatal error); a base-tier exception leaves
    // the loop's run as from any callback.
    template <class F>
    void guarded(const char* what, F&& f) noexcept {
        try {
            f();
        } catch (...) {
            std::exception_ptr e = std::current_exception();
            base_event_loop& loop = net_.loop();
            if (detail::is_base_tier(e)) {
                if (!loop.is_closed()) loop.call_soon([e] { std::rethrow_exception(e); });
            } else {
                exception_context ctx;
                ctx.message = std::string("Fatal error on datagram transport: protocol.") + what + "() failed";
                ctx.exception = e;
                loop.call_exception_handler(ctx);
            }
            force_close(e);
        }
    }

    void update_flow() {
        if (dproto_ && !lost_) flow_.update(get_write_buffer_size(), *protocol_, net_.loop(), *this);
    }

    void force_close(std::exception_ptr err) {
        closing_ = true;
        if (handle_open_) shut(std::move(err));
    }

    // Closes the handle (queued sends are cancelled) and schedules connection_lost(err).
    void shut(std::exception_ptr err) {
        shut_handle();
        if (lost_) return;
        lost_ = true;
        base_event_loop& loop = net_.loop();
        if (loop.is_closed()) return;
        loop.call_soon([self = shared_from_this(), err = std::move(err)] { self->deliver_lost(err); });
    }
    void shut_handle() noexcept {
        if (!handle_open_) return;
        handle_open_ = false;
        if (fd_ >= 0) sockname_ = detail::local_address_of(fd_);
        fd_ = -1;
        uv_close(reinterpret_cast<uv_handle_t*>(&handle_), &on_closed);
    }
    void deliver_lost(std::exception_ptr err) {
        flow_.reset();
        std::shared_ptr<base_protocol> p = std::move(protocol_);
        dproto_ = nullptr;
        auto self = part_.endpoints.extract(this);  // the registry's reference, dropped last
        if (!p) return;
        try {
            p->connection_lost(err);
        } catch (...) {
            std::exception_ptr e = std::current_exception();
            if (detail::is_base_tier(e)) std::rethrow_exception(e);
            exception_context ctx;
            ctx.message = "Exception in datagram protocol.connection_lost()";
            ctx.exception = e;
            net_.loop().call_exception_handler(ctx);
        }
    }

    uv_network& net_;
    uv_network::datagram_part& part_;
    uv_udp_t handle_{};
    std::shared_ptr<udp_endpoint> self_;  // libuv's reference, until on_closed
    std::shared_ptr<base_protocol> protocol_;
    datagram_protocol* dproto_ = nullptr;
    write_flow_control flow_;
    int fd_ = -1;
    bool handle_open_ = false;
    bool closing_ = false;
    bool lost_ = false;              // connection_lost scheduled (or the loop closed)
    bool connected_ = false;         // remote_ is the default (and only) destination
    bool socket_connected_ = false;  // and the socket is connected to it (not with allow_broadcast)
    socket_address remote_;
    socket_address sockname_;  // kept for messages and get_extra_info after close
    detail::context_slot ctx_;
};

// A socket of `family` with the endpoint's options, bound to `local` and connected to
// `remote` when given, unless allow_broadcast (as asyncio: the socket is then left
// unconnected and datagrams are sent to `remote` by address). Closes the socket and raises
// on failure.
int make_socket(int family, const socket_address* local, const socket_address* remote, const datagram_options& o) {
    int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) throw os_error(errno, "create_datagram_endpoint: socket");
    auto fail = [fd](const std::string& what) {
        int e = errno;
        ::close(fd);
        return os_error(e, what);
    };
    int on = 1;
    if (o.reuse_port) {
#ifdef SO_REUSEPORT
        if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
            throw fail("create_datagram_endpoint: SO_REUSEPORT");
#else
        ::close(fd);
        throw std::invalid_argument("create_datagram_endpoint: reuse_port is not supported on this platform");
#endif
    }
    if (o.allow_broadcast && ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on) != 0)
        throw fail("create_datagram_endpoint: SO_BROADCAST");
    sockaddr_storage ss{};
    if (local) {
        socklen_t len = detail::to_sockaddr(*local, ss);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) throw fail("bind " + local->to_string());
    }
    if (remote && !o.allow_broadcast) {
        socklen_t len = detail::to_sockaddr(*remote, ss);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) throw fail("connect " + remote->to_string());
    }
    return fd;
}

// Makes an opened endpoint's protocol and starts the endpoint; if the factory fails (or
// makes no datagram_protocol), the endpoint is discarded and the error goes on.
transport_and_protocol<datagram_transport, base_protocol> start_with_protocol(std::shared_ptr<udp_endpoint> ep,
                                                                              protocol_factory& f) {
    std::shared_ptr<base_protocol> p;
    try {
        p = f();
        if (!dynamic_cast<datagram_protocol*>(p.get()))
            throw std::invalid_argument("create_datagram_endpoint: the factory made no datagram_protocol");
    } catch (...) {
        ep->discard();
        throw;
    }
    ep->start(p);
    return {std::move(ep), std::move(p)};
}

// asyncio's create_datagram_endpoint(sock=): the endpoint adopts the caller's datagram
// socket as it is (bound, connected or neither); no other option may be given.
coro<transport_and_protocol<datagram_transport, base_protocol>> adopt_datagram_socket(uv_network& net,
                                                                                      uv_network::datagram_part& part,
                                                                                      protocol_factory f,
                                                                                      datagram_options opts);

}  // namespace

void uv_network::destroy(datagram_part* p) noexcept {
    delete p;
}

uv_network::datagram_part& uv_network::datagrams() {
    if (!datagrams_) datagrams_.reset(new datagram_part);
    return *datagrams_;
}

coro<transport_and_protocol<datagram_transport, base_protocol>> uv_network::create_datagram_endpoint(
    protocol_factory f, datagram_options opts) {
    if (loop_.is_closed()) throw std::runtime_error("create_datagram_endpoint: Event loop is closed");
    if (opts.sock != -1) co_return co_await adopt_datagram_socket(*this, datagrams(), std::move(f), std::move(opts));
    if (opts.family != 0 && opts.family != AF_INET && opts.family != AF_INET6)
        throw std::invalid_argument("create_datagram_endpoint: unexpected address family " +
                                    std::to_string(opts.family));
    if (!opts.local_addr && !opts.remote_addr && opts.family == 0)
        throw std::invalid_argument(
            "create_datagram_endpoint: unexpected address family (give local_addr, "
            "remote_addr or family)");

    std::vector<socket_address> locals, remotes;
    if (opts.local_addr) locals = co_await resolve(*this, *opts.local_addr, opts.family, true, "local_addr");
    if (opts.remote_addr) remotes = co_await resolve(*this, *opts.remote_addr, opts.family, false, "remote_addr");

    // The (local, remote) pairs to try, in getaddrinfo's order, families matching.
    struct candidate {
        int family;
        const socket_address* local;
        const socket_address* remote;
    };
    std::vector<candidate> candidates;
    if (!locals.empty() && !remotes.empty()) {
        for (auto& l : locals)
            for (auto& r : remotes)
                if (family_of(l) == family_of(r)) candidates.push_back({family_of(l), &l, &r});
        if (candidates.empty())
            throw std::invalid_argument(
                "create_datagram_endpoint: local_addr and remote_addr have no address "
                "family in common");
    } else if (!locals.empty()) {
        for (auto& l : locals) candidates.push_back({family_of(l), &l, nullptr});
    } else if (!remotes.empty()) {
        for (auto& r : remotes) candidates.push_back({family_of(r), nullptr, &r});
    } else {
        candidates.push_back({opts.family, nullptr, nullptr});
    }

    // The first pair whose socket binds and connects wins; if none does, the one error, or
    // all of them (asyncio's "Multiple exceptions").
    int fd = -1;
    const candidate* chosen = nullptr;
    std::vector<std::system_error> errors;
    for (auto& c : candidates) {
        try {
            fd = make_socket(c.family, c.local, c.remote, opts);
            chosen = &c;
            break;
        } catch (const std::system_error& e) {
            errors.push_back(e);
        }
    }
    if (!chosen) {
        if (errors.size() == 1) throw errors.front();
        std::string all = "create_datagram_endpoint: multiple errors:";
        for (auto& e : errors) all += std::string(" [") + e.what() + "]";
        throw std::system_error(errors.front().code(), all);
    }

    auto ep = std::make_shared<udp_endpoint>(*this, datagrams());
    try {
        ep->open(fd, chosen->remote != nullptr, chosen->remote != nullptr && !opts.allow_broadcast,
                 chosen->remote ? *chosen->remote : socket_address{});
    } catch (...) {
        ::close(fd);
        throw;
    }
    co_return start_with_protocol(std::move(ep), f);
}

namespace {

coro<transport_and_protocol<datagram_transport, base_protocol>> adopt_datagram_socket(uv_network& net,
                                                                                      uv_network::datagram_part& part,
                                                                                      protocol_factory f,
                                                                                      datagram_options opts) {
    std::string problems;
    auto problem = [&](bool given, const std::string& what) {
        if (!given) return;
        if (!problems.empty()) problems += ", ";
        problems += what;
    };
    problem(opts.local_addr.has_value(), "local_addr");
    problem(opts.remote_addr.has_value(), "remote_addr");
    problem(opts.family != 0, "family=" + std::to_string(opts.family));
    problem(opts.reuse_port, "reuse_port");
    problem(opts.allow_broadcast, "allow_broadcast");
    if (!problems.empty())
        throw std::invalid_argument(
            "create_datagram_endpoint: socket modifier keyword arguments can not be used when sock is specified. (" +
            problems + ")");
    const int fd = opts.sock;
    adopted_socket_family(fd, SOCK_DGRAM, "create_datagram_endpoint", "A datagram socket");
    // A socket the caller connected: its peer is the default (and only) destination.
    socket_address peer = detail::peer_address_of(fd);
    auto ep = std::make_shared<udp_endpoint>(net, part);
    ep->open(fd, !peer.empty(), !peer.empty(), peer);  // on failure the fd stays the caller's
    co_return start_with_protocol(std::move(ep), f);
}

}  // namespace

// Endpoints still open when the loop closes are reported and closed (the backend's last
// uv_run finishes the closes); every protocol still held is let go.
void uv_network::close_datagrams() noexcept {
    if (!datagrams_) return;
    auto all = std::move(datagrams_->endpoints);
    datagrams_->endpoints.clear();
    for (auto& entry : all) entry.second->close_at_loop_close(loop_);
}

}  // namespace duet
