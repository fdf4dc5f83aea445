// lunatic::Supervisor: starts servers (AbstractProcess types), watches them
// and restarts them when they end — lunatic's Supervisor, with what Erlang's
// has and lunatic's lacked: a restart intensity, child restart types and
// dynamic children.
//
//     auto sup = lunatic::Supervisor::link().start(
//         lunatic::SupervisorSpec()
//             .strategy(lunatic::Strategy::one_for_all)
//             .intensity(3, std::chrono::seconds(5))
//             .child(lunatic::ChildSpec::of<Counter>(0).name("counter"))
//             .child(lunatic::ChildSpec::of<Logger>().restart(lunatic::Restart::transient)));
//     // found again after a restart:
//     auto counter = lunatic::ProcessRef<Counter>::lookup("counter");
//     lunatic::start_child(sup, lunatic::ChildSpec::of<Worker>(7).id("worker"));
//     lunatic::terminate_child(sup, "worker");
//     sup.shutdown();  // children stop in reverse order
//
// - Children start in order, each linked to the supervisor (if it dies, they
//   die) and monitored by it. A named child registers its name when it starts
//   and again after every restart (a name taken by another server of its type
//   is a failed start, not a shared child); a configured child runs under its
//   config.
// - A child that ends is restarted according to its restart type: permanent
//   (always), transient (only after a failure, not a normal end), temporary
//   (never; it is removed). The strategy says which children restart with it:
//   one_for_one (just it), one_for_all (all: the others are shut down in
//   reverse order, then all start again in order), rest_for_one (it and those
//   started after it, likewise).
// - Restart intensity: more than max_restarts restarts within period makes
//   the supervisor shut its children down and fail ("restart intensity
//   reached"), so a child crashing in a loop escalates to the supervisor's own
//   links instead of looping forever (lunatic had no limit). The default is
//   Erlang's: 1 restart in 5 seconds.
// - A failing link that is not a child's (the supervisor's parent, when the
//   supervisor was started linked) fails the supervisor too, after it shut its
//   children down.
// - Children are shut down with shutdown(timeout) (terminate runs), killed if
//   they do not end within their shutdown timeout (default 5 s).
// - If a child fails to start during the supervisor's own start, the children
//   started so far are shut down and start throws StartFailed.
// - ChildSpec::on_node(node_id) starts a child on another node (as
//   T::on_node): linked, monitored, named (in that node's registry),
//   configured, restarted and shut down across the network like a local one.
//   A ChildSpec names its child's server type by a stable name that every
//   program making a ChildSpec::of<T> registers, so a supervisor can itself be
//   started on another node (Supervisor::on_node(id).start(spec)) when that
//   node runs the same program; a type that program lacks is a StartFailed.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lunatic/abstract_process.hpp"
#include "lunatic/error.hpp"
#include "lunatic/process_config.hpp"
#include "lunatic/tag.hpp"

namespace lunatic {

/// Which children restart when one ends.
enum class Strategy : uint8_t { one_for_one = 0, one_for_all = 1, rest_for_one = 2 };
/// When a child that ended is restarted.
enum class Restart : uint8_t { permanent = 0, transient = 1, temporary = 2 };

/// A ProcessConfig's values, carried inside a ChildSpec (a config is a handle
/// of the process that made it; the supervisor makes its own from these).
struct ConfigValues {
    uint64_t max_memory = 0;
    uint64_t max_fuel_us = 0;
    bool can_spawn_processes = false;
    bool can_create_configs = false;
    uint64_t stack_size = 0;
    bool guard_page = false;

