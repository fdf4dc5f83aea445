// lunatic::TimerRef: a message on its way after a delay (Process::send_after).
#pragma once

#include "lunatic/error.hpp"
#include "lunatic/lunatic.h"

namespace lunatic {

class TimerRef {
public:
    TimerRef() = default;
    explicit TimerRef(lunatic_timer timer) noexcept : timer_(timer) {}

    /// Stops the timer: true if it had not fired yet (the message is then never sent).
    bool cancel() const {
        int cancelled = 0;
        detail::check(lunatic_timer_cancel(timer_, &cancelled));
        return cancelled == 1;
    }
    lunatic_timer raw() const noexcept { return timer_; }

private:
    lunatic_timer timer_{};
};

}  // namespace lunatic
