// duet's version: the header's macros, the string, and the library's duet::version() agree.
#include <string>

#include <duet/duet.hpp>

#include "test_loop.hpp"

namespace duet::test {
namespace {

TEST(Version, HeaderAndLibraryAgree) {
    const std::string from_numbers = std::to_string(DUET_VERSION_MAJOR) + "." + std::to_string(DUET_VERSION_MINOR) +
                                     "." + std::to_string(DUET_VERSION_PATCH);
    EXPECT_EQ(from_numbers, DUET_VERSION_STRING);
    ASSERT_NE(duet::version(), nullptr);
    EXPECT_EQ(std::string(duet::version()), DUET_VERSION_STRING);
}

TEST(Version, IsSemanticMajorMinorPatch) {
    const std::string v = duet::version();
    int dots = 0;
    for (const char c : v) {
        if (c == '.') {
            ++dots;
        } else {
            EXPECT_TRUE(c >= '0' && c <= '9') << v;
        }
    }
    EXPECT_EQ(dots, 2) << v;
}

}  // namespace
}  // namespace duet::test
