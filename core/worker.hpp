// Worker: one OS thread of a runtime, running ready processes.
//
// Each worker has
//  - a `next` slot: the process this worker's running process just woke or
//    spawned runs next, on this worker (cache-hot, no queue traffic). Thieves
//    take it only from a worker that has not switched for a whole idle spin;
//  - a FIFO run queue other workers steal from (up to half at a time);
//  - a FIFO of processes pinned to it, never stolen;
//  - a heap of timers (timed receives and sleeps of processes parked here).
// An idle worker spins a bounded number of rounds looking for work, then
// sleeps on a condition variable until a push or its next timer wakes it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "core/process.hpp"
#include "core/spinlock.hpp"
#include "core/stack_pool.hpp"

namespace lunatic::core {

class Runtime;

// An intrusive FIFO of processes (linked through Process::run_next).
class RunQueue {
public:
    void push(Process *p) noexcept {
        p->run_next = nullptr;
        if (tail_)
            tail_->run_next = p;
        else
            head_ = p;
        tail_ = p;
        ++size_;
    }
    Process *pop() noexcept {
        Process *p = head_;
        if (!p) return nullptr;
        head_ = p->run_next;
        if (!head_) tail_ = nullptr;
        p->run_next = nullptr;
        --size_;
        return p;
    }
    std::size_t size() const noexcept { return size_; }

private:
    Process *head_ = nullptr;
    Process *tail_ = nullptr;
    std::size_t size_ = 0;
};

class Worker {
public:
    Worker(Runtime &runtime, uint32_t index);
    ~Worker();
    Worker(const Worker &) = delete;
    Worker &operator=(const Worker &) = delete;

    void start();
    void stop_and_join();

    Runtime &runtime() const noexcept { return runtime_; }
    uint32_t index() const noexcept { return index_; }
    StackCache &stack_cache() noexcept { return stack_cache_; }

    // From this worker's own thread only.
    void push_next(Process *p) noexcept;
    void add_timer(Clock::time_point deadline, Process *p, uint64_t gen);

    // From any thread.
    void push(Process *p) noexcept;         // stealable
    void push_pinned(Process *p) noexcept;  // stays on this worker
    void notify() noexcept;                 // wakes the worker if it sleeps
    bool is_sleeping() const noexcept { return sleeping_.load(std::memory_order_seq_cst); }
    // For the watchdog: the id of the process on the CPU (0: none) and the switch count.
    uint64_t running_process() const noexcept {
        return running_id_.load(std::memory_order_relaxed);
    }
    uint64_t switch_count() const noexcept { return switches_.load(std::memory_order_relaxed); }

private:
    struct Timer {
        Clock::time_point deadline;
        Process *process;
        uint64_t gen;
        bool operator>(const Timer &o) const noexcept { return deadline > o.deadline; }
    };

    void loop();
    Process *pick() noexcept;
    Process *steal() noexcept;
    Process *steal_from(Worker &victim) noexcept;
    void run(Process *p);
    void fire_timers();
    void idle();
    bool has_local_work() const noexcept;
    bool anyone_has_stealable_work() const noexcept;
    Process *pop_queue() noexcept;
    Process *pop_pinned() noexcept;

    Runtime &runtime_;
    const uint32_t index_;
    std::thread thread_;
    std::atomic<bool> stop_{false};

    // Owner-only state.
    Process *run_now_ = nullptr;  // a just-spawned child
    unsigned next_streak_ = 0;
    unsigned tick_ = 0;
    std::vector<Timer> timers_;  // min-heap on deadline
    // Per victim, for stealing a stuck `next`: its switch count when we first saw
    // a `next` waiting, and how many looks since found it still waiting unswitched.
    struct NextWatch {
        uint64_t switches = UINT64_MAX;
        uint32_t looks = 0;
    };
    std::vector<NextWatch> next_watch_;
    StackCache stack_cache_;

    // Shared state.
    alignas(64) std::atomic<Process *> next_{nullptr};
    std::atomic<uint64_t> switches_{0};
    std::atomic<uint64_t> running_id_{0};
    alignas(64) Spinlock queue_lock_;
    RunQueue queue_;
    std::atomic<std::size_t> queued_{0};
    alignas(64) Spinlock pinned_lock_;
    RunQueue pinned_;
    std::atomic<std::size_t> pinned_count_{0};
    alignas(64) std::atomic<bool> sleeping_{false};
    std::mutex sleep_mutex_;
    std::condition_variable sleep_cv_;
    bool wake_flag_ = false;
};

}  // namespace lunatic::core
