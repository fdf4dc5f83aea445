// Runtimes: options, node ids, several at once, create/destroy cycles with
// processes in flight, destroy killing blocked processes, attach/detach.
#include "fixture.hpp"

#include <barrier>
#include <set>

using namespace capi_test;

namespace {

/** What a process saw when its runtime was destroyed under it. */
struct KillReport {
    std::atomic<int> started{0};
    std::atomic<int> blocked_rc{1};  // the call it was blocked in
    std::atomic<int> yield_rc{1};    // later calls
    std::atomic<int> sleep_rc{1};
    std::atomic<int> send_rc{1};
    std::atomic<int> receive_rc{1};
    std::atomic<int> spawn_rc{1};
    std::atomic<int> freed{0};
};

void kill_report_free(void *user) { static_cast<KillReport *>(user)->freed++; }

void record_later_calls(KillReport *r) {
    r->yield_rc = lunatic_yield();
    r->sleep_rc = lunatic_sleep(0);
    lunatic_pid me{0, 0};
    lunatic_self(&me);
    r->send_rc = lunatic_send_bytes(me, 1, "x", 1);
    lunatic_message *m = nullptr;
    r->receive_rc = lunatic_receive(nullptr, 0, 0, &m);
    if (r->receive_rc == LUNATIC_OK) lunatic_message_free(m);
    r->spawn_rc = lunatic_spawn(noop_entry, nullptr, 0, nullptr, nullptr, nullptr);
}

int blocked_infinite_entry(const uint8_t *, size_t, void *user) {
    auto *r = static_cast<KillReport *>(user);
    r->started = 1;
    lunatic_message *m = nullptr;
    lunatic_tag never = 4711;
    r->blocked_rc = lunatic_receive(&never, 1, LUNATIC_INFINITE, &m);
    if (r->blocked_rc == LUNATIC_OK) lunatic_message_free(m);
    record_later_calls(r);
    return 0;
}

int blocked_timeout_entry(const uint8_t *, size_t, void *user) {
    auto *r = static_cast<KillReport *>(user);
    r->started = 1;
    lunatic_message *m = nullptr;
    r->blocked_rc = lunatic_receive(nullptr, 0, 60 * kSec, &m);
    if (r->blocked_rc == LUNATIC_OK) lunatic_message_free(m);
    record_later_calls(r);
    return 0;
}

int blocked_sleep_entry(const uint8_t *, size_t, void *user) {
    auto *r = static_cast<KillReport *>(user);
    r->started = 1;
    r->blocked_rc = lunatic_sleep(60 * kSec);
    record_later_calls(r);
    return 0;
}

int yield_loop_entry(const uint8_t *, size_t, void *user) {
    auto *r = static_cast<KillReport *>(user);
    r->started = 1;
    int rc;
    while ((rc = lunatic_yield()) == LUNATIC_OK) {
    }
    r->blocked_rc = rc;
    record_later_calls(r);
    return 0;
}

int self_send_loop_entry(const uint8_t *, size_t, void *user) {
    auto *r = static_cast<KillReport *>(user);
    r->started = 1;
    lunatic_pid me{0, 0};
    lunatic_self(&me);
    for (uint64_t i = 0;; ++i) {
        int rc = send_u64(me, 1, i);
        if (rc != LUNATIC_OK) {
            r->blocked_rc = rc;
            break;
        }
        lunatic_message *m = nullptr;
        rc = lunatic_receive(nullptr, 0, 10 * kSec, &m);
        if (rc != LUNATIC_OK) {
            r->blocked_rc = rc;
            break;
        }
        lunatic_message_free(m);
    }
    return 0;
}

/** Spawns up to 50 blocked children (each with kill_report_free on its own report)
 *  and counts successes; stops at the first failing spawn. */
struct SpawnerState {
    KillReport self;
    KillReport children[50];
    std::atomic<int> spawned{0};
};

int spawner_entry(const uint8_t *, size_t, void *user) {
    auto *s = static_cast<SpawnerState *>(user);
    s->self.started = 1;
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.user_free = kill_report_free;
    for (auto &child : s->children) {
        int rc = lunatic_spawn(blocked_infinite_entry, nullptr, 0, &child, &o, nullptr);
        if (rc != LUNATIC_OK) {
            s->self.blocked_rc = rc;
            return 0;
        }
        s->spawned++;
        if (lunatic_yield() != LUNATIC_OK) return 0;
    }
    return 0;
}

lunatic_spawn_options with_free() {
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.user_free = kill_report_free;
    return o;
}

}  // namespace

