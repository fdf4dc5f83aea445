// What a process does to itself: yield and sleep.
#pragma once

#include <chrono>

#include "lunatic/error.hpp"
#include "lunatic/lunatic.h"
#include "lunatic/mailbox.hpp"

namespace lunatic {

/// Lets the other processes on this worker run. C++ cannot preempt a process
/// that never calls the runtime: a long computation should yield now and then
/// (it is also where a kill takes effect).
inline void yield() { detail::check(lunatic_yield()); }

/// Suspends the calling process for d (other processes run meanwhile).
template <class Rep, class Period>
void sleep(std::chrono::duration<Rep, Period> d) {
    int64_t ns = detail::to_timeout_ns(d);
    detail::check(lunatic_sleep(ns == LUNATIC_INFINITE ? INT64_MAX : ns));
}

}  // namespace lunatic
