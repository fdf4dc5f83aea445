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

// Tells the links and watchers of a process that has just finished.
void notify_exit(Process &dead, ExitReason reason, const std::string &text,
                 const std::vector<Process::Link> &links,
                 const std::vector<Process::Watch> &watchers);

}  // namespace lunatic::core
