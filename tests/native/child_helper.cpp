// A child for the subprocess tests: reports what it inherited, or behaves as asked.
//   fds          the open fds, ascending, space separated (from /proc/self/fd)
//   cwd          the working directory
//   env NAME     $NAME, or "<unset>"
//   sid          "leader" if it leads its own session, else "member"
//   signals      its signal mask and dispositions: "blocked=none|some pipe=... xfsz=...
//                usr2=... hup=..." (each "default", "ignored" or "handled")
//   cat          stdin to stdout
//   lines N      N numbered lines on stdout
//   err TEXT     TEXT on stderr, "out" on stdout
//   exit N       exits with N without reading stdin
//   count        reads stdin to EOF, prints how many bytes it read
//   write N C    N bytes ('x') on stdout, then exits with C
//   tee2         stdin to both stdout and stderr
//   closein      closes stdin, prints "closed", lingers 200 ms, exits 0
//   block        prints "ready", then sleeps until a signal ends it
#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

bool write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return 100;
    const std::string mode = argv[1];
    if (mode == "fds") {
        DIR* d = ::opendir("/proc/self/fd");
        if (!d) return 101;
        std::vector<int> fds;
        while (dirent* e = ::readdir(d)) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            const int fd = std::atoi(e->d_name);
            if (fd != ::dirfd(d)) fds.push_back(fd);
        }
        ::closedir(d);
        std::sort(fds.begin(), fds.end());
        std::string out;
        for (int fd : fds) out += (out.empty() ? "" : " ") + std::to_string(fd);
        std::printf("%s\n", out.c_str());
    } else if (mode == "cwd") {
        char buf[4096];
        if (!::getcwd(buf, sizeof buf)) return 102;
        std::printf("%s\n", buf);
    } else if (mode == "env" && argc > 2) {
        const char* v = std::getenv(argv[2]);
        std::printf("%s\n", v ? v : "<unset>");
    } else if (mode == "sid") {
        std::printf("%s\n", ::getsid(0) == ::getpid() ? "leader" : "member");
    } else if (mode == "signals") {
        sigset_t blocked;
        sigprocmask(SIG_BLOCK, nullptr, &blocked);
        bool any = false;
        for (int sig = 1; sig < NSIG; ++sig) any = any || sigismember(&blocked, sig) == 1;
        auto disposition = [](int sig) {
            struct sigaction sa {};
            sigaction(sig, nullptr, &sa);
            return sa.sa_handler == SIG_DFL ? "default" : sa.sa_handler == SIG_IGN ? "ignored" : "handled";
        };
        std::printf("blocked=%s pipe=%s xfsz=%s usr2=%s hup=%s\n", any ? "some" : "none", disposition(SIGPIPE),
                    disposition(SIGXFSZ), disposition(SIGUSR2), disposition(SIGHUP));
    } else if (mode == "cat") {
        char buf[65536];
        for (;;) {
            const ssize_t n = ::read(0, buf, sizeof buf);
            if (n <= 0) break;
            for (ssize_t off = 0; off < n;) {
                const ssize_t w = ::write(1, buf + off, static_cast<std::size_t>(n - off));
                if (w <= 0) return 103;
                off += w;
            }
        }
    } else if (mode == "lines" && argc > 2) {
        const int n = std::atoi(argv[2]);
        for (int i = 1; i <= n; ++i) std::printf("line %d\n", i);
    } else if (mode == "err" && argc > 2) {
        std::fprintf(stderr, "%s", argv[2]);
        std::printf("out");
    } else if (mode == "exit" && argc > 2) {
        return std::atoi(argv[2]);
    } else if (mode == "count") {
        char buf[65536];
        long long total = 0;
        for (ssize_t n; (n = ::read(0, buf, sizeof buf)) > 0;) total += n;
        std::printf("%lld\n", total);
    } else if (mode == "write" && argc > 3) {
        const std::string data(static_cast<std::size_t>(std::atol(argv[2])), 'x');
        if (!write_all(1, data.data(), data.size())) return 105;
        return std::atoi(argv[3]);
    } else if (mode == "tee2") {
        char buf[65536];
        for (ssize_t n; (n = ::read(0, buf, sizeof buf)) > 0;) {
            if (!write_all(1, buf, static_cast<std::size_t>(n)) || !write_all(2, buf, static_cast<std::size_t>(n)))
                return 106;
        }
    } else if (mode == "closein") {
        ::close(0);
        std::printf("closed\n");
        std::fflush(stdout);
        const timespec ts{0, 200 * 1000 * 1000};
        ::nanosleep(&ts, nullptr);
    } else if (mode == "block") {
        std::printf("ready\n");
        std::fflush(stdout);
        for (;;) ::pause();
    } else {
        return 104;
    }
    return 0;
}
