// Starting a child: clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD), as glibc's posix_spawn
// does but with the child's pidfd from the clone itself (glibc 2.36 has no pidfd_spawn, and
// pidfd_open on a new process costs ~6 µs, a sixth of the spawn). On x86-64 it is clone3
// with CLONE_CLEAR_SIGHAND as well, so the kernel resets the signal handlers instead of ~60
// sigaction calls in the child, and without CLONE_VFORK: the parent goes on while the child
// execs (on a stack of its own, reading a plan kept alive until then) and learns of a failed
// start from a close-on-exec pipe (pending_exec). Where a clone is refused (an older kernel,
// seccomp, valgrind) the next one down is used: clone3 with CLONE_VFORK, glibc's clone, then
// posix_spawn + pidfd_open.
//
// All run one plan made in the parent: pipes O_CLOEXEC and dup2'd onto 0-2, every other fd
// closed in the child, pass_fds kept at their numbers, cwd, a new session, the environment,
// an empty signal mask and no handler left installed (SIGPIPE/SIGXFSZ at their defaults).
#include "spawn.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
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

// What the child does to its fds, in order.
struct fd_action {
    enum kind_t : int { dup2, devnull, close } kind;
    int src;  // dup2's source (dup2 onto itself: keep it across exec)
    int dst;  // dup2's and devnull's target, close's fd
};

// Everything the child needs, made in the parent: the child shares the parent's memory and
// may not allocate, lock or touch errno-dependent library state.
struct child_plan {
    const fd_action* actions = nullptr;
    std::size_t action_count = 0;
    int close_from = 3;
    const char* cwd = nullptr;
    bool new_session = false;
    bool handlers_cleared = false;       // by the clone (CLONE_CLEAR_SIGHAND)
    const char* const* paths = nullptr;  // execve candidates, in order
    std::size_t path_count = 0;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
    // Started without waiting for it (no CLONE_VFORK): the write end of the pipe on which it
    // reports a failure's errno (its exec closes it), else -1.
    int report_fd = -1;
    volatile int error = 0;  // the errno that stopped the child (0: it exec'd)
};

// The kernel's struct sigaction, large enough on every Linux ABI (only the handler, its
// first member, is read).
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    std::uint64_t mask[2];
};
constexpr long kernel_sigset_size = 8;

#define DUET_CHILD_CODE __attribute__((no_sanitize("address", "undefined", "thread"), noinline))

// A system call made by the child: the result, or -errno. It never writes errno: a child
// started without CLONE_VFORK runs beside the parent's thread, whose errno it would share.
DUET_CHILD_CODE long child_sys(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
#if defined(__x86_64__)
    long r;
    register long r10 asm("r10") = d;
    asm volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return r;
#else
    const long r = ::syscall(n, a, b, c, d);  // only under CLONE_VFORK: the parent waits
    return r < 0 ? -errno : r;
#endif
}

// The child, on its own stack in the parent's memory until execve: raw system calls only
// (no interceptor, no allocation, no errno). Returns only if something failed.
DUET_CHILD_CODE int child_fail(child_plan& p, long e) {
    p.error = static_cast<int>(e);
    if (p.report_fd >= 0) {
        const int code = static_cast<int>(e);
        child_sys(SYS_write, p.report_fd, reinterpret_cast<long>(&code), sizeof code);
    }
    child_sys(SYS_exit_group, 127);
    return 127;
}

DUET_CHILD_CODE int child_main(void* arg) {
    child_plan& p = *static_cast<child_plan*>(arg);
    // Every signal is blocked (the parent blocked them before the clone). No handler may run
    // in the child while it shares the parent's memory, nor survive as anything but the
    // default: each installed handler goes back to SIG_DFL (unless the clone did that: ~60
    // sigaction calls, ~20 µs while the parent waits), as do SIGPIPE and SIGXFSZ.
    kernel_sigaction dfl{};
    dfl.handler = SIG_DFL;
    for (int sig = 1; sig <= 64; ++sig) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        if (sig != SIGPIPE && sig != SIGXFSZ) {
            if (p.handlers_cleared) continue;
            kernel_sigaction old{};
            if (child_sys(SYS_rt_sigaction, sig, 0, reinterpret_cast<long>(&old), kernel_sigset_size) != 0) continue;
            if (old.handler == SIG_DFL || old.handler == SIG_IGN) continue;
        }
        child_sys(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, kernel_sigset_size);
    }
    if (p.new_session) {
        if (const long rc = child_sys(SYS_setsid); rc < 0) return child_fail(p, -rc);
    }
    for (std::size_t i = 0; i < p.action_count; ++i) {
        const fd_action& a = p.actions[i];
        long rc = 0;
        switch (a.kind) {
            case fd_action::dup2:
                rc = a.src == a.dst ? child_sys(SYS_fcntl, a.src, F_SETFD, 0) : child_sys(SYS_dup3, a.src, a.dst, 0);
                break;
            case fd_action::devnull: {
                rc = child_sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/dev/null"), O_RDWR, 0);
                if (rc >= 0 && rc != a.dst) {
                    const long fd = rc;
                    rc = child_sys(SYS_dup3, fd, a.dst, 0);
                    child_sys(SYS_close, fd);
                }
                break;
            }
            case fd_action::close:
                child_sys(SYS_close, a.dst);  // an fd closed meanwhile is fine
                break;
        }
        if (rc < 0) return child_fail(p, -rc);
    }
    // Every fd from close_from on, but the report pipe (close-on-exec: exec closes it).
    const long keep = p.report_fd;
    const long from = p.close_from;
