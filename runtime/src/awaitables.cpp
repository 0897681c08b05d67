#include <duet/detail/awaitables.hpp>
#include <duet/exceptions.hpp>

namespace duet::detail {

bool is_cancelled_error(const std::exception_ptr& e) noexcept {
    if (!e) return false;
    try {
        std::rethrow_exception(e);
    } catch (const cancelled_error&) {
        return true;
    } catch (...) {
        return false;
    }
}

}  // namespace duet::detail
