// floor_boost_fiber.cpp — the workloads of bench_core, on raw Boost.Fiber 1.74.
//
// This is the floor liblunatic adds cost to: fibers and buffered_channels with
// no process table, no serialized messages, no mailboxes with tags, no links.
// It prints the same Markdown table as bench_core so the README can show the
// two side by side.
//
//   floor_boost_fiber [--quick] [--scale X] [--runs N]
//
//   --quick    a tenth of every size (same as --scale 0.1)
//   --scale X  multiply every size by X
//   --runs N   runs per cheap workload; the median is printed (default 3)
//   --only G   only the workload groups named (comma-separated): parked,
//              parked1m, spawn, pingpong, flood, unpinned
//
// Set-up (see /work/shared/research/toolchain.md §3 for why):
//  - 64 KiB stacks from a thread-safe slab allocator (stack_slab.hpp): no syscall and
//    no kernel mapping per stack, memory committed lazily by first touch.
//    Boost's pooled_fixedsize_stack is not thread-safe.
//  - children start with launch::dispatch (with launch::post, terminated
//    detached fibers pile up until the dispatcher runs).
//  - a "process" is a fiber that owns a buffered_channel<uint64_t> (its
//    mailbox); replies go to the parent's channel.
//  - single-thread workloads run on the main thread with round_robin;
//    "unpinned" ping-pong runs on work_stealing(2) (spinning), which Boost
//    allows once per OS process, so it runs last.
#include <boost/fiber/all.hpp>

#include "peers/boost_fiber/stack_slab.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fibers = boost::fibers;
using channel = fibers::buffered_channel<std::uint64_t>;

// ------------------------------------------------------------------ helpers

static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); -1 if missing.
static long status_kib(const char *field) {
    FILE *f = std::fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long value = -1;
    std::size_t n = std::strlen(field);
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
            value = std::strtol(line + n + 1, nullptr, 10);
            break;
        }
    }
    std::fclose(f);
    return value;
}

static std::string grouped(std::uint64_t v) {
    std::string digits = std::to_string(v), out;
    int count = 0;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        if (count && count % 3 == 0) out.insert(out.begin(), ',');
        out.insert(out.begin(), *it);
        ++count;
    }
    return out;
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    if (n == 0) return 0;
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static std::string fmt(const char *f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

// "1,234 unit" (rounded to a whole number)
static std::string whole(double v, const char *unit) {
    return grouped(std::uint64_t(v < 0 ? 0 : v + 0.5)) + " " + unit;
}

static stack_slab g_slab(64 * 1024);

// ------------------------------------------------------------------ table

struct row {
    std::string workload, n, result, check;
};
static std::vector<row> g_rows;
static bool g_ok = true;

static void add_row(std::string workload, std::uint64_t n, std::string result, std::string check) {
    g_rows.push_back({std::move(workload), grouped(n), std::move(result), std::move(check)});
    std::fprintf(stderr, "  done: %s\n", g_rows.back().workload.c_str());
}

static std::string count_check(std::uint64_t got, std::uint64_t want, const char *what) {
    if (got != want) g_ok = false;
    return grouped(got) + " " + what + (got == want ? " ✓" : " ✗ (expected " + grouped(want) + ")");
}

// ------------------------------------------------------------- workloads

// Parked: n fibers each blocked on its own channel; then one message each,
// a reply each to the parent, and join.
struct parked_result {
    double spawn_ns, wake_ns;
    long rss_kib;  // VmRSS while all are parked
    std::uint64_t replies;
};

static parked_result parked(std::size_t n) {
    channel replies(4096);
    std::vector<std::unique_ptr<channel>> boxes;
    std::vector<fibers::fiber> fs;
    boxes.reserve(n);
    fs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) boxes.emplace_back(new channel(2));

    std::int64_t t0 = now_ns();
    for (std::size_t i = 0; i < n; ++i) {
        channel *mine = boxes[i].get();
        fs.emplace_back(fibers::launch::dispatch, std::allocator_arg, slab_stack(g_slab),
                        [mine, &replies] {
                            std::uint64_t v = 0;
                            mine->pop(v);
                            replies.push(v + 1);
                        });
    }
    std::int64_t t1 = now_ns();
    long rss = status_kib("VmRSS");

    std::int64_t t2 = now_ns();
    for (std::size_t i = 0; i < n; ++i) boxes[i]->push(i);
    std::uint64_t got = 0, sum = 0, v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (replies.pop(v) != fibers::channel_op_status::success) break;
        ++got;
        sum += v;
    }
    for (auto &f : fs) f.join();
    std::int64_t t3 = now_ns();
    // each child replied with its index + 1: the sum proves no reply was lost or duplicated
    if (sum != (std::uint64_t)n * (n + 1) / 2) got = 0;
    return {double(t1 - t0) / n, double(t3 - t2) / n, rss, got};
}

