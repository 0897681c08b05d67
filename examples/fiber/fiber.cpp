// Fibers: an ordinary recursive function, with no co_await in it, awaiting at depth.
// Two of them interleave on one loop with a coroutine; one is cancelled mid-recursion and
// its stack unwinds normally.
#include <cstdio>
#include <string>

#include <duet/duet.hpp>

// A depth-first walk of a binary tree of `depth` levels that "loads" every node (a sleep
// standing for I/O) from inside the recursion: what a parser or a C callback chain would do.
int walk(const std::string& who, const std::string& path, int depth) {
    duet::await(duet::sleep(0.001));  // suspends the whole call chain, not just this frame
    if (depth == 0) return 1;
    return 1 + walk(who, path + "0", depth - 1) + walk(who, path + "1", depth - 1);
}

struct announce_unwind {
    const char* who;
    ~announce_unwind() { std::printf("%s: stack unwound, destructors ran\n", who); }
};

duet::coro<void> main_coro() {
    auto a = duet::spawn_fiber(walk, "a", "", 5);  // 63 nodes
    auto b = duet::spawn_fiber(walk, "b", "", 6);  // 127 nodes
    auto doomed = duet::spawn_fiber([] {
        announce_unwind guard{"doomed"};
        return walk("doomed", "", 20);  // would take a while
    });
    co_await duet::sleep(0.05);
    doomed.cancel("enough");
    auto [na, nb] = co_await duet::gather(a, b);
    std::printf("fiber a walked %d nodes, fiber b %d nodes\n", na, nb);
    try {
        co_await doomed;
    } catch (const duet::cancelled_error& e) {
        std::printf("doomed: cancelled (%s)\n", e.what());
    }
}

int main() {
    duet::run(main_coro());
}
