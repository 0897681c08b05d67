#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include <duet/base_events.hpp>
#include <duet/detail/debug.hpp>
#include <duet/exceptions.hpp>

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

void record_site_impl(const void* key, source_site site) {
    std::lock_guard g(sites_mutex());
    sites()[key] = {site, false};
}

void mark_started_impl(const void* key) noexcept {
    std::lock_guard g(sites_mutex());
    auto it = sites().find(key);
    if (it != sites().end()) it->second.started = true;
}

bool forget_site_impl(const void* key, source_site* out) noexcept {
    std::lock_guard g(sites_mutex());
    auto it = sites().find(key);
    if (it == sites().end()) return false;
    bool never_started = !it->second.started;
    if (out) *out = it->second.site;
    sites().erase(it);
    return never_started;
}

bool find_site_impl(const void* key, source_site* out) noexcept {
    std::lock_guard g(sites_mutex());
    auto it = sites().find(key);
    if (it == sites().end()) return false;
    *out = it->second.site;
    return true;
}

std::string describe_site(const source_site& s) {
    return std::string(s.function ? s.function : "?") + " at " + (s.file ? s.file : "?") + ":" + std::to_string(s.line);
}

namespace {
// <number><identifier>; false if the text is not one.
bool take_source_name(std::string_view& m, std::string& out) {
    std::size_t len = 0, i = 0;
    while (i < m.size() && m[i] >= '0' && m[i] <= '9') len = len * 10 + static_cast<std::size_t>(m[i++] - '0');
    if (i == 0 || len == 0 || m.size() - i < len) return false;
    out.append(m.substr(i, len));
    m.remove_prefix(i + len);
    return true;
}

// The common names of exception and class types: [St]<name>, N[St]<name>...E. Anything
// else (templates, lambdas, functions) is left to a full demangler.
std::string simple_demangle(std::string_view m) {
    std::string out;
    bool nested = !m.empty() && m.front() == 'N';
    if (nested) m.remove_prefix(1);
    if (m.substr(0, 2) == "St") {
        out = "std::";
        m.remove_prefix(2);
    }
    do {
        if (!take_source_name(m, out)) return {};
        if (nested && !m.empty() && m.front() != 'E') out += "::";
    } while (nested && !m.empty() && m.front() != 'E');
    if (nested) {
        if (m.empty()) return {};
        m.remove_prefix(1);
    }
    return m.empty() ? out : std::string();
}
}  // namespace

std::string type_name(const char* mangled) {
    if (demangler) {
        std::string d = demangler(mangled);
        if (!d.empty()) return d;
    }
    std::string d = simple_demangle(mangled);
    return d.empty() ? std::string(mangled) : d;
}

std::string type_name(const std::type_info& t) {
    return type_name(t.name());
}

namespace {
struct escaping_record {
    std::exception_ptr exception;
    std::string task;
    source_site site{};
    bool has_site = false;
};
// Per thread: each thread runs its own loops, and terminate runs on the thread the
// exception escaped on.
escaping_record& escaping() {
    thread_local escaping_record r;
    return r;
}

std::terminate_handler previous_terminate = nullptr;

[[noreturn]] void on_terminate() noexcept {
    // std::terminate for an uncaught exception runs with it as the current exception.
    if (auto e = std::current_exception()) {
        try {
            report_line("uncaught ", describe_exception(e));
        } catch (...) {
        }
    }
    if (previous_terminate) previous_terminate();
    std::abort();
}
}  // namespace

std::string describe_exception(const std::exception_ptr& e) {
    std::string text;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        text = type_name(typeid(x)) + ": " + x.what();
    } catch (const cancelled_error& c) {
        text = "duet::cancelled_error: " + std::string(c.what());
    } catch (...) {
        text = "an exception of a type not derived from std::exception";
    }
    const escaping_record& r = escaping();
    if (e && r.exception == e) {
        text += " (in task '" + r.task + "'";
        if (r.has_site)
            text += ", created at " + std::string(r.site.file ? r.site.file : "?") + ":" + std::to_string(r.site.line);
        text += ")";
    }
    return text;
}

void note_escaping(const std::exception_ptr& e, std::string task_name, const void* site_key) {
    escaping_record& r = escaping();
    r.exception = e;
    r.task = std::move(task_name);
    r.has_site = debug_tracking() && find_site(site_key, &r.site);
    static const bool installed = (previous_terminate = std::set_terminate(&on_terminate), true);
    (void)installed;
}

void report_line(std::string_view a, std::string_view b, std::string_view c) noexcept {
    // One write per part: stderr is unbuffered, and the parts may be long.
    std::fwrite("duet: ", 1, 6, stderr);
    // (Empty parts skipped: an empty view's data() may be null, which fwrite must not get.)
    for (std::string_view p : {a, b, c})
        if (!p.empty()) std::fwrite(p.data(), 1, p.size(), stderr);
    std::fputc('\n', stderr);
}

std::string format_seconds(double s) {
    if (s < 0) {
        // Not "-" + format_seconds(-s): g++ 12 at -O3 reports a false -Wrestrict there.
        std::string text(1, '-');
        text += format_seconds(-s);
        return text;
    }
    if (!(s >= 0) || s > 1e15) return "inf";
    auto ms = static_cast<unsigned long long>(std::llround(s * 1000));
    std::string frac = std::to_string(ms % 1000);
    return std::to_string(ms / 1000) + "." + std::string(3 - frac.size(), '0') + frac;
}

void report_never_awaited_impl(const source_site& s) noexcept {
    try {
        std::string msg = "coroutine " + describe_site(s) + " was never awaited or scheduled";
        if (auto* l = running_loop()) {
            exception_context ctx;
            ctx.message = msg;
            l->call_exception_handler(ctx);
        } else {
            report_line(msg);
        }
    } catch (...) {
    }
}

}  // namespace duet::detail
