# duet's CMake functions for programs built with Emscripten. Included by duet's own
# top-level CMakeLists.txt and by the installed (or build-tree) duetConfig.cmake, so a
# consumer's project has the same functions as duet's examples and tests. They refer to
# duet's targets by their exported names (duet::...), which exist both ways, and to duet's
# JS files (js/ in the sources, share/duet/js when installed) through DUET_JS_DIR, which
# the includer sets.
include_guard(GLOBAL)

# duet_js_module(target NAME npm-name ...): a user's module as an npm folder with generated
# types (installed beside this file, like the script it runs).
include(${CMAKE_CURRENT_LIST_DIR}/DuetJsModule.cmake)

# duet_blocking_run(target): lets the target block in run_forever / run_until_complete /
# duet::run by suspending the wasm stack (ASYNCIFY) between loop turns, and gives it
# fibers (duet::spawn_fiber, wasm/src/fiber_emscripten.cpp). For tests and
# command-line tools; it roughly doubles the code size, so pages should not use it.
# EM_ASYNC_JS functions keep working (their __asyncjs__ imports are always listed); a
# target that sets its own -sASYNCIFY_IMPORTS must add duet_host_block to it.
function(duet_blocking_run target)
  get_target_property(_flags_options duet::flags INTERFACE_COMPILE_OPTIONS)
  if("-fwasm-exceptions" IN_LIST _flags_options)
    message(FATAL_ERROR "duet_blocking_run(${target}): ASYNCIFY cannot be combined with DUET_WASM_EXCEPTIONS=ON "
                        "(Emscripten 3.1.6 fails at link); build blocking programs with JS-based exceptions")
  endif()
  # Object files, not an archive: their static initialisers are what switches blocking on.
  target_sources(${target} PRIVATE $<TARGET_OBJECTS:duet::blocking_run>)
  target_link_options(${target} PRIVATE -sASYNCIFY -sASYNCIFY_STACK_SIZE=65536 "-sASYNCIFY_IMPORTS=['duet_host_block']")
endfunction()

# duet_debug_mode(target): debug mode's bookkeeping (set_debug(true) / DUET_DEBUG=1: where
# coroutines and tasks were created, never-awaited coroutines, slow-callback reports)
# and full C++ type names (the Itanium demangler). Natively always there; a wasm module
# leaves them out unless asked (~65 KB of .wasm): without them set_debug(true) keeps only
# the thread checks and says so, and type names in messages are demangled for plain class
# names only (std::runtime_error, my_ns::my_error).
function(duet_debug_mode target)
  target_sources(${target} PRIVATE $<TARGET_OBJECTS:duet::debug_mode>)
endfunction()
