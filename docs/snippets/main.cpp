// Runs every snippet of docs/*.md (each a function in docs/snippets/*.cpp); a snippet that
// fails throws or returns false, and the program exits non-zero naming it.
#include <cstdio>
#include <exception>

#include "snippets.hpp"

int main() {
    std::setvbuf(stdout, nullptr, _IONBF, 0);
    int failed = 0;
    for (const auto& s : duet_docs::all_snippets()) {
        try {
            if (s.run()) {
                std::printf("ok   %s\n", s.name);
                continue;
            }
            std::printf("FAIL %s: returned false\n", s.name);
        } catch (const std::exception& e) {
            std::printf("FAIL %s: %s\n", s.name, e.what());
        }
        ++failed;
    }
    return failed == 0 ? 0 : 1;
}
