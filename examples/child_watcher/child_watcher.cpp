// Choosing a child watcher through the policy (asyncio 3.12's set_child_watcher), then
// waiting for a child's exit with it:
//     child_watcher [pidfd|threaded|safe|fast|multi_loop]   (no argument: each in turn)
// The child is started with posix_spawn here; create_subprocess_exec does this for you.
#include <spawn.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <duet/duet.hpp>

extern char** environ;

std::shared_ptr<duet::abstract_child_watcher> make(const std::string& kind) {
    if (kind == "threaded") return std::make_shared<duet::threaded_child_watcher>();
    if (kind == "safe") return std::make_shared<duet::safe_child_watcher>();
    if (kind == "fast") return std::make_shared<duet::fast_child_watcher>();
    if (kind == "multi_loop") return std::make_shared<duet::multi_loop_child_watcher>();
    return std::make_shared<duet::pidfd_child_watcher>();
}

duet::coro<void> main_coro() {
    auto& loop = duet::get_running_loop();
    // duet::run made this loop the main thread's: the policy attached the watcher to it.
    auto& watcher = duet::get_child_watcher();
    std::printf("watcher: %s (active: %s)\n", watcher.name(), watcher.is_active() ? "yes" : "no");

    char sh[] = "/bin/sh", c[] = "-c", cmd[] = "exit 3";
    char* argv[] = {sh, c, cmd, nullptr};
    pid_t pid = 0;
    if (int rc = ::posix_spawn(&pid, sh, nullptr, nullptr, argv, environ); rc != 0) {
        std::printf("posix_spawn failed: %d\n", rc);
        co_return;
    }
    auto exited = loop.create_future<int>();
    watcher.add_child_handler(pid, [exited](int, int returncode) mutable { exited.set_result(returncode); });
    const int returncode = co_await exited;
    std::printf("pid %d exited with %d\n", static_cast<int>(pid), returncode);
}

int main(int argc, char** argv) {
    std::vector<std::string> kinds = {"pidfd", "threaded", "safe", "fast", "multi_loop"};
    if (argc > 1) kinds = {argv[1]};
    for (const auto& kind : kinds) {
        duet::set_child_watcher(make(kind));
        duet::run(main_coro());
        duet::set_child_watcher(nullptr);  // closes the watcher (gives SIGCHLD back)
    }
}
