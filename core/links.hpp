// Links and monitors: how a process's end reaches the processes related to it.
//
// Links are two-way: each side keeps an entry {other, tag} under its own lock.
// An entry is removed from the survivor's list at the moment it is notified,
// so each side hears of the other's end at most once, and a process that has
// finished hears nothing. Monitors are one-way: the target keeps the list of
// its watchers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/message.hpp"
#include "core/process.hpp"
#include "core/status.hpp"

namespace lunatic::core {

class Runtime;

// The text linked and monitoring processes see: "normal", "failed: <why>", "killed", ...
std::string exit_text(ExitReason reason, const std::string &detail);

Status link(Process &self, Pid target, int64_t tag);
Status unlink(Process &self, Pid target);
// Monitors with different tags between the same pair are independent; a
// PROCESS_DIED carries its monitor's tag. demonitor also frees a PROCESS_DIED
// of that monitor already queued when tag != 0 (an untagged monitor's stays,
// as it always has).
Status monitor(Process &self, Pid target, int64_t tag);
Status demonitor(Process &self, Pid target, int64_t tag);
void set_trap_links(Process &self, bool enable);

// Links a just-made child (not yet running) to its parent.
void link_new_child(Process &parent, Process &child, int64_t tag);

// ---- halves of relations with processes on other nodes (core/node/): each
// side keeps its own half; these act on the local one, under its lock.
// Adds a link entry for `other` to p; false if p has finished.
bool add_link_half(Process &p, Pid other, int64_t tag);
void remove_link_half(Process &p, Pid other);
// Adds `watcher` to p's watchers; false if p has finished.
bool add_watcher(Process &p, Pid watcher, int64_t tag);
void remove_watcher(Process &p, Pid watcher, int64_t tag);
// `dead` (a process elsewhere) ended: the local `survivor` linked to it fails
// or gets a LinkDied, if the link still stands (so at most once per link).
void link_exit_signal(Runtime &rt, Pid survivor, Pid dead, ExitReason reason,
                      const std::string &text);
// `dead` ended: the local `watcher` gets a ProcessDied if that monitor still stands.
void monitor_down_signal(Runtime &rt, Pid watcher, Pid dead, int64_t tag, ExitReason reason,
                         const std::string &text);
// The connection to `node` is lost: every local link to and monitor of a
// process there ends with reason noconnection (once each: the relation is
// removed as it is signalled), and watchers there are forgotten.
void node_down_signals(Runtime &rt, uint64_t node);

// Tells the links and watchers of a process that has just finished.
void notify_exit(Process &dead, ExitReason reason, const std::string &text,
                 const std::vector<Process::Link> &links,
                 const std::vector<Process::Watch> &watchers);

}  // namespace lunatic::core
