// Watchdog: names a process that holds a worker too long without a runtime
// call. C++ cannot preempt a fiber, so this is all that can be done: the
// warning tells the programmer where to add a yield; the other workers keep
// running the rest meanwhile.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace lunatic::core {

class Runtime;

class Watchdog {
public:
    Watchdog(Runtime &runtime, std::chrono::milliseconds threshold);
    ~Watchdog() { stop(); }
    Watchdog(const Watchdog &) = delete;
    Watchdog &operator=(const Watchdog &) = delete;
    void stop() noexcept;

private:
    void loop();

    Runtime &runtime_;
    const std::chrono::milliseconds threshold_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace lunatic::core
