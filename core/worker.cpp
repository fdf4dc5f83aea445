#include "core/worker.hpp"

#include <algorithm>
#include <functional>

#include "core/current.hpp"
#include "core/runtime.hpp"

namespace lunatic::core {

namespace {
// After this many consecutive runs from the `next` slot the queues get a turn,
// so two processes waking each other cannot starve the rest.
constexpr unsigned kMaxNextStreak = 32;
constexpr std::size_t kMaxStealBatch = 32;
// Looks at a victim's `next` without it switching before it counts as stuck
// (an idle worker looks every 64 spin rounds, ~1.4 µs on the 2-vCPU EPYC VM: ~5 µs).
constexpr uint32_t kStuckNextLooks = 4;
}  // namespace

Worker::Worker(Runtime &runtime, uint32_t index) : runtime_(runtime), index_(index) {}

Worker::~Worker() {
    for (Timer &t : timers_) t.process->release();
}

void Worker::start() {
    next_watch_.assign(runtime_.worker_count(), NextWatch{});
    timers_.reserve(64);
    thread_ = std::thread([this] { loop(); });
}

void Worker::stop_and_join() {
    stop_.store(true, std::memory_order_seq_cst);
    {
        std::lock_guard lock(sleep_mutex_);
        wake_flag_ = true;
    }
    sleep_cv_.notify_one();
    if (thread_.joinable()) thread_.join();
    runtime_.stacks().drain(stack_cache_);
}

// ---------------------------------------------------------------- queueing

void Worker::push_next(Process *p) noexcept {
    Process *displaced = next_.exchange(p, std::memory_order_acq_rel);
    if (displaced) push(displaced);
}

void Worker::push(Process *p) noexcept {
    queue_lock_.lock();
    queue_.push(p);
    queued_.store(queue_.size(), std::memory_order_relaxed);
    queue_lock_.unlock();
    // Pairs with the fence in idle(): either the sleeper sees this work, or we see it asleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_relaxed))
        notify();
    else
        runtime_.wake_idle_worker();
}

void Worker::push_pinned(Process *p) noexcept {
    pinned_lock_.lock();
    pinned_.push(p);
    pinned_count_.store(pinned_.size(), std::memory_order_relaxed);
    pinned_lock_.unlock();
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_relaxed)) notify();
}

void Worker::notify() noexcept {
    {
        std::lock_guard lock(sleep_mutex_);
        wake_flag_ = true;
    }
    sleep_cv_.notify_one();
}

Process *Worker::pop_queue() noexcept {
    if (queued_.load(std::memory_order_relaxed) == 0) return nullptr;
    queue_lock_.lock();
    Process *p = queue_.pop();
    queued_.store(queue_.size(), std::memory_order_relaxed);
    queue_lock_.unlock();
    return p;
}

Process *Worker::pop_pinned() noexcept {
    if (pinned_count_.load(std::memory_order_relaxed) == 0) return nullptr;
    pinned_lock_.lock();
    Process *p = pinned_.pop();
    pinned_count_.store(pinned_.size(), std::memory_order_relaxed);
    pinned_lock_.unlock();
    return p;
}

Process *Worker::pick() noexcept {
    if (Process *p = run_now_) {
        run_now_ = nullptr;
        return p;
    }
    if (next_streak_ < kMaxNextStreak) {
        if (Process *p = next_.exchange(nullptr, std::memory_order_acq_rel)) {
            ++next_streak_;
            return p;
        }
    }
    next_streak_ = 0;
    Process *p = (++tick_ & 1) ? pop_pinned() : pop_queue();
    if (!p) p = (tick_ & 1) ? pop_queue() : pop_pinned();
    if (!p) p = next_.exchange(nullptr, std::memory_order_acq_rel);
    return p;
}

Process *Worker::steal_from(Worker &victim) noexcept {
    if (victim.queued_.load(std::memory_order_relaxed) > 0) {
        Process *batch[kMaxStealBatch];
        std::size_t n = 0;
        victim.queue_lock_.lock();
        std::size_t want = std::min(kMaxStealBatch, (victim.queue_.size() + 1) / 2);
        while (n < want) batch[n++] = victim.queue_.pop();
        victim.queued_.store(victim.queue_.size(), std::memory_order_relaxed);
        victim.queue_lock_.unlock();
        if (n == 0) return nullptr;
        if (n > 1) {
            queue_lock_.lock();
            for (std::size_t i = 1; i < n; ++i) queue_.push(batch[i]);
            queued_.store(queue_.size(), std::memory_order_relaxed);
            queue_lock_.unlock();
        }
        return batch[0];
    }
    // A `next` left behind by a worker busy with one process for a while. A
    // process that wakes another and then blocks (a ring, a ping-pong) leaves
    // `next` set for the ~100 ns until its worker switches: taking it then
    // would move the chain to another core on every hop, so it is taken only
    // after kStuckNextLooks looks (several µs of spinning) without a switch.
    const uint64_t switches = victim.switches_.load(std::memory_order_relaxed);
    NextWatch &watch = next_watch_[victim.index_];
    if (!victim.next_.load(std::memory_order_relaxed) || switches != watch.switches) {
        watch.switches = switches;
        watch.looks = 0;
        return nullptr;
    }
    if (++watch.looks < kStuckNextLooks) return nullptr;
    watch.looks = 0;
    return victim.next_.exchange(nullptr, std::memory_order_acq_rel);
}

