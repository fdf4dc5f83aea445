// Timers: lunatic_send_after arrives after its delay (never before), timers due
// together arrive in the order they were set, cancel before and after firing,
// 100,000 pending timers with no thread each, ENONODE for other nodes, and a
// timer whose target ended meanwhile is dropped without harm.
#include "agent.hpp"

#include <fstream>
#include <set>

using namespace capi_test;

namespace {

/** Threads of this OS process, from /proc/self/status; -1 if unreadable. */
long thread_count() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("Threads:", 0) == 0) return std::strtol(line.c_str() + 8, nullptr, 10);
    return -1;
}

/** send_after of a u64 with tag; the status, the timer in *out. */
int after(lunatic_pid to, lunatic_tag tag, uint64_t value, int64_t delay,
          lunatic_timer *out = nullptr) {
    lunatic_message *m = nullptr;
    int rc = lunatic_message_new(tag, sizeof value, &m);
    if (rc != LUNATIC_OK) return rc;
    lunatic_message_append(m, &value, sizeof value);
    lunatic_timer t{0, 0};
    rc = lunatic_send_after(to, m, delay, out ? out : &t);
    if (rc != LUNATIC_OK) lunatic_message_free(m);
    return rc;
}

using Clock = std::chrono::steady_clock;

int64_t ns_since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

}  // namespace

TEST_CASE("timers: a message arrives after its delay, not before, with its tag and bytes") {
    Runtime rt;
    for (int64_t delay : {int64_t(0), 1 * kMs, 30 * kMs, 120 * kMs}) {
        CAPTURE(delay);
        auto t0 = Clock::now();
        lunatic_timer t{0, 0};
        REQUIRE(after(rt.self, 70, 0xfeedull + uint64_t(delay), delay, &t) == LUNATIC_OK);
        CHECK(t.node == rt.self.node);
        Received r = recv({70});
        const int64_t took = ns_since(t0);
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(took >= delay);
        CHECK(took < delay + 3 * kSec);  // a generous bound: only a hang fails it
        CHECK(lunatic_message_kind_of(r.msg.get()) == LUNATIC_MESSAGE_DATA);
        CHECK(lunatic_message_tag(r.msg.get()) == 70);
        CHECK(msg_u64(r.msg.get()) == 0xfeedull + uint64_t(delay));
    }
}

TEST_CASE("timers: a process waiting in receive is woken by its timer") {
    struct Seen {
        std::atomic<int> rc{1};
        std::atomic<int64_t> took{-1};
        std::atomic<uint64_t> value{0};
    };
    struct Entry {
        static int run(const uint8_t *capture, size_t len, void *user) {
            auto *s = static_cast<Seen *>(user);
            lunatic_pid parent;
            if (!capture_pid(capture, len, &parent)) return 5;
            auto t0 = Clock::now();
            int rc = after(self_pid(), 71, 1234, 40 * kMs);
            if (rc == LUNATIC_OK) {
                lunatic_tag want = 71;
                lunatic_message *m = nullptr;
                rc = lunatic_receive(&want, 1, 10 * kSec, &m);
                s->took = ns_since(t0);
                if (rc == LUNATIC_OK) {
                    s->value = msg_u64(m);
                    lunatic_message_free(m);
                }
            }
            s->rc = rc;
            send_u64(parent, 72, 0);
            return 0;
        }
    };
    Seen seen;
    Runtime rt;
    REQUIRE(spawn_with_parent(&Entry::run, &seen).id != 0);
    REQUIRE(recv({72}, 15 * kSec).rc == LUNATIC_OK);
    CHECK(seen.rc.load() == LUNATIC_OK);
    CHECK(seen.value.load() == 1234);
    CHECK(seen.took.load() >= 40 * kMs);
    CHECK(seen.took.load() < 5 * kSec);
}

