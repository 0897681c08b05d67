// Everything duet offers on the wasm target: native/include/duet/duet.hpp's shared
// headers plus the JS bridge.
#pragma once

#include <duet/base_events.hpp>
#include <duet/contextvars.hpp>
#include <duet/coro.hpp>
#include <duet/event_loop.hpp>
#include <duet/events.hpp>
#include <duet/exceptions.hpp>
#include <duet/futures.hpp>
#include <duet/host.hpp>
#include <duet/js.hpp>
#include <duet/js_export.hpp>
#include <duet/locks.hpp>
#include <duet/queues.hpp>
#include <duet/runners.hpp>
#include <duet/tasks.hpp>
#include <duet/virtual_clock.hpp>
