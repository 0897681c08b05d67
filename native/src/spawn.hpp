// Starting a child with a vfork-speed clone, or posix_spawn where that clone is refused
// (never uv_spawn: it reaps its children itself, behind the child watcher's back). Private
// to native/.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <duet/subprocess_options.hpp>

namespace duet::native {

struct exec_storage;

// A child started without waiting for its exec (no CLONE_VFORK): it reads its plan (argv,
// environment, stack) from the parent's memory until then and reports on a pipe. Destroying
// this waits until the child has exec'd or exited (microseconds), so that memory never goes
// away under it.
class pending_exec {
public:
    pending_exec(std::unique_ptr<exec_storage> st, int fd) noexcept;
    ~pending_exec();
    pending_exec(const pending_exec&) = delete;
    pending_exec& operator=(const pending_exec&) = delete;
    // Readable once the child has exec'd or failed.
    int fd() const noexcept { return fd_; }
    // Once fd() is readable (it blocks until then): 0 if the child exec'd, else the errno
    // that stopped it. Closes fd() and releases the plan; later calls return the same.
    int outcome() noexcept;

private:
    std::unique_ptr<exec_storage> st_;
    int fd_;
    int outcome_ = 0;
};

// A started child and the parent's ends of its pipes (close-on-exec, blocking: the loop's
// pipe transports make them non-blocking).
struct spawned_child {
    int pid = -1;
    // A pidfd for signalling without racing the reap, from the clone itself (-1 where the
    // kernel has none).
    int pidfd = -1;
    // [0]: the write end to the child's stdin; [1], [2]: the read ends of its stdout and
    // stderr; -1 where that fd is not piped.
    int pipes[3] = {-1, -1, -1};
    // Set when the child was started without waiting for its exec: whether it exec'd is
    // known once exec->fd() turns readable (a failure then raises as a spawn error would).
    std::shared_ptr<pending_exec> exec;
};

// Starts argv[0] (a path, or a name looked up in PATH when it has no '/') with argv and
// opts. On failure nothing is left behind (no fd, no child: glibc reaps a child whose exec
// failed) and std::system_error carries the errno, naming `method` and the program;
// std::invalid_argument for options that make no sense.
spawned_child spawn_child(const std::vector<std::string>& argv, const subprocess_options& opts, const char* method);

// Closes what spawn_child returned that the caller still owns (pipes and pidfd).
void close_child_fds(spawned_child& c) noexcept;

}  // namespace duet::native
