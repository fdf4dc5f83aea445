// ProcessConfig: the limits and permissions a process runs under. Immutable
// once a process has it (shared by a parent and the children that inherit
// it); a process without one (an attached thread, or a child of one) has
// every permission and no limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace lunatic::core {

struct ProcessConfig {
    uint64_t max_memory = 0;   // bytes of stack + queued messages; 0 = none
    uint64_t max_fuel_us = 0;  // microseconds of running time; 0 = none
    bool can_spawn_processes = false;
    bool can_create_configs = false;
    std::size_t stack_size = 0;  // 0 = the runtime's default
    bool guard_page = false;
};

using SharedConfig = std::shared_ptr<const ProcessConfig>;

}  // namespace lunatic::core