TEST_CASE("runtime: options init fills the defaults") {
    lunatic_runtime_options o;
    std::memset(&o, 0x5A, sizeof o);
    lunatic_runtime_options_init(&o);
    CHECK(o.struct_size == sizeof(lunatic_runtime_options));
    CHECK(o.workers == 0);
    CHECK(o.default_stack_size == 0);
    CHECK(o.idle_spins == 0);
    CHECK((o.log == nullptr));
    CHECK(o.log_user == nullptr);
}

TEST_CASE("runtime: NULL options give the defaults; the workers option is honoured") {
    lunatic_runtime *rt = nullptr;
    REQUIRE(lunatic_runtime_create(nullptr, &rt) == LUNATIC_OK);
    REQUIRE(rt != nullptr);
    unsigned hw = std::thread::hardware_concurrency();
    if (hw > 0) CHECK(lunatic_runtime_workers(rt) == hw);
    CHECK(lunatic_runtime_node_id(rt) != 0);
    CHECK(lunatic_runtime_process_count(rt) == 0);
    CHECK(lunatic_runtime_destroy(rt) == LUNATIC_OK);

    for (uint32_t w : {1u, 3u}) {
        lunatic_runtime_options o = runtime_options(w, nullptr);
        REQUIRE(lunatic_runtime_create(&o, &rt) == LUNATIC_OK);
        CHECK(lunatic_runtime_workers(rt) == w);
        CHECK(lunatic_runtime_destroy(rt) == LUNATIC_OK);
    }
}

TEST_CASE("runtime: idle_spins (tiny and large) still delivers messages") {
    for (uint32_t spins : {1u, 1000000u}) {
        CAPTURE(spins);
        LogCapture log;
        lunatic_runtime_options o = runtime_options(2, &log);
        o.idle_spins = spins;
        lunatic_runtime *rt = nullptr;
        REQUIRE(lunatic_runtime_create(&o, &rt) == LUNATIC_OK);
        REQUIRE(lunatic_runtime_attach(rt, nullptr) == LUNATIC_OK);
        lunatic_pid echo = spawn(echo_entry);
        REQUIRE(echo.id != 0);
        for (uint64_t i = 0; i < 50; ++i) {
            CHECK(ping(echo, 2, i));
            if (i % 10 == 0)
                std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let workers idle
        }
        CHECK(lunatic_runtime_destroy(rt) == LUNATIC_OK);
    }
}

TEST_CASE("runtime: destroy(NULL) is a no-op") {
    lunatic_runtime_destroy(nullptr);
    // Still fully usable afterwards.
    Runtime rt;
    CHECK(lunatic_current_runtime() == rt.rt);
}

TEST_CASE("runtime: node ids are non-zero and different") {
    std::set<uint64_t> ids;
    std::vector<lunatic_runtime *> live;
    for (int i = 0; i < 8; ++i) {
        lunatic_runtime_options o = runtime_options(1, nullptr);
        lunatic_runtime *rt = nullptr;
        REQUIRE(lunatic_runtime_create(&o, &rt) == LUNATIC_OK);
        CHECK(lunatic_runtime_node_id(rt) != 0);
        ids.insert(lunatic_runtime_node_id(rt));
        live.push_back(rt);
    }
    CHECK(ids.size() == 8);  // all alive at once
    for (auto *rt : live) CHECK(lunatic_runtime_destroy(rt) == LUNATIC_OK);

    // One after another: a new runtime never reuses an earlier node id.
    for (int i = 0; i < 8; ++i) {
        lunatic_runtime_options o = runtime_options(1, nullptr);
        lunatic_runtime *rt = nullptr;
        REQUIRE(lunatic_runtime_create(&o, &rt) == LUNATIC_OK);
        CHECK(lunatic_runtime_node_id(rt) != 0);
        ids.insert(lunatic_runtime_node_id(rt));
        CHECK(lunatic_runtime_destroy(rt) == LUNATIC_OK);
    }
    CHECK(ids.size() == 16);

    // A pid carries its runtime's node id.
    Runtime rt;
    CHECK(rt.self.node == lunatic_runtime_node_id(rt.rt));
    CHECK(spawn(noop_entry).node == lunatic_runtime_node_id(rt.rt));
}

