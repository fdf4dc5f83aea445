// Status codes, error details, versions and tags.
#include <cstdarg>
#include <cstdio>

#include "capi/capi.hpp"
#include "core/tag.hpp"

namespace lunatic::capi {

static_assert(int(Status::invalid_argument) == LUNATIC_EINVAL);
static_assert(int(Status::no_process) == LUNATIC_ENOPROC);
static_assert(int(Status::timed_out) == LUNATIC_ETIMEDOUT);
static_assert(int(Status::killed) == LUNATIC_EKILLED);
static_assert(int(Status::not_permitted) == LUNATIC_EPERM);
static_assert(int(Status::no_memory) == LUNATIC_ENOMEM);
static_assert(int(Status::exists) == LUNATIC_EEXIST);
static_assert(int(Status::not_found) == LUNATIC_ENOTFOUND);
static_assert(int(Status::decode_failed) == LUNATIC_EDECODE);
static_assert(int(Status::no_node) == LUNATIC_ENONODE);
static_assert(int(Status::bad_state) == LUNATIC_ESTATE);
static_assert(int(Status::not_supported) == LUNATIC_ENOTSUP);
static_assert(int(Status::internal) == LUNATIC_EINTERNAL);

int fail(int code, const char *format, ...) noexcept {
    char line[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(line, sizeof line, format, args);
    va_end(args);
    try {
        core::error_detail() = line;
    } catch (...) {
    }
    return code;
}

int status(Status s, const char *what) noexcept {
    if (s == Status::ok) return LUNATIC_OK;
    return fail(int(s), "%s: %s", what, lunatic_strerror(int(s)));
}

core::Process *self_or_fail(const char *what, int *code) noexcept {
    core::Process *self = core::current_process();
    if (!self)
        *code = fail(LUNATIC_ESTATE,
                     "%s: the calling thread is not a lunatic process "
                     "(run it in a process or attach it with lunatic_runtime_attach)",
                     what);
    return self;
}

core::Process *live_self(const char *what, int *code) noexcept {
    core::Process *self = self_or_fail(what, code);
    // Every runtime call is where a spent fuel budget takes effect.
    if (self && self->fuel_spent())
        core::kill(*self, core::ExitReason::fuel_exhausted, "fuel exhausted");
    if (self && (self->killed.load(std::memory_order_relaxed) || self->runtime.stopping())) {
        *code = fail(LUNATIC_EKILLED, "%s: the calling process was killed", what);
        return nullptr;
    }
    return self;
}

}  // namespace lunatic::capi

using namespace lunatic;

extern "C" {

LUNATIC_API const char *lunatic_version_string(void) { return LUNATIC_VERSION_STRING; }

LUNATIC_API int lunatic_version_number(void) { return LUNATIC_VERSION_NUMBER; }

LUNATIC_API const char *lunatic_strerror(int code) {
    switch (code) {
    case LUNATIC_OK:
        return "success";
    case LUNATIC_EINVAL:
        return "invalid argument";
    case LUNATIC_ENOPROC:
        return "no such process";
    case LUNATIC_ETIMEDOUT:
        return "timed out";
    case LUNATIC_EKILLED:
        return "process killed";
    case LUNATIC_EPERM:
        return "not permitted";
    case LUNATIC_ENOMEM:
        return "out of memory or over a limit";
    case LUNATIC_EEXIST:
        return "already exists";
    case LUNATIC_ENOTFOUND:
        return "not found";
    case LUNATIC_EDECODE:
        return "payload could not be decoded";
    case LUNATIC_ENONODE:
        return "no such node";
    case LUNATIC_ESTATE:
        return "wrong state for this call";
    case LUNATIC_ENOTSUP:
        return "not supported";
    case LUNATIC_EINTERNAL:
        return "internal error";
    default:
        return "unknown status code";
    }
}

LUNATIC_API const char *lunatic_errmsg(void) {
    try {
        return core::error_detail().c_str();
    } catch (...) {
        return "";
    }
}

LUNATIC_API lunatic_tag lunatic_tag_new(void) { return core::new_tag(); }

}  // extern "C"
