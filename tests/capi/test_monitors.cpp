// Monitors and signals in the mailbox: PROCESS_DIED once on any exit (normal,
// failed, exit code, exception, killed) and at once with NOPROC for a pid that
// is gone; demonitor; receive masks (signals are found at once behind 10,000
// data messages, plain lunatic_receive never returns one); exactly-once deaths
// of 10,000 processes in linked pairs ending at random.
#include "agent.hpp"

#include <algorithm>
#include <map>
#include <random>

using namespace capi_test;

namespace {

/** Monitors `target` from the test thread and checks its one PROCESS_DIED. */
Sig expect_one_death(const lunatic_pid &target) {
    Sig s = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED);
    INFO(describe(s));
    REQUIRE(s.rc == LUNATIC_OK);
    CHECK(s.kind == LUNATIC_MESSAGE_PROCESS_DIED);
    CHECK(s.signal_rc == LUNATIC_OK);
    CHECK(s.pid == target);
    CHECK(recv_signal(LUNATIC_RECEIVE_SIGNALS, 100 * kMs).rc == LUNATIC_ETIMEDOUT);
    return s;
}

}  // namespace

TEST_CASE("monitors: PROCESS_DIED once on any exit, with the reason and its text") {
    Runtime rt;
    lunatic_pid a = spawn_agent();
    REQUIRE(lunatic_monitor(a) == LUNATIC_OK);

    SUBCASE("normal") {
        REQUIRE(tell(a, Op::exit) == LUNATIC_OK);
        Sig s = expect_one_death(a);
        CHECK(s.reason == LUNATIC_EXIT_NORMAL);
        CHECK(s.text.find("fail") == std::string::npos);
    }
    SUBCASE("failed: the text carries the lunatic_fail message") {
        REQUIRE(tell(a, Op::fail, "disk full on /dev/zz9") == LUNATIC_OK);
        Sig s = expect_one_death(a);
        CHECK(s.reason == LUNATIC_EXIT_FAILED);
        CHECK(s.text.find("disk full on /dev/zz9") != std::string::npos);
        CHECK(s.text.rfind("failed", 0) == 0);
    }
    SUBCASE("failed by an exit code") {
        REQUIRE(tell(a, Op::exit_code, "", 42) == LUNATIC_OK);
        Sig s = expect_one_death(a);
        CHECK(s.reason == LUNATIC_EXIT_FAILED);
        CHECK(s.text.find("exit code 42") != std::string::npos);
    }
    SUBCASE("failed by an uncaught C++ exception") {
        REQUIRE(tell(a, Op::throw_, "thrown across the entry") == LUNATIC_OK);
        Sig s = expect_one_death(a);
        CHECK(s.reason == LUNATIC_EXIT_FAILED);
        CHECK(s.text.find("thrown across the entry") != std::string::npos);
    }
    SUBCASE("killed") {
        REQUIRE(lunatic_kill(a) == LUNATIC_OK);
        Sig s = expect_one_death(a);
        CHECK(s.reason == LUNATIC_EXIT_KILLED);
        CHECK(s.text == "killed");
    }
    SUBCASE("monitoring twice is one monitor") {
        REQUIRE(lunatic_monitor(a) == LUNATIC_OK);
        REQUIRE(lunatic_monitor(a) == LUNATIC_OK);
        REQUIRE(tell(a, Op::fail, "once") == LUNATIC_OK);
        Sig s = expect_one_death(a);
        CHECK(s.reason == LUNATIC_EXIT_FAILED);
    }
    CHECK(lunatic_process_alive(a) == 0);
}