TEST_CASE("runtime: several runtimes in one OS process at once") {
    constexpr int kRuntimes = 3;
    struct Result {
        std::atomic<int> attach_rc{1};
        std::atomic<int> pings_ok{0};
        std::atomic<int> answers_ok{0};
        std::atomic<int> node_ok{0};
        std::atomic<int> current_ok{0};
        std::atomic<int> foreign_send_rc{1};
        std::atomic<int> foreign_alive{-1};
        lunatic_pid first_pid{0, 0};
    };
    std::vector<Runtime *> rts;
    for (int i = 0; i < kRuntimes; ++i) rts.push_back(new Runtime(2, false));
    std::vector<Result> results(kRuntimes);
    std::barrier sync(kRuntimes);

    auto body = [&](int k) {
        Result &res = results[k];
        lunatic_runtime *rt = rts[k]->rt;
        lunatic_pid me{0, 0};
        int rc = lunatic_runtime_attach(rt, &me);
        res.attach_rc = rc;
        res.first_pid = me;
        sync.arrive_and_wait();  // every thread's pid is published
        if (rc == LUNATIC_OK) {
            res.current_ok = lunatic_current_runtime() == rt;
            lunatic_pid echo = spawn(echo_entry);
            res.node_ok = echo.node == lunatic_runtime_node_id(rt) && me.node == echo.node;
            for (uint64_t i = 0; i < 300; ++i)
                if (ping(echo, 3, i + 1000 * k)) res.pings_ok++;
            lunatic_send_bytes(echo, kStopTag, nullptr, 0);

            std::vector<lunatic_pid> pids(500);
            for (auto &p : pids) lunatic_spawn(answer_once_entry, nullptr, 0, nullptr, nullptr, &p);
            for (uint64_t i = 0; i < pids.size(); ++i) send_u64(pids[i], 10, i);
            for (size_t i = 0; i < pids.size(); ++i) {
                Received r = recv({11});
                if (r.rc != LUNATIC_OK) break;
                res.answers_ok++;
            }
            // A pid of another runtime is not a process of this one.
            lunatic_pid other = results[(k + 1) % kRuntimes].first_pid;
            res.foreign_send_rc = send_u64(other, 1, 1);
            res.foreign_alive = lunatic_process_alive(other);
        }
        sync.arrive_and_wait();  // nobody detaches while another may still send
        lunatic_detach();
    };
    std::vector<std::thread> threads;
    for (int k = 0; k < kRuntimes; ++k) threads.emplace_back(body, k);
    for (auto &t : threads) t.join();

    std::set<uint64_t> nodes;
    for (int k = 0; k < kRuntimes; ++k) {
        CAPTURE(k);
        Result &res = results[k];
        CHECK(res.attach_rc.load() == LUNATIC_OK);
        CHECK(res.current_ok.load() == 1);
        CHECK(res.node_ok.load() == 1);
        CHECK(res.pings_ok.load() == 300);
        CHECK(res.answers_ok.load() == 500);
        CHECK(res.foreign_send_rc.load() == LUNATIC_ENOPROC);
        CHECK(res.foreign_alive.load() == 0);
        nodes.insert(lunatic_runtime_node_id(rts[k]->rt));
    }
    CHECK(nodes.size() == kRuntimes);
    for (auto *rt : rts) {
        CHECK(rt->destroy() == LUNATIC_OK);
        delete rt;
    }
}

TEST_CASE("runtime: a process sees its own runtime; destroy from a process is ESTATE") {
    struct Probe {
        static int entry(const uint8_t *capture, size_t len, void *) {
            lunatic_pid parent{0, 0};
            if (!capture_pid(capture, len, &parent)) return 1;
            lunatic_runtime *mine = lunatic_current_runtime();
            int64_t report[2] = {0, 0};
            std::memcpy(&report[0], &mine, sizeof mine);
            report[1] = lunatic_runtime_destroy(mine);
            return lunatic_send_bytes(parent, 12, report, sizeof report) == LUNATIC_OK ? 0 : 2;
        }
    };
    Runtime rt;
    REQUIRE(spawn_with_parent(&Probe::entry).id != 0);
    Received r = recv({12});
    REQUIRE(r.rc == LUNATIC_OK);
    int64_t report[2];
    REQUIRE(lunatic_message_size(r.msg.get()) == sizeof report);
    std::memcpy(report, lunatic_message_data(r.msg.get()), sizeof report);
    lunatic_runtime *seen = nullptr;
    std::memcpy(&seen, &report[0], sizeof seen);
    CHECK(seen == rt.rt);
    CHECK(report[1] == LUNATIC_ESTATE);
    // The runtime survived the attempt.
    lunatic_pid echo = spawn(echo_entry);
    REQUIRE(echo.id != 0);
    CHECK(ping(echo, 1, 99));
}

