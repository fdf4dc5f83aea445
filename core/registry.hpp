// Registry: process names of one runtime. A key is a name plus a type string
// (the typed layers put the message type and serializer there), so a lookup
// with another type finds nothing. A name is freed when its process ends.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include "core/message.hpp"
#include "core/status.hpp"

namespace lunatic::core {

class Process;
class Runtime;

class Registry {
public:
    static std::string key(const std::string &name, const std::string &type) {
        return name + '\0' + type;
    }

    // exists if the key names a live process already; no_process if pid is gone.
    Status add(Runtime &runtime, const std::string &key, Pid pid);
    Status remove(const std::string &key);
    Status find(const std::string &key, Pid *out) const;
    // A process ends: its keys go, unless they were given to someone else since.
    void remove_if_owned(const std::string &key, Pid owner) noexcept;

private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Pid> names_;
};

}  // namespace lunatic::core
