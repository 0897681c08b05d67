// Everything duet offers on the native target.
#pragma once

#include <duet/core.hpp>
#include <duet/event_loop.hpp>
