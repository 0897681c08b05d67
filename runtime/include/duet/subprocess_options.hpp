// What a child process is started with (asyncio's subprocess_exec keyword arguments): where
// its stdin/stdout/stderr go, its cwd, environment, the fds it keeps, its session, and the
// stream limit. Target-neutral; native/ spawns with it (duet/subprocess.hpp has the rest).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <duet/coro.hpp>
#include <duet/network.hpp>
#include <duet/protocols.hpp>
#include <duet/transports.hpp>

namespace duet {

// Where one of the child's standard fds goes. (The C library's stdin/stdout/stderr are
// macros, and POSIX pipe() is a function: hence the names in duet::subprocess.)
class redirect {
public:
    enum class kind : unsigned char { inherit, pipe, devnull, to_stdout, fd };
    constexpr redirect() noexcept = default;
    constexpr explicit redirect(kind k, int fd = -1) noexcept : kind_(k), fd_(fd) {}
    constexpr kind get_kind() const noexcept { return kind_; }
    // The parent's fd for kind::fd.
    constexpr int fd() const noexcept { return fd_; }
    friend constexpr bool operator==(redirect a, redirect b) noexcept { return a.kind_ == b.kind_ && a.fd_ == b.fd_; }

private:
    kind kind_ = kind::inherit;
    int fd_ = -1;
};

namespace subprocess {
// asyncio.subprocess.PIPE: a new pipe; the parent's end becomes a stream.
inline constexpr redirect pipe{redirect::kind::pipe};
// asyncio.subprocess.DEVNULL: /dev/null.
inline constexpr redirect devnull{redirect::kind::devnull};
// asyncio.subprocess.STDOUT (stderr only): stderr goes wherever stdout goes.
inline constexpr redirect to_stdout{redirect::kind::to_stdout};
// None: the parent's own fd.
inline constexpr redirect inherit{redirect::kind::inherit};
// An fd of the parent's (the caller keeps owning it).
constexpr redirect fd(int n) {
    if (n < 0) throw std::invalid_argument("subprocess::fd: negative fd " + std::to_string(n));
    return redirect(redirect::kind::fd, n);
}
}  // namespace subprocess

struct subprocess_options {
    redirect std_in = subprocess::inherit;
    redirect std_out = subprocess::inherit;
    redirect std_err = subprocess::inherit;
    // The child's working directory (empty: the parent's).
    std::string cwd;
    // Replaces the environment (asyncio's env=); empty: the parent's environment.
    std::optional<std::map<std::string, std::string>> env;
    // Added to (or overriding entries of) the environment the child would otherwise get.
    std::map<std::string, std::string> extra_env;
    // Fds (>= 3) the child keeps at the same numbers; every other fd above 2 is closed.
    std::vector<int> pass_fds;
    // setsid() in the child.
    bool start_new_session = false;
    // The stream_reader limit of create_subprocess_* (stdout/stderr).
    std::size_t limit = std::size_t{64} * 1024;
};

// Makes the protocol of a new child.
using subprocess_protocol_factory = std::function<std::shared_ptr<subprocess_protocol>()>;

// What abstract_event_loop::subprocess_exec / subprocess_shell forward to: starts argv
// (argv[0] the program) on `loop` and completes once the protocol's connection_made has
// run. `method` names the caller in errors. The target library registers one (native/);
// with none, those methods raise not_supported_error.
using subprocess_spawner = coro<transport_and_protocol<subprocess_transport, subprocess_protocol>> (*)(
    abstract_event_loop& loop, subprocess_protocol_factory f, std::vector<std::string> argv, subprocess_options opts,
    const char* method);
// Registers f (null unregisters); returns the previous one.
subprocess_spawner set_subprocess_spawner(subprocess_spawner f) noexcept;
subprocess_spawner get_subprocess_spawner() noexcept;

}  // namespace duet
