// posix_spawn with asyncio's options: pipes made O_CLOEXEC and dup2'd onto 0-2 by the file
// actions, every other fd closed in the child (closefrom), pass_fds kept at their numbers,
// cwd, a new session, the environment, and SIGPIPE/SIGXFSZ back to their defaults.
#include "spawn.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <duet/sockets.hpp>

extern char** environ;

namespace duet::native {

namespace {

// Closes the fds it holds unless released.
struct fd_list {
    std::vector<int> fds;
    fd_list() = default;
    fd_list(const fd_list&) = delete;
    fd_list& operator=(const fd_list&) = delete;
    ~fd_list() {
        for (int fd : fds) ::close(fd);
    }
};

struct file_actions {
    posix_spawn_file_actions_t fa{};
    file_actions() {
        if (int e = posix_spawn_file_actions_init(&fa)) throw os_error(e, "posix_spawn_file_actions_init");
    }
    file_actions(const file_actions&) = delete;
    file_actions& operator=(const file_actions&) = delete;
    ~file_actions() { posix_spawn_file_actions_destroy(&fa); }
};

struct spawn_attr {
    posix_spawnattr_t attr{};
    spawn_attr() {
        if (int e = posix_spawnattr_init(&attr)) throw os_error(e, "posix_spawnattr_init");
    }
    spawn_attr(const spawn_attr&) = delete;
    spawn_attr& operator=(const spawn_attr&) = delete;
    ~spawn_attr() { posix_spawnattr_destroy(&attr); }
};

void check(int e, const char* method, const std::string& what) {
    if (e != 0) throw os_error(e, std::string(method) + ": " + what);
}

// fd moved to a number above 2 (so that no dup2 onto 0-2 overwrites it), close-on-exec.
int lift(int fd, const char* method, const std::string& program) {
    if (fd > 2) return fd;
    int hi = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    const int e = errno;
    ::close(fd);
    if (hi < 0) throw os_error(e, std::string(method) + ": pipe for " + program);
    return hi;
}

// The fds open in this process (from /proc/self/fd), ascending.
std::vector<int> open_fds() {
    std::vector<int> fds;
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return fds;
    const int self = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        const int fd = std::atoi(e->d_name);
        if (fd != self) fds.push_back(fd);
    }
    ::closedir(d);
    std::sort(fds.begin(), fds.end());
    return fds;
}

}  // namespace

void close_child_fds(spawned_child& c) noexcept {
    for (int& fd : c.pipes) {
        if (fd >= 0) ::close(std::exchange(fd, -1));
    }
    if (c.pidfd >= 0) ::close(std::exchange(c.pidfd, -1));
}

