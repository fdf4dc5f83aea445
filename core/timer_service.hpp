// TimerService: messages sent after a delay (send_after). One thread per
// runtime, started at the first timer, sleeping until the earliest one is
// due; 100,000 pending timers are 100,000 heap entries, not threads. Timers
// due at the same instant fire in the order they were set.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/message.hpp"
#include "core/process.hpp"
#include "core/status.hpp"

namespace lunatic::core {

class Runtime;

class TimerService {
public:
    explicit TimerService(Runtime &runtime) : runtime_(runtime) {}
    ~TimerService();  // stops the thread; pending messages are freed
    TimerService(const TimerService &) = delete;
    TimerService &operator=(const TimerService &) = delete;

    // Takes the message on success.
    Status add(Pid to, Message *message, int64_t delay_ns, uint64_t *out_id);
    // true if the timer had not fired (its message is then freed).
    bool cancel(uint64_t id) noexcept;
    void stop() noexcept;

private:
    struct Due {
        Clock::time_point when;
        uint64_t id;  // ids grow: they order timers due at the same instant
        bool operator>(const Due &o) const noexcept {
            return when != o.when ? when > o.when : id > o.id;
        }
    };
    struct Pending {
        Pid to;
        Message *message;
    };
    void loop();

    Runtime &runtime_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<Due> heap_;
    std::unordered_map<uint64_t, Pending> pending_;
    uint64_t next_id_ = 1;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace lunatic::core