// Round 1 touches fresh memory (cold: page faults dominate on this VM);
// later rounds reuse the stacks of the first (warm).
static void run_parked(std::size_t n, int runs, long rss_start) {
    std::vector<double> spawn_warm, wake_warm;
    double spawn_cold = 0, wake_cold = 0, rss_cold = 0;
    std::uint64_t worst = n;
    for (int r = 0; r < runs; ++r) {
        parked_result p = parked(n);
        if (r == 0) {
            spawn_cold = p.spawn_ns;
            wake_cold = p.wake_ns;
            rss_cold = double(p.rss_kib - rss_start) * 1024.0 / n;
        } else {
            spawn_warm.push_back(p.spawn_ns);
            wake_warm.push_back(p.wake_ns);
        }
        worst = std::min(worst, p.replies);
    }
    auto cold_warm = [&](double cold, const std::vector<double> &warm) {
        std::string s = whole(cold, "ns/process") + " cold";
        if (!warm.empty()) s += ", " + whole(median(warm), "ns") + " warm";
        return s;
    };
    add_row("parked: spawn until blocked in receive", n, cold_warm(spawn_cold, spawn_warm), "");
    add_row("parked: RSS while blocked (VmRSS − start)", n, whole(rss_cold, "B/process"), "");
    add_row("parked: wake with 1 message, reply, exit", n, cold_warm(wake_cold, wake_warm),
            count_check(worst, n, "replies"));
}

// spawn + run + exit of an empty fiber (create + join: stacks are reused).
static void run_spawn_empty(std::size_t n, int runs) {
    std::vector<double> t;
    std::uint64_t ran_min = n;
    for (int r = 0; r < runs; ++r) {
        std::uint64_t ran = 0;
        std::int64_t t0 = now_ns();
        for (std::size_t i = 0; i < n; ++i) {
            fibers::fiber f(fibers::launch::dispatch, std::allocator_arg, slab_stack(g_slab),
                            [&ran] { ++ran; });
            f.join();
        }
        t.push_back(double(now_ns() - t0) / n);
        ran_min = std::min(ran_min, ran);
    }
    add_row("spawn + run + exit (empty process)", n, whole(median(t), "ns/process"),
            count_check(ran_min, n, "ran"));
}

// spawn + one message back to the parent + exit.
static void run_spawn_reply(std::size_t n, int runs) {
    std::vector<double> t;
    std::uint64_t got_min = n;
    channel back(1024);
    for (int r = 0; r < runs; ++r) {
        std::uint64_t got = 0, v;
        std::int64_t t0 = now_ns();
        for (std::size_t i = 0; i < n; ++i) {
            fibers::fiber f(fibers::launch::dispatch, std::allocator_arg, slab_stack(g_slab),
                            [&back, i] { back.push(i); });
            if (back.pop(v) == fibers::channel_op_status::success && v == i) ++got;
            f.join();
        }
        t.push_back(double(now_ns() - t0) / n);
        got_min = std::min(got_min, got);
    }
    add_row("spawn + 1 message to parent + exit", n, whole(median(t), "ns/process"),
            count_check(got_min, n, "messages"));
}