TEST_CASE("monitors: a pid that is gone is reported at once with NOPROC") {
    Runtime rt;
    lunatic_pid dead = spawn(noop_entry);
    REQUIRE(wait_dead(dead));
    for (lunatic_pid target : {dead, never_existed(rt.self), other_node(rt.self)}) {
        CAPTURE(pid_str(target));
        REQUIRE(lunatic_monitor(target) == LUNATIC_OK);
        // At once: already queued when lunatic_monitor returns.
        Sig s = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED, 0);
        INFO(describe(s));
        REQUIRE(s.rc == LUNATIC_OK);
        CHECK(s.kind == LUNATIC_MESSAGE_PROCESS_DIED);
        CHECK(s.pid == target);
        CHECK(s.reason == LUNATIC_EXIT_NOPROC);
        CHECK(s.text.find("noproc") != std::string::npos);
        CHECK(recv_signal(LUNATIC_RECEIVE_SIGNALS, 50 * kMs).rc == LUNATIC_ETIMEDOUT);
    }
    // A monitor of a dead pid does not make a link: nothing kills the caller.
    CHECK(lunatic_process_alive(rt.self) == 1);
}

TEST_CASE("monitors: a process monitors, others watch the same target, each hears once") {
    Runtime rt;
    lunatic_pid target = spawn_agent();
    std::vector<lunatic_pid> watchers;
    for (int i = 0; i < 5; ++i) {
        watchers.push_back(spawn_agent());
        REQUIRE(call(watchers.back(), Op::monitor, target).rc == LUNATIC_OK);
    }
    REQUIRE(lunatic_monitor(target) == LUNATIC_OK);
    REQUIRE(tell(target, Op::fail, "watched") == LUNATIC_OK);
    Sig mine = expect_one_death(target);
    CHECK(mine.reason == LUNATIC_EXIT_FAILED);
    for (auto &w : watchers) {
        Report r = agent_signal(w);
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(r.signal_rc == LUNATIC_OK);
        CHECK(r.kind == LUNATIC_MESSAGE_PROCESS_DIED);
        CHECK(r.pid == target);
        CHECK(r.reason == LUNATIC_EXIT_FAILED);
        CHECK(std::string(r.text).find("watched") != std::string::npos);
        CHECK(agent_signal(w, LUNATIC_RECEIVE_SIGNALS, 50 * kMs).rc == LUNATIC_ETIMEDOUT);
    }
    // A monitor is one-way: the watchers live on.
    for (auto &w : watchers) CHECK(answers(w));
}

