#include "core/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

// Under valgrind, fiber stacks must be registered or every switch looks like
// a wild stack-pointer jump. The client requests cost a few instructions
// when valgrind is absent.
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define LUNATIC_STACK_REGISTER(s) \
    ((s).valgrind_id = VALGRIND_STACK_REGISTER((s).limit(), (s).top()))
#define LUNATIC_STACK_DEREGISTER(s) VALGRIND_STACK_DEREGISTER((s).valgrind_id)
#else
#define LUNATIC_STACK_REGISTER(s) ((void)0)
#define LUNATIC_STACK_DEREGISTER(s) ((void)0)
#endif

// Under AddressSanitizer, a fiber that exits leaves the red zones of the
// frames it never returned from poisoned; the next process on that stack must
// not inherit them.
#include "core/context.hpp"
#ifdef LUNATIC_ASAN
#include <sanitizer/asan_interface.h>
#define LUNATIC_STACK_UNPOISON(s) ASAN_UNPOISON_MEMORY_REGION((s).base, (s).slot_size)
#else
#define LUNATIC_STACK_UNPOISON(s) ((void)0)
#endif

namespace lunatic::core {

namespace {
std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
}  // namespace

std::size_t StackPool::page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

StackPool::StackPool(std::size_t default_usable)
    : default_usable_(round_up(std::max(default_usable, kMinUsable), page_size())),
      default_slot_(slot_size_for(default_usable_)) {}

StackPool::~StackPool() {
    for (auto &[base, size] : chunks_) ::munmap(base, size);
}

std::size_t StackPool::slot_size_for(std::size_t usable) const noexcept {
    return kRedZone + round_up(std::max(usable, kMinUsable), page_size());
}

char *StackPool::take_locked(SizeClass &cls, std::size_t slot_size) {
    if (!cls.free.empty()) {
        char *slot = cls.free.back();
        cls.free.pop_back();
        return slot;
    }
    if (cls.chunk_next == nullptr || cls.chunk_end - cls.chunk_next < std::ptrdiff_t(slot_size)) {
        std::size_t bytes = std::max(kChunkBytes, round_up(slot_size * 16, page_size()));
        void *chunk = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (chunk == MAP_FAILED) return nullptr;
        chunks_.emplace_back(static_cast<char *>(chunk), bytes);
        cls.chunk_next = static_cast<char *>(chunk);
        cls.chunk_end = cls.chunk_next + bytes;
    }
    char *slot = cls.chunk_next;
    cls.chunk_next += slot_size;
    return slot;
}

bool StackPool::allocate(std::size_t usable, bool guarded, StackCache *cache, Stack *out) {
    if (!allocate_slot(usable, guarded, cache, out)) return false;
    LUNATIC_STACK_REGISTER(*out);
    return true;
}

bool StackPool::allocate_slot(std::size_t usable, bool guarded, StackCache *cache, Stack *out) {
    if (usable == 0) usable = default_usable_;
    if (usable > (std::size_t(1) << 40)) return false;
    if (guarded) {
        std::size_t page = page_size();
        std::size_t size = round_up(std::max(usable, kMinUsable), page);
        void *mem = ::mmap(nullptr, size + page, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (mem == MAP_FAILED) return false;
        if (::mprotect(mem, page, PROT_NONE) != 0) {
            ::munmap(mem, size + page);
            return false;
        }
        *out = Stack{static_cast<char *>(mem), size + page, size, true};
        return true;
    }
    std::size_t slot_size = slot_size_for(usable);
    bool is_default = slot_size == default_slot_;
    if (is_default && cache && !cache->free.empty()) {
        char *slot = cache->free.back();
        cache->free.pop_back();
        *out = Stack{slot, slot_size, slot_size - kRedZone, false};
        return true;
    }
    std::lock_guard lock(mutex_);
    SizeClass &cls = classes_[slot_size];
    char *slot = take_locked(cls, slot_size);
    if (!slot) return false;
    if (is_default && cache) {
        // Refill the cache in one go so the next spawns on this worker take no lock.
        cache->free.reserve(kCacheMax + 1);
        for (std::size_t i = 0; i < kCacheBatch; ++i) {
            char *more = take_locked(cls, slot_size);
            if (!more) break;
            cache->free.push_back(more);
        }
    }
    *out = Stack{slot, slot_size, slot_size - kRedZone, false};
    return true;
}

void StackPool::release(const Stack &stack, StackCache *cache, bool overflowed) noexcept {
    if (!stack) return;
    LUNATIC_STACK_DEREGISTER(stack);
    LUNATIC_STACK_UNPOISON(stack);
    if (stack.guarded) {
        ::munmap(stack.base, stack.slot_size);
        return;
    }
    if (overflowed) ::madvise(stack.base, kRedZone, MADV_DONTNEED);
    if (stack.slot_size == default_slot_ && cache) {
        if (cache->free.size() < kCacheMax) {
            cache->free.push_back(stack.base);
            return;
        }
        std::lock_guard lock(mutex_);
        SizeClass &cls = classes_[stack.slot_size];
        // Spill half so the cache does not bounce between full and empty.
        auto half = cache->free.begin() + static_cast<std::ptrdiff_t>(kCacheMax / 2);
        cls.free.insert(cls.free.end(), half, cache->free.end());
        cache->free.erase(half, cache->free.end());
        cls.free.push_back(stack.base);
        return;
    }
    try {
        std::lock_guard lock(mutex_);
        classes_[stack.slot_size].free.push_back(stack.base);
    } catch (...) {
        // Out of memory for the free list: the slot stays mapped and unused
        // until the pool is destroyed.
    }
}

void StackPool::drain(StackCache &cache) noexcept {
    if (cache.free.empty()) return;
    try {
        std::lock_guard lock(mutex_);
        auto &list = classes_[default_slot_].free;
        list.insert(list.end(), cache.free.begin(), cache.free.end());
    } catch (...) {
    }
    cache.free.clear();
}

}  // namespace lunatic::core
