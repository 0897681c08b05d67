// Everything duet offers on the native target.
#pragma once

#include <duet/child_watchers_native.hpp>
#include <duet/core.hpp>
#include <duet/event_loop.hpp>
