// Unix signals (asyncio's add_signal_handler / remove_signal_handler): one uv_signal_t per
// signal. libuv's own handler only writes to a pipe; the uv_signal_t callback runs later on
// the loop thread, and schedules the user's callback with call_soon, so it runs as an
// ordinary loop callback (its exceptions go to the exception handler), never inside the
// signal handler.
//
// SIGCHLD has one owner in the process (duet/detail/sigchld_owner.hpp): a SIGCHLD child
// watcher (safe, fast, multi_loop), or the user's handlers. add_signal_handler(SIGCHLD) by
// the user while a watcher owns it raises std::runtime_error naming the watcher; the
// watchers install theirs through here inside an install_scope.
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include <uv.h>

#include <duet/base_events.hpp>
#include <duet/detail/sigchld_owner.hpp>

#include "uv_network.hpp"

namespace duet {

namespace {

// One watched signal. The uv handle's memory is freed by its close callback, after the
// entry has let it go.
struct signal_entry {
    uv_signal_t* handle = nullptr;
    // Shared with the callbacks already queued: a replacement does not change a delivery
    // that was queued before it (as asyncio queues the handle it had).
    std::shared_ptr<callback> cb;
    base_event_loop* loop = nullptr;
    // The context current at add_signal_handler: each delivery runs in a copy of it (as
    // asyncio's handler handle runs in the context it captured).
    detail::context_slot ctx;
};

std::string signal_name(int sig) {
    std::string n = "signal " + std::to_string(sig);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    if (const char* abbrev = ::sigabbrev_np(sig)) n += std::string(" (SIG") + abbrev + ")";
#endif
    return n;
}

void free_handle(uv_handle_t* h) {
    delete reinterpret_cast<uv_signal_t*>(h);
}

}  // namespace

struct uv_network::signal_part {
    std::map<int, signal_entry> entries;

    static void on_signal(uv_signal_t* h, int signum) {
        auto* e = static_cast<signal_entry*>(h->data);
        if (!e || e->loop->is_closed()) return;
        (void)signum;
        detail::context_scope in_registration_context(&e->ctx);  // the queued handle copies it
        e->loop->call_soon([cb = e->cb] { (*cb)(); });
    }

    // Stops watching and restores the default disposition: libuv restores SIG_DFL when its
    // last watcher of the signal in the process stops. (asyncio restores SIGINT's Python
    // handler, default_int_handler; C++ has none, so SIGINT goes back to SIG_DFL too.)
    static void stop(signal_entry& e) noexcept {
        uv_signal_stop(e.handle);
        e.handle->data = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(e.handle), &free_handle);
        e.handle = nullptr;
    }
};

void uv_network::destroy(signal_part* p) noexcept {
    delete p;
}

uv_network::signal_part& uv_network::signals() {
    if (!signals_) signals_.reset(new signal_part);
    return *signals_;
}

void uv_network::add_signal_handler(int sig, callback cb) {
    // asyncio's order: the number first, then the loop's state.
    if (sig < 1 || sig >= NSIG) throw std::invalid_argument("invalid signal number " + std::to_string(sig));
    if (loop_.is_closed()) throw std::runtime_error("add_signal_handler: Event loop is closed");
    // Raises if a child watcher owns SIGCHLD (and this is not that watcher installing).
    const bool watcher_install = sig == SIGCHLD && detail::sigchld::note_user_handler(&loop_, "add_signal_handler");
    auto& part = signals();
    auto shared = std::make_shared<callback>(std::move(cb));
    if (auto it = part.entries.find(sig); it != part.entries.end()) {
        it->second.cb = std::move(shared);  // a second add replaces the callback
        it->second.ctx = detail::capture_context();
        return;
    }
    // Undoes the user's claim on SIGCHLD when the handler could not be installed.
    auto unclaim = [&] {
        if (sig == SIGCHLD && !watcher_install) detail::sigchld::drop_user_handler(&loop_);
    };
    auto* h = new uv_signal_t{};
    if (int rc = uv_signal_init(uv_, h); rc < 0) {
        delete h;
        unclaim();
        throw std::runtime_error("add_signal_handler: " + signal_name(sig) + ": " + uv_strerror(rc));
    }
    auto [it, fresh] = part.entries.emplace(sig, signal_entry{h, std::move(shared), &loop_, detail::capture_context()});
    (void)fresh;
    h->data = &it->second;
    if (int rc = uv_signal_start(h, &signal_part::on_signal, sig); rc < 0) {
        h->data = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(h), &free_handle);
        part.entries.erase(it);
        unclaim();
        // sigaction refuses SIGKILL and SIGSTOP with EINVAL (asyncio: "sig N cannot be caught").
        if (rc == UV_EINVAL) throw std::runtime_error("add_signal_handler: " + signal_name(sig) + " cannot be caught");
        throw std::system_error(-rc, std::generic_category(), "add_signal_handler: " + signal_name(sig));
    }
    // A signal handler alone does not keep the loop running (asyncio's does not either).
    uv_unref(reinterpret_cast<uv_handle_t*>(h));
}

bool uv_network::remove_signal_handler(int sig) {
    if (sig < 1 || sig >= NSIG) throw std::invalid_argument("invalid signal number " + std::to_string(sig));
    if (!signals_) return false;
    auto it = signals_->entries.find(sig);
    if (it == signals_->entries.end()) return false;
    signal_part::stop(it->second);
    signals_->entries.erase(it);
    if (sig == SIGCHLD) detail::sigchld::drop_user_handler(&loop_);
    return true;
}

// Handlers left when the loop closes are removed silently, their dispositions restored (the
// backend's last uv_run frees the handles).
void uv_network::close_signals() noexcept {
    if (!signals_) return;
    for (auto& [sig, e] : signals_->entries) {
        signal_part::stop(e);
        if (sig == SIGCHLD) detail::sigchld::drop_user_handler(&loop_);
    }
    signals_->entries.clear();
}

}  // namespace duet
