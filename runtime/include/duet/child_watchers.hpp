// Child watchers (asyncio's "Process Watchers", Python 3.12/3.13): how the loop learns that
// a child process exited. The interface is target-neutral; the five implementations live in
// native/ (pidfd, threaded, safe, multi_loop, fast). Under Emscripten there are no
// processes: get_child_watcher() raises not_supported_error.
#pragma once

#include <functional>
#include <memory>

namespace duet {

class abstract_event_loop;

class abstract_child_watcher {
public:
    // Called with (pid, returncode): the exit status, or -N for a child killed by signal N
    // (255 when the child was reaped elsewhere). Extra arguments are the lambda's captures.
    using child_callback = std::function<void(int pid, int returncode)>;

    virtual ~abstract_child_watcher() = default;
    // Calls cb once pid exits, on the loop the watcher delivers to (the attached loop, or the
    // loop running add_child_handler for the watchers that need no attachment). A second
    // handler for the same pid replaces the first. A child that exited before the call still
    // fires.
    virtual void add_child_handler(int pid, child_callback cb) = 0;
    // Forgets pid's handler (it will never run); whether one was registered.
    virtual bool remove_child_handler(int pid) = 0;
    // Attaches the watcher to loop (null detaches). Exits seen while detached are delivered
    // after the next attach.
    virtual void attach_loop(abstract_event_loop* loop) = 0;
    // Whether spawning a child now would have its exit observed; spawning with an inactive
    // watcher raises and starts no process.
    virtual bool is_active() const = 0;
    // Releases what the watcher holds (signal handlers, threads, fds).
    virtual void close() = 0;
    // The class name, for messages ("pidfd_child_watcher").
    virtual const char* name() const noexcept = 0;
};

// The current policy's watcher (abstract_event_loop_policy::get_child_watcher); the default
// policy creates the target's default watcher on first use.
abstract_child_watcher& get_child_watcher();
// Installs w as the current policy's watcher (null: the default is made again on next use).
void set_child_watcher(std::shared_ptr<abstract_child_watcher> w);

// What makes the target's default watcher (native/ registers pidfd where the kernel has
// it, else threaded); null unregisters. Returns the previous factory.
using child_watcher_factory = std::shared_ptr<abstract_child_watcher> (*)();
child_watcher_factory set_default_child_watcher_factory(child_watcher_factory f) noexcept;
// A new watcher from the registered factory; not_supported_error ("subprocesses/child
// watchers are not supported on this target") when none is registered (Emscripten).
std::shared_ptr<abstract_child_watcher> new_default_child_watcher();

}  // namespace duet
