// Registers the target's default child watcher with the runtime: pidfd_child_watcher where
// the kernel has pidfd_open, else threaded_child_watcher (asyncio 3.12's choice). Built into
// the same object library as default_loop.cpp, so the linker keeps it (see CMakeLists.txt).
#include <memory>

#include <duet/child_watchers_native.hpp>

namespace {

std::shared_ptr<duet::abstract_child_watcher> make_child_watcher() {
    if (duet::pidfd_child_watcher::available()) return std::make_shared<duet::pidfd_child_watcher>();
    return std::make_shared<duet::threaded_child_watcher>();
}

const bool registered = (duet::set_default_child_watcher_factory(&make_child_watcher), true);

}  // namespace
