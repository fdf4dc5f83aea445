#include "core/blocking_pool.hpp"

#include "core/process.hpp"

namespace lunatic::core {

void BlockingPool::submit(BlockingJob *job) {
    std::unique_lock lock(mutex_);
    jobs_.push_back(job);
    if (idle_ == 0 && threads_.size() < kMaxThreads) threads_.emplace_back([this] { loop(); });
    lock.unlock();
    cv_.notify_one();
}

void BlockingPool::stop() noexcept {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread &t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

void BlockingPool::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        ++idle_;
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        --idle_;
        if (jobs_.empty()) return;  // stopping, and nothing left to run
        BlockingJob *job = jobs_.front();
        jobs_.pop_front();
        lock.unlock();
        int result;
        try {
            result = job->fn(job->arg);
        } catch (...) {
            result = -1;  // a C++ exception must not end the helper thread (and the program)
        }
        Process &p = *job->process;
        p.lock.lock();
        job->result = result;
        job->done = true;
        const bool wake = p.state.load(std::memory_order_relaxed) == RunState::waiting &&
                          p.wait_kind == WaitKind::blocking;
        if (wake) p.state.store(RunState::ready, std::memory_order_relaxed);
        p.lock.unlock();
        if (wake) make_ready(p);
        p.release();
        lock.lock();
    }
}

}  // namespace lunatic::core