    static ConfigValues of(const ProcessConfig &c) {
        return {c.max_memory(),          static_cast<uint64_t>(c.max_fuel().count()),
                c.can_spawn_processes(), c.can_create_configs(),
                c.stack_size(),          c.guard_page()};
    }
    ProcessConfig make() const {
        ProcessConfig c;
        c.set_max_memory(max_memory)
            .set_max_fuel(std::chrono::microseconds(max_fuel_us))
            .set_can_spawn_processes(can_spawn_processes)
            .set_can_create_configs(can_create_configs)
            .set_guard_page(guard_page);
        if (stack_size) c.set_stack_size(stack_size);
        return c;
    }
};
LUNATIC_FIELDS(ConfigValues, max_memory, max_fuel_us, can_spawn_processes, can_create_configs,
               stack_size, guard_page)

namespace detail {
// Starts one child: its encoded argument, name (empty: none), link tag, config
// (may be null), node (0: the supervisor's).
using ChildStartFn = lunatic_pid (*)(const std::vector<uint8_t> &arg, const std::string &name,
                                     Tag link_tag, const lunatic_config *config, uint64_t node);

template <class T>
lunatic_pid start_child_of(const std::vector<uint8_t> &arg_bytes, const std::string &name,
                           Tag link_tag, const lunatic_config *config, uint64_t node) {
    using S = typename server_serializer<T>::type;
    typename server_arg<T>::type arg{};
    decode_payload<S>(arg_bytes.data(), arg_bytes.size(), arg);
    StartBuilder<T> builder = StartBuilder<T>().link_with(link_tag).configure_raw(config);
    if (node != 0) builder = builder.on_node(node);
    return (name.empty() ? builder.start(arg) : builder.start_as_new(name, arg)).raw();
}

// The child start functions of this program by a stable name (T's server
// entry name): a ChildSpec carries the name, never a function's address, so a
// spec that crosses to another OS process (a supervisor started on_node) or a
// malformed one is a clear StartFailed, not a jump to a stray address.
inline std::mutex &child_starters_mutex() {
    static std::mutex m;
    return m;
}
inline std::unordered_map<std::string, ChildStartFn> &child_starters() {
    static std::unordered_map<std::string, ChildStartFn> starters;
    return starters;
}
// Registered before main in every program that makes a ChildSpec::of<T>.
template <class T>
struct ChildStarter {
    static bool add() {
        std::lock_guard<std::mutex> lock(child_starters_mutex());
        child_starters().emplace(server_node_entry_name<T>(), &start_child_of<T>);
        return true;
    }
    static inline const bool registered = add();
};
inline ChildStartFn find_child_starter(const std::string &name) {
    std::lock_guard<std::mutex> lock(child_starters_mutex());
    auto it = child_starters().find(name);
    return it == child_starters().end() ? nullptr : it->second;
}
}  // namespace detail

/// How to start one child of a supervisor.
class ChildSpec {
public:
    ChildSpec() = default;

    /// A child of server type T started with arg (encoded now, decoded by the child).
    template <class T, class A = typename detail::server_arg<T>::type>
    static ChildSpec of(const A &arg = A{}) {
        using S = typename detail::server_serializer<T>::type;
        const typename detail::server_arg<T>::type converted = arg;
        detail::MessagePtr bytes(detail::encode_message<S>(Tag::none(), converted));
        const uint8_t *data = lunatic_message_data(bytes.get());
        ChildSpec spec;
        spec.arg_.assign(data, data + lunatic_message_size(bytes.get()));
        (void)detail::ChildStarter<T>::registered;
        spec.start_ = detail::server_node_entry_name<T>();
        spec.registry_type_ = detail::server_registry_type<T>();
        spec.id_ = detail::server_type_name<T>();
        return spec;
    }

    /// The child's id among its siblings (terminate_child takes it; default: the type's name).
    ChildSpec &id(std::string id) {
        id_ = std::move(id);
        return *this;
    }
    /// Registers the child under name (ProcessRef<T>::lookup(name)), again after every restart.
    ChildSpec &name(std::string name) {
        name_ = std::move(name);
        return *this;
    }
    ChildSpec &restart(Restart restart) {
        restart_ = restart;
        return *this;
    }
    /// How long the child gets to run terminate when shut down, before it is killed.
    template <class Rep, class Period>
    ChildSpec &shutdown_timeout(std::chrono::duration<Rep, Period> timeout) {
        shutdown_ms_ = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
        return *this;
    }
    /// Runs the child under config's limits and permissions (copied now).
    ChildSpec &configure(const ProcessConfig &config) {
        config_ = ConfigValues::of(config);
        return *this;
    }
    /// Starts the child (and every restart of it) on the node with node_id, as
    /// T::on_node(node_id) does; its name is registered in that node's registry.
    /// A child whose node is lost ends with noconnection and is restarted
    /// there: while the node is unreachable each try fails and counts as a
    /// restart, so the restart intensity ends the attempts.
    ChildSpec &on_node(uint64_t node_id) {
        node_ = node_id;
        return *this;
    }

