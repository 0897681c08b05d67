// Debug-mode bookkeeping ("Developing with asyncio"). Everything here is skipped behind a
// single relaxed load while no loop has debug mode on, so it is free when off.
#pragma once

#include <atomic>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

namespace duet {
class base_event_loop;
}

namespace duet::detail {

struct source_site {
    const char* function;
    const char* file;
    int line;
};

// How many loops have debug mode on (with debug_impl linked); creation sites are recorded
// only while it is > 0.
inline std::atomic<int> debug_loops{0};
inline bool debug_tracking() noexcept {
    return debug_loops.load(std::memory_order_relaxed) > 0;
}

// Debug mode's bookkeeping (creation sites, never-awaited coroutines, slow callbacks) is
// reached only through this table, so a program links it on purpose: natively always
// (runtime/src/debug_support.cpp in native/CMakeLists.txt), in wasm with
// duet_debug_mode(target), as it is ~10 KB of a module. Without it set_debug(true) keeps
// only the thread checks. The entries are called only while debug_tracking() is true,
// which needs the table.
struct debug_ops {
    void (*record_site)(const void* key, source_site site);
    void (*mark_started)(const void* key) noexcept;
    bool (*forget_site)(const void* key, source_site* out) noexcept;
    bool (*find_site)(const void* key, source_site* out) noexcept;
    void (*report_never_awaited)(const source_site& s) noexcept;
    void (*run_batch)(base_event_loop& loop);  // a ready batch, timing each callback
};
inline const debug_ops* debug_impl = nullptr;

// Where coroutines and tasks were created (keyed by frame or task address).
inline void record_site(const void* key, source_site site) {
    debug_impl->record_site(key, site);
}
inline void mark_started(const void* key) noexcept {
    debug_impl->mark_started(key);
}
// Removes the record; true if it existed and was never started.
inline bool forget_site(const void* key, source_site* out) noexcept {
    return debug_impl->forget_site(key, out);
}
inline bool find_site(const void* key, source_site* out) noexcept {
    return debug_impl->find_site(key, out);
}
// Reports a coroutine destroyed before it ever ran.
inline void report_never_awaited(const source_site& s) noexcept {
    debug_impl->report_never_awaited(s);
}
// The implementations (runtime/src/debug.cpp).
void record_site_impl(const void* key, source_site site);
void mark_started_impl(const void* key) noexcept;
bool forget_site_impl(const void* key, source_site* out) noexcept;
bool find_site_impl(const void* key, source_site* out) noexcept;
void report_never_awaited_impl(const source_site& s) noexcept;
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

// "<type>: <what>" for an exception (type as type_name gives it), plus " (in task 'name',
// created at file:line)" when it is the exception that last left a task's run through
// run_until_complete / duet::run; the site is known in debug mode only. For the messages
// of uncaught exceptions (the terminate handler natively, the JS glue in wasm).
std::string describe_exception(const std::exception_ptr& e);
// The exception that ends run_until_complete(task): kept for describe_exception; the
// first one also installs duet's terminate handler, which prints describe_exception of
// an uncaught exception before the previous handler runs.
void note_escaping(const std::exception_ptr& e, std::string task_name, const void* site_key);

// Writes "duet: <parts>\n" to stderr. The runtime does not use printf: its float
// formatting alone is ~4 KB of a wasm module.
void report_line(std::string_view a, std::string_view b = {}, std::string_view c = {}) noexcept;
// Seconds with three decimals ("0.125"), for messages.
std::string format_seconds(double s);

}  // namespace duet::detail
