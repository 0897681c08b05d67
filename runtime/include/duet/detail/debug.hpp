// Debug-mode bookkeeping ("Developing with asyncio"). Everything here is skipped behind a
// single relaxed load while no loop has debug mode on, so it is free when off.
#pragma once

#include <atomic>
#include <string>
#include <typeinfo>

namespace duet::detail {

struct source_site {
    const char* function;
    const char* file;
    int line;
};

// How many loops have debug mode on; creation sites are recorded only while it is > 0.
inline std::atomic<int> debug_loops{0};
inline bool debug_tracking() noexcept {
    return debug_loops.load(std::memory_order_relaxed) > 0;
}

// Where coroutines and tasks were created (keyed by frame or task address).
void record_site(const void* key, source_site site);
void mark_started(const void* key) noexcept;
// Removes the record; true if it existed and was never started.
bool forget_site(const void* key, source_site* out) noexcept;
bool find_site(const void* key, source_site* out) noexcept;
std::string describe_site(const source_site& s);

// A readable name for a type: the full demangler when the program links one (see
// demangler), else duet's own for plain names ("St13runtime_error", "N4duet5errorE" ->
// "std::runtime_error", "duet::error"), else the mangled name.
std::string type_name(const std::type_info& t);
std::string type_name(const char* mangled);

// The full Itanium demangler is ~55 KB of a wasm module, so the runtime never names it:
// native programs install it from native/src/demangler.cpp (always linked), wasm programs
// only when linked with duet_debug_names(target) (backends/browser/CMakeLists.txt).
// Returns the demangled name, or an empty string when it cannot demangle.
using demangler_fn = std::string (*)(const char* mangled);
inline demangler_fn demangler = nullptr;

// Reports a coroutine destroyed before it ever ran.
void report_never_awaited(const source_site& s) noexcept;

}  // namespace duet::detail
