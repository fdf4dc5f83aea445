// Fresh tags. They come from one counter in the library, so every shared
// object and binding that asks gets a tag unique in the OS process.
#pragma once

#include <cstdint>

namespace lunatic::core {

// Tags below zero are reserved for the runtime's own protocols; tags from
// here start at 2^62 so they never meet the small tags programs pick.
int64_t new_tag() noexcept;

}  // namespace lunatic::core
