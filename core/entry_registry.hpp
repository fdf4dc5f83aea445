// Named process entries, shared by all runtimes of the OS process, so a
// process can be spawned by name (from Python, or later from another node).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.hpp"

namespace lunatic::core {

using Entry = int (*)(const uint8_t *capture, std::size_t capture_len, void *user);

class EntryRegistry {
public:
    static EntryRegistry &global();

    // Same name and entry again: ok. Same name, other entry: exists.
    Status add(const std::string &name, Entry entry);
    Status find(const std::string &name, Entry *out) const;
};

}  // namespace lunatic::core
