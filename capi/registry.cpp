// Process names.
#include <cstring>
#include <string>

#include "capi/capi.hpp"

using namespace lunatic;
using namespace lunatic::capi;

namespace {
constexpr size_t kMaxName = 4096;

bool valid_name(const char *name, const char *type, const char *what, int *code) {
    if (!name || !*name) {
        *code = fail(LUNATIC_EINVAL, "%s: name is NULL or empty", what);
        return false;
    }
    if (strnlen(name, kMaxName + 1) > kMaxName ||
        (type && strnlen(type, kMaxName + 1) > kMaxName)) {
        *code = fail(LUNATIC_EINVAL, "%s: name or type longer than %zu bytes", what, kMaxName);
        return false;
    }
    return true;
}
}  // namespace

extern "C" {

LUNATIC_API int lunatic_register(const char *name, const char *type, lunatic_pid pid) {
    return guarded("lunatic_register", [&] {
        int code;
        core::Process *self = self_or_fail("lunatic_register", &code);
        if (!self) return code;
        if (!valid_name(name, type, "lunatic_register", &code)) return code;
        Status s = self->runtime.registry().add(
            self->runtime, core::Registry::key(name, type ? type : ""), to_core(pid));
        if (s == Status::exists)
            return fail(LUNATIC_EEXIST, "lunatic_register: '%s' is taken (unregister it first)",
                        name);
        if (s == Status::no_process)
            return fail(LUNATIC_ENOPROC, "lunatic_register: process <%llx.%llu> does not exist",
                        (unsigned long long)pid.node, (unsigned long long)pid.id);
        return status(s, "lunatic_register");
    });
}

LUNATIC_API int lunatic_unregister(const char *name, const char *type) {
    return guarded("lunatic_unregister", [&] {
        int code;
        core::Process *self = self_or_fail("lunatic_unregister", &code);
        if (!self) return code;
        if (!valid_name(name, type, "lunatic_unregister", &code)) return code;
        if (self->runtime.registry().remove(core::Registry::key(name, type ? type : "")) !=
            Status::ok)
            return fail(LUNATIC_ENOTFOUND, "lunatic_unregister: '%s' is not registered", name);
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_lookup(const char *name, const char *type, lunatic_pid *out) {
    return guarded("lunatic_lookup", [&] {
        int code;
        core::Process *self = self_or_fail("lunatic_lookup", &code);
        if (!self) return code;
        if (!valid_name(name, type, "lunatic_lookup", &code)) return code;
        if (!out) return fail(LUNATIC_EINVAL, "lunatic_lookup: out is NULL");
        core::Pid pid;
        if (self->runtime.registry().find(core::Registry::key(name, type ? type : ""), &pid) !=
            Status::ok)
            return fail(LUNATIC_ENOTFOUND,
                        "lunatic_lookup: nothing is registered as '%s' with type '%s'", name,
                        type ? type : "");
        *out = to_c(pid);
        return LUNATIC_OK;
    });
}

}  // extern "C"