Process *Worker::steal() noexcept {
    const uint32_t n = runtime_.worker_count();
    for (uint32_t i = 1; i < n; ++i) {
        Worker &victim = runtime_.worker((index_ + i) % n);
        if (Process *p = steal_from(victim)) return p;
    }
    return nullptr;
}

bool Worker::has_local_work() const noexcept {
    return run_now_ || next_.load(std::memory_order_relaxed) ||
           queued_.load(std::memory_order_relaxed) || pinned_count_.load(std::memory_order_relaxed);
}

bool Worker::anyone_has_stealable_work() const noexcept {
    const uint32_t n = runtime_.worker_count();
    for (uint32_t i = 0; i < n; ++i)
        if (runtime_.worker(i).queued_.load(std::memory_order_relaxed)) return true;
    return false;
}

// ------------------------------------------------------------------ timers

void Worker::add_timer(Clock::time_point deadline, Process *p, uint64_t gen) {
    p->retain();
    timers_.push_back(Timer{deadline, p, gen});
    std::push_heap(timers_.begin(), timers_.end(), std::greater<>());
}

void Worker::fire_timers() {
    const Clock::time_point now = Clock::now();
    while (!timers_.empty() && timers_.front().deadline <= now) {
        std::pop_heap(timers_.begin(), timers_.end(), std::greater<>());
        Timer t = timers_.back();
        timers_.pop_back();
        timer_expired(*t.process, t.gen, now);
        t.process->release();
    }
}

// ------------------------------------------------------------------- loop

void Worker::run(Process *p) {
    if (!p->started) {
        if (p->killed.load(std::memory_order_relaxed)) {
            // Killed before it ever ran (its runtime is stopping): discard it.
            runtime_.finish(p, this);
            return;
        }
        p->started = true;
        p->context = make_context(p->stack.top(), p->stack.usable, fiber_main);
    }
    p->state.store(RunState::running, std::memory_order_relaxed);
    p->last_worker = index_;
    switches_.fetch_add(1, std::memory_order_relaxed);
    set_current_process(p);
    running_id_.store(p->id, std::memory_order_relaxed);
    if (p->fuel_limit_ns) p->slice_start = Clock::now();  // time is measured only under a budget
    transfer_t back = jump_into_fiber(p->context, p, p->stack.limit(), p->stack.usable);
    set_current_process(nullptr);
    running_id_.store(0, std::memory_order_relaxed);
    p->context = back.fctx;
    if (p->fuel_limit_ns)
        p->fuel_used_ns +=
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - p->slice_start)
                .count();
    SwitchRequest &request = *static_cast<SwitchRequest *>(back.data);
    switch (request.kind) {
    case SwitchRequest::yield:
        p->state.store(RunState::ready, std::memory_order_relaxed);
        if (p->pinned_worker >= 0)
            push_pinned(p);
        else
            push(p);
        break;
    case SwitchRequest::park:
        // Only now, with its context saved, may a sender make it ready again.
        p->lock.unlock();
        break;
    case SwitchRequest::spawn:
        p->state.store(RunState::ready, std::memory_order_relaxed);
        run_now_ = request.child;
        push_next(p);
        break;
    case SwitchRequest::exit:
        runtime_.finish(p, this);
        break;
    }
}

void Worker::idle() {
    const uint32_t spins = runtime_.idle_spins();
    runtime_.spinning.fetch_add(1, std::memory_order_seq_cst);
    for (uint32_t i = 0; i < spins; ++i) {
        if (has_local_work() || anyone_has_stealable_work() ||
            stop_.load(std::memory_order_relaxed)) {
            runtime_.spinning.fetch_sub(1, std::memory_order_seq_cst);
            return;
        }
        if ((i & 63) == 63) {
            if (Process *p = steal()) {  // also catches a stuck `next`
                runtime_.spinning.fetch_sub(1, std::memory_order_seq_cst);
                run(p);
                return;
            }
            if (!timers_.empty() && timers_.front().deadline <= Clock::now()) {
                runtime_.spinning.fetch_sub(1, std::memory_order_seq_cst);
                return;
            }
        }
        cpu_relax();
    }
    runtime_.spinning.fetch_sub(1, std::memory_order_seq_cst);

    sleeping_.store(true, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (has_local_work() || anyone_has_stealable_work() || stop_.load(std::memory_order_seq_cst)) {
        sleeping_.store(false, std::memory_order_relaxed);
        return;
    }
    {
        std::unique_lock lock(sleep_mutex_);
        while (!wake_flag_ && !stop_.load(std::memory_order_relaxed)) {
            if (timers_.empty()) {
                sleep_cv_.wait(lock);
            } else if (sleep_cv_.wait_until(lock, timers_.front().deadline) ==
                       std::cv_status::timeout) {
                break;
            }
        }
        wake_flag_ = false;
    }
    sleeping_.store(false, std::memory_order_relaxed);
}

void Worker::loop() {
    set_current_worker(this);
    for (;;) {
        if (!timers_.empty()) fire_timers();
        Process *p = pick();
        if (!p) p = steal();
        if (p) {
            run(p);
            continue;
        }
        if (stop_.load(std::memory_order_acquire)) break;
        idle();
    }
    set_current_worker(nullptr);
}

}  // namespace lunatic::core
