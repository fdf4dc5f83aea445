// ProcessTable: the live processes of a runtime by id, for O(1) lookup from
// any thread. Sharded so that spawns and sends on different workers rarely
// meet on one lock. The table owns one reference to each process it holds.
//
// Each shard is an open-addressing table (linear probing, deletion by
// backward shift, so no tombstones): a lookup reads one slot array, not a
// bucket then a list node, and a spawn allocates nothing until the shard
// grows. Ids come from one counter, so within a shard (id % kShards) the
// id / kShards is dense and indexes slots directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "core/process.hpp"
#include "core/spinlock.hpp"

namespace lunatic::core {

class ProcessTable {
public:
    ProcessTable() = default;
    ~ProcessTable();
    ProcessTable(const ProcessTable &) = delete;
    ProcessTable &operator=(const ProcessTable &) = delete;

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
            for (std::size_t i = 0; i < s.capacity; ++i)
                if (s.slots[i].process) fn(*s.slots[i].process);
        }
    }

private:
    static constexpr std::size_t kShards = 64;
    struct Slot {
        uint64_t id;
        Process *process;  // null: free
    };
    struct alignas(64) Shard {
        Spinlock lock;
        Slot *slots = nullptr;
        std::size_t capacity = 0;  // a power of two, or 0
        std::size_t count = 0;

        std::size_t home(uint64_t id) const noexcept { return (id / kShards) & (capacity - 1); }
        Slot *locate(uint64_t id) noexcept;  // the slot holding id, or null
        bool grow() noexcept;
        void erase(Slot *slot) noexcept;
    };
    Shard &shard(uint64_t id) noexcept { return shards_[id % kShards]; }
    Shard shards_[kShards];
};

}  // namespace lunatic::core