TEST_CASE("monitors: demonitor stops the notification") {
    Runtime rt;
    lunatic_pid target = spawn_agent();
    lunatic_pid witness = spawn_agent();
    REQUIRE(call(witness, Op::monitor, target).rc == LUNATIC_OK);

    SUBCASE("demonitor before the end: nothing comes") {
        REQUIRE(lunatic_monitor(target) == LUNATIC_OK);
        REQUIRE(lunatic_demonitor(target) == LUNATIC_OK);
        REQUIRE(tell(target, Op::fail, "unwatched") == LUNATIC_OK);
        // The witness's signal shows the target has ended and been announced.
        Report w = agent_signal(witness);
        REQUIRE(w.rc == LUNATIC_OK);
        CHECK(w.pid == target);
        CHECK(recv_signal(LUNATIC_RECEIVE_SIGNALS, 200 * kMs).rc == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("a PROCESS_DIED already queued stays queued") {
        REQUIRE(lunatic_monitor(target) == LUNATIC_OK);
        REQUIRE(tell(target, Op::exit) == LUNATIC_OK);
        REQUIRE(agent_signal(witness).rc == LUNATIC_OK);
        REQUIRE(wait_until([] {
            size_t n = 0;
            return lunatic_mailbox_size(&n) == LUNATIC_OK && n >= 1;
        }));
        REQUIRE(lunatic_demonitor(target) == LUNATIC_OK);
        Sig s = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED, 0);
        REQUIRE(s.rc == LUNATIC_OK);
        CHECK(s.pid == target);
        CHECK(s.reason == LUNATIC_EXIT_NORMAL);
    }
    SUBCASE("demonitor by a process") {
        lunatic_pid w2 = spawn_agent();
        REQUIRE(call(w2, Op::monitor, target).rc == LUNATIC_OK);
        REQUIRE(call(w2, Op::demonitor, target).rc == LUNATIC_OK);
        REQUIRE(lunatic_kill(target) == LUNATIC_OK);
        REQUIRE(agent_signal(witness).rc == LUNATIC_OK);
        CHECK(agent_signal(w2, LUNATIC_RECEIVE_SIGNALS, 200 * kMs).rc == LUNATIC_ETIMEDOUT);
    }
}

TEST_CASE("monitors: once demonitor returns, no PROCESS_DIED comes unless one was already queued") {
    // The header: demonitor "stops monitoring pid (a PROCESS_DIED already queued
    // stays queued)" - as in Erlang, where nothing is placed in the queue after
    // demonitor returns. The target fails; the runtime logs the failure through
    // a log callback that takes its time (a user's log sink may be slow), which
    // holds the target between "finished" and the telling of its watchers. The
    // test thread demonitors in that gap, finds nothing queued, and then nothing
    // may come.
    SlowLog slow;
    SlowLogRuntime rt(&slow);
    lunatic_pid t = spawn_agent();
    REQUIRE(lunatic_monitor(t) == LUNATIC_OK);
    REQUIRE(tell(t, Op::fail, SlowLog::kMarker) == LUNATIC_OK);
    REQUIRE(wait_until([&] { return lunatic_process_alive(t) == 0; }));
    REQUIRE(lunatic_demonitor(t) == LUNATIC_OK);
    const bool queued_before = recv_signal(LUNATIC_RECEIVE_SIGNALS, 0).rc == LUNATIC_OK;
    const bool slow_log_seen = slow.in_callback.load() > 0;
    REQUIRE(wait_until([&] { return lunatic_runtime_process_count(rt.rt) == 1; }));
    const Sig late = recv_signal(LUNATIC_RECEIVE_SIGNALS, 100 * kMs);
    INFO("queued before demonitor returned: "
         << queued_before << "; slow log callback running then: " << slow_log_seen
         << "; after: " << describe(late));
    if (!queued_before) CHECK(late.rc == LUNATIC_ETIMEDOUT);
}

TEST_CASE("monitors: signals are not starved by 10,000 queued data messages") {
    constexpr uint64_t kN = 10000;
    Runtime rt;
    lunatic_pid target = spawn_agent();
    REQUIRE(lunatic_monitor(target) == LUNATIC_OK);
    for (uint64_t i = 0; i < kN; ++i) REQUIRE(send_u64(rt.self, 7, i) == LUNATIC_OK);
    REQUIRE(tell(target, Op::fail, "behind the queue") == LUNATIC_OK);

    // A receive that asks for signals finds it, although 10,000 data messages are older.
    Sig s = recv_signal(LUNATIC_RECEIVE_SIGNALS, kTimeout);
    INFO(describe(s));
    REQUIRE(s.rc == LUNATIC_OK);
    CHECK(s.kind == LUNATIC_MESSAGE_PROCESS_DIED);
    CHECK(s.pid == target);
    CHECK(s.reason == LUNATIC_EXIT_FAILED);
    size_t size = 0;
    REQUIRE(lunatic_mailbox_size(&size) == LUNATIC_OK);
    CHECK(size == kN);  // the data is all still there

    SUBCASE("the data messages are untouched and in order") {
        uint64_t in_order = 0;
        for (uint64_t i = 0; i < kN; ++i) {
            Received r = recv({}, 0);
            REQUIRE(r.rc == LUNATIC_OK);
            if (msg_u64(r.msg.get()) == i &&
                lunatic_message_kind_of(r.msg.get()) == LUNATIC_MESSAGE_DATA)
                ++in_order;
        }
        CHECK(in_order == kN);
        CHECK(recv({}, 0).rc == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("LUNATIC_RECEIVE_ALL gives a waiting signal before older data") {
        lunatic_pid t2 = spawn_agent();
        REQUIRE(lunatic_monitor(t2) == LUNATIC_OK);
        REQUIRE(lunatic_kill(t2) == LUNATIC_OK);
        REQUIRE(wait_until([&] {
            size_t n = 0;
            return lunatic_mailbox_size(&n) == LUNATIC_OK && n == kN + 1;
        }));
        Sig s2 = recv_signal(LUNATIC_RECEIVE_ALL, 0);
        REQUIRE(s2.rc == LUNATIC_OK);
        CHECK(s2.kind == LUNATIC_MESSAGE_PROCESS_DIED);
        CHECK(s2.pid == t2);
        // and then the data, from the oldest
        lunatic_message *m = nullptr;
        REQUIRE(lunatic_receive_mask(LUNATIC_RECEIVE_ALL, nullptr, 0, 0, &m) == LUNATIC_OK);
        CHECK(lunatic_message_kind_of(m) == LUNATIC_MESSAGE_DATA);
        CHECK(msg_u64(m) == 0);
        lunatic_message_free(m);
    }
}

TEST_CASE("monitors: plain lunatic_receive never returns a signal; masks select the kinds") {
    Runtime rt;
    REQUIRE(lunatic_trap_links(1) == LUNATIC_OK);
    lunatic_pid a = spawn_agent();
    lunatic_pid b = spawn_agent();
    REQUIRE(lunatic_monitor(a) == LUNATIC_OK);
    REQUIRE(lunatic_link(b, 8) == LUNATIC_OK);
    REQUIRE(tell(a, Op::exit) == LUNATIC_OK);
    REQUIRE(tell(b, Op::fail, "linked") == LUNATIC_OK);
    REQUIRE(wait_until([] {
        size_t n = 0;
        return lunatic_mailbox_size(&n) == LUNATIC_OK && n == 2;
    }));

    // Plain receive: any tag, or the tag the LINK_DIED carries (8), or tag 0 (PROCESS_DIED's).
    CHECK(recv({}, 0).rc == LUNATIC_ETIMEDOUT);
    CHECK(recv({8}, 0).rc == LUNATIC_ETIMEDOUT);
    CHECK(recv({0, 8}, 50 * kMs).rc == LUNATIC_ETIMEDOUT);
    lunatic_message *m = nullptr;
    CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_DATA, nullptr, 0, 0, &m) == LUNATIC_ETIMEDOUT);
    size_t n = 0;
    REQUIRE(lunatic_mailbox_size(&n) == LUNATIC_OK);
    CHECK(n == 2);

    // Each kind by its own bit.
    Sig l = recv_signal(LUNATIC_RECEIVE_LINK_DIED, 0);
    REQUIRE(l.rc == LUNATIC_OK);
    CHECK(l.kind == LUNATIC_MESSAGE_LINK_DIED);
    CHECK(l.pid == b);
    CHECK(l.tag == 8);
    CHECK(recv_signal(LUNATIC_RECEIVE_LINK_DIED, 0).rc == LUNATIC_ETIMEDOUT);
    Sig d = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED, 0);
    REQUIRE(d.rc == LUNATIC_OK);
    CHECK(d.kind == LUNATIC_MESSAGE_PROCESS_DIED);
    CHECK(d.pid == a);
    CHECK(d.reason == LUNATIC_EXIT_NORMAL);
    CHECK(recv_signal(LUNATIC_RECEIVE_SIGNALS, 0).rc == LUNATIC_ETIMEDOUT);
}

