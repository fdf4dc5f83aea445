// ProcessTable: the live processes of a runtime by id, for O(1) lookup from
// any thread. Sharded so that spawns and sends on different workers rarely
// meet on one lock. The table owns one reference to each process it holds.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "core/process.hpp"
#include "core/spinlock.hpp"

namespace lunatic::core {

class ProcessTable {
public:
    // Takes over the caller's reference. false when out of memory.
    bool insert(Process *p) noexcept;
    // A new reference to the process, or empty.
    ProcessRef find(uint64_t id) noexcept;
    // Drops the table's reference.
    void remove(uint64_t id) noexcept;
    // Calls fn(process) for every process, under the table's locks (so fn
    // must not call back into the table). Allocates nothing.
    template <class Fn>
    void for_each(Fn &&fn) noexcept {
        for (Shard &s : shards_) {
            std::lock_guard lock(s.lock);
            for (auto &entry : s.map) fn(*entry.second);
        }
    }

private:
    static constexpr std::size_t kShards = 64;
    struct alignas(64) Shard {
        Spinlock lock;
        std::unordered_map<uint64_t, Process *> map;
    };
    Shard &shard(uint64_t id) noexcept { return shards_[id % kShards]; }
    Shard shards_[kShards];
};

}  // namespace lunatic::core
