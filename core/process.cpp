#include "core/process.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "core/blocking_pool.hpp"
#include "core/current.hpp"
#include "core/runtime.hpp"
#include "core/worker.hpp"

namespace lunatic::core {

void ThreadWakeup::signal() {
    {
        std::lock_guard lock(mutex);
        signaled = true;
    }
    cv.notify_one();
}

void ThreadWakeup::wait(const Clock::time_point *deadline) {
    std::unique_lock lock(mutex);
    if (deadline)
        cv.wait_until(lock, *deadline, [this] { return signaled; });
    else
        cv.wait(lock, [this] { return signaled; });
    signaled = false;
}

Process::Process(Runtime &rt, uint64_t id_, bool is_thread_)
    : runtime(rt), id(id_), is_thread(is_thread_) {
    if (is_thread) thread_wakeup = std::make_unique<ThreadWakeup>();
}

Process::~Process() { std::free(capture); }

void *Process::local(const void *key) const noexcept {
    for (const Local &l : locals)
        if (l.key == key) return l.value;
    return nullptr;
}

void Process::set_local(const void *key, void *value, void (*destroy)(void *)) {
    for (auto it = locals.begin(); it != locals.end(); ++it) {
        if (it->key != key) continue;
        Local old = *it;
        if (value)
            *it = Local{key, value, destroy};
        else
            locals.erase(it);
        if (old.destroy && old.value != value) old.destroy(old.value);
        return;
    }
    if (value) locals.push_back(Local{key, value, destroy});
}

void Process::destroy_locals() noexcept {
    while (!locals.empty()) {
        Local l = locals.back();
        locals.pop_back();
        if (l.destroy) {
            try {
                l.destroy(l.value);
            } catch (...) {
            }
        }
    }
}

namespace {

// Parks the calling process until a sender, a timer or a kill makes it ready.
// self.lock is held on entry and on return (it is released while parked).
void wait(Process &self, WaitKind kind, const TagFilter &filter,
          const Clock::time_point *deadline) {
    self.state.store(RunState::waiting, std::memory_order_relaxed);
    self.wait_kind = kind;
    self.wait_filter = filter;
    self.wait_deadline = deadline ? *deadline : Clock::time_point::max();
    if (self.is_thread) {
        self.lock.unlock();
        self.thread_wakeup->wait(deadline);
        self.lock.lock();
        self.state.store(RunState::running, std::memory_order_relaxed);
        return;
    }
    if (deadline && *deadline < self.timer_deadline) {
        self.timer_deadline = *deadline;
        current_worker()->add_timer(*deadline, &self, ++self.timer_gen);
    }
    SwitchRequest park{SwitchRequest::park};
    switch_to_worker(self, park);  // the worker releases self.lock once we are off the CPU
    self.lock.lock();
}

[[noreturn]] void overflow_beyond_red_zone(Process &self) {
    std::fprintf(stderr,
                 "lunatic: process %llu overflowed its %zu-byte stack beyond the red zone; "
                 "memory of other processes may be corrupted: aborting\n",
                 static_cast<unsigned long long>(self.id), self.stack.usable);
    std::abort();
}

}  // namespace

void switch_to_worker(Process &self, SwitchRequest &request) {
    // A pooled stack has no guard page: its stack pointer is checked at every
    // switch instead (a canary would commit a second page per process).
    const char *sp = static_cast<const char *>(__builtin_frame_address(0));
    if (!self.stack.guarded && sp < self.stack.limit() && request.kind != SwitchRequest::exit) {
        if (sp < self.stack.base) overflow_beyond_red_zone(self);
        if (request.kind == SwitchRequest::park) self.lock.unlock();
        if (request.kind == SwitchRequest::spawn) self.runtime.schedule(request.child);
        self.stack_overflowed = true;
        request = SwitchRequest{SwitchRequest::exit};
    }
    exception_state_leave(&self.exceptions);
    transfer_t back =
        jump_out_of_fiber(self.return_context, &request, request.kind == SwitchRequest::exit);
    self.return_context = back.fctx;
    exception_state_enter(&self.exceptions);
}

void fiber_main(transfer_t from_worker) {
    Process &self = *static_cast<Process *>(from_worker.data);
    self.return_context = from_worker.fctx;
    fiber_started();
    exception_state_enter(&self.exceptions);
    int code;
    try {
        code = self.entry(self.capture, self.capture_len, self.user);
    } catch (const std::exception &e) {
        code = -1;
        self.fail_message = std::string("uncaught exception: ") + e.what();
    } catch (...) {
        // Also what the typed layer's kill unwinding ends in.
        code = -1;
        self.fail_message = "uncaught exception";
    }
    self.destroy_locals();
    self.exit_code = code;
    if (self.killed.load(std::memory_order_relaxed))
        self.exit_reason = ExitReason::killed;
    else if (code != 0)
        self.exit_reason = ExitReason::failed;
    SwitchRequest exit{SwitchRequest::exit};
    switch_to_worker(self, exit);
    std::abort();  // an exited fiber is never resumed
}

namespace {
// Waits longer than this (about 31 years) are waits without end: adding
// them to the clock would overflow it.
constexpr int64_t kForeverNs = int64_t(1'000'000'000) * 1'000'000'000;
}  // namespace

Status receive(Process &self, const TagFilter &filter, int64_t timeout_ns, Message **out) {
    if (timeout_ns > kForeverNs) timeout_ns = -1;
    Clock::time_point deadline{};
    const bool has_deadline = timeout_ns > 0;
    if (has_deadline) deadline = Clock::now() + std::chrono::nanoseconds(timeout_ns);
    self.lock.lock();
    for (;;) {
        if (self.killed.load(std::memory_order_relaxed)) {
            self.lock.unlock();
            return Status::killed;
        }
        if (Message *m = self.mailbox.take(filter)) {
            if (!m->is_signal()) self.queued_bytes -= m->size();
            self.lock.unlock();
            *out = m;
            return Status::ok;
        }
        if (timeout_ns == 0 || (has_deadline && Clock::now() >= deadline)) {
            self.lock.unlock();
            return Status::timed_out;
        }
        wait(self, WaitKind::message, filter, has_deadline ? &deadline : nullptr);
    }
}

Status run_blocking(Process &self, int (*fn)(void *), void *arg, int *result) {
    if (self.is_thread) {
        *result = fn(arg);
        return Status::ok;
    }
    BlockingJob job{fn, arg, 0, false, &self};
    self.retain();  // released by the helper thread when the job is done
    self.lock.lock();
    self.state.store(RunState::waiting, std::memory_order_relaxed);
    self.wait_kind = WaitKind::blocking;
    self.wait_deadline = Clock::time_point::max();
    try {
        self.runtime.blocking_pool().submit(&job);
    } catch (...) {
        self.state.store(RunState::running, std::memory_order_relaxed);
        self.lock.unlock();
        self.release();
        return Status::no_memory;
    }
    while (!job.done) {
        SwitchRequest park{SwitchRequest::park};
        switch_to_worker(self, park);  // the helper thread makes us ready when fn returns
        self.lock.lock();
        if (!job.done) self.state.store(RunState::waiting, std::memory_order_relaxed);
    }
    self.lock.unlock();
    *result = job.result;
    return Status::ok;
}

Status yield(Process &self) {
    if (self.killed.load(std::memory_order_relaxed)) return Status::killed;
    if (self.is_thread) {
        std::this_thread::yield();
    } else {
        SwitchRequest request{SwitchRequest::yield};
        switch_to_worker(self, request);
    }
    return self.killed.load(std::memory_order_relaxed) ? Status::killed : Status::ok;
}

Status sleep(Process &self, int64_t duration_ns) {
    if (duration_ns <= 0) return yield(self);
    const bool forever = duration_ns > kForeverNs;
    const Clock::time_point deadline =
        forever ? Clock::time_point::max() : Clock::now() + std::chrono::nanoseconds(duration_ns);
    self.lock.lock();
    for (;;) {
        if (self.killed.load(std::memory_order_relaxed)) {
            self.lock.unlock();
            return Status::killed;
        }
        if (!forever && Clock::now() >= deadline) {
            self.lock.unlock();
            return Status::ok;
        }
        wait(self, WaitKind::sleep, TagFilter{}, forever ? nullptr : &deadline);
    }
}

void make_ready(Process &target) {
    if (target.is_thread)
        target.thread_wakeup->signal();
    else
        target.runtime.schedule(&target);
}

bool deliver_locked(Process &target, Message *message) noexcept {
    if (!message->is_signal()) target.queued_bytes += message->size();
    target.mailbox.push(message);
    const bool wake = target.state.load(std::memory_order_relaxed) == RunState::waiting &&
                      target.wait_kind == WaitKind::message && target.wait_filter.accepts(*message);
    if (wake) target.state.store(RunState::ready, std::memory_order_relaxed);
    return wake;
}

Status deliver(Process &target, Message *message) {
    target.lock.lock();
    if (target.state.load(std::memory_order_relaxed) == RunState::finished) {
        target.lock.unlock();
        return Status::no_process;
    }
    if (target.discarded && !message->is_signal() && target.discards(message->tag())) {
        // A reply to a request its receiver gave up on: it never shows up.
        target.lock.unlock();
        Message::destroy(message);
        return Status::ok;
    }
    if (target.max_memory && !message->is_signal() &&
        target.stack_bytes + target.queued_bytes + message->size() > target.max_memory) {
        // Over its memory: the receiver fails (as Erlang's max_heap_size does); the message goes.
        const std::size_t queued = target.queued_bytes;
        target.lock.unlock();
        const std::size_t incoming = message->size();
        Message::destroy(message);
        char why[160];
        std::snprintf(why, sizeof why,
                      "memory limit: %zu bytes queued + %zu arriving + a %zu-byte stack > %llu",
                      queued, incoming, target.stack_bytes,
                      static_cast<unsigned long long>(target.max_memory));
        kill(target, ExitReason::memory_limit, why);
        return Status::ok;
    }
    const bool wake = deliver_locked(target, message);
    target.lock.unlock();
    if (wake) make_ready(target);
    return Status::ok;
}

Status discard_tag(Process &self, int64_t tag) {
    self.lock.lock();
    Message *removed = nullptr;
    try {
        if (!self.discarded) self.discarded = std::make_unique<Process::DiscardedTags>();
        Process::DiscardedTags &d = *self.discarded;
        if (d.tags.insert(tag).second) {
            d.order.push_back(tag);
            if (d.order.size() > Process::kMaxDiscardedTags) {
                d.tags.erase(d.order.front());
                d.order.pop_front();
            }
        }
    } catch (...) {
        self.lock.unlock();
        return Status::no_memory;
    }
    removed = self.mailbox.remove_if([tag](const Message &m) { return m.tag() == tag; });
    for (Message *m = removed; m; m = m->next)
        if (!m->is_signal()) self.queued_bytes -= m->size();
    self.lock.unlock();
    Message::destroy_list(removed);
    return Status::ok;
}

void kill(Process &target, ExitReason reason, const std::string &text) {
    target.lock.lock();
    if (!target.killed.load(std::memory_order_relaxed)) {
        target.kill_reason = reason;
        try {
            target.kill_text = text;
        } catch (...) {
        }
    }
    target.killed.store(true, std::memory_order_relaxed);
    // A process waiting for a blocking call stays parked until the call returns:
    // the call's job lives on its stack.
    const bool wake = target.state.load(std::memory_order_relaxed) == RunState::waiting &&
                      target.wait_kind != WaitKind::blocking;
    if (wake) target.state.store(RunState::ready, std::memory_order_relaxed);
    target.lock.unlock();
    if (wake) make_ready(target);
}

void timer_expired(Process &target, uint64_t gen, Clock::time_point now) {
    target.lock.lock();
    if (gen != target.timer_gen) {  // replaced by an earlier one
        target.lock.unlock();
        return;
    }
    target.timer_deadline = Clock::time_point::max();
    bool wake = false;
    if (target.state.load(std::memory_order_relaxed) == RunState::waiting &&
        target.wait_deadline != Clock::time_point::max()) {
        if (target.wait_deadline <= now) {
            wake = true;
            target.state.store(RunState::ready, std::memory_order_relaxed);
        } else {
            // This timer was armed for an earlier wait; the current one ends later.
            target.timer_deadline = target.wait_deadline;
            current_worker()->add_timer(target.wait_deadline, &target, ++target.timer_gen);
        }
    }
    target.lock.unlock();
    if (wake) make_ready(target);
}

}  // namespace lunatic::core
