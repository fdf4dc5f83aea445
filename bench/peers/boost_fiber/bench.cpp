// The workloads of bench/bench_workloads.c on raw Boost.Fiber 1.74: the floor.
//
//   g++ -O2 -std=c++17 bench.cpp -lboost_fiber -lboost_context -pthread -o bench_boost_fiber
//   ./bench_boost_fiber WORKLOAD N RUNS
//
// A "process" is a fiber that owns a buffered_channel<uint64_t> (its mailbox);
// no process table, no serialized messages, no tags, no links. Set-up
// (research/perf-anchors.md says why each matters):
//  - 64 KiB stacks (liblunatic's default) from a thread-safe slab allocator:
//    no syscall per stack, memory committed lazily by first touch
//    (pooled_fixedsize_stack is not thread-safe);
//  - children start with launch::dispatch (with launch::post terminated
//    fibers pile up until the spawner yields);
//  - skynet runs on work_stealing with both hardware threads (Boost's best
//    for it); spawn, pingpong, ring and parked on one thread with round_robin
//    (Boost's best for them); fanin: the receiver on the main thread, the
//    senders on a second thread, round_robin each.
// Prints one RESULT line per run.
#include <boost/fiber/all.hpp>

#include "stack_slab.hpp"

#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fibers = boost::fibers;
using channel = fibers::buffered_channel<std::uint64_t>;

namespace {

constexpr std::uint64_t ring_size = 1000;
constexpr std::uint64_t fanin_senders = 4;
constexpr std::size_t stack_size = 64 * 1024;

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

long vmrss_kib() {
    FILE *f = std::fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "VmRSS:", 6) == 0) {
            v = std::strtol(line + 6, nullptr, 10);
            break;
        }
    std::fclose(f);
    return v;
}

stack_slab g_slab(stack_size);

template <typename F>
void go(F &&f) {
    fibers::fiber(fibers::launch::dispatch, std::allocator_arg, slab_stack(g_slab),
                  std::forward<F>(f))
        .detach();
}

struct outcome {
    double value;
    std::string check;
};

// ------------------------------------------------------------------ skynet

void skynet_node(channel *parent, std::uint64_t num, std::uint64_t size) {
    if (size == 1) {
        parent->push(num);
        return;
    }
    channel in(16);
    std::uint64_t child = size / 10;
    for (std::uint64_t i = 0; i < 10; ++i)
        go([&in, num, i, child] { skynet_node(&in, num + i * child, child); });
    std::uint64_t sum = 0;
    for (int i = 0; i < 10; ++i) sum += in.value_pop();
    parent->push(sum);
}

outcome skynet(std::uint64_t n) {
    channel out(2);
    auto t0 = now_ns();
    go([&out, n] { skynet_node(&out, 0, n); });
    std::uint64_t sum = out.value_pop();
    double ns = double(now_ns() - t0) / double(n);
    return {ns, sum == n * (n - 1) / 2 ? "ok" : "fail:sum=" + std::to_string(sum)};
}

// ------------------------------------------------------------------- spawn

outcome spawn_bench(std::uint64_t n) {
    std::uint64_t alive = 0;  // one thread: no atomics needed
    auto t0 = now_ns();
    for (std::uint64_t i = 0; i < n; ++i) {
        ++alive;
        go([&alive] { --alive; });
    }
    while (alive) boost::this_fiber::yield();
    return {double(now_ns() - t0) / double(n), "ok"};
}

// ---------------------------------------------------------------- pingpong

outcome pingpong(std::uint64_t n) {
    channel a(2), b(2);
    go([&] {
        std::uint64_t v;
        while (a.pop(v) == fibers::channel_op_status::success) b.push(v);
    });
    std::uint64_t ok = 0;
    auto t0 = now_ns();
    for (std::uint64_t i = 0; i < n; ++i) {
        a.push(i);
        ok += b.value_pop() == i;
    }
    double ns = double(now_ns() - t0) / (2.0 * double(n));
    a.close();
    boost::this_fiber::yield();
    return {ns, ok == n ? "ok" : "fail:wrong replies"};
}

// -------------------------------------------------------------------- ring

