// Starting a child with a vfork-speed clone, or posix_spawn where that clone is refused
// (never uv_spawn: it reaps its children itself, behind the child watcher's back). Private
// to native/.
#pragma once

#include <string>
#include <vector>

#include <duet/subprocess_options.hpp>

namespace duet::native {

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
};

// Starts argv[0] (a path, or a name looked up in PATH when it has no '/') with argv and
// opts. On failure nothing is left behind (no fd, no child: glibc reaps a child whose exec
// failed) and std::system_error carries the errno, naming `method` and the program;
// std::invalid_argument for options that make no sense.
spawned_child spawn_child(const std::vector<std::string>& argv, const subprocess_options& opts, const char* method);

// Closes what spawn_child returned that the caller still owns (pipes and pidfd).
void close_child_fds(spawned_child& c) noexcept;

}  // namespace duet::native
