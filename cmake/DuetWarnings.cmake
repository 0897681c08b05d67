# Flags every duet target shares: warnings (as errors), exceptions under Emscripten,
# sanitizers natively.
add_library(duet_flags INTERFACE)
target_compile_options(duet_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
if(DUET_WERROR)
  target_compile_options(duet_flags INTERFACE -Werror)
endif()
if(EMSCRIPTEN)
  # libc++ 13 only has <experimental/coroutine>; exceptions are off unless asked for at
  # compile and link time (TOOLCHAIN.md).
  target_compile_options(duet_flags INTERFACE -Wno-deprecated-experimental-coroutine -fexceptions)
  target_link_options(duet_flags INTERFACE -fexceptions)
endif()
if(DUET_SANITIZE AND NOT EMSCRIPTEN)
  target_compile_options(duet_flags INTERFACE -fsanitize=${DUET_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(duet_flags INTERFACE -fsanitize=${DUET_SANITIZE})
endif()
