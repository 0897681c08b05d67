# Flags every duet target shares: warnings (as errors), exceptions under Emscripten,
# sanitizers natively.
add_library(duet_flags INTERFACE)
target_compile_options(duet_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(DUET_WERROR)
  target_compile_options(duet_flags INTERFACE -Werror)
endif()
if(EMSCRIPTEN)
  # libc++ 13 only has <experimental/coroutine>; exceptions are off unless asked for at
  # compile and link time (docs/TOOLCHAIN.md).
  target_compile_options(duet_flags INTERFACE -Wno-deprecated-experimental-coroutine)
  # Native wasm exceptions cost nothing until thrown; JS-based ones route every call that
  # may throw inside a try through a JS trampoline. ASYNCIFY (blocking run) needs the
  # JS-based kind, so native ones are for production modules (pages, bench/).
  if(DUET_WASM_EXCEPTIONS)
    target_compile_options(duet_flags INTERFACE -fwasm-exceptions)
    target_link_options(duet_flags INTERFACE -fwasm-exceptions)
  else()
    target_compile_options(duet_flags INTERFACE -fexceptions)
    target_link_options(duet_flags INTERFACE -fexceptions)
  endif()
endif()
if(DUET_SANITIZE AND NOT EMSCRIPTEN)
  target_compile_options(duet_flags INTERFACE -fsanitize=${DUET_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(duet_flags INTERFACE -fsanitize=${DUET_SANITIZE})
endif()
