// An exception that leaves duet::run and that nothing catches: std::terminate's output
// must name the exception's type and what(), the task it left and, in debug mode, where
// that task was created (duet::detail::describe_exception). argv[1]: "plain" or "debug";
// "caught" checks that the original type is still what callers catch.
#include <chrono>
#include <cstdio>
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
    co_await duet::sleep(std::chrono::milliseconds(1));
    throw app::config_error("bad config");
}
}  // namespace

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "caught") {
        try {
            duet::run(failing());
        } catch (const app::config_error& e) {
            std::puts(e.what());
            return 0;
        }
        return 1;
    }
    return duet::run(failing(), mode == "debug");
}