TEST_CASE("monitors: tags filter data messages only, never signals") {
    Runtime rt;
    REQUIRE(lunatic_trap_links(1) == LUNATIC_OK);
    lunatic_pid b = spawn_agent();
    REQUIRE(lunatic_link(b, 8) == LUNATIC_OK);
    REQUIRE(send_u64(rt.self, 4, 40) == LUNATIC_OK);
    REQUIRE(send_u64(rt.self, 5, 50) == LUNATIC_OK);
    REQUIRE(lunatic_kill(b) == LUNATIC_OK);
    REQUIRE(wait_until([] {
        size_t n = 0;
        return lunatic_mailbox_size(&n) == LUNATIC_OK && n == 3;
    }));
    const lunatic_tag only5 = 5;
    lunatic_message *m = nullptr;
    // Signals asked for are taken whatever their tag (the LINK_DIED's is 8).
    REQUIRE(lunatic_receive_mask(LUNATIC_RECEIVE_ALL, &only5, 1, 0, &m) == LUNATIC_OK);
    CHECK(lunatic_message_kind_of(m) == LUNATIC_MESSAGE_LINK_DIED);
    CHECK(lunatic_message_tag(m) == 8);
    lunatic_message_free(m);
    m = nullptr;
    // Then data, by tag: 5 before the older 4.
    REQUIRE(lunatic_receive_mask(LUNATIC_RECEIVE_ALL, &only5, 1, 0, &m) == LUNATIC_OK);
    CHECK(lunatic_message_kind_of(m) == LUNATIC_MESSAGE_DATA);
    CHECK(msg_u64(m) == 50);
    lunatic_message_free(m);
    m = nullptr;
    CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_ALL, &only5, 1, 0, &m) == LUNATIC_ETIMEDOUT);
    CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_SIGNALS, nullptr, 0, 0, &m) == LUNATIC_ETIMEDOUT);
    Received r = recv({4}, 0);
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 40);
}