outcome ring(std::uint64_t n) {
    std::vector<std::unique_ptr<channel>> boxes;
    for (std::uint64_t i = 0; i < ring_size; ++i) boxes.push_back(std::make_unique<channel>(2));
    channel done(2);
    std::uint64_t alive = ring_size;
    for (std::uint64_t i = 0; i < ring_size; ++i) {
        channel *in = boxes[i].get(), *next = boxes[(i + 1) % ring_size].get();
        go([in, next, i, &done, &alive] {
            std::uint64_t v;
            while (in->pop(v) == fibers::channel_op_status::success) {
                if (v == 0)
                    done.push(i);
                else
                    next->push(v - 1);
            }
            --alive;
        });
    }
    auto t0 = now_ns();
    boxes[0]->push(n);
    std::uint64_t last = done.value_pop();
    double ns = double(now_ns() - t0) / double(n);
    for (auto &b : boxes) b->close();
    while (alive) boost::this_fiber::yield();
    return {ns, last == n % ring_size ? "ok" : "fail:token ended at the wrong node"};
}

// ------------------------------------------------------------------- fanin

outcome fanin(std::uint64_t n) {
    std::uint64_t per = n / fanin_senders;
    channel in(1024);
    auto t0 = now_ns();
    std::thread senders([&] {
        std::uint64_t alive = fanin_senders;
        for (std::uint64_t s = 0; s < fanin_senders; ++s)
            go([&in, &alive, s, per] {
                for (std::uint64_t i = 0; i < per; ++i) in.push(s << 40 | i);
                --alive;
            });
        while (alive) boost::this_fiber::yield();
    });
    std::uint64_t next[fanin_senders] = {}, bad = 0;
    for (std::uint64_t i = 0; i < per * fanin_senders; ++i) {
        std::uint64_t v = in.value_pop(), s = v >> 40, seq = v & ((1ull << 40) - 1);
        if (s >= fanin_senders || next[s] != seq) ++bad;
        if (s < fanin_senders) next[s] = seq + 1;
    }
    double ns = double(now_ns() - t0) / double(per * fanin_senders);
    senders.join();
    return {ns, bad ? "fail:lost or reordered" : "ok"};
}

// ------------------------------------------------------------------ parked

outcome parked(std::uint64_t n) {
    std::vector<std::unique_ptr<channel>> boxes;
    boxes.reserve(n);
    std::uint64_t parked = 0, alive = 0;
    long before = vmrss_kib();
    for (std::uint64_t i = 0; i < n; ++i) {
        boxes.push_back(std::make_unique<channel>(2));
        channel *box = boxes.back().get();
        ++alive;
        go([box, &parked, &alive] {
            ++parked;
            box->value_pop();
            --alive;
        });
    }
    while (parked < n) boost::this_fiber::yield();
    long after = vmrss_kib();
    for (std::uint64_t i = 0; i < n; ++i) boxes[i]->push(i);
    while (alive) boost::this_fiber::yield();
    return {double(after - before) * 1024.0 / double(n), "ok"};
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s WORKLOAD N [RUNS]\n", argv[0]);
        return 2;
    }
    std::string name = argv[1];
    std::uint64_t n = std::strtoull(argv[2], nullptr, 10);
    int runs = argc > 3 ? std::atoi(argv[3]) : 1;
    using fn = std::function<outcome(std::uint64_t)>;
    const std::map<std::string, std::pair<fn, const char *>> table = {
        {"skynet", {skynet, "ns/leaf"}},        {"spawn", {spawn_bench, "ns/process"}},
        {"pingpong", {pingpong, "ns/message"}}, {"ring", {ring, "ns/hop"}},
        {"fanin", {fanin, "ns/message"}},       {"parked", {parked, "B/process"}},
    };
    auto it = table.find(name);
    if (it == table.end() || n == 0) {
        std::fprintf(stderr, "unknown workload %s\n", name.c_str());
        return 2;
    }
    // skynet: work_stealing on this thread and one more per extra hardware thread.
    std::vector<std::thread> helpers;
    std::atomic<bool> finished{false};
    // BOOST_FIBER_THREADS=1 runs it on one thread with round_robin instead.
    const char *env_threads = std::getenv("BOOST_FIBER_THREADS");
    if (name == "skynet" && !(env_threads && std::atoi(env_threads) == 1)) {
        unsigned threads = std::max(1u, std::thread::hardware_concurrency());
        for (unsigned t = 1; t < threads; ++t)
            helpers.emplace_back([&finished, threads] {
                fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads);
                while (!finished.load()) boost::this_fiber::yield();
            });
        fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads);
    }
    bool failed = false;
    for (int r = 0; r < runs; ++r) {
        outcome o = it->second.first(n);
        failed |= o.check != "ok";
        std::printf("RESULT workload=%s n=%llu value=%.1f unit=%s check=%s\n", name.c_str(),
                    (unsigned long long)n, o.value, it->second.second, o.check.c_str());
        std::fflush(stdout);
    }
    finished = true;
    for (auto &t : helpers) t.join();
    return failed ? 1 : 0;
}