#ifdef SYS_close_range
    const bool ranged = keep < from ? child_sys(SYS_close_range, from, ~0U, 0) == 0
                                    : (keep == from || child_sys(SYS_close_range, from, keep - 1, 0) == 0) &&
                                          child_sys(SYS_close_range, keep + 1, ~0U, 0) == 0;
#else
    const bool ranged = false;
#endif
    if (!ranged) {
        // Before Linux 5.9: every fd up to the limit.
        struct {
            unsigned long cur, max;
        } lim{1024, 1024};
        child_sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, reinterpret_cast<long>(&lim));
        for (long fd = from; fd < static_cast<long>(lim.cur); ++fd)
            if (fd != keep) child_sys(SYS_close, fd);
    }
    if (p.cwd) {
        if (const long rc = child_sys(SYS_chdir, reinterpret_cast<long>(p.cwd)); rc < 0) return child_fail(p, -rc);
    }
    const std::uint64_t none = 0;
    child_sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&none), 0, kernel_sigset_size);
    // Each candidate in turn; the first error other than "not there" wins, as Popen's.
    long first_other = 0, last = ENOENT;
    for (std::size_t i = 0; i < p.path_count; ++i) {
        last = -child_sys(SYS_execve, reinterpret_cast<long>(p.paths[i]), reinterpret_cast<long>(p.argv),
                          reinterpret_cast<long>(p.envp));
        if (last != ENOENT && last != ENOTDIR && first_other == 0) first_other = last;
    }
    return child_fail(p, first_other != 0 ? first_other : last);
}

// The child's stack: one per spawning thread, with a guard page below it.
struct child_stack {
    static constexpr std::size_t size = 64 * 1024;
    void* base = nullptr;
    child_stack() = default;
    child_stack(const child_stack&) = delete;
    child_stack& operator=(const child_stack&) = delete;
    ~child_stack() {
        if (base) ::munmap(base, size);
    }
    void* top() {
        if (!base) {
            void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
            if (m == MAP_FAILED) return nullptr;
            ::mprotect(m, 4096, PROT_NONE);
            base = m;
        }
        return static_cast<char*>(base) + size;
    }
};

// Stacks for children started without CLONE_VFORK (one per child until it has exec'd),
// each with a guard page; a few are kept for the next spawns.
struct stack_pool {
    std::mutex m;
    std::vector<void*> free;
    void* acquire() {
        {
            std::lock_guard g(m);
            if (!free.empty()) {
                void* s = free.back();
                free.pop_back();
                return s;
            }
        }
        void* s =
            ::mmap(nullptr, child_stack::size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (s == MAP_FAILED) return nullptr;
        ::mprotect(s, 4096, PROT_NONE);
        return s;
    }
    void release(void* s) noexcept {
        std::lock_guard g(m);
        if (free.size() < 64) {
            free.push_back(s);
            return;
        }
        ::munmap(s, child_stack::size);
    }
};
stack_pool& stacks() {
    static stack_pool* p = new stack_pool;  // never destroyed: children may outlive statics
    return *p;
}

}  // namespace

// Everything a child reads until it has exec'd.
struct exec_storage {
    std::vector<fd_action> actions;
    std::vector<std::string> argv;
    std::vector<char*> args;
    std::vector<std::string> env_strings;
    std::vector<char*> env;
    std::vector<std::string> candidates;
    std::vector<const char*> paths;
    std::string cwd;
    child_plan plan;
    void* stack = nullptr;  // from stacks(), when started without CLONE_VFORK
    exec_storage() = default;
    exec_storage(const exec_storage&) = delete;
    exec_storage& operator=(const exec_storage&) = delete;
    ~exec_storage() {
        if (stack) stacks().release(stack);
    }
};

