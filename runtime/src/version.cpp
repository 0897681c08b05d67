#include <duet/version.hpp>

namespace duet {

const char* version() noexcept {
    return DUET_VERSION_STRING;
}

}  // namespace duet
