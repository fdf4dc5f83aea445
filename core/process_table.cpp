#include "core/process_table.hpp"

#include <mutex>

namespace lunatic::core {

bool ProcessTable::insert(Process *p) noexcept {
    Shard &s = shard(p->id);
    std::lock_guard lock(s.lock);
    try {
        s.map.emplace(p->id, p);
    } catch (...) {
        return false;
    }
    return true;
}

ProcessRef ProcessTable::find(uint64_t id) noexcept {
    Shard &s = shard(id);
    std::lock_guard lock(s.lock);
    auto it = s.map.find(id);
    if (it == s.map.end()) return ProcessRef();
    it->second->retain();
    return ProcessRef(it->second);
}

void ProcessTable::remove(uint64_t id) noexcept {
    Process *p = nullptr;
    {
        Shard &s = shard(id);
        std::lock_guard lock(s.lock);
        auto it = s.map.find(id);
        if (it == s.map.end()) return;
        p = it->second;
        s.map.erase(it);
    }
    p->release();
}

}  // namespace lunatic::core
