// Processes: spawn, send, receive, and the calls a process makes on itself.
#include <cstring>

#include "capi/capi.hpp"
#include "core/entry_registry.hpp"

using namespace lunatic;
using namespace lunatic::capi;

int lunatic::capi::read_spawn_options(const char *what, const lunatic_spawn_options *options,
                                      SpawnOptions *out) noexcept {
    *out = SpawnOptions{};
    if (!options) return LUNATIC_OK;
    if (options->struct_size < offsetof(lunatic_spawn_options, flags) + sizeof(uint32_t) ||
        options->struct_size > sizeof(lunatic_spawn_options) * 4)
        return fail(LUNATIC_EINVAL,
                    "%s: options->struct_size %u is not valid "
                    "(call lunatic_spawn_options_init first)",
                    what, options->struct_size);
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    std::memcpy(&o, options, std::min<size_t>(options->struct_size, sizeof o));
    if (o.flags & ~uint32_t(LUNATIC_SPAWN_GUARD_PAGE | LUNATIC_SPAWN_LINK))
        return fail(LUNATIC_EINVAL, "%s: unknown flags 0x%x", what, o.flags);
    if (o.stack_size > (size_t(1) << 32))
        return fail(LUNATIC_EINVAL, "%s: a stack of %zu bytes is too big", what, o.stack_size);
    out->flags = o.flags;
    out->stack_size = o.stack_size;
    out->guard_page = o.flags & LUNATIC_SPAWN_GUARD_PAGE;
    out->worker = o.worker;
    out->user_free = o.user_free;
    if (o.flags & LUNATIC_SPAWN_LINK) {
        // link_tag arrived with a later version of the struct: older callers cannot ask for a
        // link.
        if (options->struct_size < offsetof(lunatic_spawn_options, link_tag) + sizeof(lunatic_tag))
            return fail(LUNATIC_EINVAL, "%s: LUNATIC_SPAWN_LINK needs a struct with link_tag",
                        what);
        out->link = true;
        out->link_tag = o.link_tag;
    }
    if (options->struct_size >= offsetof(lunatic_spawn_options, config) + sizeof(o.config))
        out->config = o.config;
    return LUNATIC_OK;
}

namespace {

int spawn_entry(const char *what, core::Entry entry, const void *capture, size_t capture_len,
                void *user, const lunatic_spawn_options *options, lunatic_pid *out) {
    int code;
    core::Process *self = live_self(what, &code);
    if (!self) return code;
    if (!capture && capture_len) return fail(LUNATIC_EINVAL, "%s: capture is NULL", what);
    core::SpawnRequest r;
    r.entry = entry;
    r.capture = capture;
    r.capture_len = capture_len;
    r.user = user;
    SpawnOptions o;
    if (int rc = read_spawn_options(what, options, &o); rc != LUNATIC_OK) return rc;
    const uint32_t workers = self->runtime.worker_count();
    if (o.worker < LUNATIC_WORKER_CURRENT || o.worker >= int32_t(workers))
        return fail(LUNATIC_EINVAL, "%s: worker %d does not exist (the runtime has %u)", what,
                    o.worker, workers);
    r.stack_size = o.stack_size;
    r.guard_page = o.guard_page;
    r.worker = o.worker;
    r.user_free = o.user_free;
    r.link = o.link;
    r.link_tag = o.link_tag;
    if (o.config) r.config = snapshot(o.config);
    core::Pid pid;
    Status s = self->runtime.spawn(r, &pid);
    if (s == Status::not_permitted)
        return fail(LUNATIC_EPERM,
                    "%s: this process may not spawn (its config lacks can_spawn_processes)", what);
    if (s == Status::no_memory && r.config && r.config->max_memory)
        return fail(LUNATIC_ENOMEM,
                    "%s: out of memory, or the stack alone is over the config's max_memory", what);
    if (s != Status::ok) return status(s, what);
    if (out) *out = to_c(pid);
    return LUNATIC_OK;
}

}  // namespace

