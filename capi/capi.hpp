// Shared by the C ABI's translation units: turning core results into status
// codes with a detail message, and keeping every C++ exception on this side.
#pragma once

#include <new>

#include "core/current.hpp"
#include "core/message.hpp"
#include "core/process.hpp"
#include "core/process_config.hpp"
#include "core/runtime.hpp"
#include "core/status.hpp"
#include "lunatic/lunatic.h"

namespace lunatic::capi {

using core::Status;

// Records `format` as the caller's lunatic_errmsg() and returns code.
int fail(int code, const char *format, ...) noexcept __attribute__((format(printf, 2, 3)));

// A core status as a C code, with a standard detail for errors.
int status(Status s, const char *what) noexcept;

// Runs body, turning any escaping exception into a status code.
template <typename Body>
int guarded(const char *what, Body &&body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return fail(LUNATIC_ENOMEM, "%s: out of memory", what);
    } catch (...) {
        return fail(LUNATIC_EINTERNAL, "%s: internal error", what);
    }
}

// The calling process, or nullptr after recording LUNATIC_ESTATE.
core::Process *self_or_fail(const char *what, int *code) noexcept;

// The calling process if it may still act: nullptr after recording
// LUNATIC_ESTATE, or LUNATIC_EKILLED once it is killed or its runtime stops
// (a stopping runtime kills its attached threads too, whatever the order of
// the kill pass).
core::Process *live_self(const char *what, int *code) noexcept;

// An immutable copy of a config handle's values, for a spawn.
core::SharedConfig snapshot(const lunatic_config *config);

// A lunatic_spawn_options, checked and with the fields its struct_size lacks
// at their defaults.
struct SpawnOptions {
    uint32_t flags = 0;
    size_t stack_size = 0;
    bool guard_page = false;
    int32_t worker = LUNATIC_WORKER_ANY;
    void (*user_free)(void *) = nullptr;
    bool link = false;
    lunatic_tag link_tag = 0;
    const lunatic_config *config = nullptr;
};

// Reads *options (NULL: the defaults) into *out, checking struct_size, flags,
// the stack size and that a link comes with a struct that has link_tag. The
// worker index is the caller's to check (it means nothing on another node).
// LUNATIC_OK, or LUNATIC_EINVAL recorded with `what`.
int read_spawn_options(const char *what, const lunatic_spawn_options *options,
                       SpawnOptions *out) noexcept;

inline core::Message *to_core(lunatic_message *m) noexcept {
    return reinterpret_cast<core::Message *>(m);
}
inline const core::Message *to_core(const lunatic_message *m) noexcept {
    return reinterpret_cast<const core::Message *>(m);
}
inline lunatic_message *to_c(core::Message *m) noexcept {
    return reinterpret_cast<lunatic_message *>(m);
}
inline core::Runtime *to_core(lunatic_runtime *r) noexcept {
    return reinterpret_cast<core::Runtime *>(r);
}
inline const core::Runtime *to_core(const lunatic_runtime *r) noexcept {
    return reinterpret_cast<const core::Runtime *>(r);
}
inline lunatic_runtime *to_c(core::Runtime *r) noexcept {
    return reinterpret_cast<lunatic_runtime *>(r);
}
inline core::Pid to_core(lunatic_pid p) noexcept { return core::Pid{p.node, p.id}; }
inline lunatic_pid to_c(core::Pid p) noexcept { return lunatic_pid{p.node, p.id}; }

}  // namespace lunatic::capi
