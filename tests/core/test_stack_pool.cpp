// StackPool: pooled stacks, their red zones, guard pages and reuse.
#include <doctest/doctest.h>

#include <barrier>
#include <set>
#include <thread>
#include <vector>

#include "core/stack_pool.hpp"

using namespace lunatic::core;

TEST_CASE("pooled stacks have the usable size asked for, above a red zone") {
    StackPool pool(64 * 1024);
    StackCache cache;
    Stack s;
    REQUIRE(pool.allocate(0, false, &cache, &s));
    CHECK(s.usable == 64 * 1024);
    CHECK(s.limit() - s.base == static_cast<std::ptrdiff_t>(StackPool::kRedZone));
    CHECK(reinterpret_cast<uintptr_t>(s.top()) % 16 == 0);
    // The whole usable range can be written.
    for (char *p = s.limit(); p < s.top(); p += 4096) *p = 1;
    pool.release(s, &cache);
}

TEST_CASE("released stacks are reused and live stacks never overlap") {
    StackPool pool(32 * 1024);
    StackCache cache;
    std::vector<Stack> live(1000);
    for (Stack &s : live) REQUIRE(pool.allocate(0, false, &cache, &s));
    std::set<char *> bases;
    for (size_t i = 0; i < live.size(); ++i) {
        bases.insert(live[i].base);
        if (i) CHECK((live[i].base >= live[i - 1].top() || live[i].top() <= live[i - 1].base));
    }
    CHECK(bases.size() == live.size());
    for (Stack &s : live) pool.release(s, &cache);
    Stack again;
    REQUIRE(pool.allocate(0, false, &cache, &again));
    CHECK(bases.count(again.base) == 1);
    pool.release(again, &cache);
}

TEST_CASE("other sizes and guard-paged stacks") {
    StackPool pool(64 * 1024);
    Stack big, guarded;
    REQUIRE(pool.allocate(1 << 20, false, nullptr, &big));
    CHECK(big.usable == (1 << 20));
    big.top()[-1] = 1;
    big.limit()[0] = 1;
    REQUIRE(pool.allocate(100 * 1024, true, nullptr, &guarded));
    CHECK(guarded.guarded);
    CHECK(guarded.usable >= 100 * 1024);
    guarded.limit()[0] = 1;
    pool.release(big, nullptr);
    pool.release(guarded, nullptr);
}

TEST_CASE("threads allocating and releasing at once get distinct stacks") {
    StackPool pool(16 * 1024);
    std::vector<std::vector<char *>> got(4);
    std::vector<std::thread> threads;
    std::barrier all_hold(4);  // nobody releases before everybody has recorded what it holds
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            StackCache cache;
            std::vector<Stack> mine;
            for (int i = 0; i < 2000; ++i) {
                Stack s;
                if (!pool.allocate(0, false, &cache, &s)) break;
                *s.limit() = static_cast<char>(t);
                mine.push_back(s);
                if (i % 3 == 0) {
                    pool.release(mine.back(), &cache);
                    mine.pop_back();
                }
            }
            for (Stack &s : mine) got[t].push_back(s.base);
            all_hold.arrive_and_wait();
            for (Stack &s : mine) pool.release(s, &cache);
            pool.drain(cache);
        });
    }
    for (auto &th : threads) th.join();
    // Stacks held at the same time by different threads were different.
    std::set<char *> all;
    size_t total = 0;
    for (auto &v : got) {
        total += v.size();
        all.insert(v.begin(), v.end());
    }
    CHECK(total > 4000);
    CHECK(all.size() == total);
}
