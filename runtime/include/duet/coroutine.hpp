// One spelling of the coroutine library for every toolchain: g++ 12 has <coroutine>,
// Emscripten 3.1.6's libc++ 13 only <experimental/coroutine>.
#pragma once

#if __has_include(<coroutine>) && !defined(DUET_FORCE_EXPERIMENTAL_COROUTINE)
#include <coroutine>
namespace duet::co {
using std::coroutine_handle;
using std::noop_coroutine;
using std::suspend_always;
using std::suspend_never;
}  // namespace duet::co
#else
#include <experimental/coroutine>
namespace duet::co {
using std::experimental::coroutine_handle;
using std::experimental::noop_coroutine;
using std::experimental::suspend_always;
using std::experimental::suspend_never;
}  // namespace duet::co
#endif
