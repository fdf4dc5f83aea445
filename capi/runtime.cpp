// Runtimes: create, destroy, attach and detach OS threads.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "capi/capi.hpp"

using namespace lunatic;
using namespace lunatic::capi;

extern "C" {

LUNATIC_API void lunatic_runtime_options_init(lunatic_runtime_options *options) {
    if (!options) return;
    std::memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
}

LUNATIC_API int lunatic_runtime_create(const lunatic_runtime_options *options,
                                       lunatic_runtime **out) {
    return guarded("lunatic_runtime_create", [&] {
        if (!out) return fail(LUNATIC_EINVAL, "lunatic_runtime_create: out is NULL");
        *out = nullptr;
        core::RuntimeOptions o;
        if (options) {
            // Fields are read only as far as the caller's struct goes (older callers have fewer).
            if (options->struct_size <
                    offsetof(lunatic_runtime_options, workers) + sizeof(uint32_t) ||
                options->struct_size > sizeof(lunatic_runtime_options) * 4)
                return fail(LUNATIC_EINVAL,
                            "lunatic_runtime_create: options->struct_size %u is not valid "
                            "(call lunatic_runtime_options_init first)",
                            options->struct_size);
            lunatic_runtime_options copy;
            lunatic_runtime_options_init(&copy);
            std::memcpy(&copy, options, std::min<size_t>(options->struct_size, sizeof copy));
            o.workers = copy.workers;
            o.default_stack_size = copy.default_stack_size;
            o.idle_spins = copy.idle_spins;
            o.log = copy.log;
            o.log_user = copy.log_user;
            o.watchdog_ms = copy.watchdog_ms;
            if (o.workers > 1024)
                return fail(LUNATIC_EINVAL, "lunatic_runtime_create: %u workers is more than 1024",
                            o.workers);
            if (o.default_stack_size > (size_t(1) << 32))
                return fail(LUNATIC_EINVAL,
                            "lunatic_runtime_create: default stack of %zu bytes is too big",
                            o.default_stack_size);
        }
        core::Runtime *rt = nullptr;
        Status s = core::Runtime::create(o, &rt);
        if (s != Status::ok) return status(s, "lunatic_runtime_create");
        *out = to_c(rt);
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_runtime_destroy(lunatic_runtime *runtime) {
    if (!runtime) return LUNATIC_OK;
    return guarded("lunatic_runtime_destroy", [&] {
        core::Process *self = core::current_process();
        if (self && !self->is_thread)
            return fail(LUNATIC_ESTATE,
                        "lunatic_runtime_destroy: called from a process "
                        "(destroy a runtime from a plain or attached thread)");
        return status(to_core(runtime)->destroy(), "lunatic_runtime_destroy");
    });
}

LUNATIC_API uint64_t lunatic_runtime_node_id(const lunatic_runtime *runtime) {
    return runtime ? to_core(runtime)->node_id() : 0;
}

LUNATIC_API uint32_t lunatic_runtime_workers(const lunatic_runtime *runtime) {
    return runtime ? to_core(runtime)->worker_count() : 0;
}

LUNATIC_API uint64_t lunatic_runtime_process_count(const lunatic_runtime *runtime) {
    return runtime ? to_core(runtime)->process_count() : 0;
}

LUNATIC_API int lunatic_runtime_attach(lunatic_runtime *runtime, lunatic_pid *out) {
    return guarded("lunatic_runtime_attach", [&] {
        if (!runtime) return fail(LUNATIC_EINVAL, "lunatic_runtime_attach: runtime is NULL");
        if (core::current_process())
            return fail(LUNATIC_EEXIST,
                        "lunatic_runtime_attach: the calling thread already is a "
                        "lunatic process (detach it first)");
        core::Pid pid;
        Status s = to_core(runtime)->attach(&pid);
        if (s != Status::ok) return status(s, "lunatic_runtime_attach");
        if (out) *out = to_c(pid);
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_detach(void) {
    return guarded("lunatic_detach", [&] {
        core::Process *self = core::current_process();
        if (!self || !self->is_thread)
            return fail(LUNATIC_ESTATE, "lunatic_detach: the calling thread is not attached");
        return status(self->runtime.detach(*self), "lunatic_detach");
    });
}

LUNATIC_API lunatic_runtime *lunatic_current_runtime(void) {
    core::Process *self = core::current_process();
    return self ? to_c(&self->runtime) : nullptr;
}

}  // extern "C"
