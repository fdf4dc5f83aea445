#include "core/context.hpp"

// Declared here rather than through <cxxabi.h>: libstdc++ marks it
// __attribute__((const)), which would let the compiler reuse one thread's
// answer after a fiber has moved to another thread.
namespace __cxxabiv1 {
struct __cxa_eh_globals;
extern "C" __cxa_eh_globals *__cxa_get_globals() noexcept;
}  // namespace __cxxabiv1

namespace lunatic::core {

namespace {
// Mirrors libstdc++'s struct __cxa_eh_globals (and libc++abi's, which has the same head).
struct EhGlobals {
    void *caught_exceptions;
    unsigned int uncaught_exceptions;
};

EhGlobals *eh_globals() noexcept {
    return reinterpret_cast<EhGlobals *>(__cxxabiv1::__cxa_get_globals());
}
}  // namespace

__attribute__((noinline)) void exception_state_leave(ExceptionState *saved) noexcept {
    EhGlobals *g = eh_globals();
    saved->caught = g->caught_exceptions;
    saved->uncaught = g->uncaught_exceptions;
    g->caught_exceptions = nullptr;
    g->uncaught_exceptions = 0;
}

__attribute__((noinline)) void exception_state_enter(const ExceptionState *saved) noexcept {
    EhGlobals *g = eh_globals();
    g->caught_exceptions = saved->caught;
    g->uncaught_exceptions = saved->uncaught;
}

}  // namespace lunatic::core
