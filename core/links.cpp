#include "core/links.hpp"

#include <algorithm>

#include "core/node/node.hpp"
#include "core/runtime.hpp"

namespace lunatic::core {

namespace {

const char *reason_name(ExitReason r) {
    switch (r) {
    case ExitReason::normal:
        return "normal";
    case ExitReason::failed:
        return "failed";
    case ExitReason::killed:
        return "killed";
    case ExitReason::noproc:
        return "noproc";
    case ExitReason::noconnection:
        return "noconnection";
    case ExitReason::memory_limit:
        return "memory limit";
    case ExitReason::fuel_exhausted:
        return "fuel exhausted";
    }
    return "unknown";
}

// A LinkDied or ProcessDied message; nullptr when out of memory (the signal is then lost,
// which is logged by the caller).
Message *make_signal(MessageKind kind, int64_t tag, Pid who, ExitReason reason,
                     const std::string &text) {
    Message *m = Message::create(tag, text.size());
    if (!m) return nullptr;
    m->append(text.data(), text.size());
    m->set_signal(kind, who, reason);
    m->set_sender(who);
    return m;
}

void send_signal(Process &to, MessageKind kind, int64_t tag, Pid who, ExitReason reason,
                 const std::string &text) {
    Message *m = make_signal(kind, tag, who, reason, text);
    if (!m) {
        to.runtime.log().write(LogLevel::error,
                               "out of memory: a %s signal for process %llu was lost",
                               kind == MessageKind::link_died ? "LinkDied" : "ProcessDied",
                               static_cast<unsigned long long>(to.id));
        return;
    }
    if (deliver(to, m) != Status::ok) Message::destroy(m);
}

// Removes the link entry for `other` from p (lock held); returns whether there was one.
bool remove_link_locked(Process &p, Pid other, int64_t *tag) {
    auto it = std::find_if(p.links.begin(), p.links.end(),
                           [&](const Process::Link &l) { return l.other == other; });
    if (it == p.links.end()) return false;
    if (tag) *tag = it->tag;
    p.links.erase(it);
    return true;
}

void add_link_locked(Process &p, Pid other, int64_t tag) {
    for (Process::Link &l : p.links) {
        if (l.other == other) {
            l.tag = tag;
            return;
        }
    }
    p.links.push_back(Process::Link{other, tag});
}

// `self` learns that the process `gone` it tried to relate to does not exist
// (noproc), or is on a node it is not connected to (noconnection).
Status linked_to_nothing(Process &self, Pid gone, int64_t tag,
                         ExitReason reason = ExitReason::noproc) {
    const char *text = reason == ExitReason::noproc ? "noproc" : "noconnection";
    self.lock.lock();
    const bool trap = self.trap_links;
    self.lock.unlock();
    if (trap) {
        send_signal(self, MessageKind::link_died, tag, gone, reason, text);
        return Status::ok;
    }
    kill(self, reason, text);
    return Status::killed;
}

}  // namespace

std::string exit_text(ExitReason reason, const std::string &detail) {
    std::string text = reason_name(reason);
    if (reason == ExitReason::failed && !detail.empty()) text += ": " + detail;
    return text;
}

Status link(Process &self, Pid target, int64_t tag) {
    Runtime &rt = self.runtime;
    const Pid me = rt.pid_of(self);
    if (target == me) return Status::ok;  // linking to oneself changes nothing
    // Another node's process (a runtime that is no node has none: the lookup
    // below fails, noproc, as it always has).
    if (node::Node *n = rt.node(); n && target.node != rt.node_id()) {
        // This half first: if the connection drops from now on, the node-down
        // pass finds it and signals noconnection.
        self.lock.lock();
        add_link_locked(self, target, tag);
        self.lock.unlock();
        if (n->link(me, target, tag) == Status::ok) return Status::ok;
        remove_link_half(self, target);
        // Not connected to that node: as Erlang, the link fails at once.
        return linked_to_nothing(self, target, tag, ExitReason::noconnection);
    }
    ProcessRef other = rt.lookup(target);
    if (!other) return linked_to_nothing(self, target, tag);
    self.lock.lock();
    add_link_locked(self, target, tag);
    self.lock.unlock();
    other->lock.lock();
    if (other->state.load(std::memory_order_relaxed) == RunState::finished) {
        other->lock.unlock();
        self.lock.lock();
        remove_link_locked(self, target, nullptr);
        self.lock.unlock();
        return linked_to_nothing(self, target, tag);
    }
    add_link_locked(*other.get(), me, tag);
    other->lock.unlock();
    return Status::ok;
}

Status unlink(Process &self, Pid target) {
    Runtime &rt = self.runtime;
    self.lock.lock();
    remove_link_locked(self, target, nullptr);
    self.lock.unlock();
    if (target.node != rt.node_id()) {
        if (node::Node *n = rt.node()) n->unlink(rt.pid_of(self), target);
        return Status::ok;
    }
    if (ProcessRef other = rt.lookup(target)) {
        other->lock.lock();
        remove_link_locked(*other.get(), rt.pid_of(self), nullptr);
        other->lock.unlock();
    }
    return Status::ok;
}

void link_new_child(Process &parent, Process &child, int64_t tag) {
    Runtime &rt = parent.runtime;
    child.links.push_back(Process::Link{rt.pid_of(parent), tag});  // not yet visible to anyone
    parent.lock.lock();
    add_link_locked(parent, rt.pid_of(child), tag);
    parent.lock.unlock();
}

void set_trap_links(Process &self, bool enable) {
    self.lock.lock();
    self.trap_links = enable;
    self.lock.unlock();
}

Status monitor(Process &self, Pid target, int64_t tag) {
    Runtime &rt = self.runtime;
    const Process::Watch mine{target, tag};
    const Process::Watch theirs{rt.pid_of(self), tag};
    if (node::Node *n = rt.node(); n && target.node != rt.node_id()) {
        self.lock.lock();
        if (std::find(self.monitoring.begin(), self.monitoring.end(), mine) ==
            self.monitoring.end())
            self.monitoring.push_back(mine);
        self.lock.unlock();
        if (n->monitor(theirs.other, target, tag) == Status::ok) return Status::ok;
        self.lock.lock();
        auto &m = self.monitoring;
        m.erase(std::remove(m.begin(), m.end(), mine), m.end());
        self.lock.unlock();
        // Not connected to that node: as Erlang, the monitor fires at once.
        send_signal(self, MessageKind::process_died, tag, target, ExitReason::noconnection,
                    "noconnection");
        return Status::ok;
    }
    ProcessRef other = rt.lookup(target);
    if (other) {
        // The watcher's own record is what notify_exit checks, under the
        // watcher's lock: after demonitor returns, no ProcessDied is added.
        self.lock.lock();
        if (std::find(self.monitoring.begin(), self.monitoring.end(), mine) ==
            self.monitoring.end())
            self.monitoring.push_back(mine);
        self.lock.unlock();
        other->lock.lock();
        if (other->state.load(std::memory_order_relaxed) != RunState::finished) {
            if (std::find(other->watchers.begin(), other->watchers.end(), theirs) ==
                other->watchers.end())
                other->watchers.push_back(theirs);
            other->lock.unlock();
            return Status::ok;
        }
        other->lock.unlock();
        self.lock.lock();
        auto &m = self.monitoring;
        m.erase(std::remove(m.begin(), m.end(), mine), m.end());
        self.lock.unlock();
    }
    // Already gone: say so at once (lunatic said nothing here).
    send_signal(self, MessageKind::process_died, tag, target, ExitReason::noproc, "noproc");
    return Status::ok;
}

Status demonitor(Process &self, Pid target, int64_t tag) {
    Runtime &rt = self.runtime;
    const Process::Watch mine{target, tag};
    Message *flushed = nullptr;
    self.lock.lock();
    auto &m = self.monitoring;
    m.erase(std::remove(m.begin(), m.end(), mine), m.end());
    if (tag != 0) {
        // A tagged monitor is recognisable in the mailbox: take its signal too.
        flushed = self.mailbox.remove_if([&](const Message &msg) {
            return msg.kind() == MessageKind::process_died && msg.tag() == tag &&
                   msg.signal_pid() == target;
        });
    }
    self.lock.unlock();
    Message::destroy_list(flushed);
    if (target.node != rt.node_id()) {
        if (node::Node *n = rt.node()) n->demonitor(rt.pid_of(self), target, tag);
        return Status::ok;
    }
    if (ProcessRef other = rt.lookup(target)) {
        const Process::Watch theirs{rt.pid_of(self), tag};
        other->lock.lock();
        auto &w = other->watchers;
        w.erase(std::remove(w.begin(), w.end(), theirs), w.end());
        other->lock.unlock();
    }
    return Status::ok;
}

void link_exit_signal(Runtime &rt, Pid survivor, Pid dead, ExitReason reason,
                      const std::string &text) {
    ProcessRef other = rt.lookup(survivor);
    if (!other) return;
    Message *signal = reason == ExitReason::normal
                          ? nullptr
                          : make_signal(MessageKind::link_died, 0, dead, reason, text);
    other->lock.lock();
    int64_t tag = 0;
    const bool linked = remove_link_locked(*other.get(), dead, &tag) &&
                        other->state.load(std::memory_order_relaxed) != RunState::finished;
    const bool trap = other->trap_links;
    bool wake = false;
    if (linked && reason != ExitReason::normal && trap && signal) {
        signal->set_tag(tag);
        wake = deliver_locked(*other.get(), signal);
        signal = nullptr;
    }
    other->lock.unlock();
    if (wake) make_ready(*other.get());
    if (signal) Message::destroy(signal);
    if (linked && reason != ExitReason::normal && !trap) kill(*other.get(), reason, text);
}

void monitor_down_signal(Runtime &rt, Pid watcher_pid, Pid dead, int64_t tag, ExitReason reason,
                         const std::string &text) {
    ProcessRef watcher = rt.lookup(watcher_pid);
    if (!watcher) return;
    Message *signal = make_signal(MessageKind::process_died, tag, dead, reason, text);
    if (!signal) return;
    watcher->lock.lock();
    auto &m = watcher->monitoring;
    auto it = std::find(m.begin(), m.end(), Process::Watch{dead, tag});
    const bool watching =
        it != m.end() && watcher->state.load(std::memory_order_relaxed) != RunState::finished;
    bool wake = false;
    if (watching) {
        m.erase(it);
        wake = deliver_locked(*watcher.get(), signal);
        signal = nullptr;
    }
    watcher->lock.unlock();
    if (wake) make_ready(*watcher.get());
    if (signal) Message::destroy(signal);
}

bool add_link_half(Process &p, Pid other, int64_t tag) {
    p.lock.lock();
    const bool alive = p.state.load(std::memory_order_relaxed) != RunState::finished;
    if (alive) add_link_locked(p, other, tag);
    p.lock.unlock();
    return alive;
}

void remove_link_half(Process &p, Pid other) {
    p.lock.lock();
    remove_link_locked(p, other, nullptr);
    p.lock.unlock();
}

bool add_watcher(Process &p, Pid watcher, int64_t tag) {
    const Process::Watch w{watcher, tag};
    p.lock.lock();
    const bool alive = p.state.load(std::memory_order_relaxed) != RunState::finished;
    if (alive && std::find(p.watchers.begin(), p.watchers.end(), w) == p.watchers.end())
        p.watchers.push_back(w);
    p.lock.unlock();
    return alive;
}

void remove_watcher(Process &p, Pid watcher, int64_t tag) {
    const Process::Watch w{watcher, tag};
    p.lock.lock();
    p.watchers.erase(std::remove(p.watchers.begin(), p.watchers.end(), w), p.watchers.end());
    p.lock.unlock();
}

void node_down_signals(Runtime &rt, uint64_t node) {
    struct Relation {
        Pid local;
        Pid remote;
        int64_t tag;
        bool link;
    };
    std::vector<Relation> relations;
    const auto on_node = [node](const Process::Watch &w) { return w.other.node == node; };
    try {
        rt.for_each_process([&](Process &p) {
            p.lock.lock();
            try {
                for (const Process::Link &l : p.links)
                    if (l.other.node == node)
                        relations.push_back(Relation{rt.pid_of(p), l.other, l.tag, true});
                for (const Process::Watch &w : p.monitoring)
                    if (w.other.node == node)
                        relations.push_back(Relation{rt.pid_of(p), w.other, w.tag, false});
            } catch (...) {
                p.lock.unlock();
                throw;
            }
            // Monitors held from that node are forgotten: nobody is left to tell.
            p.watchers.erase(std::remove_if(p.watchers.begin(), p.watchers.end(), on_node),
                             p.watchers.end());
            p.lock.unlock();
        });
    } catch (...) {
        rt.log().write(LogLevel::error,
                       "out of memory: some noconnection signals for node %llx were lost",
                       static_cast<unsigned long long>(node));
    }
    // Each signal removes the relation it reports, under the local process's
    // lock, so a relation is reported once even if a late frame races with this.
    for (const Relation &r : relations) {
        if (r.link)
            link_exit_signal(rt, r.local, r.remote, ExitReason::noconnection, "noconnection");
        else
            monitor_down_signal(rt, r.local, r.remote, r.tag, ExitReason::noconnection,
                                "noconnection");
    }
}

void notify_exit(Process &dead, ExitReason reason, const std::string &text,
                 const std::vector<Process::Link> &links,
                 const std::vector<Process::Watch> &watchers) {
    Runtime &rt = dead.runtime;
    const Pid me = rt.pid_of(dead);
    node::Node *n = rt.node();
    // Each signal is queued under the survivor's lock, in the same critical
    // section that checks the relation still stands: once unlink or demonitor
    // has returned, nothing more arrives. Relations with processes on other
    // nodes are told by a frame; their node does the same there.
    for (const Process::Link &l : links) {
        if (l.other.node != me.node) {
            if (n) n->link_exit(me, l.other, reason, text);
            continue;
        }
        link_exit_signal(rt, l.other, me, reason, text);
    }
    for (const Process::Watch &w : watchers) {
        if (w.other.node != me.node) {
            if (n) n->monitor_down(me, w.other, w.tag, reason, text);
            continue;
        }
        monitor_down_signal(rt, w.other, me, w.tag, reason, text);
    }
}

}  // namespace lunatic::core
