// Registers duet::event_loop (the target's backend) as the default loop that
// new_event_loop(), the default policy and duet::run make. Built as an object that CMake
// puts into every program linking duet::duet, so the linker cannot drop it (see
// CMakeLists.txt); the runtime itself never names a backend.
#include <memory>

#include <duet/event_loop.hpp>
#include <duet/policies.hpp>

namespace {

std::unique_ptr<duet::abstract_event_loop> make_event_loop() {
    return std::make_unique<duet::event_loop>();
}

const bool registered = (duet::set_default_loop_factory(&make_event_loop), true);

}  // namespace
