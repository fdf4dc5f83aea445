// Machine context switching (Boost.Context's fcontext, the fastest primitive
// Boost ships) and the per-fiber part of the C++ exception-handling state.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>

namespace lunatic::core {

using boost::context::detail::fcontext_t;
using boost::context::detail::transfer_t;

inline transfer_t jump_context(fcontext_t to, void *data) noexcept {
    return boost::context::detail::jump_fcontext(to, data);
}

// AddressSanitizer must be told about every switch between stacks, or it
// takes the fiber's frames for a wild stack pointer (false reports on
// exceptions and on stack-use-after-return). Only sanitized builds do it: in
// a normal build the functions below are a bare jump_fcontext.
#if defined(__SANITIZE_ADDRESS__)
#define LUNATIC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LUNATIC_ASAN 1
#endif
#endif

#ifdef LUNATIC_ASAN
transfer_t jump_into_fiber(fcontext_t to, void *data, const void *stack_bottom,
                           std::size_t stack_size) noexcept;
transfer_t jump_out_of_fiber(fcontext_t to, void *data, bool final) noexcept;
void fiber_started() noexcept;
#else
// From a worker thread's own stack to a fiber whose stack is
// [stack_bottom, stack_bottom + stack_size).
inline transfer_t jump_into_fiber(fcontext_t to, void *data, const void *, std::size_t) noexcept {
    return jump_context(to, data);
}
// From a fiber back to the worker thread it runs on; final: the fiber will
// never be resumed (it is exiting).
inline transfer_t jump_out_of_fiber(fcontext_t to, void *data, bool) noexcept {
    return jump_context(to, data);
}
// The first thing a fiber does on its own stack.
inline void fiber_started() noexcept {}
#endif

inline fcontext_t make_context(void *stack_top, std::size_t size, void (*fn)(transfer_t)) noexcept {
    return boost::context::detail::make_fcontext(stack_top, size, fn);
}

// libstdc++ keeps the list of caught exceptions and the count of uncaught ones
// per OS thread. A fiber that switches inside a catch block (or while
// unwinding) and resumes on another thread, or interleaves with another fiber
// that throws, would corrupt that list. Each fiber therefore carries its own
// copy, swapped in and out around every switch.
struct ExceptionState {
    void *caught = nullptr;
    unsigned int uncaught = 0;
};

// Saves the calling thread's state into *saved and clears it.
void exception_state_leave(ExceptionState *saved) noexcept;
// Installs *saved as the calling thread's state.
void exception_state_enter(const ExceptionState *saved) noexcept;

}  // namespace lunatic::core
