// Code the parent compiles without warning flags: a shadowed name, an unused parameter and
// an extra semicolon. Built with duet's -Wshadow -Wextra -Wpedantic -Werror (had they leaked
// through duet::duet), it would fail to compile.
#include <duet/duet.hpp>

namespace parent {

int value = 1;
;

int shadows(int unused) {
    int value = 2;
    {
        int value = 3;
        return value;
    }
    return value;
}

duet::coro<int> uses_duet() {
    co_return shadows(0);
}

}  // namespace parent
