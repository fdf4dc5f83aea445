#include "core/watchdog.hpp"

#include <vector>

#include "core/runtime.hpp"
#include "core/worker.hpp"

namespace lunatic::core {

Watchdog::Watchdog(Runtime &runtime, std::chrono::milliseconds threshold)
    : runtime_(runtime), threshold_(threshold) {
    thread_ = std::thread([this] { loop(); });
}

void Watchdog::stop() noexcept {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Watchdog::loop() {
    // Per worker: the switch count last seen, since when, and whether that stint was reported.
    struct Seen {
        uint64_t switches = UINT64_MAX;
        Clock::time_point since{};
        bool reported = false;
    };
    std::vector<Seen> seen(runtime_.worker_count());
    const auto period = std::max(std::chrono::milliseconds(1), threshold_ / 4);
    std::unique_lock lock(mutex_);
    while (!cv_.wait_for(lock, period, [this] { return stopping_; })) {
        const Clock::time_point now = Clock::now();
        for (uint32_t i = 0; i < seen.size(); ++i) {
            Worker &w = runtime_.worker(i);
            const uint64_t running = w.running_process();
            const uint64_t switches = w.switch_count();
            Seen &s = seen[i];
            if (running == 0 || switches != s.switches) {
                s = Seen{switches, now, false};
                continue;
            }
            if (!s.reported && now - s.since >= threshold_) {
                s.reported = true;
                runtime_.log().write(
                    LogLevel::warning,
                    "process <%llx.%llu> has held worker %u for over %lld ms without a runtime "
                    "call; "
                    "it cannot be preempted: call lunatic_yield() in long computations, or "
                    "lunatic_blocking() around blocking calls",
                    static_cast<unsigned long long>(runtime_.node_id()),
                    static_cast<unsigned long long>(running), i,
                    static_cast<long long>(threshold_.count()));
            }
        }
    }
}

}  // namespace lunatic::core
