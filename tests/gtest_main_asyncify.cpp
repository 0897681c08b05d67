// GoogleTest's main for the ASYNCIFY programs (duet_blocking_run). When a test blocks, main()
// unwinds to the JS event loop, and Emscripten 3.1.6 takes that first return (status 0) for
// the program's exit: main's real return value, after the rewind, is dropped, so a test
// failing after the first suspension would still exit 0. Exiting explicitly reports
// GoogleTest's result (node's exit code; Module.quit in a page).
#include <cstdlib>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    std::exit(RUN_ALL_TESTS());
}
