// Who owns SIGCHLD in this process: the SIGCHLD-based child watchers (safe, fast,
// multi_loop) reap children when it arrives, and a user's loop.add_signal_handler(SIGCHLD,
// ...) would either steal their wake-ups or have its own stolen. One owner at a time: a
// watcher, or the user's handlers (on any number of loops); the other side gets a
// std::runtime_error naming the owner.
//
// The loop's signal half (backends/uv/src/uv_signal.cpp) calls note_user_handler /
// drop_user_handler for SIGCHLD. A watcher claims SIGCHLD with claim_for_watcher, then
// installs its handler on the loop inside an install_scope, which tells the loop that this
// add_signal_handler(SIGCHLD) (or remove) is the owning watcher's, not the user's.
#pragma once

namespace duet::detail::sigchld {

// Claims SIGCHLD for the watcher `token` (its name goes into other parties' errors).
// Claiming again with the same token is fine. std::runtime_error naming the owner if
// another watcher or a user handler holds it.
void claim_for_watcher(const void* token, const char* watcher_name);
// Gives up the claim of `token` (nothing if it holds none).
void release_watcher(const void* token) noexcept;

// While one is alive on this thread, add_signal_handler / remove_signal_handler of SIGCHLD
// act for the watcher `token` (which must hold the claim).
class install_scope {
public:
    explicit install_scope(const void* token) noexcept;
    ~install_scope();
    install_scope(const install_scope&) = delete;
    install_scope& operator=(const install_scope&) = delete;

private:
    const void* saved_;
};

// The loop side. add_signal_handler(SIGCHLD) on `loop`: outside an install scope, records
// a user handler (std::runtime_error naming the watcher if one owns SIGCHLD); inside the
// owning watcher's scope, nothing. Returns whether it was the watcher's install.
bool note_user_handler(const void* loop, const char* method);
// remove_signal_handler(SIGCHLD) / the loop closing: forgets loop's user handler (nothing
// inside an install scope).
void drop_user_handler(const void* loop) noexcept;

}  // namespace duet::detail::sigchld