spawned_child spawn_child(const std::vector<std::string>& argv, const subprocess_options& opts, const char* method) {
    if (argv.empty() || argv[0].empty()) throw std::invalid_argument(std::string(method) + ": empty program name");
    const std::string& program = argv[0];
    if (opts.std_in.get_kind() == redirect::kind::to_stdout || opts.std_out.get_kind() == redirect::kind::to_stdout)
        throw std::invalid_argument(std::string(method) + ": subprocess::to_stdout is only for stderr");

    file_actions fa;
    spawn_attr attr;
    fd_list child_side;  // closed in the parent once the child has them (or on failure)
    fd_list parent_side;
    spawned_child c;

    const redirect specs[3] = {opts.std_in, opts.std_out, opts.std_err};
    for (int target = 0; target < 3; ++target) {
        const redirect r = specs[target];
        switch (r.get_kind()) {
            case redirect::kind::inherit:
                break;
            case redirect::kind::pipe: {
                int p[2];
                if (::pipe2(p, O_CLOEXEC) != 0) throw os_error(errno, std::string(method) + ": pipe for " + program);
                // Each end is owned by a list before anything else can throw.
                child_side.fds.push_back(-1);
                parent_side.fds.push_back(-1);
                int& child_end = child_side.fds.back();
                int& parent_end = parent_side.fds.back();
                child_end = target == 0 ? p[0] : p[1];
                parent_end = target == 0 ? p[1] : p[0];
                child_end = lift(std::exchange(child_end, -1), method, program);
                parent_end = lift(std::exchange(parent_end, -1), method, program);
                c.pipes[target] = parent_end;
                check(posix_spawn_file_actions_adddup2(&fa.fa, child_end, target), method, "adddup2");
                break;
            }
            case redirect::kind::devnull:
                check(posix_spawn_file_actions_addopen(&fa.fa, target, "/dev/null", O_RDWR, 0), method, "addopen");
                break;
            case redirect::kind::to_stdout:
                check(posix_spawn_file_actions_adddup2(&fa.fa, 1, 2), method, "adddup2");
                break;
            case redirect::kind::fd: {
                int src = r.fd();
                if (src <= 2) {
                    // A dup2 onto 0-2 before this one may have replaced it: use a copy.
                    src = ::fcntl(src, F_DUPFD_CLOEXEC, 3);
                    if (src < 0)
                        throw os_error(errno,
                                       std::string(method) + ": fd " + std::to_string(r.fd()) + " for " + program);
                    child_side.fds.push_back(src);
                }
                check(posix_spawn_file_actions_adddup2(&fa.fa, src, target), method, "adddup2");
                break;
            }
        }
    }

    // pass_fds: dup2 onto itself clears FD_CLOEXEC in the child (POSIX 2024, glibc >= 2.29).
    std::vector<int> keep;
    for (int fd : opts.pass_fds) {
        if (fd < 0) throw std::invalid_argument(std::string(method) + ": negative fd in pass_fds");
        if (fd > 2) keep.push_back(fd);
    }
    std::sort(keep.begin(), keep.end());
    keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
    for (int fd : keep) check(posix_spawn_file_actions_adddup2(&fa.fa, fd, fd), method, "adddup2");

    // Every other fd above 2 is closed in the child.
    const int close_from = keep.empty() ? 3 : keep.back() + 1;
    if (!keep.empty()) {
        // Below the highest kept fd: close the others one by one (an fd closed meanwhile
        // is fine: glibc ignores EBADF from a close action).
        for (int fd : open_fds()) {
            if (fd < 3 || fd >= close_from) continue;
            if (!std::binary_search(keep.begin(), keep.end(), fd))
                check(posix_spawn_file_actions_addclose(&fa.fa, fd), method, "addclose");
        }
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    check(posix_spawn_file_actions_addclosefrom_np(&fa.fa, close_from), method, "addclosefrom_np");
#else
    // Without closefrom: close each fd open now that is not close-on-exec anyway.
    for (int fd : open_fds()) {
        if (fd < close_from) continue;
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            check(posix_spawn_file_actions_addclose(&fa.fa, fd), method, "addclose");
    }
#endif

    if (!opts.cwd.empty()) check(posix_spawn_file_actions_addchdir_np(&fa.fa, opts.cwd.c_str()), method, "addchdir_np");

    // An empty signal mask, and SIGPIPE/SIGXFSZ at their defaults (the parent may ignore
    // them; CPython's restore_signals does the same).
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (opts.start_new_session) flags |= POSIX_SPAWN_SETSID;
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGXFSZ);
    check(posix_spawnattr_setsigmask(&attr.attr, &none), method, "setsigmask");
    check(posix_spawnattr_setsigdefault(&attr.attr, &defaults), method, "setsigdefault");
    check(posix_spawnattr_setflags(&attr.attr, flags), method, "setflags");

    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    // The environment: the parent's (or opts.env), with opts.extra_env over it.
    std::vector<std::string> env_strings;
    std::vector<char*> env;
    char** envp = environ;
    // The child's own PATH when it differs from ours (Popen: os.get_exec_path(env), with
    // os.defpath for an env without PATH); posix_spawnp would search ours.
    std::optional<std::string> child_path;
    if (opts.env || !opts.extra_env.empty()) {
        std::map<std::string, std::string> vars;
        if (opts.env) {
            vars = *opts.env;
        } else {
            for (char** e = environ; e && *e; ++e) {
                std::string_view kv(*e);
                const auto eq = kv.find('=');
                if (eq == std::string_view::npos) continue;
                vars.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
            }
        }
        for (const auto& [k, v] : opts.extra_env) vars[k] = v;
        if (opts.env || opts.extra_env.count("PATH")) {
            const auto it = vars.find("PATH");
            child_path = it != vars.end() ? it->second : std::string("/bin:/usr/bin");
        }
        env_strings.reserve(vars.size());
        for (const auto& [k, v] : vars) {
            if (k.empty() || k.find('=') != std::string::npos)
                throw std::invalid_argument(std::string(method) + ": invalid environment variable name '" + k + "'");
            env_strings.push_back(k + "=" + v);
        }
        for (auto& s : env_strings) env.push_back(s.data());
        env.push_back(nullptr);
        envp = env.data();
    }

    pid_t pid = -1;
    const bool search = program.find('/') == std::string::npos;
    int e = 0;
    if (search && child_path) {
        // Each directory in turn; the first error other than "not there" wins, as Popen's.
        int first_other = 0;
        e = ENOENT;
        std::string_view dirs = *child_path;
        for (;;) {
            const auto colon = dirs.find(':');
            const std::string_view dir = dirs.substr(0, colon);
            const std::string candidate = dir.empty() ? program : std::string(dir) + "/" + program;
            e = posix_spawn(&pid, candidate.c_str(), &fa.fa, &attr.attr, args.data(), envp);
            if (e == 0) break;
            if (e != ENOENT && e != ENOTDIR && first_other == 0) first_other = e;
            if (colon == std::string_view::npos) break;
            dirs.remove_prefix(colon + 1);
        }
        if (e != 0 && first_other != 0) e = first_other;
    } else {
        e = search ? posix_spawnp(&pid, program.c_str(), &fa.fa, &attr.attr, args.data(), envp)
                   : posix_spawn(&pid, program.c_str(), &fa.fa, &attr.attr, args.data(), envp);
    }
    if (e != 0) throw os_error(e, std::string(method) + ": cannot start " + program);
    // The child has its ends: the lists close the child's side; the parent's side is the caller's now.
    parent_side.fds.clear();
    c.pid = pid;
#ifdef SYS_pidfd_open
    c.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));  // close-on-exec; -1 without pidfd support
    if (c.pidfd < 0) c.pidfd = -1;
#endif
    return c;
}

}  // namespace duet::native
