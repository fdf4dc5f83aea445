#include "core/timer_service.hpp"

#include <algorithm>
#include <functional>

#include "core/node/node.hpp"
#include "core/runtime.hpp"

namespace lunatic::core {

TimerService::~TimerService() {
    stop();
    for (auto &[id, p] : pending_) Message::destroy_queued(p.message);
}

void TimerService::stop() noexcept {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

Status TimerService::add(Pid to, Message *message, int64_t delay_ns, uint64_t *out_id) {
    const Clock::time_point when = Clock::now() + std::chrono::nanoseconds(delay_ns);
    std::unique_lock lock(mutex_);
    if (stopping_) return Status::killed;
    const uint64_t id = next_id_++;
    pending_.emplace(id, Pending{to, message});
    try {
        heap_.push_back(Due{when, id});
    } catch (...) {
        pending_.erase(id);
        throw;
    }
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
    message->mark_queued();  // held by the runtime now
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    const bool earliest = heap_.front().id == id;
    lock.unlock();
    if (earliest) cv_.notify_one();
    *out_id = id;
    return Status::ok;
}

bool TimerService::cancel(uint64_t id) noexcept {
    Message *message = nullptr;
    {
        std::lock_guard lock(mutex_);
        auto it = pending_.find(id);
        if (it == pending_.end()) return false;
        message = it->second.message;
        pending_.erase(it);  // its heap entry is skipped when it comes up
    }
    Message::destroy_queued(message);
    return true;
}

void TimerService::loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (heap_.empty()) {
            cv_.wait(lock);
            continue;
        }
        const Due next = heap_.front();
        if (Clock::now() < next.when) {
            cv_.wait_until(lock, next.when);
            continue;
        }
        std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
        heap_.pop_back();
        auto it = pending_.find(next.id);
        if (it == pending_.end()) continue;  // cancelled
        Pending fired = it->second;
        pending_.erase(it);
        lock.unlock();
        fired.message->mark_taken();
        if (fired.to.node != runtime_.node_id()) {
            // A timer for a process on another node: its message goes out as
            // a send from the process that set it (in order with its other sends).
            node::Node *n = runtime_.node();
            if (!n || n->send(fired.message->sender(), fired.to, fired.message) != Status::ok)
                Message::destroy(fired.message);
        } else {
            ProcessRef target = runtime_.lookup(fired.to);
            if (!target || deliver(*target.get(), fired.message) != Status::ok)
                Message::destroy(fired.message);
        }
        lock.lock();
    }
}

}  // namespace lunatic::core
