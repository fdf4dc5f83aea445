// Links, monitors and kill.
#include "core/links.hpp"
#include "capi/capi.hpp"
#include "core/node/node.hpp"

using namespace lunatic;
using namespace lunatic::capi;

extern "C" {

LUNATIC_API int lunatic_link(lunatic_pid pid, lunatic_tag tag) {
    return guarded("lunatic_link", [&] {
        int code;
        core::Process *self = live_self("lunatic_link", &code);
        if (!self) return code;
        return status(core::link(*self, to_core(pid), tag), "lunatic_link");
    });
}

LUNATIC_API int lunatic_unlink(lunatic_pid pid) {
    return guarded("lunatic_unlink", [&] {
        int code;
        core::Process *self = live_self("lunatic_unlink", &code);
        if (!self) return code;
        return status(core::unlink(*self, to_core(pid)), "lunatic_unlink");
    });
}

LUNATIC_API int lunatic_trap_links(int enable) {
    int code;
    core::Process *self = live_self("lunatic_trap_links", &code);
    if (!self) return code;
    core::set_trap_links(*self, enable != 0);
    return LUNATIC_OK;
}

LUNATIC_API int lunatic_monitor(lunatic_pid pid) {
    return guarded("lunatic_monitor", [&] {
        int code;
        core::Process *self = live_self("lunatic_monitor", &code);
        if (!self) return code;
        return status(core::monitor(*self, to_core(pid), 0), "lunatic_monitor");
    });
}

LUNATIC_API int lunatic_demonitor(lunatic_pid pid) {
    return guarded("lunatic_demonitor", [&] {
        int code;
        core::Process *self = live_self("lunatic_demonitor", &code);
        if (!self) return code;
        return status(core::demonitor(*self, to_core(pid), 0), "lunatic_demonitor");
    });
}

LUNATIC_API int lunatic_monitor_tag(lunatic_pid pid, lunatic_tag tag) {
    return guarded("lunatic_monitor_tag", [&] {
        int code;
        core::Process *self = live_self("lunatic_monitor_tag", &code);
        if (!self) return code;
        return status(core::monitor(*self, to_core(pid), tag), "lunatic_monitor_tag");
    });
}

LUNATIC_API int lunatic_demonitor_tag(lunatic_pid pid, lunatic_tag tag) {
    return guarded("lunatic_demonitor_tag", [&] {
        int code;
        core::Process *self = live_self("lunatic_demonitor_tag", &code);
        if (!self) return code;
        return status(core::demonitor(*self, to_core(pid), tag), "lunatic_demonitor_tag");
    });
}

LUNATIC_API int lunatic_tag_discard(lunatic_tag tag) {
    int code;
    if (tag == LUNATIC_TAG_NONE)
        return fail(LUNATIC_EINVAL, "lunatic_tag_discard: tag 0 (no tag) cannot be discarded");
    core::Process *self = live_self("lunatic_tag_discard", &code);
    if (!self) return code;
    return status(core::discard_tag(*self, tag), "lunatic_tag_discard");
}

LUNATIC_API int lunatic_kill(lunatic_pid pid) {
    return guarded("lunatic_kill", [&] {
        int code;
        core::Process *self = live_self("lunatic_kill", &code);
        if (!self) return code;
        core::node::Node *n = self->runtime.node();
        if (n && pid.node != self->runtime.node_id()) {
            // Another node's process: the kill travels as a frame and acts
            // there (its existence is not checked from here, as Erlang's exit/2).
            if (n->kill(self->runtime.pid_of(*self), to_core(pid)) != Status::ok)
                return fail(LUNATIC_ENONODE,
                            "lunatic_kill: process <%llx.%llu> is on a node this node is not "
                            "connected to",
                            (unsigned long long)pid.node, (unsigned long long)pid.id);
            return LUNATIC_OK;
        }
        core::ProcessRef target = self->runtime.lookup(to_core(pid));
        if (!target || target->state.load(std::memory_order_relaxed) == core::RunState::finished)
            return fail(LUNATIC_ENOPROC, "lunatic_kill: process <%llx.%llu> does not exist",
                        (unsigned long long)pid.node, (unsigned long long)pid.id);
        core::kill(*target.get());
        return LUNATIC_OK;
    });
}

}  // extern "C"
