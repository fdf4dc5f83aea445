// BlockingPool: helper threads that run blocking calls for processes
// (lunatic_blocking), so a worker is never stalled by I/O. Threads start on
// first use, up to a small maximum, and stop with the runtime.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace lunatic::core {

class Process;

struct BlockingJob {
    int (*fn)(void *);
    void *arg;
    int result = 0;
    bool done = false;  // under the process's lock
    Process *process;   // waits for it (referenced until done)
};

class BlockingPool {
public:
    BlockingPool() = default;
    ~BlockingPool() { stop(); }
    BlockingPool(const BlockingPool &) = delete;
    BlockingPool &operator=(const BlockingPool &) = delete;

    void submit(BlockingJob *job);
    void stop() noexcept;

private:
    static constexpr std::size_t kMaxThreads = 8;
    void loop();

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<BlockingJob *> jobs_;
    std::vector<std::thread> threads_;
    std::size_t idle_ = 0;
    bool stopping_ = false;
};

}  // namespace lunatic::core
