// asyncio's Subprocesses page examples: run shell commands with communicate() (ls of a
// missing directory, sleep then echo), and read a child's stdout line by line (date, then
// a directory listing).
//     subprocess [pidfd|threaded|safe|fast|multi_loop]
// With an argument, the child watcher is chosen through the policy first (the default is
// pidfd where the kernel has it); examples/child_watcher uses a watcher directly.
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <duet/duet.hpp>

duet::coro<void> run_cmd(std::string cmd) {
    duet::subprocess_options o;
    o.std_out = duet::subprocess::pipe;
    o.std_err = duet::subprocess::pipe;
    auto proc = co_await duet::create_subprocess_shell(cmd, o);
    auto [out, err] = co_await proc.communicate();
    std::printf("[%s exited with %d]\n", cmd.c_str(), proc.returncode().value_or(-1));
    if (!out.empty()) std::printf("[stdout]\n%s", out.c_str());
    if (!err.empty()) std::printf("[stderr]\n%s", err.c_str());
}

// asyncio's get_date(): the first line a child prints.
duet::coro<std::string> get_date() {
    duet::subprocess_options o;
    o.std_out = duet::subprocess::pipe;
    auto proc = co_await duet::create_subprocess_exec("/bin/date", "-u", o);
    std::string line = co_await proc.std_out().readline();
    co_await proc.wait();
    if (!line.empty() && line.back() == '\n') line.pop_back();
    co_return line;
}

// Every line of a child's stdout, as it comes.
duet::coro<void> list_lines() {
    duet::subprocess_options o;
    o.std_out = duet::subprocess::pipe;
    auto proc = co_await duet::create_subprocess_exec("/bin/ls", "-1", "/usr", o);
    int n = 0;
    for (;;) {
        std::string line = co_await proc.std_out().readline();
        if (line.empty()) break;  // EOF
        std::printf("  line %d: %s", ++n, line.c_str());
    }
    const int rc = co_await proc.wait();
    std::printf("[ls exited with %d after %d lines]\n", rc, n);
}

duet::coro<void> main_coro() {
    std::printf("child watcher: %s\n", duet::get_child_watcher().name());
    co_await run_cmd("ls /zzz");
    co_await run_cmd("sleep 0.1; echo 'hello'");
    std::string date = co_await get_date();
    std::printf("Current date: %s\n", date.c_str());
    co_await list_lines();
}

int main(int argc, char** argv) {
    if (argc > 1) {
        std::shared_ptr<duet::abstract_child_watcher> w;
        try {
            w = duet::make_child_watcher(argv[1]);  // "pidfd", "threaded", "safe", "fast", "multi_loop"
        } catch (const std::invalid_argument& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 2;
        }
        duet::set_child_watcher(w);  // duet::run's loop is the main thread's: the policy attaches it
    }
    duet::run(main_coro());
    duet::set_child_watcher(nullptr);  // closes the watcher (a SIGCHLD one gives SIGCHLD back)
}
