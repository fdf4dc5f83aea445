// Configs: limits and permissions of processes.
#include "capi/capi.hpp"
#include "core/process_config.hpp"

using namespace lunatic;
using namespace lunatic::capi;

// The handle is a ProcessConfig; spawns copy it into a shared, immutable one.
struct lunatic_config {
    core::ProcessConfig values;
};

namespace lunatic::capi {
core::SharedConfig snapshot(const lunatic_config *config) {
    return std::make_shared<const core::ProcessConfig>(config->values);
}
}  // namespace lunatic::capi

#define LUNATIC_CONFIG_ACCESSORS(field, ctype, name)                                              \
    LUNATIC_API int lunatic_config_set_##name(lunatic_config *config, ctype value) {              \
        if (!config) return fail(LUNATIC_EINVAL, "lunatic_config_set_" #name ": config is NULL"); \
        config->values.field = value;                                                             \
        return LUNATIC_OK;                                                                        \
    }                                                                                             \
    LUNATIC_API int lunatic_config_get_##name(const lunatic_config *config, ctype *out) {         \
        if (!config || !out)                                                                      \
            return fail(LUNATIC_EINVAL, "lunatic_config_get_" #name ": config or out is NULL");   \
        *out = static_cast<ctype>(config->values.field);                                          \
        return LUNATIC_OK;                                                                        \
    }

extern "C" {

LUNATIC_API int lunatic_config_new(lunatic_config **out) {
    return guarded("lunatic_config_new", [&] {
        if (!out) return fail(LUNATIC_EINVAL, "lunatic_config_new: out is NULL");
        *out = nullptr;
        core::Process *self = core::current_process();
        if (self && self->config && !self->config->can_create_configs)
            return fail(LUNATIC_EPERM,
                        "lunatic_config_new: this process may not create configs "
                        "(its config lacks can_create_configs)");
        *out = new lunatic_config();
        return LUNATIC_OK;
    });
}

LUNATIC_API void lunatic_config_free(lunatic_config *config) { delete config; }

LUNATIC_CONFIG_ACCESSORS(max_memory, uint64_t, max_memory)
LUNATIC_CONFIG_ACCESSORS(max_fuel_us, uint64_t, max_fuel)

LUNATIC_API int lunatic_config_set_can_spawn_processes(lunatic_config *config, int allowed) {
    if (!config)
        return fail(LUNATIC_EINVAL, "lunatic_config_set_can_spawn_processes: config is NULL");
    config->values.can_spawn_processes = allowed != 0;
    return LUNATIC_OK;
}
LUNATIC_API int lunatic_config_get_can_spawn_processes(const lunatic_config *config, int *out) {
    if (!config || !out)
        return fail(LUNATIC_EINVAL, "lunatic_config_get_can_spawn_processes: NULL argument");
    *out = config->values.can_spawn_processes ? 1 : 0;
    return LUNATIC_OK;
}
LUNATIC_API int lunatic_config_set_can_create_configs(lunatic_config *config, int allowed) {
    if (!config)
        return fail(LUNATIC_EINVAL, "lunatic_config_set_can_create_configs: config is NULL");
    config->values.can_create_configs = allowed != 0;
    return LUNATIC_OK;
}
LUNATIC_API int lunatic_config_get_can_create_configs(const lunatic_config *config, int *out) {
    if (!config || !out)
        return fail(LUNATIC_EINVAL, "lunatic_config_get_can_create_configs: NULL argument");
    *out = config->values.can_create_configs ? 1 : 0;
    return LUNATIC_OK;
}
LUNATIC_API int lunatic_config_set_stack_size(lunatic_config *config, size_t bytes) {
    if (!config) return fail(LUNATIC_EINVAL, "lunatic_config_set_stack_size: config is NULL");
    if (bytes > (size_t(1) << 32))
        return fail(LUNATIC_EINVAL, "lunatic_config_set_stack_size: %zu bytes is too big", bytes);
    config->values.stack_size = bytes;
    return LUNATIC_OK;
}
LUNATIC_API int lunatic_config_get_stack_size(const lunatic_config *config, size_t *out) {
    if (!config || !out)
        return fail(LUNATIC_EINVAL, "lunatic_config_get_stack_size: NULL argument");
    *out = config->values.stack_size;
    return LUNATIC_OK;
}
LUNATIC_API int lunatic_config_set_guard_page(lunatic_config *config, int enabled) {
    if (!config) return fail(LUNATIC_EINVAL, "lunatic_config_set_guard_page: config is NULL");
    config->values.guard_page = enabled != 0;
    return LUNATIC_OK;
}
LUNATIC_API int lunatic_config_get_guard_page(const lunatic_config *config, int *out) {
    if (!config || !out)
        return fail(LUNATIC_EINVAL, "lunatic_config_get_guard_page: NULL argument");
    *out = config->values.guard_page ? 1 : 0;
    return LUNATIC_OK;
}

}  // extern "C"
