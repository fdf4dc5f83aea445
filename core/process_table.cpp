#include "core/process_table.hpp"

#include <cstdlib>
#include <mutex>

namespace lunatic::core {

ProcessTable::~ProcessTable() {
    for (Shard &s : shards_) std::free(s.slots);
}

ProcessTable::Slot *ProcessTable::Shard::locate(uint64_t id) noexcept {
    if (!capacity) return nullptr;
    for (std::size_t i = home(id);; i = (i + 1) & (capacity - 1)) {
        Slot &slot = slots[i];
        if (!slot.process) return nullptr;
        if (slot.id == id) return &slot;
    }
}

bool ProcessTable::Shard::grow() noexcept {
    std::size_t bigger = capacity ? capacity * 2 : 16;
    auto *fresh = static_cast<Slot *>(std::calloc(bigger, sizeof(Slot)));
    if (!fresh) return false;
    Slot *old = slots;
    std::size_t old_capacity = capacity;
    slots = fresh;
    capacity = bigger;
    for (std::size_t i = 0; i < old_capacity; ++i) {
        if (!old[i].process) continue;
        std::size_t j = home(old[i].id);
        while (slots[j].process) j = (j + 1) & (capacity - 1);
        slots[j] = old[i];
    }
    std::free(old);
    return true;
}

// Backward-shift deletion: later members of the probe run move up into the
// hole when their home allows it, so every run stays unbroken.
void ProcessTable::Shard::erase(Slot *slot) noexcept {
    std::size_t mask = capacity - 1;
    std::size_t hole = static_cast<std::size_t>(slot - slots);
    for (std::size_t i = (hole + 1) & mask; slots[i].process; i = (i + 1) & mask) {
        std::size_t h = home(slots[i].id);
        // Movable unless its home lies cyclically in (hole, i].
        bool home_after_hole = hole <= i ? (hole < h && h <= i) : (hole < h || h <= i);
        if (home_after_hole) continue;
        slots[hole] = slots[i];
        hole = i;
    }
    slots[hole] = Slot{0, nullptr};
    --count;
}

bool ProcessTable::insert(Process *p) noexcept {
    Shard &s = shard(p->id);
    std::lock_guard lock(s.lock);
    // At most half full: probe runs stay short.
    if ((s.count + 1) * 2 > s.capacity && !s.grow()) return false;
    std::size_t i = s.home(p->id);
    while (s.slots[i].process) i = (i + 1) & (s.capacity - 1);
    s.slots[i] = Slot{p->id, p};
    ++s.count;
    return true;
}

ProcessRef ProcessTable::find(uint64_t id) noexcept {
    Shard &s = shard(id);
    std::lock_guard lock(s.lock);
    Slot *slot = s.locate(id);
    if (!slot) return ProcessRef();
    slot->process->retain();
    return ProcessRef(slot->process);
}

void ProcessTable::remove(uint64_t id) noexcept {
    Process *p = nullptr;
    {
        Shard &s = shard(id);
        std::lock_guard lock(s.lock);
        Slot *slot = s.locate(id);
        if (!slot) return;
        p = slot->process;
        s.erase(slot);
    }
    p->release();
}

}  // namespace lunatic::core
