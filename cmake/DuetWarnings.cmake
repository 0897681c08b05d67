# duet_flags: what every program built with duet needs, exported with it (duet::flags):
# exceptions under Emscripten, sanitizers natively. No warning options: those are duet's
# own business (duet_add_warnings_to_own_targets below) and never reach a consumer.
add_library(duet_flags INTERFACE)
set_target_properties(duet_flags PROPERTIES EXPORT_NAME flags)
add_library(duet::flags ALIAS duet_flags)
if(EMSCRIPTEN)
  # libc++ 13 only has <experimental/coroutine>, which every includer of duet's headers
  # gets a deprecation warning for; exceptions are off unless asked for at compile and
  # link time (docs/TOOLCHAIN.md).
  target_compile_options(duet_flags INTERFACE -Wno-deprecated-experimental-coroutine)
  # Native wasm exceptions cost nothing until thrown; JS-based ones route every call that
  # may throw inside a try through a JS trampoline. ASYNCIFY (blocking run) needs the
  # JS-based kind, so native ones are for production modules (pages, bench/).
  if(DUET_WASM_EXCEPTIONS)
    target_compile_options(duet_flags INTERFACE -fwasm-exceptions)
    # The C++ exception tag exported, so that the JS glue can read an uncaught exception's
    # payload and print its type and what() (js/library_duet.js, Duet.readable).
    target_link_options(duet_flags INTERFACE -fwasm-exceptions -Wl,--export=__cpp_exception)
  else()
    target_compile_options(duet_flags INTERFACE -fexceptions)
    target_link_options(duet_flags INTERFACE -fexceptions)
  endif()
endif()
if(DUET_SANITIZE AND NOT EMSCRIPTEN)
  target_compile_options(duet_flags INTERFACE -fsanitize=${DUET_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(duet_flags INTERFACE -fsanitize=${DUET_SANITIZE})
  if(DUET_SANITIZE MATCHES "undefined" AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # clang 14's -fsanitize=function cannot emit coroutine functions ("Cannot represent a
    # difference across sections"); g++ has no such check either.
    target_compile_options(duet_flags INTERFACE -fno-sanitize=function)
  endif()
endif()

# duet's warning options, for C++ sources of duet's own targets.
set(DUET_WARNING_OPTIONS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(DUET_WERROR)
  list(APPEND DUET_WARNING_OPTIONS -Werror)
endif()

# duet_add_warnings_to_own_targets(): adds DUET_WARNING_OPTIONS, PRIVATE, to every target
# that compiles and is defined in a directory of duet's source tree (not GoogleTest's, not
# a parent's). Called once at the end of the top-level CMakeLists.txt, so a target added
# anywhere in duet gets them without a line of its own. A target can opt out with the
# property DUET_NO_WARNINGS.
function(duet_add_warnings_to_own_targets)
  set(dirs ${PROJECT_SOURCE_DIR})
  while(dirs)
    list(POP_FRONT dirs dir)
    get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(target ${targets})
      get_target_property(type ${target} TYPE)
      get_target_property(opt_out ${target} DUET_NO_WARNINGS)
      if(type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|MODULE_LIBRARY|OBJECT_LIBRARY|EXECUTABLE)$" AND NOT opt_out)
        target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${DUET_WARNING_OPTIONS}>")
      endif()
    endforeach()
    get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
    foreach(subdir ${subdirs})
      cmake_path(IS_PREFIX PROJECT_SOURCE_DIR "${subdir}" NORMALIZE inside)
      if(inside)
        list(APPEND dirs ${subdir})
      endif()
    endforeach()
  endwhile()
endfunction()