pending_exec::pending_exec(std::unique_ptr<exec_storage> st, int fd) noexcept : st_(std::move(st)), fd_(fd) {}

pending_exec::~pending_exec() {
    outcome();
}

int pending_exec::outcome() noexcept {
    if (fd_ < 0) return outcome_;
    // EOF: every write end is closed, the child's by its exec (close-on-exec) or its exit.
    pollfd p{fd_, POLLIN, 0};
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    int code = 0;
    ssize_t n;
    do {
        n = ::read(fd_, &code, sizeof code);
    } while (n < 0 && errno == EINTR);
    outcome_ = n == static_cast<ssize_t>(sizeof code) ? code : 0;
    ::close(std::exchange(fd_, -1));
    st_.reset();  // the child is past reading it
    return outcome_;
}

namespace {

// How children start: clone3 without waiting for the exec, else clone3 with CLONE_VFORK,
// else clone, else posix_spawn; each falls back to the next on its first refusal.
// DUET_SPAWN=clone3_vfork, =clone or =posix_spawn starts lower down the list (a sandbox that
// allows only some flags; the tests run each path with it).
bool spawn_method_allowed(std::string_view wanted) {
    const char* v = ::getenv("DUET_SPAWN");
    if (!v) return true;
    const std::string_view order[] = {"clone3", "clone3_vfork", "clone", "posix_spawn"};
    std::size_t chosen = 0, asked = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        if (order[i] == v) chosen = i;
        if (order[i] == wanted) asked = i;
    }
    return asked >= chosen;
}
std::atomic<bool> clone_pidfd_usable{spawn_method_allowed("clone")};

#if defined(__x86_64__) && defined(SYS_clone3)
// clone3 (Linux 5.3), which glibc 2.36 does not wrap: the child starts on `stack` and runs
// fn(arg), then exit_group with its result; the parent gets the pid or -errno. In assembly
// because a child on a new stack cannot return through C code.
struct clone3_args {
    std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};
constexpr std::uint64_t clone_clear_sighand = 0x100000000ULL;  // Linux 5.5
std::atomic<bool> clone3_usable{spawn_method_allowed("clone3_vfork")};
// clone3 without CLONE_VFORK (the parent does not wait for the exec).
std::atomic<bool> clone_async_usable{spawn_method_allowed("clone3")};

long clone3_call(clone3_args* args, int (*fn)(void*), void* arg) noexcept {
    long r;
    register int (*entry)(void*) asm("r12") = fn;  // callee-saved: survives into the child
    register void* entry_arg asm("r13") = arg;
    asm volatile(
        "syscall\n\t"
        "test %%rax, %%rax\n\t"
        "jnz 1f\n\t"
        "xor %%ebp, %%ebp\n\t"
        "mov %%r13, %%rdi\n\t"
        "call *%%r12\n\t"
        "mov %%eax, %%edi\n\t"
        "mov $231, %%eax\n\t"  // exit_group
        "syscall\n\t"
        "hlt\n"
        "1:"
        : "=a"(r)
        : "a"(static_cast<long>(SYS_clone3)), "D"(args), "S"(sizeof(clone3_args)), "r"(entry), "r"(entry_arg)
        : "rcx", "r11", "memory");
    return r;
}
#endif