TEST_CASE("monitors: an attached thread ends when it detaches; a kill wakes it") {
    struct Thread {
        std::atomic<uint64_t> id{0};
        std::atomic<int> recv_rc{1};
        std::atomic<int> detach_rc{1};
    };
    Thread t;
    Runtime rt;
    lunatic_runtime *runtime = rt.rt;
    const lunatic_tag kReleaseTag = 66;
    std::thread th([&] {
        lunatic_pid me{0, 0};
        if (lunatic_runtime_attach(runtime, &me) != LUNATIC_OK) return;
        t.id = me.id;
        lunatic_message *m = nullptr;
        lunatic_tag want = kReleaseTag;
        int rc = lunatic_receive(&want, 1, 10 * kSec, &m);
        t.recv_rc = rc;
        if (rc == LUNATIC_OK) lunatic_message_free(m);
        t.detach_rc = lunatic_detach();
    });
    struct Joiner {
        std::thread &th;
        ~Joiner() {
            if (th.joinable()) th.join();  // also when a REQUIRE below throws
        }
    } joiner{th};
    REQUIRE(wait_until([&] { return t.id.load() != 0; }));
    const lunatic_pid tp{rt.self.node, t.id.load()};
    REQUIRE(lunatic_monitor(tp) == LUNATIC_OK);
    REQUIRE(lunatic_register("attached-thread", nullptr, tp) == LUNATIC_OK);

    SUBCASE("released: it detaches, a NORMAL end") {
        REQUIRE(send_u64(tp, kReleaseTag, 1) == LUNATIC_OK);
        Sig s = await_death(tp);
        INFO(describe(s));
        REQUIRE(s.rc == LUNATIC_OK);
        CHECK(s.reason == LUNATIC_EXIT_NORMAL);
        th.join();
        CHECK(t.recv_rc.load() == LUNATIC_OK);
    }
    SUBCASE("killed while blocked in receive: EKILLED there, KILLED once it detaches") {
        lunatic_sleep(20 * kMs);
        REQUIRE(lunatic_kill(tp) == LUNATIC_OK);
        Sig s = await_death(tp);
        INFO(describe(s));
        REQUIRE(s.rc == LUNATIC_OK);
        CHECK(s.reason == LUNATIC_EXIT_KILLED);
        th.join();
        CHECK(t.recv_rc.load() == LUNATIC_EKILLED);
    }
    if (th.joinable()) th.join();
    CHECK(t.detach_rc.load() == LUNATIC_OK);
    CHECK(lunatic_process_alive(tp) == 0);
    lunatic_pid found{0, 0};
    CHECK(lunatic_lookup("attached-thread", nullptr, &found) == LUNATIC_ENOTFOUND);
}

