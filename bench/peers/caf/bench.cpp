// The workloads of bench/bench_workloads.c on CAF 0.17 (Debian's libcaf-dev).
//
//   g++ -O2 -std=c++17 bench.cpp -lcaf_core -pthread -o bench_caf
//   ./bench_caf WORKLOAD N RUNS
//
// Event-based actors, CAF's default configuration (one scheduler thread per
// hardware thread, work stealing). Drivers are scoped_actors on the main
// thread. Prints one RESULT line per run.
#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace caf;

namespace {

using stop_atom = atom_constant<atom("stop")>;
using last_atom = atom_constant<atom("last")>;
using done_atom = atom_constant<atom("done")>;

constexpr std::uint64_t ring_size = 1000;
constexpr std::uint64_t fanin_senders = 4;

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

struct outcome {
    double value;
    std::string check;
};

// ------------------------------------------------------------------ skynet

struct skynet_state {
    std::uint64_t sum = 0;
    int pending = 10;
};

behavior skynet_node(stateful_actor<skynet_state> *self, actor parent, std::uint64_t num,
                     std::uint64_t size) {
    if (size == 1) {
        self->send(parent, num);
        self->quit();
        return {};
    }
    std::uint64_t child = size / 10;
    for (std::uint64_t i = 0; i < 10; ++i)
        self->spawn(skynet_node, actor_cast<actor>(self), num + i * child, child);
    return {[=](std::uint64_t v) {
        self->state.sum += v;
        if (--self->state.pending == 0) {
            self->send(parent, self->state.sum);
            self->quit();
        }
    }};
}

outcome skynet(actor_system &sys, std::uint64_t n) {
    scoped_actor self{sys};
    std::uint64_t sum = 0;
    auto t0 = now_ns();
    self->spawn(skynet_node, actor_cast<actor>(self), std::uint64_t{0}, n);
    self->receive([&](std::uint64_t v) { sum = v; });
    double ns = double(now_ns() - t0) / double(n);
    std::uint64_t want = n * (n - 1) / 2;
    if (sum != want) return {ns, "fail:sum=" + std::to_string(sum)};
    return {ns, "ok"};
}

// ------------------------------------------------------------------- spawn

behavior empty_actor(event_based_actor *self) {
    self->quit();
    return {};
}

outcome spawn_bench(actor_system &sys, std::uint64_t n) {
    auto t0 = now_ns();
    for (std::uint64_t i = 0; i < n; ++i) sys.spawn(empty_actor);
    sys.await_all_actors_done();
    return {double(now_ns() - t0) / double(n), "ok"};
}

// ---------------------------------------------------------------- pingpong

behavior pong_actor(event_based_actor *self) {
    return {[=](std::uint64_t v) { self->send(actor_cast<actor>(self->current_sender()), v); },
            [=](stop_atom) { self->quit(); }};
}

struct ping_state {
    std::uint64_t i = 0, ok = 0;
    std::int64_t t0 = 0;
};

behavior ping_actor(stateful_actor<ping_state> *self, actor pong, actor driver, std::uint64_t n) {
    self->state.t0 = now_ns();
    self->send(pong, std::uint64_t{0});
    return {[=](std::uint64_t v) {
        auto &s = self->state;
        s.ok += v == s.i;
        if (++s.i < n) {
            self->send(pong, s.i);
            return;
        }
        double ns = double(now_ns() - s.t0) / (2.0 * double(n));
        self->send(pong, stop_atom::value);
        self->send(driver, done_atom::value, ns, s.ok);
        self->quit();
    }};
}

outcome pingpong(actor_system &sys, std::uint64_t n) {
    scoped_actor self{sys};
    auto pong = sys.spawn(pong_actor);
    sys.spawn(ping_actor, pong, actor_cast<actor>(self), n);
    outcome out{0, "ok"};
    self->receive([&](done_atom, double ns, std::uint64_t ok) {
        out.value = ns;
        if (ok != n) out.check = "fail:wrong replies";
    });
    return out;
}

// -------------------------------------------------------------------- ring

behavior ring_node(event_based_actor *self, actor driver, std::uint64_t index) {
    return {[=](actor next) {
        self->become(
            [=](std::uint64_t v) {
                if (v == 0)
                    self->send(driver, last_atom::value, index);
                else
                    self->send(next, v - 1);
            },
            [=](stop_atom) { self->quit(); });
    }};
}

outcome ring(actor_system &sys, std::uint64_t n) {
    scoped_actor self{sys};
    std::vector<actor> nodes;
    for (std::uint64_t i = 0; i < ring_size; ++i)
        nodes.push_back(sys.spawn(ring_node, actor_cast<actor>(self), i));
    for (std::uint64_t i = 0; i < ring_size; ++i) self->send(nodes[i], nodes[(i + 1) % ring_size]);
    std::uint64_t last = ~std::uint64_t{0};
    auto t0 = now_ns();
    self->send(nodes[0], n);
    self->receive([&](last_atom, std::uint64_t index) { last = index; });
    double ns = double(now_ns() - t0) / double(n);
    for (auto &a : nodes) self->send(a, stop_atom::value);
    return {ns, last == n % ring_size ? "ok" : "fail:token ended at the wrong node"};
}

// ------------------------------------------------------------------- fanin

behavior fanin_sender(event_based_actor *self, actor to, std::uint64_t s, std::uint64_t count) {
    for (std::uint64_t i = 0; i < count; ++i) self->send(to, s, i);
    self->quit();
    return {};
}

struct fanin_state {
    std::uint64_t got = 0, bad = 0;
    std::vector<std::uint64_t> next = std::vector<std::uint64_t>(fanin_senders, 0);
};

behavior fanin_receiver(stateful_actor<fanin_state> *self, actor driver, std::uint64_t total) {
    return {[=](std::uint64_t s, std::uint64_t i) {
        auto &st = self->state;
        if (s >= fanin_senders || st.next[s] != i) ++st.bad;
        if (s < fanin_senders) st.next[s] = i + 1;
        if (++st.got == total) {
            self->send(driver, done_atom::value, now_ns(), st.bad);
            self->quit();
        }
    }};
}

outcome fanin(actor_system &sys, std::uint64_t n) {
    scoped_actor self{sys};
    std::uint64_t per = n / fanin_senders;
    auto t0 = now_ns();
    auto rx = sys.spawn(fanin_receiver, actor_cast<actor>(self), per * fanin_senders);
    for (std::uint64_t s = 0; s < fanin_senders; ++s) sys.spawn(fanin_sender, rx, s, per);
    outcome out{0, "ok"};
    self->receive([&](done_atom, std::int64_t end, std::uint64_t bad) {
        out.value = double(end - t0) / double(per * fanin_senders);
        if (bad) out.check = "fail:lost or reordered";
    });
    return out;
}

// ------------------------------------------------------------------ parked

std::atomic<std::uint64_t> parked_count{0};

behavior parked_actor(event_based_actor *self) {
    parked_count.fetch_add(1, std::memory_order_relaxed);
    return {[=](std::uint64_t) { self->quit(); }};
}

outcome parked(actor_system &sys, std::uint64_t n) {
    std::vector<actor> actors;
    actors.reserve(n);
    long before = vmrss_kib();
    for (std::uint64_t i = 0; i < n; ++i) actors.push_back(sys.spawn(parked_actor));
    while (parked_count.load(std::memory_order_relaxed) < n) std::this_thread::yield();
    long after = vmrss_kib();
    {
        scoped_actor self{sys};
        for (std::uint64_t i = 0; i < n; ++i) self->send(actors[i], i);
    }
    actors.clear();
    sys.await_all_actors_done();
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
    using fn = std::function<outcome(actor_system &, std::uint64_t)>;
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
    actor_system_config cfg;
    actor_system sys{cfg};
    bool failed = false;
    for (int r = 0; r < runs; ++r) {
        outcome o = it->second.first(sys, n);
        failed |= o.check != "ok";
        std::printf("RESULT workload=%s n=%llu value=%.1f unit=%s check=%s\n", name.c_str(),
                    (unsigned long long)n, o.value, it->second.second, o.check.c_str());
        std::fflush(stdout);
    }
    return failed ? 1 : 0;
}