TEST_CASE("runtime: process count follows spawns and exits") {
    Runtime rt;
    CHECK(lunatic_runtime_process_count(rt.rt) == 1);  // the attached test thread
    std::vector<lunatic_pid> pids;
    for (int i = 0; i < 10; ++i) pids.push_back(spawn(answer_once_entry));
    CHECK(lunatic_runtime_process_count(rt.rt) == 11);
    for (auto &p : pids) REQUIRE(send_u64(p, 1, 0) == LUNATIC_OK);
    for (size_t i = 0; i < pids.size(); ++i) REQUIRE(recv({2}).rc == LUNATIC_OK);
    CHECK(wait_until([&] { return lunatic_runtime_process_count(rt.rt) == 1; }));
}

TEST_CASE("runtime: destroy kills blocked processes; their calls return EKILLED") {
    Runtime rt;
    KillReport infinite, timed, sleeping, yielding, looping;
    lunatic_spawn_options o = with_free();
    REQUIRE(spawn(blocked_infinite_entry, nullptr, 0, &infinite, &o).id != 0);
    REQUIRE(spawn(blocked_timeout_entry, nullptr, 0, &timed, &o).id != 0);
    REQUIRE(spawn(blocked_sleep_entry, nullptr, 0, &sleeping, &o).id != 0);
    REQUIRE(spawn(yield_loop_entry, nullptr, 0, &yielding, &o).id != 0);
    REQUIRE(spawn(self_send_loop_entry, nullptr, 0, &looping, &o).id != 0);
    KillReport *all[] = {&infinite, &timed, &sleeping, &yielding, &looping};
    REQUIRE(wait_until([&] {
        for (auto *r : all)
            if (!r->started.load()) return false;
        return true;
    }));

    // An attached foreign thread blocked in a receive: gets EKILLED, must still detach.
    std::atomic<int> thread_attach_rc{1}, thread_recv_rc{1}, thread_send_rc{1}, thread_detach_rc{1};
    std::atomic<int> thread_ready{0};
    std::atomic<bool> thread_still_attached{true};
    lunatic_runtime *runtime = rt.rt;
    std::thread foreign([&] {
        lunatic_pid me{0, 0};
        thread_attach_rc = lunatic_runtime_attach(runtime, &me);
        thread_ready = 1;
        lunatic_message *m = nullptr;
        thread_recv_rc = lunatic_receive(nullptr, 0, 20 * kSec, &m);
        if (thread_recv_rc == LUNATIC_OK) lunatic_message_free(m);
        thread_send_rc = send_u64(me, 1, 1);
        thread_detach_rc = lunatic_detach();
        thread_still_attached = lunatic_current_runtime() != nullptr;
    });
    REQUIRE(wait_until([&] { return thread_ready.load() == 1; }));
    std::this_thread::sleep_for(
        std::chrono::milliseconds(20));  // let it block (either way is valid)

    {
        Watchdog dog("runtime destroy with blocked processes", std::chrono::seconds(30));
        CHECK(rt.destroy() == LUNATIC_OK);
        foreign.join();
    }
    // The destroying thread was detached by destroy.
    CHECK(lunatic_current_runtime() == nullptr);
    lunatic_pid p{0, 0};
    CHECK(lunatic_self(&p) == LUNATIC_ESTATE);

    const char *names[] = {"receive(INFINITE)", "receive(60 s)", "sleep(60 s)", "yield loop",
                           "send/receive loop"};
    for (int i = 0; i < 5; ++i) {
        KillReport *r = all[i];
        CAPTURE(names[i]);
        CHECK(r->blocked_rc.load() == LUNATIC_EKILLED);
        CHECK(r->freed.load() == 1);
        if (r != &looping) {
            CHECK(r->yield_rc.load() == LUNATIC_EKILLED);
            CHECK(r->sleep_rc.load() == LUNATIC_EKILLED);
            CHECK(r->send_rc.load() == LUNATIC_EKILLED);
            CHECK(r->receive_rc.load() == LUNATIC_EKILLED);
            CHECK(r->spawn_rc.load() == LUNATIC_EKILLED);
        }
    }
    CHECK(thread_attach_rc.load() == LUNATIC_OK);
    CHECK(thread_recv_rc.load() == LUNATIC_EKILLED);
    CHECK(thread_send_rc.load() == LUNATIC_EKILLED);
    CHECK(thread_detach_rc.load() == LUNATIC_OK);
    CHECK(thread_still_attached.load() == false);
}

