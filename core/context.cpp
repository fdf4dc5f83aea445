#include "core/context.hpp"

#ifdef LUNATIC_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

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

// libstdc++'s globals are dynamic TLS (a __tls_get_addr call each time): keep
// the thread's answer in our own initial-exec slot, read anew on every call
// (the caller may have moved to another thread since the last one).
__attribute__((tls_model("initial-exec"))) thread_local EhGlobals *tl_eh_globals = nullptr;

EhGlobals *eh_globals() noexcept {
    EhGlobals *g = tl_eh_globals;
    if (__builtin_expect(g == nullptr, 0)) {
        g = reinterpret_cast<EhGlobals *>(__cxxabiv1::__cxa_get_globals());
        tl_eh_globals = g;
    }
    return g;
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

#ifdef LUNATIC_ASAN
namespace {
// The stack of the worker thread the calling fiber runs on, as AddressSanitizer
// reported it when the fiber was last switched in (a fiber may run on a
// different worker each time it is resumed).
thread_local const void *worker_stack_bottom = nullptr;
thread_local std::size_t worker_stack_size = 0;

__attribute__((noinline)) void switched_into_fiber(void *fake_stack) noexcept {
    const void *bottom = nullptr;
    std::size_t size = 0;
    __sanitizer_finish_switch_fiber(fake_stack, &bottom, &size);
    worker_stack_bottom = bottom;
    worker_stack_size = size;
}
}  // namespace

// Out of line and not inlined: the thread-local variables above must be looked
// up again after each switch, as the fiber may have moved to another thread.
__attribute__((noinline)) transfer_t jump_into_fiber(fcontext_t to, void *data,
                                                     const void *stack_bottom,
                                                     std::size_t stack_size) noexcept {
    void *fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, stack_bottom, stack_size);
    transfer_t back = jump_context(to, data);
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
    return back;
}

__attribute__((noinline)) transfer_t jump_out_of_fiber(fcontext_t to, void *data,
                                                       bool final) noexcept {
    void *fake_stack = nullptr;
    // A fiber that is exiting passes no save slot: ASan frees its fake stack.
    __sanitizer_start_switch_fiber(final ? nullptr : &fake_stack, worker_stack_bottom,
                                   worker_stack_size);
    transfer_t back = jump_context(to, data);
    switched_into_fiber(fake_stack);
    return back;
}

__attribute__((noinline)) void fiber_started() noexcept { switched_into_fiber(nullptr); }
#endif

}  // namespace lunatic::core
