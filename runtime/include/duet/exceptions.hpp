// asyncio's exception list, spelled for C++.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace duet {

// Raised into a coroutine when its task is cancelled. Deliberately NOT derived from
// std::exception: `catch (const std::exception&)` must not swallow a cancellation, just
// as Python's CancelledError is not an Exception.
//
// duet's exception tiers, after Python's Exception / BaseException split:
// - std::exception and everything derived from it (Exception): raised in a callback, it goes
//   to the loop's exception handler; in a task, it becomes the task's exception.
// - cancelled_error (CancelledError): ends a task as cancelled; in a callback, the handler.
// - anything else (BaseException: SystemExit, KeyboardInterrupt): raised in a callback or a
//   task, it stops the loop right after the callback or step and leaves run_forever /
//   run_until_complete; a task still records it as its exception.
class cancelled_error {
public:
    cancelled_error() = default;
    explicit cancelled_error(std::string message) : message_(std::move(message)) {}
    // The message given to cancel(msg); empty when none was given.
    const std::string& message() const noexcept { return message_; }
    const char* what() const noexcept { return message_.empty() ? "cancelled" : message_.c_str(); }

private:
    std::string message_;
};

// An operation is not allowed in the object's current state (asyncio.InvalidStateError).
class invalid_state_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

// A deadline passed (asyncio.TimeoutError, which is the builtin TimeoutError).
class timeout_error : public std::runtime_error {
public:
    timeout_error() : std::runtime_error("timed out") {}
    using std::runtime_error::runtime_error;
};

// The capability does not exist on this target; the message names both.
class not_supported_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace duet
