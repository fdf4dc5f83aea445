// Process: one lightweight process — a fiber (or an attached OS thread) with
// its mailbox — and the runtime calls a process makes on itself: receive,
// yield, sleep.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/context.hpp"
#include "core/entry_registry.hpp"
#include "core/mailbox.hpp"
#include "core/process_config.hpp"
#include "core/spinlock.hpp"
#include "core/stack_pool.hpp"
#include "core/status.hpp"

namespace lunatic::core {

class Runtime;
class Process;

using Clock = std::chrono::steady_clock;

enum class RunState : uint8_t {
    created,  // spawned, never run
    ready,    // in a run queue
    running,
    waiting,  // parked in receive or sleep
    finished,
};

enum class WaitKind : uint8_t { message, sleep, blocking };

// What a fiber asks of its worker when it switches out.
struct SwitchRequest {
    enum Kind : uint8_t { yield, park, spawn, exit } kind;
    Process *child = nullptr;  // spawn: run this one now, the parent right after
};

// An attached OS thread blocks on this instead of switching.
struct ThreadWakeup {
    std::mutex mutex;
    std::condition_variable cv;
    bool signaled = false;

    void signal();
    // Returns when signalled (or spuriously) or at the deadline.
    void wait(const Clock::time_point *deadline);
};

class Process {
public:
    Process(Runtime &runtime, uint64_t id, bool is_thread);
    ~Process();
    Process(const Process &) = delete;
    Process &operator=(const Process &) = delete;

    void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    // ---- identity
    // The fields of the hot paths (switch, send, receive) come first and fill
    // the first cache lines; the rest is touched
    // at spawn, exit and by relations. Keep it so when adding fields.
    Runtime &runtime;
    const uint64_t id;

    // ---- scheduling; touched by the worker that runs the process
    fcontext_t context = nullptr;         // where to resume the fiber
    fcontext_t return_context = nullptr;  // the worker running it, while it runs
    Process *run_next = nullptr;          // run-queue link
    const bool is_thread;
    bool started = false;
    std::atomic<RunState> state{RunState::created};  // under lock
    WaitKind wait_kind = WaitKind::message;          // under lock
    std::atomic<bool> killed{false};
    Spinlock lock;  // guards the mailbox, the wait state and the relations

private:
    std::atomic<uint32_t> refs_{1};  // every send takes and drops a reference

public:
    int32_t pinned_worker = -1;
    uint32_t last_worker = 0;
    int64_t fuel_limit_ns = 0;  // 0 = none; read by every runtime call
    ExceptionState exceptions;

    // ---- mailbox and wait state, under lock
    Mailbox mailbox;
    TagFilter wait_filter;         // points into the waiting receiver's frame
    std::size_t queued_bytes = 0;  // data bytes in the mailbox
    uint64_t max_memory = 0;       // bytes; 0 = none (from config)
    // Tags abandoned with lunatic_tag_discard (the last kMaxDiscardedTags), under
    // lock: data messages carrying one are freed on arrival. Made on first use, so
    // a process that never discards pays one null pointer.
    struct DiscardedTags {
        std::unordered_set<int64_t> tags;
        std::deque<int64_t> order;  // oldest first, for eviction
    };
    std::unique_ptr<DiscardedTags> discarded;
    static constexpr std::size_t kMaxDiscardedTags = 4096;
    bool discards(int64_t tag) const noexcept { return discarded && discarded->tags.count(tag); }
    // Timed waits. A fiber keeps at most one live timer (timer_gen names it):
    // a wait whose deadline is not before the live timer's arms nothing, so a
    // loop of timed receives that get their message in time costs no timer
    // work; when the timer fires early for the current wait it re-arms itself.
    Clock::time_point wait_deadline = Clock::time_point::max();   // of the current wait
    Clock::time_point timer_deadline = Clock::time_point::max();  // of the live timer
    uint64_t timer_gen = 0;

    // ---- fuel (touched by the process and its worker)
    int64_t fuel_used_ns = 0;         // running time before the current slice
    Clock::time_point slice_start{};  // when the current slice began (fuel-limited only)

    // Whether a fuel-limited process has spent its budget (counting the slice it is in).
    bool fuel_spent() const noexcept {
        return fuel_limit_ns && fuel_used_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                   Clock::now() - slice_start)
                                                   .count() >=
                                    fuel_limit_ns;
    }