TEST_CASE("runtime: create/destroy 100 times with processes in flight") {
    Watchdog dog("100 create/destroy cycles", std::chrono::seconds(120));
    for (int round = 0; round < 100; ++round) {
        CAPTURE(round);
        KillReport blocked[4], timed, sleeping, yielding, looping;
        SpawnerState spawner;
        {
            Runtime rt;
            lunatic_spawn_options o = with_free();
            std::vector<KillReport *> waits;
            std::vector<lunatic_pid> blocked_pids;
            for (auto &b : blocked) {
                blocked_pids.push_back(spawn(blocked_infinite_entry, nullptr, 0, &b, &o));
                REQUIRE(blocked_pids.back().id != 0);
                waits.push_back(&b);
            }
            REQUIRE(spawn(blocked_timeout_entry, nullptr, 0, &timed, &o).id != 0);
            REQUIRE(spawn(blocked_sleep_entry, nullptr, 0, &sleeping, &o).id != 0);
            REQUIRE(spawn(yield_loop_entry, nullptr, 0, &yielding, &o).id != 0);
            REQUIRE(spawn(self_send_loop_entry, nullptr, 0, &looping, &o).id != 0);
            lunatic_spawn_options so;
            lunatic_spawn_options_init(&so);
            REQUIRE(spawn(spawner_entry, nullptr, 0, &spawner, &so).id != 0);
            waits.push_back(&timed);
            waits.push_back(&sleeping);
            waits.push_back(&yielding);
            // Messages that do not match the blocked receives' tag: freed with the mailboxes.
            for (auto &p : blocked_pids)
                for (int i = 0; i < 3; ++i) REQUIRE(send_u64(p, 1, i) == LUNATIC_OK);
            REQUIRE(wait_until([&] {
                for (auto *r : waits)
                    if (!r->started.load()) return false;
                return true;
            }));
            REQUIRE(rt.destroy() == LUNATIC_OK);
            CHECK(lunatic_current_runtime() == nullptr);
        }
        int not_freed = 0, not_killed = 0;
        for (auto &b : blocked) {
            not_freed += b.freed.load() != 1;
            not_killed += b.blocked_rc.load() != LUNATIC_EKILLED;
        }
        for (KillReport *r : {&timed, &sleeping, &yielding}) {
            not_freed += r->freed.load() != 1;
            not_killed += r->blocked_rc.load() != LUNATIC_EKILLED;
        }
        not_freed += looping.freed.load() != 1;
        int children = spawner.spawned.load();
        for (int i = 0; i < children; ++i) not_freed += spawner.children[i].freed.load() != 1;
        for (int i = children; i < 50; ++i) not_freed += spawner.children[i].freed.load() != 0;
        CHECK(not_freed == 0);
        CHECK(not_killed == 0);
        if (not_freed || not_killed) break;  // one failing round says it all
    }
}

