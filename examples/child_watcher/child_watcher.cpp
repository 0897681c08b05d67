// Choosing a child watcher through the event-loop policy (asyncio's "Process Watchers"): the
// default policy makes pidfd_child_watcher where the kernel has pidfd_open, else
// threaded_child_watcher; set_child_watcher installs another. Each run below installs one,
// attaches it to the running loop (the SIGCHLD watchers deliver through it; duet::run's
// loop is the main thread's, so the policy has attached it already) and runs a few children
// concurrently with create_subprocess_*.
//   child_watcher            every watcher in turn
//   child_watcher [pidfd|threaded|safe|fast|multi_loop]   just that one
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <duet/duet.hpp>

std::shared_ptr<duet::abstract_child_watcher> make_watcher(const std::string& name) {
    if (name == "pidfd") return std::make_shared<duet::pidfd_child_watcher>();
    if (name == "threaded") return std::make_shared<duet::threaded_child_watcher>();
    if (name == "safe") return std::make_shared<duet::safe_child_watcher>();
    if (name == "fast") return std::make_shared<duet::fast_child_watcher>();
    if (name == "multi_loop") return std::make_shared<duet::multi_loop_child_watcher>();
    return nullptr;
}

duet::coro<int> run_one(std::string cmd) {
    auto proc = co_await duet::create_subprocess_shell(cmd);
    co_return co_await proc.wait();
}

duet::coro<void> main_coro() {
    duet::abstract_child_watcher& w = duet::get_child_watcher();
    w.attach_loop(&duet::get_running_loop());
    std::printf("%s (active: %s)\n", w.name(), w.is_active() ? "yes" : "no");
    std::vector<duet::coro<int>> children;
    for (int i = 0; i < 3; ++i) children.push_back(run_one("exit " + std::to_string(i)));
    auto all = duet::gather(std::move(children));
    std::vector<int> codes = co_await std::move(all);
    for (int i = 0; i < 3; ++i) std::printf("  exit %d -> returncode %d\n", i, codes[static_cast<std::size_t>(i)]);
    auto sleeper = co_await duet::create_subprocess_exec("/bin/sleep", "30");
    sleeper.terminate();
    std::printf("  terminated sleep -> returncode %d\n", co_await sleeper.wait());
}

int main(int argc, char** argv) {
    std::vector<std::string> names{"pidfd", "threaded", "safe", "fast", "multi_loop"};
    if (argc > 1) names = {argv[1]};
    std::printf("default watcher: %s\n", duet::get_child_watcher().name());
    for (const auto& name : names) {
        auto w = make_watcher(name);
        if (!w) {
            std::fprintf(stderr, "unknown watcher %s\n", name.c_str());
            return 2;
        }
        duet::set_child_watcher(w);  // closes the one it replaces
        duet::run(main_coro());
    }
    duet::set_child_watcher(nullptr);
}
