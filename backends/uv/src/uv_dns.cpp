// getaddrinfo / getnameinfo on libuv's thread pool. A lookup's context is shared by the
// awaiting coroutine and libuv: if the coroutine leaves first (cancelled, or its frame
// destroyed as the loop closes), the request is cancelled if it has not started, and its
// completion, whenever it comes, only frees the context.
#include <netdb.h>
#include <sys/socket.h>

#include <string>
#include <utility>
#include <vector>

#include <duet/detail/sockaddr.hpp>

#include "uv_stream.hpp"

namespace duet {

namespace uvs {

void lookup::begin(std::shared_ptr<lookup> self) noexcept {
    keep_alive = std::move(self);
    part->lookups.push_back(*this);
}

void lookup::end() noexcept {
    finished = true;
    unlink();
    auto self = std::move(keep_alive);  // may be the last reference: nothing after this
}

void lookup::cancel() noexcept {
    if (!finished) uv_cancel(req());
}

}  // namespace uvs

namespace {

// libuv's UV_EAI_* back to <netdb.h>'s EAI_* (libuv maps EAI_SYSTEM to the errno itself).
std::system_error lookup_error(int status, const std::string& what) {
    int eai = 0;
    switch (status) {
        case UV_EAI_ADDRFAMILY:
            eai = EAI_ADDRFAMILY;
            break;
        case UV_EAI_AGAIN:
            eai = EAI_AGAIN;
            break;
        case UV_EAI_BADFLAGS:
        case UV_EAI_BADHINTS:
            eai = EAI_BADFLAGS;
            break;
        case UV_EAI_CANCELED:
            eai = EAI_CANCELED;
            break;
        case UV_EAI_FAIL:
            eai = EAI_FAIL;
            break;
        case UV_EAI_FAMILY:
            eai = EAI_FAMILY;
            break;
        case UV_EAI_MEMORY:
            eai = EAI_MEMORY;
            break;
        case UV_EAI_NODATA:
            eai = EAI_NODATA;
            break;
        case UV_EAI_NONAME:
            eai = EAI_NONAME;
            break;
        case UV_EAI_OVERFLOW:
            eai = EAI_OVERFLOW;
            break;
        case UV_EAI_PROTOCOL:
        case UV_EAI_SOCKTYPE:
            eai = EAI_SOCKTYPE;
            break;
        case UV_EAI_SERVICE:
            eai = EAI_SERVICE;
            break;
        default:
            return uvs::uv_error(status, what);
    }
    return gai_error(eai, what);
}

bool can_complete(const uvs::lookup& l, const basic_future& f) noexcept {
    return f && !f.done() && !l.part->closed && !l.part->loop.is_closed();
}

struct addrinfo_lookup final : uvs::lookup {
    using lookup::lookup;
    uv_getaddrinfo_t r{};
    future<std::vector<address_info>> result;
    std::string what;
    uv_req_t* req() noexcept override { return reinterpret_cast<uv_req_t*>(&r); }

    static void done(uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* self = static_cast<addrinfo_lookup*>(req->data);
        if (can_complete(*self, self->result)) {
            try {
                if (status < 0) throw lookup_error(status, self->what);
                std::vector<address_info> out;
                for (addrinfo* ai = res; ai; ai = ai->ai_next) {
                    address_info i;
                    i.family = ai->ai_family;
                    i.socktype = ai->ai_socktype;
                    i.protocol = ai->ai_protocol;
                    if (ai->ai_canonname) i.canonname = ai->ai_canonname;
                    i.address = detail::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
                    out.push_back(std::move(i));
                }
                self->result.set_result(std::move(out));
            } catch (...) {
                self->result.set_exception(std::current_exception());
            }
        }
        uv_freeaddrinfo(res);
        self->end();
    }
};

struct nameinfo_lookup final : uvs::lookup {
    using lookup::lookup;
    uv_getnameinfo_t r{};
    future<std::pair<std::string, std::string>> result;
    std::string what;
    uv_req_t* req() noexcept override { return reinterpret_cast<uv_req_t*>(&r); }

    static void done(uv_getnameinfo_t* req, int status, const char* host, const char* service) {
        auto* self = static_cast<nameinfo_lookup*>(req->data);
        if (can_complete(*self, self->result)) {
            try {
                if (status < 0) throw lookup_error(status, self->what);
                self->result.set_result(std::pair<std::string, std::string>(host ? host : "", service ? service : ""));
            } catch (...) {
                self->result.set_exception(std::current_exception());
            }
        }
        self->end();
    }
};

}  // namespace

coro<std::vector<address_info>> uv_network::getaddrinfo(std::string host, std::string service, address_hints hints) {
    auto& sp = streams();
    auto l = std::make_shared<addrinfo_lookup>(sp);
    l->what = "getaddrinfo(\"" + host + "\")";
    l->result = loop_.create_future<std::vector<address_info>>();
    l->r.data = l.get();
    addrinfo h{};
    h.ai_family = hints.family;
    h.ai_socktype = hints.socktype;
    h.ai_protocol = hints.protocol;
    h.ai_flags = hints.flags;
    // libuv copies the strings and hints into the request.
    int rc = uv_getaddrinfo(uv_, &l->r, &addrinfo_lookup::done, host.empty() ? nullptr : host.c_str(),
                            service.empty() ? nullptr : service.c_str(), &h);
    if (rc < 0) throw lookup_error(rc, l->what);
    l->begin(l);
    uvs::lookup_guard g{l};
    co_return co_await l->result;
}

coro<std::pair<std::string, std::string>> uv_network::getnameinfo(socket_address addr, int flags) {
    auto& sp = streams();
    sockaddr_storage ss;
    detail::to_sockaddr(addr, ss);  // std::invalid_argument unless numeric
    auto l = std::make_shared<nameinfo_lookup>(sp);
    l->what = "getnameinfo(" + addr.to_string() + ")";
    l->result = loop_.create_future<std::pair<std::string, std::string>>();
    l->r.data = l.get();
    int rc = uv_getnameinfo(uv_, &l->r, &nameinfo_lookup::done, reinterpret_cast<const sockaddr*>(&ss), flags);
    if (rc < 0) throw lookup_error(rc, l->what);
    l->begin(l);
    uvs::lookup_guard g{l};
    co_return co_await l->result;
}

}  // namespace duet