// Two fibers exchanging a counter through a pair of channels; returns
// one-way ns and the number of round trips checked.
static double pingpong_once(std::size_t n, fibers::launch launch, std::uint64_t &checked) {
    channel to_pong(2), to_ping(2);
    std::int64_t elapsed = 0;
    std::uint64_t ok = 0;
    fibers::fiber pong(launch, std::allocator_arg, slab_stack(g_slab), [&] {
        std::uint64_t v;
        while (to_pong.pop(v) == fibers::channel_op_status::success) to_ping.push(v + 1);
    });
    fibers::fiber ping(launch, std::allocator_arg, slab_stack(g_slab), [&] {
        std::int64_t t0 = now_ns();
        std::uint64_t v;
        for (std::size_t i = 0; i < n; ++i) {
            to_pong.push(i);
            to_ping.pop(v);
            ok += (v == i + 1);
        }
        elapsed = now_ns() - t0;
        to_pong.close();
    });
    ping.join();
    pong.join();
    checked = ok;
    return double(elapsed) / (2.0 * n);
}

static void run_pingpong_pinned(std::size_t n, int runs) {
    std::vector<double> t;
    std::uint64_t worst = n;
    for (int r = 0; r < runs; ++r) {
        std::uint64_t checked = 0;
        t.push_back(pingpong_once(n, fibers::launch::dispatch, checked));
        worst = std::min(worst, checked);
    }
    add_row("pingpong, both on one worker (one-way)", n, whole(median(t), "ns/message"),
            count_check(worst, n, "round trips"));
}

// Unpinned: work_stealing(2), spinning; both threads take part. Boost's
// work_stealing keeps its registry in statics, so this can run once per
// OS process.
static void run_pingpong_unpinned(std::size_t n, int runs) {
    std::vector<double> t;
    std::uint64_t worst = n;
    std::mutex m;
    fibers::condition_variable_any cv;
    bool done = false;
    std::thread helper([&] {
        fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(2);
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return done; });
    });
    std::thread runner([&] {
        fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(2);
        for (int r = 0; r < runs; ++r) {
            std::uint64_t checked = 0;
            t.push_back(pingpong_once(n, fibers::launch::post, checked));
            worst = std::min(worst, checked);
        }
        {
            std::lock_guard<std::mutex> lock(m);
            done = true;
        }
        cv.notify_all();
    });
    runner.join();
    helper.join();
    add_row("pingpong, unpinned on 2 workers (one-way)", n, whole(median(t), "ns/message"),
            count_check(worst, n, "round trips"));
}

// Flood: another OS thread pushes n sequence numbers into a channel that the
// main thread pops; order and count are checked.
static void run_flood(std::size_t n, int runs) {
    std::vector<double> rate;
    std::uint64_t worst = n;
    for (int r = 0; r < runs; ++r) {
        channel ch(4096);
        std::int64_t t0 = now_ns();
        std::thread sender([&] {
            for (std::uint64_t i = 0; i < n; ++i) ch.push(i);
        });
        std::uint64_t got = 0, v;
        for (std::size_t i = 0; i < n; ++i) {
            if (ch.pop(v) != fibers::channel_op_status::success) break;
            if (v != i) break;
            ++got;
        }
        std::int64_t t1 = now_ns();
        sender.join();
        rate.push_back(double(n) / (double(t1 - t0) / 1e9));
        worst = std::min(worst, got);
    }
    add_row("flood: sender on another thread, one receiver", n,
            fmt("%.2f M messages/s", median(rate) / 1e6), count_check(worst, n, "in order"));
}

// ------------------------------------------------------------------ main

