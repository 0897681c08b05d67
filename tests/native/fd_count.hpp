// How many fds this process has open (/proc/self/fd): the network suites compare it
// before a test's loop exists and after the loop is closed, to catch a leaked fd.
#pragma once

#include <filesystem>

namespace duet::nettest {

inline int count_fds() {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

}  // namespace duet::nettest