extern "C" {

LUNATIC_API void lunatic_spawn_options_init(lunatic_spawn_options *options) {
    if (!options) return;
    std::memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->worker = LUNATIC_WORKER_ANY;
}

LUNATIC_API int lunatic_spawn(lunatic_entry entry, const void *capture, size_t capture_len,
                              void *user, const lunatic_spawn_options *options, lunatic_pid *out) {
    return guarded("lunatic_spawn", [&] {
        if (!entry) return fail(LUNATIC_EINVAL, "lunatic_spawn: entry is NULL");
        return spawn_entry("lunatic_spawn", entry, capture, capture_len, user, options, out);
    });
}

LUNATIC_API int lunatic_entry_register(const char *name, lunatic_entry entry) {
    return guarded("lunatic_entry_register", [&] {
        if (!name || !*name)
            return fail(LUNATIC_EINVAL, "lunatic_entry_register: name is NULL or empty");
        if (!entry) return fail(LUNATIC_EINVAL, "lunatic_entry_register: entry is NULL");
        Status s = core::EntryRegistry::global().add(name, entry);
        if (s == Status::exists)
            return fail(LUNATIC_EEXIST,
                        "lunatic_entry_register: '%s' is registered to another entry", name);
        return status(s, "lunatic_entry_register");
    });
}

LUNATIC_API int lunatic_entry_lookup(const char *name, lunatic_entry *out) {
    return guarded("lunatic_entry_lookup", [&] {
        if (!name || !out) return fail(LUNATIC_EINVAL, "lunatic_entry_lookup: name or out is NULL");
        core::Entry entry;
        if (core::EntryRegistry::global().find(name, &entry) != Status::ok)
            return fail(LUNATIC_ENOTFOUND, "lunatic_entry_lookup: no entry is registered as '%s'",
                        name);
        *out = entry;
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_spawn_named(const char *name, const void *capture, size_t capture_len,
                                    const lunatic_spawn_options *options, lunatic_pid *out) {
    return guarded("lunatic_spawn_named", [&] {
        if (!name) return fail(LUNATIC_EINVAL, "lunatic_spawn_named: name is NULL");
        core::Entry entry;
        if (core::EntryRegistry::global().find(name, &entry) != Status::ok)
            return fail(LUNATIC_ENOTFOUND, "lunatic_spawn_named: no entry is registered as '%s'",
                        name);
        return spawn_entry("lunatic_spawn_named", entry, capture, capture_len, nullptr, options,
                           out);
    });
}

LUNATIC_API int lunatic_self(lunatic_pid *out) {
    int code;
    core::Process *self = self_or_fail("lunatic_self", &code);
    if (!self) return code;
    if (!out) return fail(LUNATIC_EINVAL, "lunatic_self: out is NULL");
    *out = to_c(self->runtime.pid_of(*self));
    return LUNATIC_OK;
}

LUNATIC_API int lunatic_fail(const char *message) {
    return guarded("lunatic_fail", [&] {
        int code;
        core::Process *self = self_or_fail("lunatic_fail", &code);
        if (!self) return code;
        self->fail_message = message ? message : "";
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_yield(void) {
    int code;
    core::Process *self = live_self("lunatic_yield", &code);
    if (!self) return code;
    return status(core::yield(*self), "lunatic_yield");
}

LUNATIC_API int lunatic_sleep(int64_t duration_ns) {
    int code;
    core::Process *self = live_self("lunatic_sleep", &code);
    if (!self) return code;
    if (duration_ns < 0) return fail(LUNATIC_EINVAL, "lunatic_sleep: negative duration");
    return status(core::sleep(*self, duration_ns), "lunatic_sleep");
}

LUNATIC_API int lunatic_send(lunatic_pid to, lunatic_message *message) {
    int code;
    core::Process *self = live_self("lunatic_send", &code);
    if (!self) return code;
    if (!message) return fail(LUNATIC_EINVAL, "lunatic_send: message is NULL");
    if (!to_core(message)->is_live())
        return fail(LUNATIC_EINVAL, "lunatic_send: message was already freed or sent");
    Status s = self->runtime.send(to_core(to), to_core(message));
    // The target may have gone because this runtime is stopping: the caller
    // then hears that it is killed, whichever of the two the kill pass reached first.
    if (s == Status::no_process &&
        (self->killed.load(std::memory_order_relaxed) || self->runtime.stopping()))
        return fail(LUNATIC_EKILLED, "lunatic_send: the calling process was killed");
    if (s == Status::no_process)
        return fail(LUNATIC_ENOPROC,
                    "lunatic_send: process <%llx.%llu> does not exist (finished, or never "
                    "existed in this runtime)",
                    (unsigned long long)to.node, (unsigned long long)to.id);
    if (s == Status::no_node)
        return fail(LUNATIC_ENONODE,
                    "lunatic_send: process <%llx.%llu> is on node %llx, which this node is not "
                    "connected to",
                    (unsigned long long)to.node, (unsigned long long)to.id,
                    (unsigned long long)to.node);
    return status(s, "lunatic_send");
}

LUNATIC_API int lunatic_send_bytes(lunatic_pid to, lunatic_tag tag, const void *data, size_t len) {
    if (!data && len) return fail(LUNATIC_EINVAL, "lunatic_send_bytes: data is NULL");
    core::Message *m = core::Message::create(tag, len);
    if (!m) return fail(LUNATIC_ENOMEM, "lunatic_send_bytes: cannot allocate %zu bytes", len);
    m->append(data, len);
    int code = lunatic_send(to, to_c(m));
    if (code != LUNATIC_OK) core::Message::destroy(m);
    return code;
}

LUNATIC_API int lunatic_receive_mask(uint32_t mask, const lunatic_tag *tags, size_t ntags,
                                     int64_t timeout_ns, lunatic_message **out) {
    int code;
    if (!out) return fail(LUNATIC_EINVAL, "lunatic_receive: out is NULL");
    *out = nullptr;
    core::Process *self = live_self("lunatic_receive", &code);
    if (!self) return code;
    if (!tags && ntags) return fail(LUNATIC_EINVAL, "lunatic_receive: tags is NULL");
    if (timeout_ns < 0 && timeout_ns != LUNATIC_INFINITE)
        return fail(LUNATIC_EINVAL, "lunatic_receive: negative timeout (use LUNATIC_INFINITE)");
    if ((mask & LUNATIC_RECEIVE_ALL) == 0 ||
        (mask & ~uint32_t(LUNATIC_RECEIVE_ALL | LUNATIC_RECEIVE_SIGNAL_TAGS)))
        return fail(LUNATIC_EINVAL,
                    "lunatic_receive_mask: mask 0x%x is not a set of LUNATIC_RECEIVE_* bits", mask);
    static_assert(core::TagFilter::kData == LUNATIC_RECEIVE_DATA);
    static_assert(core::TagFilter::kLinkDied == LUNATIC_RECEIVE_LINK_DIED);
    static_assert(core::TagFilter::kProcessDied == LUNATIC_RECEIVE_PROCESS_DIED);
    static_assert(core::TagFilter::kSignalTags == LUNATIC_RECEIVE_SIGNAL_TAGS);
    core::Message *m = nullptr;
    Status s = core::receive(*self, core::TagFilter{tags, ntags, mask}, timeout_ns, &m);
    if (s != Status::ok) return status(s, "lunatic_receive");
    *out = to_c(m);
    return LUNATIC_OK;
}

LUNATIC_API int lunatic_receive(const lunatic_tag *tags, size_t ntags, int64_t timeout_ns,
                                lunatic_message **out) {
    return lunatic_receive_mask(LUNATIC_RECEIVE_DATA, tags, ntags, timeout_ns, out);
}

LUNATIC_API int lunatic_mailbox_size(size_t *out) {
    int code;
    core::Process *self = self_or_fail("lunatic_mailbox_size", &code);
    if (!self) return code;
    if (!out) return fail(LUNATIC_EINVAL, "lunatic_mailbox_size: out is NULL");
    self->lock.lock();
    *out = self->mailbox.size();
    self->lock.unlock();
    return LUNATIC_OK;
}

LUNATIC_API int lunatic_process_local_get(const void *key, void **out) {
    int code;
    core::Process *self = self_or_fail("lunatic_process_local_get", &code);
    if (!self) return code;
    if (!key || !out) return fail(LUNATIC_EINVAL, "lunatic_process_local_get: key or out is NULL");
    *out = self->local(key);
    return LUNATIC_OK;
}

LUNATIC_API int lunatic_process_local_set(const void *key, void *value, void (*destroy)(void *)) {
    return guarded("lunatic_process_local_set", [&] {
        int code;
        core::Process *self = self_or_fail("lunatic_process_local_set", &code);
        if (!self) return code;
        if (!key) return fail(LUNATIC_EINVAL, "lunatic_process_local_set: key is NULL");
        self->set_local(key, value, destroy);
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_blocking(int (*fn)(void *arg), void *arg, int *out_result) {
    return guarded("lunatic_blocking", [&] {
        int code;
        core::Process *self = live_self("lunatic_blocking", &code);
        if (!self) return code;
        if (!fn) return fail(LUNATIC_EINVAL, "lunatic_blocking: fn is NULL");
        int result = 0;
        Status s = core::run_blocking(*self, fn, arg, &result);
        if (s != Status::ok) return status(s, "lunatic_blocking");
        if (out_result) *out_result = result;
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_process_alive(lunatic_pid pid) {
    core::Process *self = core::current_process();
    if (!self) return 0;
    core::ProcessRef p = self->runtime.lookup(to_core(pid));
    return p && p->state.load(std::memory_order_relaxed) != core::RunState::finished;
}

}  // extern "C"
