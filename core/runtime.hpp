// Runtime: a set of workers running processes, with its process table, stack
// pool and node id. Several runtimes can live in one OS process; each is
// independent and can be stopped and created again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/blocking_pool.hpp"
#include "core/log.hpp"
#include "core/message.hpp"
#include "core/process.hpp"
#include "core/process_table.hpp"
#include "core/registry.hpp"
#include "core/stack_pool.hpp"
#include "core/status.hpp"
#include "core/timer_service.hpp"
#include "core/watchdog.hpp"

namespace lunatic::core {

class Worker;
namespace node {
class Node;
}

struct RuntimeOptions {
    uint32_t workers = 0;                // 0: one per hardware thread
    std::size_t default_stack_size = 0;  // 0: 64 KiB
    uint32_t idle_spins = 0;             // 0: default
    LogFn log = nullptr;
    void *log_user = nullptr;
    uint32_t watchdog_ms = 0;  // 0: 100 ms; UINT32_MAX: off
};

struct SpawnRequest {
    Entry entry = nullptr;
    const void *capture = nullptr;
    std::size_t capture_len = 0;
    void *user = nullptr;
    void (*user_free)(void *) = nullptr;
    std::size_t stack_size = 0;  // 0: the runtime's default
    bool guard_page = false;
    int32_t worker = -1;  // -1 any, -2 the spawner's, >= 0 that one
    bool link = false;    // link to the spawner before the child runs
    int64_t link_tag = 0;
    SharedConfig config;  // null: the spawner's
    // A spawn asked for by another node (core/node/): the child starts linked
    // to this remote process (with link_tag), and before_start(ctx, child) runs
    // after the child exists and before it can run (the node queues its reply
    // there, so the reply leaves ahead of anything the child sends).
    Pid remote_link{};
    void (*before_start)(void *ctx, Pid child) = nullptr;
    void *before_start_ctx = nullptr;
};

class Runtime {
public:
    static constexpr int32_t kAnyWorker = -1;
    static constexpr int32_t kCurrentWorker = -2;

    static Status create(const RuntimeOptions &options, Runtime **out);

    // Kills every process, waits for them to end, joins the workers and drops
    // the owner's reference (attached threads keep the rest alive until they
    // detach). Not from a fiber.
    Status destroy();

    // The calling process (current_process()) acts through these.
    Status spawn(const SpawnRequest &request, Pid *out);
    Status send(Pid to, Message *message);
    Status attach(Pid *out);
    Status detach(Process &self);

    uint64_t node_id() const noexcept { return node_id_; }
    uint32_t worker_count() const noexcept { return static_cast<uint32_t>(workers_.size()); }
    uint64_t process_count() const noexcept {
        return process_count_.load(std::memory_order_relaxed);
    }
    uint32_t idle_spins() const noexcept { return idle_spins_; }
    bool stopping() const noexcept { return stopping_.load(std::memory_order_relaxed); }
    Pid pid_of(const Process &p) const noexcept { return Pid{node_id_, p.id}; }
    const Log &log() const noexcept { return log_; }
    Registry &registry() noexcept { return registry_; }
    BlockingPool &blocking_pool() noexcept { return blocking_; }
    TimerService &timers() noexcept { return timers_; }
    // The node this runtime is (lunatic_node_start), or null.
    node::Node *node() const noexcept { return node_.load(std::memory_order_acquire); }
    // Makes the runtime a node (once: exists otherwise); it is stopped first in destroy().
    Status install_node(std::unique_ptr<node::Node> node) noexcept;
    // fn(process) for every live process, under the table's locks (fn must not
    // call back into the table).
    template <class Fn>
    void for_each_process(Fn &&fn) noexcept {
        table_.for_each(fn);
    }

    // ---- for the scheduler
    Worker &worker(uint32_t i) noexcept { return *workers_[i]; }
    StackPool &stacks() noexcept { return *stacks_; }
    ProcessRef lookup(Pid pid) noexcept;
    void schedule(Process *p) noexcept;                // p is ready: queue it somewhere
    void finish(Process *p, Worker *worker) noexcept;  // p has exited
    void wake_idle_worker() noexcept;
    std::atomic<int> spinning{0};  // workers in their idle spin

    void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept;

private:
    explicit Runtime(const RuntimeOptions &options);
    void fiber_gone() noexcept;  // one fiber fewer (or a spawn that backed out)
    ~Runtime();

    const uint64_t node_id_;
    const uint32_t idle_spins_;
    Log log_;
    std::unique_ptr<StackPool> stacks_;
    std::vector<std::unique_ptr<Worker>> workers_;
    ProcessTable table_;
    Registry registry_;
    TimerService timers_{*this};
    BlockingPool blocking_;
    std::unique_ptr<Watchdog> watchdog_;
    std::atomic<node::Node *> node_{nullptr};  // owned; deleted with the runtime
    std::atomic<uint64_t> next_id_{1};
    std::atomic<uint64_t> process_count_{0};
    std::atomic<uint64_t> live_fibers_{0};
    std::atomic<uint32_t> next_worker_{0};  // where foreign threads put new processes
    std::atomic<bool> stopping_{false};
    std::atomic<uint32_t> refs_{1};
    std::mutex drained_mutex_;
    std::condition_variable drained_cv_;
};

}  // namespace lunatic::core