    const std::string &id() const noexcept { return id_; }
    const std::string &name() const noexcept { return name_; }
    Restart restart() const noexcept { return restart_; }

    friend auto lunatic_fields(ChildSpec &c) {
        return std::tie(c.id_, c.name_, c.registry_type_, c.restart_, c.shutdown_ms_, c.start_,
                        c.arg_, c.config_, c.node_);
    }
    friend auto lunatic_fields(const ChildSpec &c) {
        return std::tie(c.id_, c.name_, c.registry_type_, c.restart_, c.shutdown_ms_, c.start_,
                        c.arg_, c.config_, c.node_);
    }
    friend constexpr auto lunatic_field_names(const ChildSpec *) {
        return std::array<const char *, 9>{"id",      "name",        "registry_type",
                                           "restart", "shutdown_ms", "start",
                                           "arg",     "config",      "node"};
    }

private:
    friend class Supervisor;
    std::string id_;
    std::string name_;
    std::string registry_type_;
    Restart restart_ = Restart::permanent;
    uint64_t shutdown_ms_ = 5000;
    std::string start_;  // the name of a detail::ChildStartFn (detail::child_starters)
    std::vector<uint8_t> arg_;
    std::optional<ConfigValues> config_;
    uint64_t node_ = 0;  // 0: the supervisor's node
};

/// What a supervisor does: strategy, restart intensity, children in start order.
class SupervisorSpec {
public:
    SupervisorSpec &strategy(Strategy strategy) {
        strategy_ = strategy;
        return *this;
    }
    /// At most max_restarts restarts within period; one more fails the supervisor.
    template <class Rep, class Period>
    SupervisorSpec &intensity(uint32_t max_restarts, std::chrono::duration<Rep, Period> period) {
        max_restarts_ = max_restarts;
        period_ms_ = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(period).count());
        return *this;
    }
    SupervisorSpec &child(ChildSpec child) {
        children_.push_back(std::move(child));
        return *this;
    }

    friend auto lunatic_fields(SupervisorSpec &s) {
        return std::tie(s.strategy_, s.max_restarts_, s.period_ms_, s.children_);
    }
    friend auto lunatic_fields(const SupervisorSpec &s) {
        return std::tie(s.strategy_, s.max_restarts_, s.period_ms_, s.children_);
    }
    friend constexpr auto lunatic_field_names(const SupervisorSpec *) {
        return std::array<const char *, 4>{"strategy", "max_restarts", "period_ms", "children"};
    }

private:
    friend class Supervisor;
    Strategy strategy_ = Strategy::one_for_one;
    uint32_t max_restarts_ = 1;
    uint64_t period_ms_ = 5000;
    std::vector<ChildSpec> children_;
};

/// One child as the supervisor sees it.
struct ChildInfo {
    std::string id;
    Process<std::monostate> process;  // the running process (none when not running)
    bool running = false;

    /// The child as a typed server handle.
    template <class T>
    ProcessRef<T> ref() const noexcept {
        return ProcessRef<T>(process.raw());
    }
};
LUNATIC_FIELDS(ChildInfo, id, process, running)

/// The supervisor's requests (start_child and friends below wrap them).
struct WhichChildren {};
LUNATIC_NO_FIELDS(WhichChildren)
struct StartChild {
    ChildSpec spec;
};
LUNATIC_FIELDS(StartChild, spec)
struct StartChildResult {
    bool ok = false;
    std::string error;
    ChildInfo child;
};
LUNATIC_FIELDS(StartChildResult, ok, error, child)
struct TerminateChild {
    std::string id;
};
LUNATIC_FIELDS(TerminateChild, id)

/// The supervisor: a server like any other (start, start_as, link, shutdown, and
/// it can be a child of another supervisor: ChildSpec::of<Supervisor>(spec)).
class Supervisor : public AbstractProcess<Supervisor> {
public:
    using Arg = SupervisorSpec;
    using Handlers = lunatic::Handlers<RequestHandler<WhichChildren>, RequestHandler<StartChild>,
                                       RequestHandler<TerminateChild>>;