    // ---- cold: stack, config, attached threads
    Stack stack;
    std::size_t stack_bytes = 0;                  // usable size, kept for the overflow report
    SharedConfig config;                          // null: every permission, no limit
    std::unique_ptr<ThreadWakeup> thread_wakeup;  // attached threads only

    // ---- entry and outcome
    Entry entry = nullptr;
    uint8_t *capture = nullptr;
    std::size_t capture_len = 0;
    void *user = nullptr;
    void (*user_free)(void *) = nullptr;
    int exit_code = 0;
    ExitReason exit_reason = ExitReason::normal;
    bool stack_overflowed = false;
    std::string fail_message;  // set by lunatic_fail or an escaping exception
    // Why a kill came (lunatic_kill: killed; a failed link: that process's reason), under lock.
    ExitReason kill_reason = ExitReason::killed;
    std::string kill_text;
    std::string error_detail;  // lunatic_errmsg of this process

    // ---- relations, under lock
    struct Link {
        Pid other;
        int64_t tag;
    };
    std::vector<Link> links;
    // A monitor, seen from either end: the other process and the monitor's tag
    // (monitors with different tags between the same pair are independent).
    struct Watch {
        Pid other;
        int64_t tag;
        bool operator==(const Watch &) const = default;
    };
    std::vector<Watch> watchers;     // monitors of this process (other = the watcher)
    std::vector<Watch> monitoring;   // monitors this one holds (so demonitor is exact)
    std::vector<std::string> names;  // registry keys naming this process
    bool trap_links = false;

    // ---- process-local values (lunatic_process_local_*), touched only by the process itself
    struct Local {
        const void *key;
        void *value;
        void (*destroy)(void *);
    };
    std::vector<Local> locals;
    void *local(const void *key) const noexcept;
    void set_local(const void *key, void *value, void (*destroy)(void *));
    void destroy_locals() noexcept;  // last set first
};

// Holds a reference to a process for a scope.
class ProcessRef {
public:
    ProcessRef() = default;
    explicit ProcessRef(Process *adopted) noexcept : p_(adopted) {}
    ProcessRef(ProcessRef &&o) noexcept : p_(o.p_) { o.p_ = nullptr; }
    ProcessRef &operator=(ProcessRef &&o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~ProcessRef() {
        if (p_) p_->release();
    }
    Process *get() const noexcept { return p_; }
    Process *operator->() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    Process *p_ = nullptr;
};

// ---- calls a process makes on itself (self is the calling process)

// timeout_ns: 0 polls, negative waits forever.
Status receive(Process &self, const TagFilter &filter, int64_t timeout_ns, Message **out);
Status yield(Process &self);
Status sleep(Process &self, int64_t duration_ns);

// Puts a message in target's mailbox and wakes target if it waits for it.
// no_process if target has finished (the message then still belongs to the caller).
Status deliver(Process &target, Message *message);

// deliver with target.lock held by the caller, who must call make_ready(target)
// after unlocking when this returns true. target must not have finished.
bool deliver_locked(Process &target, Message *message) noexcept;
void make_ready(Process &target);

// Fails target at its next runtime call, waking it if it waits. The first
// kill's reason is the one its links and monitors will see.
void kill(Process &target, ExitReason reason = ExitReason::killed,
          const std::string &text = "killed");

// A timer of target fired (gen names it): wakes target if its wait's deadline
// has passed, re-arms for a later deadline, ignores a timer since replaced.
void timer_expired(Process &target, uint64_t gen, Clock::time_point now);

// Abandons tag in self: frees its queued messages with that tag and remembers
// it so later data messages with it are freed on arrival (lunatic_tag_discard).
Status discard_tag(Process &self, int64_t tag);

// Runs fn(arg) on a helper thread while self waits (see lunatic_blocking).
Status run_blocking(Process &self, int (*fn)(void *), void *arg, int *result);

// Entry point of every fiber (passed to make_context).
void fiber_main(transfer_t from_worker);

// A fiber leaves the CPU to its worker; returns when it is resumed.
void switch_to_worker(Process &self, SwitchRequest &request);

}  // namespace lunatic::core
