// Event loop policies (asyncio's "Policies"): which loop get_event_loop() returns in each
// thread and what kind of loop new_event_loop() makes.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <duet/child_watchers.hpp>
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
    // The watcher subprocesses use (asyncio 3.12's get_child_watcher). The base raises
    // not_supported_error naming the policy, so policies written before watchers existed
    // keep compiling.
    virtual abstract_child_watcher& get_child_watcher();
    // Installs w (null: the default is made again on next use).
    virtual void set_child_watcher(std::shared_ptr<abstract_child_watcher> w);
};

// One loop per thread; new_event_loop() makes loops of the target's backend
// (new_default_event_loop()). In the main thread get_event_loop() creates (and owns) a loop
// if none was set, as asyncio 3.12 does: set_event_loop(new_event_loop()), through this
// policy's overrides; elsewhere it is std::runtime_error.
class default_event_loop_policy : public abstract_event_loop_policy {
public:
    abstract_event_loop& get_event_loop() override;
    void set_event_loop(abstract_event_loop* loop) override;
    std::unique_ptr<abstract_event_loop> new_event_loop() override;
    // Made on first use by the registered factory (new_default_child_watcher: pidfd or
    // threaded natively; not_supported_error under Emscripten). As asyncio 3.12: a watcher
    // made or set in the main thread is attached to the main thread's loop, if it has one,
    // and set_event_loop in the main thread re-attaches it. set_child_watcher closes the
    // watcher it replaces.
    abstract_child_watcher& get_child_watcher() override;
    void set_child_watcher(std::shared_ptr<abstract_child_watcher> w) override;

private:
    struct per_thread {
        abstract_event_loop* loop = nullptr;
        std::unique_ptr<abstract_event_loop> owned;
        bool set_called = false;
    };
    // The main thread's loop, or null.
    abstract_event_loop* main_loop();
    std::mutex m_;
    std::map<std::thread::id, per_thread> threads_;
    std::mutex watcher_m_;
    std::shared_ptr<abstract_child_watcher> watcher_;
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

namespace detail {
// Whether this is the thread that initialised the program (asyncio's main thread).
bool is_main_thread() noexcept;
}  // namespace detail

}  // namespace duet
