#include "core/entry_registry.hpp"

#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace lunatic::core {

namespace {
struct Table {
    mutable std::shared_mutex mutex;
    std::unordered_map<std::string, Entry> entries;
};
Table &table() {
    static Table *t = new Table();  // never destroyed: entries may be looked up during exit
    return *t;
}
}  // namespace

EntryRegistry &EntryRegistry::global() {
    static EntryRegistry registry;
    return registry;
}

Status EntryRegistry::add(const std::string &name, Entry entry) {
    Table &t = table();
    std::unique_lock lock(t.mutex);
    auto [it, inserted] = t.entries.emplace(name, entry);
    if (!inserted && it->second != entry) return Status::exists;
    return Status::ok;
}

Status EntryRegistry::find(const std::string &name, Entry *out) const {
    Table &t = table();
    std::shared_lock lock(t.mutex);
    auto it = t.entries.find(name);
    if (it == t.entries.end()) return Status::not_found;
    *out = it->second;
    return Status::ok;
}

}  // namespace lunatic::core
