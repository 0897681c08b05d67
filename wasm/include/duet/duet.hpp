// Everything duet offers on the wasm target: the shared core plus the JS bridge.
#pragma once

#include <duet/core.hpp>
#include <duet/event_loop.hpp>
#include <duet/host.hpp>
#include <duet/js.hpp>
#include <duet/js_export.hpp>
