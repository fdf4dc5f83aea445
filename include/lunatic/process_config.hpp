// lunatic::ProcessConfig: limits and permissions for spawned processes (see
// "configs" in lunatic.h for the semantics: a new config grants nothing; a
// spawn without one inherits the spawner's; the values are copied at spawn).
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>

#include "lunatic/error.hpp"
#include "lunatic/lunatic.h"

namespace lunatic {

class ProcessConfig {
public:
    /// lunatic::PermissionError if the calling process may not create configs.
    ProcessConfig() { detail::check(lunatic_config_new(&config_)); }
    ~ProcessConfig() { lunatic_config_free(config_); }
    ProcessConfig(const ProcessConfig &) = delete;
    ProcessConfig &operator=(const ProcessConfig &) = delete;
    ProcessConfig(ProcessConfig &&o) noexcept : config_(std::exchange(o.config_, nullptr)) {}
    ProcessConfig &operator=(ProcessConfig &&o) noexcept {
        std::swap(config_, o.config_);
        return *this;
    }

    /// Bytes of stack plus queued messages (0: none).
    ProcessConfig &set_max_memory(uint64_t bytes) {
        detail::check(lunatic_config_set_max_memory(config_, bytes));
        return *this;
    }
    /// CPU budget: time spent running on a worker (0: none).
    ProcessConfig &set_max_fuel(std::chrono::microseconds budget) {
        detail::check(lunatic_config_set_max_fuel(config_, static_cast<uint64_t>(budget.count())));
        return *this;
    }
    ProcessConfig &set_can_spawn_processes(bool allowed) {
        detail::check(lunatic_config_set_can_spawn_processes(config_, allowed));
        return *this;
    }
    ProcessConfig &set_can_create_configs(bool allowed) {
        detail::check(lunatic_config_set_can_create_configs(config_, allowed));
        return *this;
    }
    ProcessConfig &set_stack_size(std::size_t bytes) {
        detail::check(lunatic_config_set_stack_size(config_, bytes));
        return *this;
    }
    ProcessConfig &set_guard_page(bool enabled) {
        detail::check(lunatic_config_set_guard_page(config_, enabled));
        return *this;
    }

    uint64_t max_memory() const { return get<uint64_t>(&lunatic_config_get_max_memory); }
    std::chrono::microseconds max_fuel() const {
        return std::chrono::microseconds(get<uint64_t>(&lunatic_config_get_max_fuel));
    }
    bool can_spawn_processes() const {
        return get<int>(&lunatic_config_get_can_spawn_processes) != 0;
    }
    bool can_create_configs() const {
        return get<int>(&lunatic_config_get_can_create_configs) != 0;
    }
    std::size_t stack_size() const { return get<std::size_t>(&lunatic_config_get_stack_size); }
    bool guard_page() const { return get<int>(&lunatic_config_get_guard_page) != 0; }

    const lunatic_config *raw() const noexcept { return config_; }

private:
    template <class T>
    T get(int (*getter)(const lunatic_config *, T *)) const {
        T value{};
        detail::check(getter(config_, &value));
        return value;
    }
    lunatic_config *config_ = nullptr;
};

}  // namespace lunatic
