// docs/subprocesses.md (native)
#include <memory>
#include <string>

#include <duet/duet.hpp>

#include "snippets.hpp"

namespace {

duet::coro<bool> subprocess_demo() {
    duet::subprocess_options o;
    o.std_in = duet::subprocess::pipe;
    o.std_out = duet::subprocess::pipe;
    auto cat = co_await duet::create_subprocess_exec("/bin/cat", o);
    auto [out, err] = co_await cat.communicate("hello");
    bool cat_ok = out == "hello" && cat.returncode() == 0;

    auto sh = co_await duet::create_subprocess_shell("exit 3");
    int rc = co_await sh.wait();
    co_return cat_ok&& rc == 3;
}

}  // namespace

DUET_SNIPPET(subprocess_communicate) {
    return duet::run(subprocess_demo());
}

DUET_SNIPPET(subprocess_child_watcher) {
    // Child watchers: the policy's default is pidfd (Linux >= 5.3) or threaded; choose another.
    duet::set_child_watcher(std::make_shared<duet::threaded_child_watcher>());
    bool ok = duet::run(subprocess_demo());
    duet::set_child_watcher(nullptr);
    return ok;
}