// Starts the plan's child with clone. pid > 0: started (pidfd set); pid == 0: the clone was
// refused (use posix_spawn); else throws with the child's errno.
int clone_child(exec_storage& st, std::unique_ptr<exec_storage>& keep, spawned_child& c, const char* method,
                const std::string& program) {
    child_plan& plan = st.plan;
    static thread_local child_stack stack;
    void* top = stack.top();
    if (!top) return 0;
    // No handler may run in the child before it resets them; the parent's mask comes back.
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    int fd = -1;
    int pid = -1, e = 0;
#if defined(__x86_64__) && defined(SYS_clone3)
    // Where the kernel can, the clone itself resets the handlers, and the parent does not
    // wait for the exec (the loop goes on; the child reports a failure on a pipe): the child
    // gets a stack of its own, and the plan lives on until the child is past it.
    if (clone3_usable.load(std::memory_order_relaxed)) {
        int report[2] = {-1, -1};
        const bool async = clone_async_usable.load(std::memory_order_relaxed) && ::pipe2(report, O_CLOEXEC) == 0;
        if (async) {
            // Above 2, so that no dup2 onto 0-2 in the child replaces the write end.
            for (int& r : report) {
                if (r > 2) continue;
                const int hi = ::fcntl(r, F_DUPFD_CLOEXEC, 3);
                ::close(r);
                r = hi;
            }
            st.stack = stacks().acquire();
        }
        const bool detached = async && st.stack && report[1] > 2 && report[0] > 2;
        if (async && !detached) {
            if (st.stack) stacks().release(std::exchange(st.stack, nullptr));
            for (int r : report) ::close(r);
        }
        clone3_args ca{};
        ca.flags = CLONE_VM | CLONE_PIDFD | clone_clear_sighand | (detached ? 0 : CLONE_VFORK);
        ca.pidfd = reinterpret_cast<std::uintptr_t>(&fd);
        ca.exit_signal = SIGCHLD;
        ca.stack = reinterpret_cast<std::uintptr_t>(detached ? st.stack : stack.base);
        ca.stack_size = child_stack::size;
        plan.handlers_cleared = true;
        plan.report_fd = detached ? report[1] : -1;
        const long r = clone3_call(&ca, child_main, &plan);
        // The plan is the child's now: nothing in it changes until the child is past it.
        if (detached) ::close(report[1]);
        if (r >= 0) {
            pid = static_cast<int>(r);
            if (detached) {
                ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
                c.exec = std::make_shared<pending_exec>(std::move(keep), report[0]);
                c.pidfd = fd;
                return pid;
            }
        } else {
            e = static_cast<int>(-r);
            plan.handlers_cleared = false;
            if (detached) {
                ::close(report[0]);
                stacks().release(std::exchange(st.stack, nullptr));
            }
            if (e == EINVAL || e == ENOSYS || e == EPERM || e == E2BIG)
                clone3_usable.store(false, std::memory_order_relaxed);
        }
    }
#endif
    if (pid < 0 && (e == 0 || e == EINVAL || e == ENOSYS || e == EPERM || e == E2BIG)) {
        pid = ::clone(child_main, top, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &plan, &fd);
        e = errno;
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) {
        if (e == EINVAL || e == ENOSYS || e == EPERM) {
            clone_pidfd_usable.store(false, std::memory_order_relaxed);
            return 0;
        }
        throw os_error(e, std::string(method) + ": cannot start " + program);
    }
    if (plan.error != 0) {
        // It never exec'd and has exited: reap it here.
        const int child_error = plan.error;
        ::close(fd);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        throw os_error(child_error, std::string(method) + ": cannot start " + program);
    }
    c.pidfd = fd;
    return pid;
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

void check(int e, const char* method, const char* what) {
    if (e != 0) throw os_error(e, std::string(method) + ": " + what);
}

// The same plan through posix_spawn (dup2 onto itself clears FD_CLOEXEC: POSIX 2024,
// glibc >= 2.29), and the pidfd from pidfd_open.
int posix_spawn_child(const child_plan& plan, int& pidfd, const char* method, const std::string& program) {
    file_actions fa;
    spawn_attr attr;
    for (std::size_t i = 0; i < plan.action_count; ++i) {
        const fd_action& a = plan.actions[i];
        switch (a.kind) {
            case fd_action::dup2:
                check(posix_spawn_file_actions_adddup2(&fa.fa, a.src, a.dst), method, "adddup2");
                break;
            case fd_action::devnull:
                check(posix_spawn_file_actions_addopen(&fa.fa, a.dst, "/dev/null", O_RDWR, 0), method, "addopen");
                break;
            case fd_action::close:
                check(posix_spawn_file_actions_addclose(&fa.fa, a.dst), method, "addclose");
                break;
        }
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    check(posix_spawn_file_actions_addclosefrom_np(&fa.fa, plan.close_from), method, "addclosefrom_np");
#else
    // Without closefrom: close each fd open now that is not close-on-exec anyway.
    for (int fd : open_fds()) {
        if (fd < plan.close_from) continue;
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            check(posix_spawn_file_actions_addclose(&fa.fa, fd), method, "addclose");
    }
#endif
    if (plan.cwd) check(posix_spawn_file_actions_addchdir_np(&fa.fa, plan.cwd), method, "addchdir_np");

    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (plan.new_session) flags |= POSIX_SPAWN_SETSID;
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGXFSZ);
    check(posix_spawnattr_setsigmask(&attr.attr, &none), method, "setsigmask");
    check(posix_spawnattr_setsigdefault(&attr.attr, &defaults), method, "setsigdefault");
    check(posix_spawnattr_setflags(&attr.attr, flags), method, "setflags");

    pid_t pid = -1;
    int first_other = 0, e = ENOENT;
    for (std::size_t i = 0; i < plan.path_count; ++i) {
        e = posix_spawn(&pid, plan.paths[i], &fa.fa, &attr.attr, plan.argv, plan.envp);
        if (e == 0) break;
        if (e != ENOENT && e != ENOTDIR && first_other == 0) first_other = e;
    }
    if (e != 0) throw os_error(first_other != 0 ? first_other : e, std::string(method) + ": cannot start " + program);
#ifdef SYS_pidfd_open
    pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));  // close-on-exec; -1 without pidfd support
    if (pidfd < 0) pidfd = -1;
