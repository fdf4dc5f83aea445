// ProcessTable: the open-addressing shards agree with a plain map through
// inserts, lookups and removals in any order (probe runs that wrap around the
// slot array, growth, backward-shift deletion).
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <vector>

#include "core/process_table.hpp"
#include "core/runtime.hpp"

using namespace lunatic::core;

namespace {

struct RuntimeHandle {
    Runtime *rt = nullptr;
    RuntimeHandle() {
        RuntimeOptions options;
        options.workers = 1;
        REQUIRE(Runtime::create(options, &rt) == Status::ok);
    }
    ~RuntimeHandle() { rt->destroy(); }
};

}  // namespace

TEST_CASE("the process table agrees with a map through random inserts and removals") {
    RuntimeHandle handle;
    ProcessTable table;
    std::map<uint64_t, Process *> model;
    std::mt19937_64 rng(12345);
    // Ids of one shard, some far apart, so probe runs collide and wrap.
    auto random_id = [&] { return (rng() % 4096) * 64 + 7 + (rng() % 3 == 0 ? 64 * 100000 : 0); };

    for (int step = 0; step < 20000; ++step) {
        uint64_t id = random_id();
        auto it = model.find(id);
        if (it == model.end() && rng() % 3 != 0) {
            Process *p = new Process(*handle.rt, id, false);
            p->retain();  // the test's own reference, dropped at the end
            REQUIRE(table.insert(p));
            model.emplace(id, p);
        } else if (it != model.end()) {
            table.remove(id);
            it->second->release();
            model.erase(it);
        }
        if (step % 1000 == 0) {
            for (auto &[key, p] : model) {
                ProcessRef found = table.find(key);
                REQUIRE(found.get() == p);
            }
            std::size_t seen = 0;
            table.for_each([&](Process &p) {
                ++seen;
                CHECK(model.count(p.id) == 1);
            });
            CHECK(seen == model.size());
        }
        CHECK_FALSE(table.find(random_id() + 1));  // not of this shard's ids: never there
    }
    for (auto &[key, p] : model) {
        CHECK(table.find(key).get() == p);
        table.remove(key);
        CHECK_FALSE(table.find(key));
        p->release();
    }
}

TEST_CASE("ids of every shard live side by side") {
    RuntimeHandle handle;
    ProcessTable table;
    std::vector<Process *> all;
    for (uint64_t id = 1; id <= 5000; ++id) {
        Process *p = new Process(*handle.rt, id, false);
        REQUIRE(table.insert(p));
        all.push_back(p);
    }
    for (uint64_t id = 1; id <= 5000; id += 2) table.remove(id);
    for (uint64_t id = 1; id <= 5000; ++id) CHECK(bool(table.find(id)) == (id % 2 == 0));
    for (uint64_t id = 2; id <= 5000; id += 2) table.remove(id);
    for (uint64_t id = 1; id <= 5000; ++id) CHECK_FALSE(table.find(id));
}
