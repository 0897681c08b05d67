#include "test_loop.hpp"