TEST_CASE("runtime: attach twice is EEXIST; detach when not attached is ESTATE") {
    Runtime rt;
    lunatic_pid again{0, 0};
    CHECK(lunatic_runtime_attach(rt.rt, &again) == LUNATIC_EEXIST);
    CHECK(lunatic_current_runtime() == rt.rt);
    lunatic_pid me{0, 0};
    REQUIRE(lunatic_self(&me) == LUNATIC_OK);
    CHECK(me == rt.self);  // the failed attach changed nothing

    Runtime other(1, false);
    CHECK(lunatic_runtime_attach(other.rt, nullptr) == LUNATIC_EEXIST);
    CHECK(lunatic_current_runtime() == rt.rt);

    // Detach, then detach again.
    REQUIRE(send_u64(rt.self, 1, 1) == LUNATIC_OK);  // discarded with the mailbox
    CHECK(lunatic_detach() == LUNATIC_OK);
    CHECK(lunatic_current_runtime() == nullptr);
    CHECK(lunatic_detach() == LUNATIC_ESTATE);
    CHECK(lunatic_self(&me) == LUNATIC_ESTATE);

    // Attach again: a new process with a fresh id and an empty mailbox.
    lunatic_pid second{0, 0};
    REQUIRE(lunatic_runtime_attach(rt.rt, &second) == LUNATIC_OK);
    CHECK(second.node == rt.self.node);
    CHECK(second.id != rt.self.id);
    CHECK(recv({}, 0).rc == LUNATIC_ETIMEDOUT);
    CHECK(send_u64(rt.self, 1, 1) == LUNATIC_ENOPROC);  // the first attachment is gone
    CHECK(lunatic_detach() == LUNATIC_OK);

    // Attach to the other runtime now that this thread is free; out may be NULL.
    REQUIRE(lunatic_runtime_attach(other.rt, nullptr) == LUNATIC_OK);
    CHECK(lunatic_current_runtime() == other.rt);
    CHECK(lunatic_detach() == LUNATIC_OK);
}

TEST_CASE("runtime: attach/detach from several OS threads at once, with messages between them") {
    constexpr int kThreads = 8, kRounds = 10;
    Runtime rt(2, false);
    std::barrier sync(kThreads);
    std::vector<lunatic_pid> slots(kThreads);
    std::vector<std::vector<lunatic_pid>> history(kThreads);
    std::atomic<int> attach_failures{0}, send_failures{0}, receive_failures{0}, wrong_sender{0},
        ping_failures{0}, detach_failures{0};

    auto body = [&](int k) {
        for (int round = 0; round < kRounds; ++round) {
            lunatic_pid me{0, 0};
            int rc = lunatic_runtime_attach(rt.rt, &me);
            if (rc != LUNATIC_OK) attach_failures++;
            slots[k] = me;
            history[k].push_back(me);
            sync.arrive_and_wait();  // all pids of this round published
            if (rc == LUNATIC_OK) {
                for (int j = 0; j < kThreads; ++j)
                    if (j != k && send_u64(slots[j], 100 + round, k) != LUNATIC_OK) send_failures++;
                std::set<uint64_t> from;
                for (int j = 0; j < kThreads - 1; ++j) {
                    Received r = recv({100 + round});
                    if (r.rc != LUNATIC_OK) {
                        receive_failures++;
                        break;
                    }
                    uint64_t who = msg_u64(r.msg.get());
                    if (who >= kThreads || msg_sender(r.msg.get()) != slots[who]) wrong_sender++;
                    from.insert(who);
                }
                if (from.size() != kThreads - 1 || from.count(k)) wrong_sender++;
                // A process of our own, too.
                lunatic_pid child = spawn(answer_once_entry);
                if (send_u64(child, 20, k) != LUNATIC_OK) {
                    ping_failures++;
                } else {
                    Received r = recv({21});
                    if (r.rc != LUNATIC_OK || msg_u64(r.msg.get()) != static_cast<uint64_t>(k) ||
                        msg_sender(r.msg.get()) != child)
                        ping_failures++;
                }
            }
            sync.arrive_and_wait();  // everyone has received before anyone detaches
            if (rc == LUNATIC_OK && lunatic_detach() != LUNATIC_OK) detach_failures++;
            if (lunatic_current_runtime() != nullptr) detach_failures++;
        }
    };
    std::vector<std::thread> threads;
    for (int k = 0; k < kThreads; ++k) threads.emplace_back(body, k);
    for (auto &t : threads) t.join();

    CHECK(attach_failures.load() == 0);
    CHECK(send_failures.load() == 0);
    CHECK(receive_failures.load() == 0);
    CHECK(wrong_sender.load() == 0);
    CHECK(ping_failures.load() == 0);
    CHECK(detach_failures.load() == 0);
    std::set<uint64_t> ids;
    for (auto &h : history)
        for (auto &p : h) {
            ids.insert(p.id);
            CHECK(p.node == lunatic_runtime_node_id(rt.rt));
        }
    CHECK(ids.size() == size_t{kThreads} * kRounds);  // never reused
    CHECK(wait_until([&] { return lunatic_runtime_process_count(rt.rt) == 0; }));
}

