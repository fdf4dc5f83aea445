// StackPool: fiber stacks carved out of large lazily-committed mappings.
//
// Spawning takes a stack from a per-worker cache (no lock, no syscall); the
// caches refill from and spill to a shared free list in batches. Stacks are
// slots of big MAP_NORESERVE mappings, so a million stacks need a few hundred
// kernel mappings, not two million (vm.max_map_count is 65,530), and a parked
// process commits only the pages it touched. Below each pooled stack lies an
// untouched red zone: a process found with its stack pointer there at a
// switch has overflowed, and is stopped before it reaches its neighbour.
// Guard-paged stacks (one mapping and one mprotect each) are there for code
// that wants the kernel to catch an overflow at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace lunatic::core {

struct Stack {
    char *base = nullptr;       // lowest address of the slot (red zone or guard page first)
    std::size_t slot_size = 0;  // bytes of the slot
    std::size_t usable = 0;     // bytes the process may use, below top()
    bool guarded = false;
    unsigned valgrind_id = 0;  // the stack as registered with valgrind, when run under it

    char *top() const noexcept { return base + slot_size; }
    char *limit() const noexcept { return top() - usable; }  // lowest usable address
    explicit operator bool() const noexcept { return base != nullptr; }
};

// A worker's private stock of free stacks of the default size.
struct StackCache {
    std::vector<char *> free;
};

class StackPool {
public:
    static constexpr std::size_t kRedZone = 16 * 1024;
    static constexpr std::size_t kMinUsable = 16 * 1024;

    explicit StackPool(std::size_t default_usable);
    ~StackPool();
    StackPool(const StackPool &) = delete;
    StackPool &operator=(const StackPool &) = delete;

    std::size_t default_usable() const noexcept { return default_usable_; }

    // usable 0 means the default size. cache may be null (foreign threads).
    // Returns false when the memory cannot be had.
    bool allocate(std::size_t usable, bool guarded, StackCache *cache, Stack *out);
    // overflowed: the process ran into the red zone (its pages are given back).
    void release(const Stack &stack, StackCache *cache, bool overflowed = false) noexcept;
    // Moves a cache's stacks back to the shared list (a worker that stops).
    void drain(StackCache &cache) noexcept;

    static std::size_t page_size() noexcept;

private:
    struct SizeClass {
        std::vector<char *> free;
        char *chunk_next = nullptr;  // carving point in the current chunk
        char *chunk_end = nullptr;
    };
    static constexpr std::size_t kCacheBatch = 64;
    static constexpr std::size_t kCacheMax = 256;
    static constexpr std::size_t kChunkBytes = std::size_t(256) << 20;

    bool allocate_slot(std::size_t usable, bool guarded, StackCache *cache, Stack *out);
    std::size_t slot_size_for(std::size_t usable) const noexcept;
    char *take_locked(SizeClass &cls, std::size_t slot_size);  // mutex_ held

    std::size_t default_usable_;
    std::size_t default_slot_;
    std::mutex mutex_;
    std::map<std::size_t, SizeClass> classes_;  // by slot size
    std::vector<std::pair<char *, std::size_t>> chunks_;
};

}  // namespace lunatic::core
