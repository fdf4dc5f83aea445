#include "core/runtime.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "core/current.hpp"
#include "core/links.hpp"
#include "core/node/node.hpp"
#include "core/worker.hpp"

namespace lunatic::core {

namespace {

constexpr std::size_t kDefaultStack = 64 * 1024;
// An idle worker spins this many rounds (a pause and a look at the queues
// each) before it sleeps: measured at about 45 µs on the 2-vCPU EPYC VM the
// project is developed on, a little more than the ~30 µs a sleeping vCPU takes
// to wake, so a worker that just ran dry is still there for the reply that
// usually follows, without burning a core for long when there is none.
constexpr uint32_t kDefaultIdleSpins = 2048;

uint64_t random_node_id() {
    std::random_device device;
    std::seed_seq seed{
        device(), device(), device(), device(),
        static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count())};
    std::mt19937_64 rng(seed);
    uint64_t id;
    do id = rng();
    while (id == 0);
    return id;
}

}  // namespace

Runtime::Runtime(const RuntimeOptions &o)
    : node_id_(random_node_id()),
      idle_spins_(o.idle_spins ? o.idle_spins : kDefaultIdleSpins),
      log_(o.log, o.log_user),
      stacks_(std::make_unique<StackPool>(o.default_stack_size ? o.default_stack_size
                                                               : kDefaultStack)) {}

// The node outlives destroy() (stopped there) so an attached thread still
// holding the runtime can call into it safely until it detaches.
Runtime::~Runtime() { delete node_.load(std::memory_order_acquire); }

Status Runtime::install_node(std::unique_ptr<node::Node> node) noexcept {
    node::Node *expected = nullptr;
    if (!node_.compare_exchange_strong(expected, node.get(), std::memory_order_acq_rel))
        return Status::exists;
    node.release();
    return Status::ok;
}

Status Runtime::create(const RuntimeOptions &options, Runtime **out) {
    uint32_t n = options.workers;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    if (n > 1024) return Status::invalid_argument;
    Runtime *rt = nullptr;
    try {
        rt = new Runtime(options);
        rt->workers_.reserve(n);
        for (uint32_t i = 0; i < n; ++i) rt->workers_.push_back(std::make_unique<Worker>(*rt, i));
        for (auto &w : rt->workers_) w->start();
        if (options.watchdog_ms != UINT32_MAX)
            rt->watchdog_ = std::make_unique<Watchdog>(
                *rt, std::chrono::milliseconds(options.watchdog_ms ? options.watchdog_ms : 100));
    } catch (...) {
        if (rt) {
            for (auto &w : rt->workers_) w->stop_and_join();
            delete rt;
        }
        return Status::no_memory;
    }
    *out = rt;
    return Status::ok;
}

void Runtime::release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

Status Runtime::destroy() {
    Process *self = current_process();
    if (self && !self->is_thread) return Status::bad_state;
    if (self && &self->runtime == this) detach(*self);

    // Every spawn counts itself in live_fibers_ before it looks at stopping_
    // (both seq_cst): a spawn either sees the flag and backs out, or is counted
    // and waited for below. A process inserted after the kill pass sees the
    // flag after inserting itself and starts killed.
    // The node goes first, before any process can see the runtime stopping:
    // after this nothing from another node reaches a process, and the exits
    // of the kill pass (or of a process that sees stopping_ and gives up) are
    // not sent to other nodes, which see noconnection instead.
    if (node::Node *n = node()) n->stop();
    stopping_.store(true, std::memory_order_seq_cst);
    table_.for_each([](Process &p) { kill(p); });
    {
        std::unique_lock lock(drained_mutex_);
        drained_cv_.wait(lock,
                         [this] { return live_fibers_.load(std::memory_order_acquire) == 0; });
    }
    // No fiber is left and none can be made: the workers may go. The Worker
    // objects stay until the last attached thread lets go (they are inert).
    timers_.stop();
    if (watchdog_) watchdog_->stop();
    blocking_.stop();
    for (auto &w : workers_) w->stop_and_join();
    stacks_.reset();
    release();
    return Status::ok;
}

void Runtime::fiber_gone() noexcept {
    if (live_fibers_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
        stopping_.load(std::memory_order_seq_cst)) {
        std::lock_guard lock(drained_mutex_);
        drained_cv_.notify_all();
    }
}

ProcessRef Runtime::lookup(Pid pid) noexcept {
    if (pid.node != node_id_) return ProcessRef();
    return table_.find(pid.id);
}

