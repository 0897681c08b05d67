// ASSERT_* return from the function, which a coroutine may not: CO_ASSERT_TRUE co_returns.
// Shared by the network and subprocess suites.
#pragma once

#include <gtest/gtest.h>

#define CO_ASSERT_TRUE(c)                                  \
    do {                                                   \
        if (!(c)) {                                        \
            ADD_FAILURE() << "assertion failed: " << (#c); \
            co_return;                                     \
        }                                                  \
    } while (0)
