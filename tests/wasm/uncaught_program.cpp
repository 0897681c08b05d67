// A program whose C++ exception nothing catches, for tests/wasm/CMakeLists.txt: the text
// that reaches the console must name the type and what() (js/library_duet.js,
// Duet.readable), never a bare number. argv[1] picks the way out.
#include <chrono>
#include <stdexcept>
#include <string>

#include <duet/duet.hpp>

namespace app {
struct config_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
}  // namespace app

namespace {
duet::coro<int> failing() {
    co_await duet::sleep(std::chrono::milliseconds(1));  // main suspends first (ASYNCIFY)
    throw std::runtime_error("boom in a task");
}
duet::coro<int> quick() {
    co_return 1;
}
}  // namespace

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "task") return duet::run(failing());            // needs duet_blocking_run
    if (mode == "blocking") return duet::run(quick());          // built without it: the fix is printed
    if (mode == "main") throw app::config_error("bad config");  // before any suspension
    return 2;
}
