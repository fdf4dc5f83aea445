// What a process does to itself: yield and sleep.
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

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

/// Runs fn() on a helper thread of the runtime while the calling process
/// waits, and returns its result (an exception fn throws is rethrown here).
/// For blocking calls — file or socket I/O, a C library that sleeps — so a
/// worker thread is never stalled. From an attached thread fn runs in place.
template <class F>
auto blocking(F &&fn) -> std::invoke_result_t<F &> {
    using R = std::invoke_result_t<F &>;
    struct Call {
        F *fn;
        std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
        std::exception_ptr error;
        static int run(void *self) {
            auto *call = static_cast<Call *>(self);
            try {
                if constexpr (std::is_void_v<R>) {
                    (*call->fn)();
                    call->result = true;
                } else {
                    call->result.emplace((*call->fn)());
                }
            } catch (...) {
                call->error = std::current_exception();
            }
            return 0;
        }
    } call{&fn, {}, nullptr};
    detail::check(lunatic_blocking(&Call::run, &call, nullptr));
    if (call.error) std::rethrow_exception(call.error);
    if constexpr (!std::is_void_v<R>) return std::move(*call.result);
}

}  // namespace lunatic
