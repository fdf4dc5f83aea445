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