    static Supervisor init(Config<Supervisor> &config, SupervisorSpec spec) {
        config.die_if_link_dies(false);
        Supervisor s;
        s.strategy_ = spec.strategy_;
        s.max_restarts_ = spec.max_restarts_;
        s.period_ = std::chrono::milliseconds(spec.period_ms_);
        for (ChildSpec &c : spec.children_) {
            s.children_.push_back(Child{std::move(c), {}, Tag::none(), false});
            try {
                s.launch(s.children_.back());
            } catch (const Error &e) {
                s.stop_all();
                throw StartFailed("child \"" + s.children_.back().spec.id_ +
                                  "\" did not start: " + e.what());
            }
        }
        return s;
    }

    std::vector<ChildInfo> handle(WhichChildren) const {
        std::vector<ChildInfo> out;
        for (const Child &c : children_) out.push_back(info(c));
        return out;
    }

    StartChildResult handle(StartChild request) {
        children_.push_back(Child{std::move(request.spec), {}, Tag::none(), false});
        try {
            launch(children_.back());
        } catch (const Error &e) {
            children_.pop_back();
            return {false, e.what(), {}};
        }
        return {true, "", info(children_.back())};
    }

    bool handle(TerminateChild request) {
        for (std::size_t i = 0; i < children_.size(); ++i) {
            if (children_[i].spec.id_ != request.id) continue;
            stop(children_[i]);
            children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
            return true;
        }
        return false;
    }

    void handle_process_died(Tag tag, lunatic_pid, ExitReason reason) {
        std::size_t i = find(tag);
        if (i == children_.size()) return;  // a child stopped on purpose, or not ours
        Child &child = children_[i];
        retire(child);
        if (child.spec.restart_ == Restart::temporary) {
            children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
            return;
        }
        if (child.spec.restart_ == Restart::transient && reason == ExitReason::normal) return;
        restart_from(i);
    }

    void handle_link_death(Tag tag, lunatic_pid, ExitReason reason) {
        // A child's link failing is handled through its monitor (which also
        // sees normal ends); any other link is the supervisor's own: fail too.
        // A child no longer running sends no LinkDied here: one that ended on
        // its own sent it before its ProcessDied (links are told first, and
        // signals queue in order), so it came while the child still counted
        // as running; one the supervisor stopped or gave up on was retired
        // (lunatic_tag_discard frees the signals queued with its tag) and
        // unlinked (after lunatic_unlink returns, no LinkDied of that link
        // arrives, from this node or another).
        if (find(tag) < children_.size()) return;
        stop_all();
        throw std::runtime_error("a linked process failed (" +
                                 std::string(reason == ExitReason::killed ? "killed" : "failed") +
                                 "): the supervisor stops");
    }

    void terminate() { stop_all(); }

private:
    struct Child {
        ChildSpec spec;
        lunatic_pid pid;
        Tag tag;
        bool running;
    };

    static ChildInfo info(const Child &c) {
        return ChildInfo{c.spec.id_, Process<std::monostate>(c.running ? c.pid : lunatic_pid{}),
                         c.running};
    }

    std::size_t find(Tag tag) const {
        for (std::size_t i = 0; i < children_.size(); ++i)
            if (children_[i].running && children_[i].tag == tag) return i;
        return children_.size();
    }

    // Starts child (linked and monitored with a fresh tag); StartFailed if it did not.
    void launch(Child &child) {
        Tag tag = Tag::fresh();
        std::optional<ProcessConfig> config;
        if (child.spec.config_) config.emplace(child.spec.config_->make());
        detail::ChildStartFn fn = detail::find_child_starter(child.spec.start_);
        if (!fn)
            throw StartFailed("no server type \"" + child.spec.start_ +
                              "\" in this program (a ChildSpec from another program?)");
        lunatic_pid pid = fn(child.spec.arg_, child.spec.name_, tag,
                             config ? config->raw() : nullptr, child.spec.node_);
        detail::check(lunatic_monitor_tag(pid, tag.id()));
        child.pid = pid;
        child.tag = tag;
        child.running = true;
    }

    // Forgets a child's tag: its monitor ends and the signals queued with the
    // tag are freed (lunatic_tag_discard; later data with it too).
    void retire(Child &child) {
        lunatic_demonitor_tag(child.pid, child.tag.id());
        lunatic_tag_discard(child.tag.id());
        child.running = false;
    }