Status Runtime::spawn(const SpawnRequest &r, Pid *out) {
    if (!r.entry) return Status::invalid_argument;
    if (r.worker >= static_cast<int32_t>(workers_.size()) || r.worker < kCurrentWorker)
        return Status::invalid_argument;
    live_fibers_.fetch_add(1, std::memory_order_seq_cst);  // see destroy()
    if (stopping_.load(std::memory_order_seq_cst)) {
        fiber_gone();
        return Status::killed;
    }

    Worker *here = current_worker();
    if (here && &here->runtime() != this) here = nullptr;
    Process *parent = current_process();
    StackCache *cache = here ? &here->stack_cache() : nullptr;

    // The child's config: the one given, else the spawner's (an attached thread has none).
    SharedConfig config = r.config ? r.config : (parent ? parent->config : nullptr);
    if (parent && parent->config && !parent->config->can_spawn_processes) {
        fiber_gone();
        return Status::not_permitted;
    }
    std::size_t stack_size = r.stack_size ? r.stack_size : (config ? config->stack_size : 0);
    const bool guard_page = r.guard_page || (config && config->guard_page);
    if (config && config->max_memory &&
        (stack_size ? stack_size : stacks_->default_usable()) > config->max_memory) {
        fiber_gone();
        return Status::no_memory;
    }

    Process *p =
        new (std::nothrow) Process(*this, next_id_.fetch_add(1, std::memory_order_relaxed), false);
    if (!p) {
        fiber_gone();
        return Status::no_memory;
    }
    auto give_up = [&] {
        stacks_->release(p->stack, cache);
        delete p;
        fiber_gone();
        return Status::no_memory;
    };
    if (!stacks_->allocate(stack_size, guard_page, cache, &p->stack)) return give_up();
    p->stack_bytes = p->stack.usable;
    if (config) {
        p->max_memory = config->max_memory;
        p->fuel_limit_ns =
            static_cast<int64_t>(std::min<uint64_t>(config->max_fuel_us, INT64_MAX / 1000)) * 1000;
        p->config = std::move(config);
    }
    if (r.capture_len) {
        p->capture = static_cast<uint8_t *>(std::malloc(r.capture_len));
        if (!p->capture) return give_up();
        std::memcpy(p->capture, r.capture, r.capture_len);
        p->capture_len = r.capture_len;
    }
    p->entry = r.entry;
    p->user = r.user;
    p->user_free = r.user_free;
    if (r.worker == kCurrentWorker)
        p->pinned_worker = here ? static_cast<int32_t>(here->index()) : 0;
    else
        p->pinned_worker = r.worker;
    p->last_worker = here ? here->index()
                          : next_worker_.fetch_add(1, std::memory_order_relaxed) % worker_count();

    if (r.link && parent) link_new_child(*parent, *p, r.link_tag);
    if (r.remote_link.node) p->links.push_back(Process::Link{r.remote_link, r.link_tag});
    if (!table_.insert(p)) {
        if (r.link && parent) unlink(*parent, Pid{node_id_, p->id});
        return give_up();
    }
    process_count_.fetch_add(1, std::memory_order_relaxed);
    // destroy() sets stopping_ before its kill pass over the table: a process
    // inserted after that pass sees the flag here.
    if (stopping_.load(std::memory_order_seq_cst)) p->killed.store(true, std::memory_order_relaxed);
    if (out) *out = Pid{node_id_, p->id};
    if (r.before_start) r.before_start(r.before_start_ctx, Pid{node_id_, p->id});
    p->state.store(RunState::ready, std::memory_order_relaxed);

    // Run the child at once on this worker and the parent right after it:
    // its stack is still warm in the cache, and a child that blocks or exits
    // at once costs two switches and no queue traffic.
    if (here && parent && !parent->is_thread && parent->pinned_worker < 0 && p->pinned_worker < 0) {
        SwitchRequest request{SwitchRequest::spawn, p};
        switch_to_worker(*parent, request);
    } else {
        schedule(p);
    }
    return Status::ok;
}

Status Runtime::send(Pid to, Message *message) {
    if (node::Node *n = node(); n && to.node != node_id_) {
        Process *self = current_process();
        if (!self) return Status::no_node;
        return n->send(pid_of(*self), to, message);
    }
    ProcessRef target = lookup(to);
    if (!target) return Status::no_process;
    if (Process *self = current_process()) message->set_sender(pid_of(*self));
    return deliver(*target.get(), message);
}

