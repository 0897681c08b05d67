// duet::server over libuv listening handles (TCP and Unix sockets): asyncio's Server with
// 3.12's wait_closed (waits for the accepted connections) and 3.13's close_clients /
// abort_clients and socket-file cleanup.
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>
#include <utility>

#include <duet/exceptions.hpp>
#include <duet/tasks.hpp>

#include "uv_stream.hpp"

namespace duet::uvs {

stream_server::stream_server(stream_part& part, protocol_factory f, bool unix_socket, int backlog)
    : part_(&part),
      loop_(&part.loop),
      factory_(std::move(f)),
      backlog_(backlog),
      unix_socket_(unix_socket),
      ctx_(detail::capture_context()) {}

stream_server::~stream_server() {
    // Its clients do not keep it alive: they forget it (nothing to detach from any more).
    for (auto* h = clients_.head.next; h != &clients_.head; h = h->next) h->owner().forget_server();
}

void stream_server::add_listener(int fd, socket_address addr) {
    auto* l = new listener;
    l->owner = this;
    l->addr = addr;
    int rc = unix_socket_ ? uv_pipe_init(part_->uv, &l->h.pipe, 0) : uv_tcp_init(part_->uv, &l->h.tcp);
    if (rc < 0) {
        ::close(fd);
        delete l;
        throw uv_error(rc, "listen " + addr.to_string());
    }
    l->h.handle.data = l;
    listeners_.push_back(l);
    addrs_.push_back(std::move(addr));
    ++open_listeners_;
    if (!keep_alive_) {
        // Serving keeps the server alive (the user may drop it, as in asyncio).
        keep_alive_ = shared_from_this();
        part_->servers.push_back(*this);
    }
    rc = unix_socket_ ? uv_pipe_open(&l->h.pipe, fd) : uv_tcp_open(&l->h.tcp, fd);
    if (rc < 0) {
        ::close(fd);
        throw uv_error(rc, "listen " + l->addr.to_string());
    }
}

void stream_server::set_unix_path(std::string path, std::uint64_t dev, std::uint64_t ino) {
    unix_path_ = std::move(path);
    unix_dev_ = dev;
    unix_ino_ = ino;
}

void stream_server::begin_serving() {
    if (closed_) throw std::runtime_error("start_serving: server " + describe() + " is closed");
    if (serving_) return;
    for (auto* l : listeners_) {
        if (l->listening) continue;
        int rc = uv_listen(&l->h.stream, backlog_, &on_connection);
        if (rc < 0) throw uv_error(rc, "listen " + l->addr.to_string());
        l->listening = true;
    }
    serving_ = true;
}

std::string stream_server::describe() const {
    std::string s;
    for (const auto& a : addrs_) {
        if (!s.empty()) s += ", ";
        s += a.to_string();
    }
    return s.empty() ? std::string("(no socket)") : s;
}

std::vector<socket_address> stream_server::sockets() const {
    if (closed_) return {};
    return addrs_;
}

void stream_server::on_connection(uv_stream_t* s, int status) {
    auto* l = static_cast<listener*>(s->data);
    stream_server* srv = l->owner;
    if (!srv->part_ || srv->closed_) return;
    detail::context_scope in_ctx(&srv->ctx_);
    if (status < 0) {
        // EMFILE & co.: libuv already keeps the backlog from spinning; the handler hears.
        report_failure(srv->part_->loop, "accept failed",
                       std::make_exception_ptr(uv_error(status, "accept on " + l->addr.to_string())));
        return;
    }
    srv->accept_one(*l);
}

void stream_server::accept_one(listener& l) {
    auto self = shared_from_this();
    std::shared_ptr<stream_transport> t;
    try {
        t = stream_transport::create(*part_,
                                     unix_socket_ ? stream_transport::kind::unix_socket : stream_transport::kind::tcp);
    } catch (...) {
        report_failure(part_->loop, "Error on transport creation for incoming connection", std::current_exception());
        return;
    }
    int rc = uv_accept(&l.h.stream, &t->handle().stream);
    if (rc < 0) {
        t->discard();
        report_failure(part_->loop, "accept failed",
                       std::make_exception_ptr(uv_error(rc, "accept on " + l.addr.to_string())));
        return;
    }
    t->set_connected();
    std::shared_ptr<base_protocol> p;
    in_factory_ = true;
    try {
        p = factory_();
        if (!p) throw std::runtime_error("the protocol factory returned null");
    } catch (...) {
        in_factory_ = false;
        t->discard();
        report_failure(part_->loop, "Error on transport creation for incoming connection", std::current_exception());
        if (closed_) release_factory();
        return;
    }
    in_factory_ = false;
    if (closed_) release_factory();
    clients_.push_back(*t);
    t->set_server(this);
    try {
        t->start(std::move(p));
    } catch (...) {
        // Only set_protocol can throw here (not a stream protocol): the connection goes.
        t->discard();
        detach(*t);
        report_failure(part_->loop, "Error on transport creation for incoming connection", std::current_exception());
    }
}

void stream_server::detach(stream_transport& t) noexcept {
    if (!t.server_hook().linked()) return;
    t.server_hook().unlink();
    if (closed_ && clients_.empty()) wakeup();
}

void stream_server::wakeup() noexcept {
    woken_ = true;
    auto ws = std::move(waiters_);
    waiters_.clear();
    bool can_set = part_ && !part_->closed && !part_->loop.is_closed();
    for (auto& w : ws)
        if (can_set && !w.done()) w.set_result();
}

void stream_server::close_listeners() noexcept {
    for (auto* l : listeners_) uv_close(&l->h.handle, &on_listener_close);
    listeners_.clear();
}

void stream_server::on_listener_close(uv_handle_t* h) {
    auto* l = static_cast<listener*>(h->data);
    stream_server* srv = l->owner;
    delete l;
    if (--srv->open_listeners_ > 0) return;
    srv->unlink();
    auto self = std::move(srv->keep_alive_);  // may be the last reference: nothing after this
}

void stream_server::remove_socket_file() noexcept {
    if (unix_path_.empty() || unix_path_[0] == '\0') return;
    // Only the socket this server made: someone may have replaced the file since.
    struct stat st {};
    if (::stat(unix_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
        static_cast<std::uint64_t>(st.st_dev) == unix_dev_ && static_cast<std::uint64_t>(st.st_ino) == unix_ino_)
        ::unlink(unix_path_.c_str());
    unix_path_.clear();
}

void stream_server::release_factory() noexcept {
    // Nothing will be accepted any more: whatever the factory holds (this server, say) goes.
    if (!in_factory_) factory_ = nullptr;
}

void stream_server::close() {
    if (closed_ || !part_) return;
    closed_ = true;
    serving_ = false;
    close_listeners();
    remove_socket_file();
    release_factory();
    if (serving_forever_ && !serving_forever_.done()) serving_forever_.cancel();
    serving_forever_ = {};
    if (clients_.empty()) wakeup();
}

void stream_server::close_clients() {
    clients_.for_each([](stream_transport& t) {
        auto keep = t.self();
        t.close();
    });
}

void stream_server::abort_clients() {
    clients_.for_each([](stream_transport& t) {
        auto keep = t.self();
        t.abort();
    });
}

void stream_server::close_at_loop_close() noexcept {
    if (!part_) return;
    auto self = shared_from_this();
    if (!closed_) {
        try {
            exception_context ctx;
            ctx.message = "unclosed server " + describe();
            part_->loop.call_exception_handler(ctx);
        } catch (...) {
        }
    }
    closed_ = true;
    serving_ = false;
    close_listeners();
    remove_socket_file();
    factory_ = nullptr;
    // The loop can run nothing more: waiters and serve_forever are dropped, not woken.
    waiters_.clear();
    serving_forever_ = {};
    woken_ = true;
    // The clients forget it too (they do not keep it alive).
    while (clients_.head.linked()) {
        auto* h = clients_.head.next;
        h->owner().forget_server();
        h->unlink();
    }
    part_ = nullptr;
}

coro<void> stream_server::wait_closed() {
    auto self = shared_from_this();
    if (woken_ || !part_) co_return;
    auto w = loop_->create_future<void>();
    waiters_.push_back(w);
    co_await w;
}

coro<void> stream_server::start_serving() {
    auto self = shared_from_this();
    begin_serving();
    // As asyncio: one loop iteration, so that the listeners are in place when it returns.
    co_await duet::sleep(0);
}

coro<void> stream_server::serve_forever() {
    auto self = shared_from_this();
    if (serving_forever_)
        throw std::runtime_error("serve_forever: server " + describe() +
                                 " is already being awaited on serve_forever()");
    if (closed_ || !part_) throw std::runtime_error("serve_forever: server " + describe() + " is closed");
    begin_serving();
    auto f = loop_->create_future<void>();
    serving_forever_ = f;
    std::exception_ptr cancelled;
    try {
        co_await f;
    } catch (const cancelled_error&) {
        cancelled = std::current_exception();
    }
    // Cancelled (or closed, which cancels it): close and wait for the clients, then let
    // the cancellation finish the task.
    if (serving_forever_ == f) serving_forever_ = {};
    close();
    co_await wait_closed();
    if (cancelled) std::rethrow_exception(cancelled);
}

}  // namespace duet::uvs