    // Shuts a running child down (killed after its shutdown timeout).
    void stop(Child &child) {
        if (!child.running) return;
        // Unlinked first: a LinkDied queued before the unlink is then freed by
        // retire, and none comes after it.
        lunatic_unlink(child.pid);
        retire(child);
        try {
            detail::shutdown_server(child.pid,
                                    static_cast<int64_t>(child.spec.shutdown_ms_) * 1000000);
        } catch (const TimeoutError &) {
            detail::PendingReply death(child.pid);
            lunatic_kill(child.pid);
            death.wait_death(LUNATIC_INFINITE);
        }
    }

    void stop_all() {
        for (std::size_t i = children_.size(); i-- > 0;) stop(children_[i]);
    }

    // Counts one restart; past the intensity, stops everything and fails.
    void count_restart() {
        auto now = std::chrono::steady_clock::now();
        restarts_.push_back(now);
        while (!restarts_.empty() && now - restarts_.front() > period_) restarts_.pop_front();
        if (restarts_.size() > max_restarts_) {
            stop_all();
            throw std::runtime_error("restart intensity reached: more than " +
                                     std::to_string(max_restarts_) + " restarts in " +
                                     std::to_string(period_.count()) + " ms");
        }
    }

    // Child i ended and restarts: with its siblings as the strategy says.
    void restart_from(std::size_t i) {
        count_restart();
        std::size_t first = i, last = i + 1;
        if (strategy_ == Strategy::one_for_all) first = 0, last = children_.size();
        if (strategy_ == Strategy::rest_for_one) last = children_.size();
        // Which restart: the child that ended and the siblings that were
        // running; temporary siblings are stopped but not restarted (they go).
        std::vector<bool> again(children_.size(), false);
        again[i] = true;
        for (std::size_t k = last; k-- > first;) {
            if (k == i || !children_[k].running) continue;
            again[k] = children_[k].spec.restart_ != Restart::temporary;
            stop(children_[k]);
        }
        for (std::size_t k = first; k < last; ++k) {
            while (again[k]) {
                try {
                    restart(children_[k]);
                    break;
                } catch (const Error &) {
                    count_restart();  // a child that cannot start counts as crashing again
                }
            }
        }
        for (std::size_t k = last; k-- > first;) {
            if (k != i && !children_[k].running && children_[k].spec.restart_ == Restart::temporary)
                children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(k));
        }
    }

    // Starts a child again; its name is free once the old process has ended,
    // unless the registry has not heard yet: then it is taken back.
    void restart(Child &child) {
        lunatic_pid old = child.pid;
        try {
            launch(child);
        } catch (const NameTaken &e) {
            // (Only a name in this node's registry can be taken back here.)
            if (e.pid().id != old.id || e.pid().node != old.node || child.spec.node_ != 0) throw;
            lunatic_unregister(child.spec.name_.c_str(), child.spec.registry_type_.c_str());
            launch(child);
        }
    }

    Strategy strategy_ = Strategy::one_for_one;
    uint32_t max_restarts_ = 1;
    std::chrono::milliseconds period_{5000};
    std::vector<Child> children_;
    std::deque<std::chrono::steady_clock::time_point> restarts_;
};

/// Supervisors register as "ProcessRef<lunatic.Supervisor>/bincode".
LUNATIC_TYPE_NAME(Supervisor, "lunatic.Supervisor")

/// The supervisor's children in start order.
inline std::vector<ChildInfo> which_children(const ProcessRef<Supervisor> &sup) {
    return sup.request(WhichChildren{});
}

/// Starts a child under a running supervisor (placed last); StartFailed if it did not start.
inline ChildInfo start_child(const ProcessRef<Supervisor> &sup, ChildSpec spec) {
    StartChildResult r = sup.request(StartChild{std::move(spec)});
    if (!r.ok) throw StartFailed(r.error);
    return r.child;
}

/// Shuts down the child with id and removes it from the supervisor; false if there is none.
inline bool terminate_child(const ProcessRef<Supervisor> &sup, const std::string &id) {
    return sup.request(TerminateChild{id});
}

}  // namespace lunatic