TEST_CASE("monitors: a signal wakes a receive that waits for it, in a process too") {
    Runtime rt;
    lunatic_pid watcher = spawn_agent();
    lunatic_pid target = spawn_agent();
    REQUIRE(call(watcher, Op::monitor, target).rc == LUNATIC_OK);
    // The watcher waits in a receive for signals only; a data message does not end it.
    lunatic_tag reply = lunatic_tag_new();
    Cmd c = make_cmd(Op::recv_signal, lunatic_pid{0, 0}, LUNATIC_RECEIVE_PROCESS_DIED, "", reply,
                     10 * kSec);
    REQUIRE(lunatic_send_bytes(watcher, kAgentCmd, &c, sizeof c) == LUNATIC_OK);
    REQUIRE(send_u64(watcher, 3, 1) == LUNATIC_OK);
    lunatic_sleep(20 * kMs);
    REQUIRE(tell(target, Op::exit_code, "", 3) == LUNATIC_OK);
    Received got = recv({reply});
    REQUIRE(got.rc == LUNATIC_OK);
    Report r;
    REQUIRE(lunatic_message_size(got.msg.get()) == sizeof r);
    std::memcpy(&r, lunatic_message_data(got.msg.get()), sizeof r);
    CHECK(r.rc == LUNATIC_OK);
    CHECK(r.pid == target);
    CHECK(r.reason == LUNATIC_EXIT_FAILED);
}

TEST_CASE("monitors: misuse") {
    SUBCASE("receive_mask with no bits or unknown bits is EINVAL") {
        Runtime rt;
        lunatic_message *m = nullptr;
        CHECK(lunatic_receive_mask(0, nullptr, 0, 0, &m) == LUNATIC_EINVAL);
        CHECK(lunatic_receive_mask(0x8, nullptr, 0, 0, &m) == LUNATIC_EINVAL);
        CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_ALL | 0x100, nullptr, 0, 0, &m) ==
              LUNATIC_EINVAL);
        CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_ALL, nullptr, 0, 0, nullptr) == LUNATIC_EINVAL);
        CHECK(m == nullptr);
    }
    SUBCASE("lunatic_message_signal of a data message or NULL is EINVAL") {
        lunatic_message *m = nullptr;
        REQUIRE(lunatic_message_new(5, 0, &m) == LUNATIC_OK);
        lunatic_pid p{1, 1};
        lunatic_exit_reason r = LUNATIC_EXIT_FUEL_EXHAUSTED;
        CHECK(lunatic_message_signal(m, &p, &r) == LUNATIC_EINVAL);
        CHECK(lunatic_message_signal(nullptr, &p, &r) == LUNATIC_EINVAL);
        CHECK(lunatic_message_kind_of(m) == LUNATIC_MESSAGE_DATA);
        lunatic_message_free(m);
    }
    SUBCASE("out pointers of lunatic_message_signal may be NULL") {
        Runtime rt;
        REQUIRE(lunatic_monitor(never_existed(rt.self)) == LUNATIC_OK);
        lunatic_message *m = nullptr;
        REQUIRE(lunatic_receive_mask(LUNATIC_RECEIVE_SIGNALS, nullptr, 0, 0, &m) == LUNATIC_OK);
        CHECK(lunatic_message_signal(m, nullptr, nullptr) == LUNATIC_OK);
        lunatic_message_free(m);
    }
    SUBCASE("monitor calls need a process") {
        Runtime rt(2, false);
        const lunatic_pid p{lunatic_runtime_node_id(rt.rt), 1};
        CHECK(lunatic_monitor(p) == LUNATIC_ESTATE);
        CHECK(lunatic_demonitor(p) == LUNATIC_ESTATE);
        lunatic_message *m = nullptr;
        CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_SIGNALS, nullptr, 0, 0, &m) == LUNATIC_ESTATE);
    }
}

// ------------------------------------------------------- exactly once, at scale

namespace {

constexpr lunatic_tag kLinked = 61;
constexpr lunatic_tag kOrder = 62;

/** Links to the pid in its capture, tells the parent (the pid after it), then
 *  waits for an order: fail (1) or nothing more (it is meant to be killed). */
int pair_entry(const uint8_t *capture, size_t len, void *) {
    lunatic_pid pids[2];  // partner (or zero), parent
    if (len != sizeof pids) return 5;
    std::memcpy(pids, capture, sizeof pids);
    if (pids[0].id != 0 && lunatic_link(pids[0], 1) != LUNATIC_OK) return 6;
    if (pids[0].id != 0) send_u64(pids[1], kLinked, 1);
    lunatic_tag order = kOrder;
    lunatic_message *m = nullptr;
    if (lunatic_receive(&order, 1, 30 * kSec, &m) != LUNATIC_OK) return 1;
    lunatic_message_free(m);
    lunatic_fail("pair member fails");
    return 1;
}

}  // namespace

