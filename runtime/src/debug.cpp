#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <cxxabi.h>

#include <duet/base_events.hpp>
#include <duet/detail/debug.hpp>

namespace duet::detail {

namespace {
struct site_entry {
    source_site site;
    bool started = false;
};
std::mutex& sites_mutex() {
    static std::mutex m;
    return m;
}
std::unordered_map<const void*, site_entry>& sites() {
    static std::unordered_map<const void*, site_entry> s;
    return s;
}
}  // namespace

void record_site(const void* key, source_site site) {
    std::lock_guard g(sites_mutex());
    sites()[key] = {site, false};
}

void mark_started(const void* key) noexcept {
    std::lock_guard g(sites_mutex());
    auto it = sites().find(key);
    if (it != sites().end()) it->second.started = true;
}

bool forget_site(const void* key, source_site* out) noexcept {
    std::lock_guard g(sites_mutex());
    auto it = sites().find(key);
    if (it == sites().end()) return false;
    bool never_started = !it->second.started;
    if (out) *out = it->second.site;
    sites().erase(it);
    return never_started;
}

bool find_site(const void* key, source_site* out) noexcept {
    std::lock_guard g(sites_mutex());
    auto it = sites().find(key);
    if (it == sites().end()) return false;
    *out = it->second.site;
    return true;
}

std::string describe_site(const source_site& s) {
    return std::string(s.function ? s.function : "?") + " at " + (s.file ? s.file : "?") + ":" + std::to_string(s.line);
}

std::string type_name(const std::type_info& t) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status), std::free);
    return status == 0 && d ? std::string(d.get()) : std::string(t.name());
}

void report_never_awaited(const source_site& s) noexcept {
    try {
        std::string msg = "coroutine " + describe_site(s) + " was never awaited or scheduled";
        if (auto* l = running_loop()) {
            exception_context ctx;
            ctx.message = msg;
            l->call_exception_handler(ctx);
        } else {
            std::fprintf(stderr, "duet: %s\n", msg.c_str());
        }
    } catch (...) {
    }
}

}  // namespace duet::detail
