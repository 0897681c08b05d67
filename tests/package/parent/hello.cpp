// The parent's own `hello` (duet's example of that name is target duet_example_hello).
#include <cstdio>

int main() {
    std::puts("parent hello");
    return 0;
}