TEST_CASE(
    "monitors: 20,000 processes in 10,000 linked pairs failing at random: one PROCESS_DIED each") {
    // In every pair one side fails, or is killed, or both are at once (racing);
    // the link takes the other one down. The test thread monitors all 20,000 and
    // must see each end exactly once, none NORMAL (every end here is a failure).
    constexpr size_t kPairs = 10000;
    const unsigned seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    Runtime rt;
    std::vector<lunatic_pid> a(kPairs), b(kPairs);
    std::map<uint64_t, size_t> index;  // pid id -> slot in counts (a: 2i, b: 2i+1)
    for (size_t i = 0; i < kPairs; ++i) {
        lunatic_pid cap[2] = {lunatic_pid{0, 0}, rt.self};
        REQUIRE(lunatic_spawn(pair_entry, cap, sizeof cap, nullptr, nullptr, &b[i]) == LUNATIC_OK);
        cap[0] = b[i];
        REQUIRE(lunatic_spawn(pair_entry, cap, sizeof cap, nullptr, nullptr, &a[i]) == LUNATIC_OK);
        REQUIRE(lunatic_monitor(a[i]) == LUNATIC_OK);
        REQUIRE(lunatic_monitor(b[i]) == LUNATIC_OK);
        index[a[i].id] = 2 * i;
        index[b[i].id] = 2 * i + 1;
    }
    for (size_t i = 0; i < kPairs; ++i) REQUIRE(recv({kLinked}).rc == LUNATIC_OK);

    std::vector<size_t> order(kPairs);
    for (size_t i = 0; i < kPairs; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
        switch (rng() % 5) {
        case 0:
            send_u64(a[i], kOrder, 1);
            break;
        case 1:
            send_u64(b[i], kOrder, 1);
            break;
        case 2:
            lunatic_kill(a[i]);
            break;
        case 3:
            lunatic_kill(b[i]);
            break;
        default:
            send_u64(a[i], kOrder, 1);
            lunatic_kill(b[i]);
            break;
        }
    }

    std::vector<int> count(2 * kPairs, 0), reason(2 * kPairs, -1);
    size_t got = 0, strangers = 0;
    while (got < 2 * kPairs) {
        Sig s = recv_signal(LUNATIC_RECEIVE_SIGNALS, 20 * kSec);
        if (s.rc != LUNATIC_OK) break;
        ++got;
        auto it = index.find(s.pid.id);
        if (it == index.end() || s.kind != LUNATIC_MESSAGE_PROCESS_DIED) {
            ++strangers;
            continue;
        }
        ++count[it->second];
        reason[it->second] = s.reason;
    }
    while (recv_signal(LUNATIC_RECEIVE_SIGNALS, 300 * kMs).rc == LUNATIC_OK) ++strangers;

    size_t lost = 0, doubled = 0, normal = 0, other = 0;
    for (size_t k = 0; k < 2 * kPairs; ++k) {
        if (count[k] == 0) ++lost;
        if (count[k] > 1) ++doubled;
        if (reason[k] == LUNATIC_EXIT_NORMAL) ++normal;
        if (count[k] && reason[k] != LUNATIC_EXIT_FAILED && reason[k] != LUNATIC_EXIT_KILLED)
            ++other;
    }
    CHECK(got == 2 * kPairs);
    CHECK(lost == 0);
    CHECK(doubled == 0);
    CHECK(normal == 0);
    CHECK(other == 0);
    CHECK(strangers == 0);
    CHECK(wait_until([&] { return lunatic_runtime_process_count(rt.rt) == 1; }));
}
