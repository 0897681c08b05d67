#include <duet/contextvars.hpp>

namespace duet {
namespace detail {

context_slot* thread_context_slot() noexcept {
    thread_local context_slot thread_context;
    return &thread_context;
}

context_slot copy_context_values(const context_slot& cur) {
    auto s = context_slot::make();
    s->map = cur->map;
    return s;
}

const void* lookup(const context_slot& s, const void* key) noexcept {
    if (!s || !s->map) return nullptr;
    for (auto& e : *s->map)
        if (e.key == key) return e.value.get();
    return nullptr;
}

}  // namespace detail

context copy_context() {
    auto s = detail::context_slot::make();
    if (const auto& cur = *detail::current_context_slot()) s->map = cur->map;
    return context(std::move(s));
}

}  // namespace duet