Status Runtime::attach(Pid *out) {
    if (current_process()) return Status::exists;
    if (stopping_.load(std::memory_order_relaxed)) return Status::killed;
    Process *p;
    try {
        p = new Process(*this, next_id_.fetch_add(1, std::memory_order_relaxed), true);
    } catch (...) {
        return Status::no_memory;
    }
    p->started = true;
    p->state.store(RunState::running, std::memory_order_relaxed);
    if (!table_.insert(p)) {
        delete p;
        return Status::no_memory;
    }
    retain();  // an attached thread keeps the runtime's memory alive until it detaches
    process_count_.fetch_add(1, std::memory_order_relaxed);
    if (stopping_.load(std::memory_order_seq_cst)) p->killed.store(true, std::memory_order_relaxed);
    set_current_process(p);
    if (out) *out = Pid{node_id_, p->id};
    return Status::ok;
}

Status Runtime::detach(Process &self) {
    self.destroy_locals();
    set_current_process(nullptr);
    finish(&self, nullptr);
    release();
    return Status::ok;
}

void Runtime::schedule(Process *p) noexcept {
    Worker *here = current_worker();
    if (here && &here->runtime() != this) here = nullptr;
    if (p->pinned_worker >= 0) {
        workers_[static_cast<uint32_t>(p->pinned_worker)]->push_pinned(p);
    } else if (here) {
        here->push_next(p);
    } else {
        workers_[p->last_worker % workers_.size()]->push(p);
    }
}

void Runtime::wake_idle_worker() noexcept {
    if (spinning.load(std::memory_order_seq_cst) > 0) return;  // a spinning worker will steal it
    for (auto &w : workers_) {
        if (w->is_sleeping()) {
            w->notify();
            return;
        }
    }
}

void Runtime::finish(Process *p, Worker *worker) noexcept {
    if (!p->is_thread) {
        stacks_->release(p->stack, worker ? &worker->stack_cache() : nullptr, p->stack_overflowed);
        p->stack = Stack{};
    }
    p->destroy_locals();  // normally done inside the process already

    // Why it ended, and everyone who must hear of it: taken under its lock
    // together with the switch to finished, so no link or monitor is added after.
    ExitReason reason = ExitReason::normal;
    std::string text;
    std::vector<Process::Link> links;
    std::vector<Process::Watch> watchers;
    std::vector<std::string> names;
    try {
        p->lock.lock();
        if (p->stack_overflowed) {
            reason = ExitReason::failed;
            text = exit_text(reason, "stack overflow");
        } else if (p->killed.load(std::memory_order_relaxed)) {
            reason = p->kill_reason;
            text = p->kill_text;
        } else if (p->exit_reason == ExitReason::failed) {
            reason = ExitReason::failed;
            if (p->fail_message.empty())
                p->fail_message = "exit code " + std::to_string(p->exit_code);
            text = exit_text(reason, p->fail_message);
        } else {
            text = exit_text(reason, "");
        }
    } catch (...) {
        // Out of memory for the text: the reason still goes out.
    }
    p->state.store(RunState::finished, std::memory_order_relaxed);
    links.swap(p->links);
    watchers.swap(p->watchers);
    names.swap(p->names);
    p->mailbox.clear();
    p->lock.unlock();

    const Pid pid = pid_of(*p);
    if (p->stack_overflowed) {
        log_.write(
            LogLevel::error,
            "process <%llx.%llu> failed: stack overflow (its stack of %zu bytes was exceeded; "
            "the process was stopped at a runtime call and not unwound)",
            static_cast<unsigned long long>(node_id_), static_cast<unsigned long long>(p->id),
            p->stack_bytes);
    } else if (reason == ExitReason::failed && !p->killed.load(std::memory_order_relaxed)) {
        log_.write(LogLevel::error, "process <%llx.%llu> failed: %s",
                   static_cast<unsigned long long>(node_id_),
                   static_cast<unsigned long long>(p->id), p->fail_message.c_str());
    }
    for (const std::string &key : names) registry_.remove_if_owned(key, pid);
    notify_exit(*p, reason, text, links, watchers);

    if (p->user_free) p->user_free(p->user);
    std::free(p->capture);
    p->capture = nullptr;
    const bool fiber = !p->is_thread;
    table_.remove(p->id);  // drops the table's reference: p may be gone now
    process_count_.fetch_sub(1, std::memory_order_relaxed);
    if (fiber) fiber_gone();
}

}  // namespace lunatic::core