TEST_CASE("timers: timers due together arrive in the order they were set") {
    Runtime rt;
    SUBCASE("1,000 timers with the same delay") {
        constexpr uint64_t kN = 1000;
        for (uint64_t i = 0; i < kN; ++i) REQUIRE(after(rt.self, 73, i, 50 * kMs) == LUNATIC_OK);
        uint64_t in_order = 0;
        for (uint64_t i = 0; i < kN; ++i) {
            Received r = recv({73});
            REQUIRE(r.rc == LUNATIC_OK);
            if (msg_u64(r.msg.get()) == i) ++in_order;
        }
        CHECK(in_order == kN);
        CHECK(recv({73}, 0).rc == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("to a fiber process, interleaved with another target") {
        lunatic_pid echo = spawn(echo_entry);
        REQUIRE(echo.id != 0);
        // The echo sends each back as it gets it: the order it got them in.
        constexpr uint64_t kN = 300;
        for (uint64_t i = 0; i < kN; ++i) {
            REQUIRE(after(echo, 74, i, 40 * kMs) == LUNATIC_OK);
            REQUIRE(after(rt.self, 75, i, 40 * kMs) == LUNATIC_OK);
        }
        uint64_t echo_in_order = 0, self_in_order = 0;
        for (uint64_t i = 0; i < kN; ++i) {
            Received r = recv({74});
            REQUIRE(r.rc == LUNATIC_OK);
            if (msg_u64(r.msg.get()) == i) ++echo_in_order;
            Received s = recv({75});
            REQUIRE(s.rc == LUNATIC_OK);
            if (msg_u64(s.msg.get()) == i) ++self_in_order;
        }
        CHECK(echo_in_order == kN);
        CHECK(self_in_order == kN);
    }
    SUBCASE("shorter delays set later fire earlier") {
        REQUIRE(after(rt.self, 76, 3, 150 * kMs) == LUNATIC_OK);
        REQUIRE(after(rt.self, 76, 2, 100 * kMs) == LUNATIC_OK);
        REQUIRE(after(rt.self, 76, 1, 50 * kMs) == LUNATIC_OK);
        for (uint64_t want = 1; want <= 3; ++want) {
            Received r = recv({76});
            REQUIRE(r.rc == LUNATIC_OK);
            CHECK(msg_u64(r.msg.get()) == want);
        }
    }
}

TEST_CASE("timers: cancel before firing stops the message; after firing it returns 0") {
    Runtime rt;
    SUBCASE("cancelled before it fires: cancelled=1 and it never arrives") {
        lunatic_timer t{0, 0};
        REQUIRE(after(rt.self, 77, 1, 150 * kMs, &t) == LUNATIC_OK);
        int cancelled = -1;
        REQUIRE(lunatic_timer_cancel(t, &cancelled) == LUNATIC_OK);
        CHECK(cancelled == 1);
        CHECK(recv({77}, 400 * kMs).rc == LUNATIC_ETIMEDOUT);
        // A second cancel finds nothing to cancel.
        cancelled = -1;
        REQUIRE(lunatic_timer_cancel(t, &cancelled) == LUNATIC_OK);
        CHECK(cancelled == 0);
    }
    SUBCASE("one of three cancelled: the other two arrive") {
        lunatic_timer t[3];
        for (uint64_t i = 0; i < 3; ++i)
            REQUIRE(after(rt.self, 78, i, 60 * kMs, &t[i]) == LUNATIC_OK);
        CHECK(t[0].id != t[1].id);
        CHECK(t[1].id != t[2].id);
        int cancelled = -1;
        REQUIRE(lunatic_timer_cancel(t[1], &cancelled) == LUNATIC_OK);
        CHECK(cancelled == 1);
        Received a = recv({78});
        Received b = recv({78});
        REQUIRE(a.rc == LUNATIC_OK);
        REQUIRE(b.rc == LUNATIC_OK);
        CHECK(msg_u64(a.msg.get()) == 0);
        CHECK(msg_u64(b.msg.get()) == 2);
        CHECK(recv({78}, 200 * kMs).rc == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("cancelled after it fired: cancelled=0, the message stays delivered") {
        lunatic_timer t{0, 0};
        REQUIRE(after(rt.self, 79, 5, 1 * kMs, &t) == LUNATIC_OK);
        Received r = recv({79});
        REQUIRE(r.rc == LUNATIC_OK);
        int cancelled = -1;
        REQUIRE(lunatic_timer_cancel(t, &cancelled) == LUNATIC_OK);
        CHECK(cancelled == 0);
        CHECK(lunatic_timer_cancel(t, nullptr) == LUNATIC_OK);  // out may be NULL
        CHECK(msg_u64(r.msg.get()) == 5);
    }
    SUBCASE("fired but not yet received: too late to cancel") {
        lunatic_timer t{0, 0};
        REQUIRE(after(rt.self, 80, 6, 1 * kMs, &t) == LUNATIC_OK);
        REQUIRE(wait_until([] {
            size_t n = 0;
            return lunatic_mailbox_size(&n) == LUNATIC_OK && n == 1;
        }));
        int cancelled = -1;
        REQUIRE(lunatic_timer_cancel(t, &cancelled) == LUNATIC_OK);
        CHECK(cancelled == 0);
        CHECK(recv({80}, 0).rc == LUNATIC_OK);
    }
    SUBCASE("a timer id that was never given is not cancelled") {
        int cancelled = -1;
        CHECK(lunatic_timer_cancel(lunatic_timer{rt.self.node, uint64_t(1) << 62}, &cancelled) ==
              LUNATIC_OK);
        CHECK(cancelled == 0);
    }
    SUBCASE("cancel by another process") {
        lunatic_timer t{0, 0};
        REQUIRE(after(rt.self, 81, 7, 200 * kMs, &t) == LUNATIC_OK);
        struct Canceller {
            static int run(const uint8_t *capture, size_t len, void *) {
                lunatic_timer tm;
                if (len != sizeof tm + sizeof(lunatic_pid)) return 5;
                std::memcpy(&tm, capture, sizeof tm);
                lunatic_pid parent;
                std::memcpy(&parent, capture + sizeof tm, sizeof parent);
                int cancelled = -1;
                int rc = lunatic_timer_cancel(tm, &cancelled);
                return send_u64(parent, 82, rc == LUNATIC_OK ? uint64_t(cancelled) : 100) ==
                               LUNATIC_OK
                           ? 0
                           : 1;
            }
        };
        uint8_t cap[sizeof t + sizeof(lunatic_pid)];
        std::memcpy(cap, &t, sizeof t);
        std::memcpy(cap + sizeof t, &rt.self, sizeof rt.self);
        REQUIRE(spawn(&Canceller::run, cap, sizeof cap).id != 0);
        Received r = recv({82});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_u64(r.msg.get()) == 1);
        CHECK(recv({81}, 400 * kMs).rc == LUNATIC_ETIMEDOUT);
    }
}

TEST_CASE("timers: 100,000 pending timers cost no thread each, and all arrive") {
    constexpr uint64_t kN = 100000;
    Runtime rt;
    // Start whatever timer machinery there is, then count the threads.
    REQUIRE(after(rt.self, 83, 0, 0) == LUNATIC_OK);
    REQUIRE(recv({83}).rc == LUNATIC_OK);
    const long before = thread_count();
    REQUIRE(before > 0);

    auto t0 = Clock::now();
    for (uint64_t i = 0; i < kN; ++i) REQUIRE(after(rt.self, 84, i, 200 * kMs) == LUNATIC_OK);
    const long pending = thread_count();
    INFO("threads before " << before << ", with 100,000 timers pending " << pending);
    CHECK(pending <= before + 2);
    size_t queued = 0;
    REQUIRE(lunatic_mailbox_size(&queued) == LUNATIC_OK);
    const int64_t set_time = ns_since(t0);
    // None may have arrived before its 200 ms (unless setting them took that long).
    if (set_time < 200 * kMs) CHECK(queued == 0);

    std::vector<uint8_t> seen(kN, 0);
    uint64_t dup = 0, odd = 0, got = 0;
    int64_t first = -1;
    for (uint64_t i = 0; i < kN; ++i) {
        Received r = recv({84}, 20 * kSec);
        if (r.rc != LUNATIC_OK) break;
        if (first < 0) first = ns_since(t0);
        ++got;
        uint64_t v = msg_u64(r.msg.get());
        if (v >= kN)
            ++odd;
        else if (seen[v]++)
            ++dup;
    }
    CHECK(got == kN);
    CHECK(dup == 0);
    CHECK(odd == 0);
    CHECK(first >= 200 * kMs);
    CHECK(recv({84}, 100 * kMs).rc == LUNATIC_ETIMEDOUT);
    CHECK(thread_count() <= before + 2);
}

TEST_CASE("timers: a timer for another node's pid is ENONODE; the message stays the caller's") {
    Runtime rt;
    lunatic_message *m = nullptr;
    REQUIRE(lunatic_message_new(85, 0, &m) == LUNATIC_OK);
    REQUIRE(lunatic_message_append(m, "abc", 3) == LUNATIC_OK);
    lunatic_timer t{11, 11};
    CHECK(lunatic_send_after(other_node(rt.self), m, 10 * kMs, &t) == LUNATIC_ENONODE);
    CHECK(std::string(lunatic_errmsg()).size() > 0);
    // Still ours and intact: it can be sent normally.
    CHECK(lunatic_message_size(m) == 3);
    REQUIRE(lunatic_send(rt.self, m) == LUNATIC_OK);
    Received r = recv({85});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_string(r.msg.get()) == "abc");
    // Cancelling a timer of another node is ENONODE too.
    int cancelled = -1;
    CHECK(lunatic_timer_cancel(lunatic_timer{rt.self.node ^ 1, 1}, &cancelled) == LUNATIC_ENONODE);
}

TEST_CASE("timers: a timer to a process that ended meanwhile is dropped without harm") {
    Runtime rt;
    SUBCASE("the target exits before its timers fire") {
        lunatic_pid a = spawn_agent();
        REQUIRE(lunatic_monitor(a) == LUNATIC_OK);
        for (uint64_t i = 0; i < 1000; ++i) REQUIRE(after(a, 86, i, 50 * kMs) == LUNATIC_OK);
        REQUIRE(tell(a, Op::exit) == LUNATIC_OK);
        REQUIRE(await_death(a).rc == LUNATIC_OK);
    }
    SUBCASE("timers set by the target itself, to itself, then it exits") {
        lunatic_pid a = spawn_agent();
        REQUIRE(lunatic_monitor(a) == LUNATIC_OK);
        for (int i = 0; i < 20; ++i) {
            Cmd c = make_cmd(Op::send_after, a, 50 * kMs, "", lunatic_tag_new(), 86);
            REQUIRE(lunatic_send_bytes(a, kAgentCmd, &c, sizeof c) == LUNATIC_OK);
            REQUIRE(recv({c.reply_tag}).rc == LUNATIC_OK);
        }
        REQUIRE(lunatic_kill(a) == LUNATIC_OK);
        REQUIRE(await_death(a).rc == LUNATIC_OK);
    }
    SUBCASE("the target never existed") {
        REQUIRE(after(never_existed(rt.self), 86, 1, 10 * kMs) == LUNATIC_OK);
    }
    // Let them fire into nothing, then the runtime works as before.
    lunatic_sleep(150 * kMs);
    auto t0 = Clock::now();
    REQUIRE(after(rt.self, 87, 42, 5 * kMs) == LUNATIC_OK);
    Received r = recv({87});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 42);
    CHECK(ns_since(t0) >= 5 * kMs);
    CHECK(recv({86}, 0).rc == LUNATIC_ETIMEDOUT);  // nothing went astray to us
    CHECK(lunatic_runtime_process_count(rt.rt) == 1);
    CHECK(ping(spawn(echo_entry), 3, 1));
}

TEST_CASE("timers: a runtime destroyed with timers pending stops cleanly") {
    // (destroy_in_flight checks the memory of this under valgrind.)
    Runtime rt;
    for (uint64_t i = 0; i < 1000; ++i) REQUIRE(after(rt.self, 88, i, 100 * kMs) == LUNATIC_OK);
    Watchdog dog("destroy with 1,000 timers pending", std::chrono::seconds(20));
    CHECK(rt.destroy() == LUNATIC_OK);
}

TEST_CASE("timers: misuse") {
    SUBCASE("NULL message, negative delay: EINVAL, the message stays the caller's") {
        Runtime rt;
        lunatic_timer t{0, 0};
        CHECK(lunatic_send_after(rt.self, nullptr, 0, &t) == LUNATIC_EINVAL);
        lunatic_message *m = nullptr;
        REQUIRE(lunatic_message_new(89, 0, &m) == LUNATIC_OK);
        CHECK(lunatic_send_after(rt.self, m, -1, &t) == LUNATIC_EINVAL);
        CHECK(recv({89}, 50 * kMs).rc == LUNATIC_ETIMEDOUT);
        REQUIRE(lunatic_send(rt.self, m) == LUNATIC_OK);  // still ours
        CHECK(recv({89}).rc == LUNATIC_OK);
    }
    SUBCASE("out may be NULL") {
        Runtime rt;
        lunatic_message *m = nullptr;
        REQUIRE(lunatic_message_new(90, 0, &m) == LUNATIC_OK);
        REQUIRE(lunatic_send_after(rt.self, m, 1 * kMs, nullptr) == LUNATIC_OK);
        CHECK(recv({90}).rc == LUNATIC_OK);
    }
    SUBCASE("the calls need a process") {
        Runtime rt(2, false);
        lunatic_message *m = nullptr;
        REQUIRE(lunatic_message_new(91, 0, &m) == LUNATIC_OK);
        lunatic_timer t{0, 0};
        const lunatic_pid p{lunatic_runtime_node_id(rt.rt), 1};
        CHECK(lunatic_send_after(p, m, 0, &t) == LUNATIC_ESTATE);
        lunatic_message_free(m);
        int cancelled = -1;
        CHECK(lunatic_timer_cancel(lunatic_timer{p.node, 1}, &cancelled) == LUNATIC_ESTATE);
    }
}