TEST_CASE("runtime: sleeping workers wake for messages from a foreign thread") {
    // idle_spins = 1: workers go to sleep almost at once, so every round trip
    // below has to wake one. A lost wake-up shows as a receive timing out.
    LogCapture log;
    lunatic_runtime_options o = runtime_options(2, &log);
    o.idle_spins = 1;
    lunatic_runtime *rt = nullptr;
    REQUIRE(lunatic_runtime_create(&o, &rt) == LUNATIC_OK);
    REQUIRE(lunatic_runtime_attach(rt, nullptr) == LUNATIC_OK);
    lunatic_pid echo = spawn(echo_entry);
    REQUIRE(echo.id != 0);
    int lost = 0;
    for (uint64_t i = 0; i < 200; ++i) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));  // let the workers sleep
        if (!ping(echo, 4, i)) ++lost;
    }
    CHECK(lost == 0);
    CHECK(lunatic_runtime_destroy(rt) == LUNATIC_OK);
}

TEST_CASE("runtime: destroy while foreign threads are busy sending and spawning") {
    // Attached threads keep calling the runtime while it is destroyed: each must
    // get LUNATIC_EKILLED from some call on, then detach, with no crash. Runs in
    // a child process because a race here can take the whole program down.
    ChildResult result = run_in_child([](ChildLog &log) -> int {
        for (int round = 0; round < 200; ++round) {
            lunatic_runtime_options o = runtime_options(2, nullptr);
            lunatic_runtime *runtime = nullptr;
            if (lunatic_runtime_create(&o, &runtime) != LUNATIC_OK) return 10;
            std::atomic<int> ready{0};
            std::atomic<int> sender_rc{1}, spawner_rc{1}, sender_detach{1}, spawner_detach{1};
            std::thread sender([&] {
                lunatic_pid me{0, 0};
                if (lunatic_runtime_attach(runtime, &me) != LUNATIC_OK) return;
                lunatic_pid echo = spawn(echo_entry);
                ready++;
                int rc = LUNATIC_OK;
                for (uint64_t i = 0; rc == LUNATIC_OK; ++i) {
                    rc = send_u64(echo, 1, i);
                    if (rc == LUNATIC_OK) {
                        lunatic_message *m = nullptr;
                        rc = lunatic_receive(nullptr, 0, 10 * kSec, &m);
                        if (rc == LUNATIC_OK) lunatic_message_free(m);
                    }
                }
                sender_rc = rc;
                sender_detach = lunatic_detach();
            });
            std::thread spawner([&] {
                if (lunatic_runtime_attach(runtime, nullptr) != LUNATIC_OK) return;
                ready++;
                int rc = LUNATIC_OK;
                while (rc == LUNATIC_OK)
                    rc = lunatic_spawn(noop_entry, nullptr, 0, nullptr, nullptr, nullptr);
                spawner_rc = rc;
                spawner_detach = lunatic_detach();
            });
            while (ready.load() < 2) std::this_thread::yield();
            std::this_thread::sleep_for(std::chrono::microseconds((round % 20) * 100));
            log.note("round " + std::to_string(round) + ": destroying");
            int destroy_rc = lunatic_runtime_destroy(runtime);
            sender.join();
            spawner.join();
            std::string what =
                "round " + std::to_string(round) + ": destroy " + std::to_string(destroy_rc) +
                ", sender's last call " + std::to_string(sender_rc.load()) +
                ", spawner's last call " + std::to_string(spawner_rc.load()) + ", detaches " +
                std::to_string(sender_detach.load()) + "/" + std::to_string(spawner_detach.load());
            log.note(what);
            if (destroy_rc != LUNATIC_OK) return 11;
            if (sender_rc.load() != LUNATIC_EKILLED) return 12;
            if (spawner_rc.load() != LUNATIC_EKILLED) return 13;
            if (sender_detach.load() != LUNATIC_OK || spawner_detach.load() != LUNATIC_OK)
                return 14;
        }
        return 0;
    });
    // Only the last lines matter when it fails.
    if (result.output.size() > 2000)
        result.output = "..." + result.output.substr(result.output.size() - 2000);
    check_child_ok(result);
}
