// The full demangler for detail::type_name, linked on purpose (see detail::demangler):
// natively into every program, in wasm only by duet_debug_names(target).
#include <cstdlib>
#include <memory>
#include <string>

#include <cxxabi.h>

#include <duet/detail/debug.hpp>

namespace {

std::string demangle(const char* mangled) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
    return status == 0 && d ? std::string(d.get()) : std::string();
}

const bool installed = (duet::detail::demangler = &demangle, true);

}  // namespace