#endif
    return pid;
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

    fd_list child_side;  // closed in the parent once the child has them (or on failure)
    fd_list parent_side;
    spawned_child c;
    // What the child reads until it has exec'd: kept by c.exec when the parent does not wait.
    auto storage = std::make_unique<exec_storage>();
    exec_storage& st = *storage;
    std::vector<fd_action>& actions = st.actions;
    actions.reserve(4);

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
                actions.push_back({fd_action::dup2, child_end, target});
                break;
            }
            case redirect::kind::devnull:
                actions.push_back({fd_action::devnull, -1, target});
                break;
            case redirect::kind::to_stdout:
                actions.push_back({fd_action::dup2, 1, 2});
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
                actions.push_back({fd_action::dup2, src, target});
                break;
            }
        }
    }

    // pass_fds: kept at their numbers (dup2 onto itself: no close-on-exec).
    std::vector<int> keep;
    for (int fd : opts.pass_fds) {
        if (fd < 0) throw std::invalid_argument(std::string(method) + ": negative fd in pass_fds");
        if (fd > 2) keep.push_back(fd);
    }
    std::sort(keep.begin(), keep.end());
    keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
    for (int fd : keep) actions.push_back({fd_action::dup2, fd, fd});

    // Every other fd above 2 is closed in the child: below the highest kept fd one by one,
    // from there on at once.
    const int close_from = keep.empty() ? 3 : keep.back() + 1;
    if (!keep.empty()) {
        for (int fd : open_fds()) {
            if (fd < 3 || fd >= close_from) continue;
            if (!std::binary_search(keep.begin(), keep.end(), fd)) actions.push_back({fd_action::close, -1, fd});
        }
    }

    st.argv = argv;
    std::vector<char*>& args = st.args;
    args.reserve(argv.size() + 1);
    for (auto& a : st.argv) args.push_back(a.data());
    args.push_back(nullptr);

    // The environment: the parent's (or opts.env), with opts.extra_env over it.
    std::vector<std::string>& env_strings = st.env_strings;
    std::vector<char*>& env = st.env;
    char** envp = environ;
    // The child's own PATH when it differs from ours (Popen: os.get_exec_path(env), with
    // os.defpath for an env without PATH).
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

    // The programs to try: the path itself, or each PATH directory's (the child's PATH, else
    // ours, else /bin:/usr/bin).
    std::vector<std::string>& candidates = st.candidates;
    std::vector<const char*>& paths = st.paths;
    if (program.find('/') != std::string::npos) {
        paths.push_back(st.argv[0].c_str());
    } else {
        const char* ours = ::getenv("PATH");
        std::string_view dirs = child_path ? std::string_view(*child_path) : ours ? ours : "/bin:/usr/bin";
        for (;;) {
            const auto colon = dirs.find(':');
            const std::string_view dir = dirs.substr(0, colon);
            candidates.push_back(dir.empty() ? program : std::string(dir) + "/" + program);
            if (colon == std::string_view::npos) break;
            dirs.remove_prefix(colon + 1);
        }
        for (const auto& s : candidates) paths.push_back(s.c_str());
    }

    st.cwd = opts.cwd;
    child_plan& plan = st.plan;
    plan.actions = actions.data();
    plan.action_count = actions.size();
    plan.close_from = close_from;
    plan.cwd = st.cwd.empty() ? nullptr : st.cwd.c_str();
    plan.new_session = opts.start_new_session;
    plan.paths = paths.data();
    plan.path_count = paths.size();
    plan.argv = args.data();
    plan.envp = envp;

    int pid = 0;
    if (clone_pidfd_usable.load(std::memory_order_relaxed)) pid = clone_child(st, storage, c, method, program);
    if (pid == 0) pid = posix_spawn_child(plan, c.pidfd, method, program);
    // The child has its ends: the lists close the child's side; the parent's side is the caller's now.
    parent_side.fds.clear();
    c.pid = pid;
    return c;
}

}  // namespace duet::native
