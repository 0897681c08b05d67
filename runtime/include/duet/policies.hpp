// Event loop policies (asyncio's "Policies"): which loop get_event_loop() returns in each
// thread and what kind of loop new_event_loop() makes.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <duet/events.hpp>

namespace duet {

class abstract_event_loop_policy {
public:
    virtual ~abstract_event_loop_policy() = default;
    // The current thread's loop.
    virtual abstract_event_loop& get_event_loop() = 0;
    // Makes `loop` (not owned; may be null) the current thread's loop.
    virtual void set_event_loop(abstract_event_loop* loop) = 0;
    virtual std::unique_ptr<abstract_event_loop> new_event_loop() = 0;
    // Child-watcher accessors join this interface with subprocesses (native).
};

// One loop per thread, made by new_default_event_loop() (the target's backend). In the main thread get_event_loop()
// creates (and owns) a loop if none was set; elsewhere it is std::runtime_error.
class default_event_loop_policy : public abstract_event_loop_policy {
public:
    abstract_event_loop& get_event_loop() override;
    void set_event_loop(abstract_event_loop* loop) override;
    std::unique_ptr<abstract_event_loop> new_event_loop() override;

private:
    struct per_thread {
        abstract_event_loop* loop = nullptr;
        std::unique_ptr<abstract_event_loop> owned;
        bool set_called = false;
    };
    std::mutex m_;
    std::map<std::thread::id, per_thread> threads_;
};

abstract_event_loop_policy& get_event_loop_policy();
// Installs `p`; null restores a fresh default_event_loop_policy.
void set_event_loop_policy(std::unique_ptr<abstract_event_loop_policy> p);

// The running loop inside a coroutine or callback; otherwise the policy's loop for this
// thread.
abstract_event_loop& get_event_loop();
void set_event_loop(abstract_event_loop* loop);

// What makes the target's default loop (duet::event_loop). The target library users link
// (duet::duet: native/ or wasm/) registers it when the program starts, as asyncio's
// unix_events.py supplies the default loop class; the runtime itself knows no backend.
using loop_factory = std::unique_ptr<abstract_event_loop> (*)();
// Replaces the registered factory (null unregisters); returns the previous one.
loop_factory set_default_loop_factory(loop_factory f) noexcept;
// A loop from the registered factory; std::runtime_error if none is registered (the
// program links only duet's runtime: link duet::duet, or install a policy of your own).
std::unique_ptr<abstract_event_loop> new_default_event_loop();

}  // namespace duet
