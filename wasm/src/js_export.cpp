#include <unordered_map>

#include <duet/js_export.hpp>

extern "C" {
void duet_export_resolve(int call_id, int value);
void duet_export_reject_value(int call_id, int value);
void duet_export_reject(int call_id, const char* name, std::size_t name_len, const char* message,
                        std::size_t message_len);
}

namespace duet::js::detail {

namespace {
std::unordered_map<int, basic_task>& calls() {
    static auto* m = new std::unordered_map<int, basic_task>();
    return *m;
}
void reject_with(int call_id, std::string_view name, std::string_view message) noexcept {
    duet_export_reject(call_id, name.data(), name.size(), message.data(), message.size());
}
}  // namespace

void track_call(int call_id, basic_task t) {
    calls().emplace(call_id, std::move(t));
}

void untrack_call(int call_id) noexcept {
    calls().erase(call_id);
}

void resolve_call(int call_id, js_value v) noexcept {
    duet_export_resolve(call_id, v.release());
}

void reject_call(int call_id, std::exception_ptr e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const cancelled_error& c) {
        reject_with(call_id, "CancelledError", c.what());
    } catch (const js_error& x) {
        if (!x.reason().is_undefined())
            duet_export_reject_value(call_id, x.reason().clone().release());
        else
            reject_with(call_id, x.name(), x.message());
    } catch (const timeout_error& x) {
        reject_with(call_id, "TimeoutError", x.what());
    } catch (const invalid_state_error& x) {
        reject_with(call_id, "InvalidStateError", x.what());
    } catch (const not_supported_error& x) {
        reject_with(call_id, "NotSupportedError", x.what());
    } catch (const std::exception& x) {
        reject_with(call_id, "Error", x.what());
    } catch (...) {
        reject_with(call_id, "Error", "unknown C++ exception");
    }
}

}  // namespace duet::js::detail

// JS calls this when the AbortSignal given to an exported call fires.
extern "C" EMSCRIPTEN_KEEPALIVE void duet_async_cancel(int call_id) {
    auto& m = duet::js::detail::calls();
    auto it = m.find(call_id);
    if (it != m.end()) it->second.cancel("cancelled from JS (AbortSignal)");
}
