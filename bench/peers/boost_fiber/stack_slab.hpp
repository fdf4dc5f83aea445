// Fixed-size fiber stacks for the raw Boost.Fiber benchmarks (the peer program
// bench/peers/boost_fiber/bench.cpp and bench-micro's floor_boost_fiber.cpp).
//
// Stacks are carved from large MAP_NORESERVE regions, so there is no syscall
// and no kernel mapping per stack and memory is committed by first touch, and
// are recycled through a free list kept outside the stacks (a free stack's
// pages are never touched). One mutex: Boost's pooled_fixedsize_stack is not
// thread-safe. Regions are returned to the kernel only when the slab dies.
#pragma once

#include <boost/context/stack_context.hpp>

#include <sys/mman.h>

#include <cstddef>
#include <mutex>
#include <new>
#include <vector>

class stack_slab {
public:
    explicit stack_slab(std::size_t stack_size, std::size_t per_region = 1024)
        : size_(stack_size), per_region_(per_region) {}
    stack_slab(const stack_slab &) = delete;
    stack_slab &operator=(const stack_slab &) = delete;
    ~stack_slab() {
        for (void *r : regions_) ::munmap(r, size_ * per_region_);
    }

    void *take() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!free_.empty()) {
            void *p = free_.back();
            free_.pop_back();
            return p;
        }
        if (next_ == per_region_ || regions_.empty()) {
            void *r = ::mmap(nullptr, size_ * per_region_, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (r == MAP_FAILED) throw std::bad_alloc();
            regions_.push_back(r);
            next_ = 0;
        }
        return static_cast<char *>(regions_.back()) + size_ * next_++;
    }

    void give(void *bottom) {
        std::lock_guard<std::mutex> lock(mutex_);
        free_.push_back(bottom);
    }

    std::size_t size() const { return size_; }

private:
    std::size_t size_, per_region_;
    std::mutex mutex_;
    std::vector<void *> regions_;
    std::size_t next_ = 0;
    std::vector<void *> free_;
};

// The StackAllocator concept of Boost.Fiber, over a shared slab.
class slab_stack {
public:
    explicit slab_stack(stack_slab &slab) : slab_(&slab) {}
    boost::context::stack_context allocate() {
        boost::context::stack_context sctx;
        void *bottom = slab_->take();
        sctx.size = slab_->size();
        sctx.sp = static_cast<char *>(bottom) + slab_->size();  // stacks grow down
        return sctx;
    }
    void deallocate(boost::context::stack_context &sctx) noexcept {
        slab_->give(static_cast<char *>(sctx.sp) - sctx.size);
    }

private:
    stack_slab *slab_;
};
