// Sanitizer builds only (native/CMakeLists.txt): fiber_boost.cpp switches with Boost's
// ucontext implementation there (BOOST_USE_UCONTEXT BOOST_USE_ASAN: ASan understands those
// switches; it reports false positives on fcontext stacks). Debian's libboost_context is
// built for fcontext and lacks the ucontext implementation's three out-of-line symbols;
// these are they, as Boost's src/fiber.cpp defines them: the per-thread record of the
// thread's own (main) context, created on first use.
#if !defined(BOOST_USE_UCONTEXT)
#error "compile this file with -DBOOST_USE_UCONTEXT (sanitizer builds only)"
#endif

#include <cstddef>

#include <boost/context/fiber.hpp>

namespace boost::context::detail {

namespace {
thread_local fiber_activation_record* current_record = nullptr;
thread_local std::size_t initializers = 0;
}  // namespace

fiber_activation_record_initializer::fiber_activation_record_initializer() noexcept {
    if (initializers++ == 0) current_record = new fiber_activation_record();
}

fiber_activation_record_initializer::~fiber_activation_record_initializer() {
    if (--initializers == 0) {
        delete current_record;
        current_record = nullptr;
    }
}

fiber_activation_record*& fiber_activation_record::current() noexcept {
    thread_local fiber_activation_record_initializer initializer;
    return current_record;
}

}  // namespace boost::context::detail
