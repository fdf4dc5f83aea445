#include "core/tag.hpp"

#include <atomic>

namespace lunatic::core {

int64_t new_tag() noexcept {
    static std::atomic<int64_t> next{int64_t(1) << 62};
    return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace lunatic::core
