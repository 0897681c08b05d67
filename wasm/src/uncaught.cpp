// The text of an uncaught C++ exception for the JS glue (js/library_duet.js,
// Duet.readable): JS receives a C++ exception that nothing caught as the address of the
// thrown object (a bare number with Emscripten's JS-based exceptions). Linked into every
// program with the default loop's object (wasm/CMakeLists.txt).
#include <exception>
#include <string>

#include <cxxabi.h>
#include <emscripten.h>
#include <unwind.h>

#include <duet/detail/debug.hpp>

extern "C" EMSCRIPTEN_KEEPALIVE const char* duet_describe_exception(void* thrown) {
    static std::string text;
    text.clear();
    if (!thrown) return text.c_str();
    // Held, as an exception_ptr would: the catch below must not free the object, which
    // the program is about to report (and JS may still hold).
    __cxxabiv1::__cxa_increment_exception_refcount(thrown);
    try {
        __cxxabiv1::__cxa_rethrow_primary_exception(thrown);
    } catch (...) {
        try {
            text = duet::detail::describe_exception(std::current_exception());
        } catch (...) {
            text = "an exception (describing it failed)";
        }
    }
    return text.c_str();
}

// The same for native wasm exceptions: JS holds a WebAssembly.Exception whose payload
// (read with the __cpp_exception tag, exported by duet::flags' link options) is the
// exception's _Unwind_Exception header. libc++abi puts that header last in its
// __cxa_exception, right before the thrown object, and it is max-aligned, so the object
// starts sizeof(_Unwind_Exception) bytes after it.
extern "C" EMSCRIPTEN_KEEPALIVE const char* duet_describe_wasm_exception(void* unwind_header) {
    if (!unwind_header) return duet_describe_exception(nullptr);
    return duet_describe_exception(static_cast<char*>(unwind_header) + sizeof(_Unwind_Exception));
}
