// Timers: messages sent after a delay.
#include "capi/capi.hpp"
#include "core/node/node.hpp"

using namespace lunatic;
using namespace lunatic::capi;

extern "C" {

LUNATIC_API int lunatic_send_after(lunatic_pid pid, lunatic_message *message, int64_t delay_ns,
                                   lunatic_timer *out) {
    return guarded("lunatic_send_after", [&] {
        int code;
        core::Process *self = live_self("lunatic_send_after", &code);
        if (!self) return code;
        if (!message) return fail(LUNATIC_EINVAL, "lunatic_send_after: message is NULL");
        if (!to_core(message)->is_live())
            return fail(LUNATIC_EINVAL, "lunatic_send_after: message was already freed or sent");
        if (delay_ns < 0) return fail(LUNATIC_EINVAL, "lunatic_send_after: negative delay");
        if (delay_ns > int64_t(1000000000) * 1000000000)
            return fail(LUNATIC_EINVAL, "lunatic_send_after: a delay over 31 years");
        core::Runtime &rt = self->runtime;
        // A timer for another node's process runs here and sends when it fires;
        // that node must be connected now (it may be gone by then: the message is dropped).
        if (pid.node != rt.node_id() && !(rt.node() && rt.node()->connected(pid.node)))
            return fail(LUNATIC_ENONODE,
                        "lunatic_send_after: process <%llx.%llu> is on a node this node is not "
                        "connected to",
                        (unsigned long long)pid.node, (unsigned long long)pid.id);
        core::Message *m = to_core(message);
        m->set_sender(rt.pid_of(*self));
        uint64_t id = 0;
        Status s = rt.timers().add(to_core(pid), m, delay_ns, &id);
        if (s != Status::ok) return status(s, "lunatic_send_after");
        if (out) *out = lunatic_timer{rt.node_id(), id};
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_timer_cancel(lunatic_timer timer, int *out_cancelled) {
    return guarded("lunatic_timer_cancel", [&] {
        int code;
        core::Process *self = self_or_fail("lunatic_timer_cancel", &code);
        if (!self) return code;
        if (timer.node != self->runtime.node_id())
            return fail(LUNATIC_ENONODE, "lunatic_timer_cancel: the timer belongs to another node");
        bool cancelled = self->runtime.timers().cancel(timer.id);
        if (out_cancelled) *out_cancelled = cancelled ? 1 : 0;
        return LUNATIC_OK;
    });
}

}  // extern "C"
