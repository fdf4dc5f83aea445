#include "core/registry.hpp"

#include "core/runtime.hpp"

namespace lunatic::core {

Status Registry::add(Runtime &runtime, const std::string &key, Pid pid) {
    ProcessRef p = runtime.lookup(pid);
    if (!p) return Status::no_process;
    {
        std::lock_guard lock(mutex_);
        auto [it, inserted] = names_.emplace(key, pid);
        if (!inserted) return it->second == pid ? Status::ok : Status::exists;
    }
    // Remember the key in the process, so its end frees the name.
    p->lock.lock();
    const bool gone = p->state.load(std::memory_order_relaxed) == RunState::finished;
    if (!gone) {
        try {
            p->names.push_back(key);
        } catch (...) {
            p->lock.unlock();
            remove_if_owned(key, pid);
            return Status::no_memory;
        }
    }
    p->lock.unlock();
    if (gone) {
        remove_if_owned(key, pid);
        return Status::no_process;
    }
    return Status::ok;
}

Status Registry::remove(const std::string &key) {
    std::lock_guard lock(mutex_);
    return names_.erase(key) ? Status::ok : Status::not_found;
}

Status Registry::find(const std::string &key, Pid *out) const {
    std::lock_guard lock(mutex_);
    auto it = names_.find(key);
    if (it == names_.end()) return Status::not_found;
    *out = it->second;
    return Status::ok;
}

void Registry::remove_if_owned(const std::string &key, Pid owner) noexcept {
    std::lock_guard lock(mutex_);
    auto it = names_.find(key);
    if (it != names_.end() && it->second == owner) names_.erase(it);
}

}  // namespace lunatic::core
