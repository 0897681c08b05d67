// The parent's own GoogleTest program, on Debian's GoogleTest (find_package(GTest)).
#include <gtest/gtest.h>

TEST(Parent, UsesItsOwnGoogleTest) {
    EXPECT_EQ(1 + 1, 2);
}
