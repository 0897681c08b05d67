#include <stdexcept>

#include <duet/exception_group.hpp>

namespace duet {

exception_group::exception_group(std::string message, std::vector<std::exception_ptr> exceptions)
    // clang-tidy 14 takes a member's construction in an exception type's constructor for an
    // exception object that is never thrown.
    // NOLINTNEXTLINE(bugprone-throw-keyword-missing)
    : message_(std::move(message)), exceptions_(std::move(exceptions)) {
    if (exceptions_.empty()) throw std::invalid_argument("exception_group: the list of exceptions must be non-empty");
    for (const auto& p : exceptions_)
        if (!p) throw std::invalid_argument("exception_group: null exception_ptr");
    const std::size_t n = exceptions_.size();
    what_ = message_ + " (" + std::to_string(n) + (n == 1 ? " sub-exception)" : " sub-exceptions)");
}

std::optional<exception_group> exception_group::as_group(const std::exception_ptr& p) {
    if (!p) return std::nullopt;
    try {
        std::rethrow_exception(p);
    } catch (const exception_group& g) {
        // A copy: rethrow_exception may itself throw a copy, which dies with this handler.
        return g;
    } catch (...) {
        return std::nullopt;
    }
}

}  // namespace duet