static std::string model_name() {
    FILE *f = std::fopen("/proc/cpuinfo", "r");
    if (!f) return "?";
    char line[512];
    std::string name = "?";
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, "model name", 10) == 0) {
            const char *c = std::strchr(line, ':');
            if (c) {
                name = c + 1;
                while (!name.empty() && (name.front() == ' ' || name.front() == '\t'))
                    name.erase(name.begin());
                while (!name.empty() && (name.back() == '\n' || name.back() == ' '))
                    name.pop_back();
            }
            break;
        }
    }
    std::fclose(f);
    return name;
}

// What touching a fresh page costs here (first-touch page faults dominate
// every "cold" figure on a VM): ns per 4 KiB page over 16 MiB.
static double first_touch_ns() {
    const std::size_t pages = 4096, page = 4096;
    void *m = ::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return 0;
    volatile char *p = static_cast<char *>(m);
    std::int64_t t0 = now_ns();
    for (std::size_t i = 0; i < pages; ++i) p[i * page] = 1;
    double ns = double(now_ns() - t0) / pages;
    ::munmap(m, pages * page);
    return ns;
}

static bool wanted(const std::string &only, const char *group) {
    if (only.empty()) return true;
    std::string list = "," + only + ",";
    return list.find(std::string(",") + group + ",") != std::string::npos;
}

int main(int argc, char **argv) {
    double scale = 1.0;
    int runs = 3;
    std::string only;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--quick"))
            scale = 0.1;
        else if (!std::strcmp(argv[i], "--scale") && i + 1 < argc)
            scale = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = std::max(1, std::atoi(argv[++i]));
        else if (!std::strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            std::fprintf(stderr,
                         "usage: %s [--quick] [--scale X] [--runs N] [--only GROUP,...]\n"
                         "groups: parked, parked1m, spawn, pingpong, flood, unpinned\n",
                         argv[0]);
            return 2;
        }
    }
    auto sz = [&](double base) { return std::max<std::size_t>(1, std::size_t(base * scale)); };
    const std::size_t n_small = sz(100000), n_big = sz(1000000);

    double touch = first_touch_ns();
    long rss_start = status_kib("VmRSS");
    std::int64_t t_start = now_ns();

    // Parked workloads first, so VmRSS − start counts only them.
    if (wanted(only, "parked")) run_parked(n_small, runs, rss_start);
    if (wanted(only, "parked1m")) run_parked(n_big, 2, rss_start);
    if (wanted(only, "spawn")) {
        run_spawn_empty(n_big, runs);
        run_spawn_reply(n_big, runs);
    }
    if (wanted(only, "pingpong")) run_pingpong_pinned(n_big, runs);
    if (wanted(only, "flood")) run_flood(n_big, runs);
    if (wanted(only, "unpinned")) run_pingpong_unpinned(n_big, runs);

    std::printf(
        "### Boost.Fiber %d.%d floor (raw fibers + buffered_channel, 64 KiB slab stacks)\n\n",
        BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000);
    std::printf(
        "Machine: %u hardware threads, %s; first touch of a fresh page costs %s here. "
        "Medians of %d runs; parked: cold = first round, warm = later rounds (stacks reused). "
        "Single-thread rows: round_robin on the main thread; unpinned: work_stealing(2), "
        "spinning.\n\n",
        std::thread::hardware_concurrency(), model_name().c_str(), whole(touch, "ns").c_str(),
        runs);
    std::printf("| workload | n | result | check |\n| --- | ---: | ---: | --- |\n");
    for (const row &r : g_rows)
        std::printf("| %s | %s | %s | %s |\n", r.workload.c_str(), r.n.c_str(), r.result.c_str(),
                    r.check.c_str());
    std::printf("\nPeak RSS (VmHWM): %s KiB; wall time %.1f s.\n",
                grouped(status_kib("VmHWM")).c_str(), double(now_ns() - t_start) / 1e9);
    return g_ok ? 0 : 1;
}
