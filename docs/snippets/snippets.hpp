// The snippets of docs/*.md register themselves here; main.cpp runs them all.
#pragma once

#include <vector>

namespace duet_docs {

struct snippet {
    const char* name;
    bool (*run)();
};

inline std::vector<snippet>& all_snippets() {
    static std::vector<snippet> v;
    return v;
}

struct registrar {
    registrar(const char* name, bool (*run)()) { all_snippets().push_back({name, run}); }
};

}  // namespace duet_docs

// DUET_SNIPPET(name) { ... return true; } — a snippet: returns whether it did what the guide says.
#define DUET_SNIPPET(name)                                              \
    static bool name();                                                 \
    static const ::duet_docs::registrar name##_registrar(#name, &name); \
    static bool name()
