// Send and receive: order per sender, selective receive, timeouts, sends to
// finished processes, sender identity, mailbox size, tags.
#include "fixture.hpp"

#include <map>
#include <set>

using namespace capi_test;

namespace {

struct SenderArgs {
    lunatic_pid to;
    uint64_t count;
    lunatic_tag tag;
};

/** Sends count messages 0..count-1 with `tag` to `to`, then one with tag kStopTag. */
int sequence_sender_entry(const uint8_t *capture, size_t len, void *) {
    SenderArgs a;
    if (len != sizeof a) return 1;
    std::memcpy(&a, capture, sizeof a);
    for (uint64_t i = 0; i < a.count; ++i)
        if (send_u64(a.to, a.tag, i) != LUNATIC_OK) return 2;
    return send_u64(a.to, kStopTag, a.count) == LUNATIC_OK ? 0 : 3;
}

/** Receives `count` (capture) messages from the parent, checks they are 0,1,2,…
 *  and reports the number received in order to the parent (tag 7). */
int sequence_checker_entry(const uint8_t *capture, size_t len, void *) {
    uint64_t count = 0;
    lunatic_pid parent{0, 0};
    if (len != sizeof parent + sizeof count) return 1;
    std::memcpy(&parent, capture, sizeof parent);
    std::memcpy(&count, capture + sizeof parent, sizeof count);
    uint64_t in_order = 0;
    for (uint64_t i = 0; i < count; ++i) {
        lunatic_message *m = nullptr;
        if (lunatic_receive(nullptr, 0, 10 * kSec, &m) != LUNATIC_OK) break;
        if (msg_u64(m) == i) ++in_order;
        lunatic_message_free(m);
    }
    return send_u64(parent, 7, in_order) == LUNATIC_OK ? 0 : 2;
}

/** The (tag, sequence) pairs of the selective-receive scenario. */
const std::vector<std::pair<lunatic_tag, uint64_t>> kSelective = {{1, 0}, {2, 1}, {3, 2}, {1, 3},
                                                                  {2, 4}, {3, 5}, {4, 6}, {1, 7}};

/** Runs the selective-receive script on the calling process's mailbox, which
 *  must hold exactly kSelective (in order). Returns the sequence numbers taken,
 *  with 1000 + rc for failed steps, so the caller compares one vector. */
std::vector<uint64_t> selective_script() {
    std::vector<uint64_t> got;
    auto take = [&](std::vector<lunatic_tag> tags, int64_t timeout) {
        lunatic_message *m = nullptr;
        int rc = lunatic_receive(tags.empty() ? nullptr : tags.data(), tags.size(), timeout, &m);
        if (rc != LUNATIC_OK) {
            got.push_back(static_cast<uint64_t>(1000 - rc));
            return;
        }
        got.push_back(msg_u64(m));
        lunatic_message_free(m);
    };
    auto size = [&] {
        size_t n = 12345;
        int rc = lunatic_mailbox_size(&n);
        got.push_back(rc == LUNATIC_OK ? 500 + n : static_cast<uint64_t>(1000 - rc));
    };
    size();                  // 508
    take({3}, kTimeout);     // 2
    take({2, 3}, kTimeout);  // 1
    take({3, 2}, kTimeout);  // 4: the order of the tag list does not matter
    take({5}, 0);            // nothing: 1003 (ETIMEDOUT)
    take({5, 6}, 0);         // nothing: 1003
    size();                  // 505: non-matching messages stay queued
    take({4, 3}, kTimeout);  // 5: the oldest matching one
    take({}, kTimeout);      // 0
    take({}, kTimeout);      // 3
    take({}, kTimeout);      // 6
    take({1}, kTimeout);     // 7
    size();                  // 500
    take({}, 0);             // nothing: 1003
    return got;
}

const std::vector<uint64_t> kSelectiveExpected = {508, 2, 1, 4, 1003, 1003, 505,
                                                  5,   0, 3, 6, 7,    500,  1003};

/** Waits for the parent's go message (tag 100), runs the selective script on the
 *  kSelective messages the parent sends after it, and sends the result back. */
int selective_child_entry(const uint8_t *capture, size_t len, void *) {
    lunatic_pid parent{0, 0};
    if (!capture_pid(capture, len, &parent)) return 1;
    // The parent sends kSelective and then tag 100: once 100 is here, all are queued.
    lunatic_tag go = 100;
    lunatic_message *m = nullptr;
    if (lunatic_receive(&go, 1, 10 * kSec, &m) != LUNATIC_OK) return 2;
    lunatic_message_free(m);
    std::vector<uint64_t> got = selective_script();
    return lunatic_send_bytes(parent, 101, got.data(), got.size() * sizeof(uint64_t)) == LUNATIC_OK
               ? 0
               : 3;
}

/** Receives with the timeout in the capture (tag 55 only) and reports the status (tag 56). */
int timed_receiver_entry(const uint8_t *capture, size_t len, void *) {
    struct {
        lunatic_pid parent;
        int64_t timeout;
    } a;
    if (len != sizeof a) return 1;
    std::memcpy(&a, capture, sizeof a);
    lunatic_tag t = 55;
    lunatic_message *m = nullptr;
    int rc = lunatic_receive(&t, 1, a.timeout, &m);
    uint64_t value = rc == LUNATIC_OK ? msg_u64(m) : 0;
    lunatic_message_free(m);
    int64_t report[2] = {rc, static_cast<int64_t>(value)};
    return lunatic_send_bytes(a.parent, 56, report, sizeof report) == LUNATIC_OK ? 0 : 2;
}

/** Sleeps the nanoseconds given, then sends 4242 with tag 55 to the pid given. */
int late_sender_entry(const uint8_t *capture, size_t len, void *) {
    struct {
        lunatic_pid to;
        int64_t delay;
    } a;
    if (len != sizeof a) return 1;
    std::memcpy(&a, capture, sizeof a);
    if (lunatic_sleep(a.delay) != LUNATIC_OK) return 2;
    return send_u64(a.to, 55, 4242) == LUNATIC_OK ? 0 : 3;
}

/** Pings an echo process 1000 times and reports how many round trips were right. */
int pinger_entry(const uint8_t *capture, size_t len, void *) {
    lunatic_pid pids[2];  // parent, echo
    if (len != sizeof pids) return 1;
    std::memcpy(pids, capture, sizeof pids);
    uint64_t good = 0;
    for (uint64_t i = 0; i < 1000; ++i) {
        if (send_u64(pids[1], 3, i * 3 + 1) != LUNATIC_OK) break;
        lunatic_message *m = nullptr;
        if (lunatic_receive(nullptr, 0, 10 * kSec, &m) != LUNATIC_OK) break;
        lunatic_pid from{0, 0};
        lunatic_message_sender(m, &from);
        if (msg_u64(m) == i * 3 + 1 && from == pids[1] && lunatic_message_tag(m) == 3) ++good;
        lunatic_message_free(m);
    }
    return send_u64(pids[0], 8, good) == LUNATIC_OK ? 0 : 2;
}

}  // namespace

TEST_CASE("send/receive: one sender's messages arrive in the order sent") {
    Runtime rt;
    SenderArgs a{rt.self, 2000, 1};
    lunatic_pid child = spawn(sequence_sender_entry, &a, sizeof a);
    REQUIRE(child.id != 0);
    uint64_t in_order = 0;
    for (uint64_t i = 0; i < a.count; ++i) {
        Received r = recv({1});
        REQUIRE(r.rc == LUNATIC_OK);
        if (msg_u64(r.msg.get()) == i) ++in_order;
        if (i == 0) {
            CHECK(msg_sender(r.msg.get()) == child);
            CHECK(lunatic_message_tag(r.msg.get()) == 1);
        }
    }
    CHECK(in_order == a.count);
    Received stop = recv({kStopTag});
    REQUIRE(stop.rc == LUNATIC_OK);
    CHECK(msg_u64(stop.msg.get()) == a.count);
}

TEST_CASE("send/receive: several concurrent senders, each in order, none lost") {
    Runtime rt;
    constexpr int kSenders = 4;
    constexpr uint64_t kCount = 5000;
    std::map<uint64_t, uint64_t> next;  // sender id -> next expected sequence number
    for (int s = 0; s < kSenders; ++s) {
        SenderArgs a{rt.self, kCount, 1};
        lunatic_pid child = spawn(sequence_sender_entry, &a, sizeof a);
        REQUIRE(child.id != 0);
        REQUIRE(child.node == rt.self.node);
        next[child.id] = 0;
    }
    REQUIRE(next.size() == kSenders);  // distinct pids

    uint64_t out_of_order = 0, unknown = 0;
    for (uint64_t i = 0; i < kSenders * kCount; ++i) {
        Received r = recv({1});
        REQUIRE(r.rc == LUNATIC_OK);
        lunatic_pid from = msg_sender(r.msg.get());
        auto it = next.find(from.id);
        if (it == next.end() || from.node != rt.self.node) {
            ++unknown;
            continue;
        }
        if (msg_u64(r.msg.get()) != it->second) ++out_of_order;
        it->second = msg_u64(r.msg.get()) + 1;
    }
    CHECK(out_of_order == 0);
    CHECK(unknown == 0);
    for (auto &[id, n] : next) CHECK(n == kCount);
    for (int s = 0; s < kSenders; ++s) CHECK(recv({kStopTag}).rc == LUNATIC_OK);
    size_t left = 99;
    CHECK(lunatic_mailbox_size(&left) == LUNATIC_OK);
    CHECK(left == 0);
}

TEST_CASE("send/receive: a thread's messages to a process arrive in order") {
    Runtime rt;
    struct {
        lunatic_pid parent;
        uint64_t count;
    } a{rt.self, 3000};
    lunatic_pid child = spawn(sequence_checker_entry, &a, sizeof a);
    REQUIRE(child.id != 0);
    for (uint64_t i = 0; i < a.count; ++i) REQUIRE(send_u64(child, 1, i) == LUNATIC_OK);
    Received r = recv({7});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == a.count);
}

TEST_CASE("send/receive: ping-pong between two processes") {
    Runtime rt;
    lunatic_pid echo = spawn(echo_entry);
    REQUIRE(echo.id != 0);
    lunatic_pid pids[2] = {rt.self, echo};
    lunatic_pid pinger = spawn(pinger_entry, pids, sizeof pids);
    REQUIRE(pinger.id != 0);
    CHECK(pinger != echo);
    Received r = recv({8});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 1000);
    CHECK(msg_sender(r.msg.get()) == pinger);
    CHECK(lunatic_send_bytes(echo, kStopTag, nullptr, 0) == LUNATIC_OK);
}

TEST_CASE("send/receive: selective receive with several tags leaves the others queued in order") {
    Runtime rt;

    SUBCASE("on an attached thread, messages sent to itself") {
        for (auto [tag, seq] : kSelective) REQUIRE(send_u64(rt.self, tag, seq) == LUNATIC_OK);
        CHECK(selective_script() == kSelectiveExpected);
    }

    SUBCASE("on an attached thread, messages from a process") {
        // A child sends the scenario; its last message (tag 100) says all are queued.
        struct Script {
            static int entry(const uint8_t *capture, size_t len, void *) {
                lunatic_pid parent{0, 0};
                if (!capture_pid(capture, len, &parent)) return 1;
                for (auto [tag, seq] : kSelective)
                    if (send_u64(parent, tag, seq) != LUNATIC_OK) return 2;
                return send_u64(parent, 100, 0) == LUNATIC_OK ? 0 : 3;
            }
        };
        REQUIRE(spawn_with_parent(&Script::entry).id != 0);
        REQUIRE(recv({100}).rc == LUNATIC_OK);  // skips over the 8 others
        CHECK(selective_script() == kSelectiveExpected);
    }

    SUBCASE("in a process, messages from the attached thread") {
        lunatic_pid child = spawn_with_parent(selective_child_entry);
        REQUIRE(child.id != 0);
        for (auto [tag, seq] : kSelective) REQUIRE(send_u64(child, tag, seq) == LUNATIC_OK);
        REQUIRE(send_u64(child, 100, 0) == LUNATIC_OK);
        Received r = recv({101});
        REQUIRE(r.rc == LUNATIC_OK);
        std::vector<uint64_t> got(lunatic_message_size(r.msg.get()) / sizeof(uint64_t));
        if (!got.empty())
            std::memcpy(got.data(), lunatic_message_data(r.msg.get()),
                        got.size() * sizeof(uint64_t));
        CHECK(got == kSelectiveExpected);
    }
}

TEST_CASE("send/receive: a selective receive waits for a matching message that comes later") {
    Runtime rt;
    // Queue non-matching messages, then a child sends the matching one after a delay.
    for (uint64_t i = 0; i < 3; ++i) REQUIRE(send_u64(rt.self, 1, i) == LUNATIC_OK);
    struct {
        lunatic_pid to;
        int64_t delay;
    } a{rt.self, 20 * kMs};
    REQUIRE(spawn(late_sender_entry, &a, sizeof a).id != 0);
    Received r = recv({55});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 4242);
    for (uint64_t i = 0; i < 3; ++i) {
        Received q = recv({}, 0);
        REQUIRE(q.rc == LUNATIC_OK);
        CHECK(lunatic_message_tag(q.msg.get()) == 1);
        CHECK(msg_u64(q.msg.get()) == i);
    }
    CHECK(recv({}, 0).rc == LUNATIC_ETIMEDOUT);
}

TEST_CASE("send/receive: timeout 0 polls") {
    Runtime rt;
    CHECK(recv({}, 0).rc == LUNATIC_ETIMEDOUT);
    CHECK(recv({1, 2}, 0).rc == LUNATIC_ETIMEDOUT);

    REQUIRE(send_u64(rt.self, 2, 9) == LUNATIC_OK);
    CHECK(recv({1}, 0).rc == LUNATIC_ETIMEDOUT);  // queued but not matching
    Received r = recv({1, 2}, 0);
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 9);
    CHECK(recv({}, 0).rc == LUNATIC_ETIMEDOUT);
}

TEST_CASE("send/receive: a short timeout expires when nothing matches") {
    Runtime rt;

    SUBCASE("on an attached thread, empty mailbox") {
        auto t0 = std::chrono::steady_clock::now();
        CHECK(recv({}, 20 * kMs).rc == LUNATIC_ETIMEDOUT);
        // Not a speed check: a timed-out wait cannot end before its timeout.
        CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(20));
    }

    SUBCASE("on an attached thread, while non-matching messages arrive") {
        SenderArgs a{rt.self, 5, 1};
        REQUIRE(spawn(sequence_sender_entry, &a, sizeof a).id != 0);
        CHECK(recv({2}, 30 * kMs).rc == LUNATIC_ETIMEDOUT);
        for (uint64_t i = 0; i < 5; ++i) {
            Received r = recv({1});
            REQUIRE(r.rc == LUNATIC_OK);
            CHECK(msg_u64(r.msg.get()) == i);
        }
        CHECK(recv({kStopTag}).rc == LUNATIC_OK);
    }

    SUBCASE("in a process") {
        struct {
            lunatic_pid parent;
            int64_t timeout;
        } a{rt.self, 10 * kMs};
        lunatic_pid child = spawn(timed_receiver_entry, &a, sizeof a);
        REQUIRE(child.id != 0);
        REQUIRE(send_u64(child, 54, 1) == LUNATIC_OK);  // a non-matching message
        Received r = recv({56});
        REQUIRE(r.rc == LUNATIC_OK);
        int64_t report[2] = {0, 0};
        REQUIRE(lunatic_message_size(r.msg.get()) == sizeof report);
        std::memcpy(report, lunatic_message_data(r.msg.get()), sizeof report);
        CHECK(report[0] == LUNATIC_ETIMEDOUT);
    }
}

TEST_CASE("send/receive: an infinite receive gets a message sent later") {
    Runtime rt;

    SUBCASE("in a process, from another process") {
        struct {
            lunatic_pid parent;
            int64_t timeout;
        } a{rt.self, LUNATIC_INFINITE};
        lunatic_pid receiver = spawn(timed_receiver_entry, &a, sizeof a);
        REQUIRE(receiver.id != 0);
        struct {
            lunatic_pid to;
            int64_t delay;
        } b{receiver, 30 * kMs};
        REQUIRE(spawn(late_sender_entry, &b, sizeof b).id != 0);
        Received r = recv({56});
        REQUIRE(r.rc == LUNATIC_OK);
        int64_t report[2] = {0, 0};
        REQUIRE(lunatic_message_size(r.msg.get()) == sizeof report);
        std::memcpy(report, lunatic_message_data(r.msg.get()), sizeof report);
        CHECK(report[0] == LUNATIC_OK);
        CHECK(report[1] == 4242);
    }

    SUBCASE("on an attached thread, from a process") {
        struct {
            lunatic_pid to;
            int64_t delay;
        } b{rt.self, 30 * kMs};
        REQUIRE(spawn(late_sender_entry, &b, sizeof b).id != 0);
        Watchdog dog("infinite receive on an attached thread", std::chrono::seconds(30));
        Received r = recv({55}, LUNATIC_INFINITE);
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_u64(r.msg.get()) == 4242);
    }

    SUBCASE("on an attached thread, from another OS thread") {
        lunatic_pid me = rt.self;
        lunatic_runtime *runtime = rt.rt;
        std::atomic<int> thread_rc{-100};
        std::thread t([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            lunatic_pid tp{0, 0};
            int rc = lunatic_runtime_attach(runtime, &tp);
            if (rc == LUNATIC_OK) {
                rc = send_u64(me, 55, 77);
                lunatic_detach();
            }
            thread_rc = rc;
        });
        Watchdog dog("infinite receive woken by a foreign thread", std::chrono::seconds(30));
        Received r = recv({55}, LUNATIC_INFINITE);
        t.join();
        CHECK(thread_rc.load() == LUNATIC_OK);
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_u64(r.msg.get()) == 77);
    }
}

TEST_CASE(
    "send/receive: a send to a finished process is ENOPROC and the message stays the caller's") {
    Runtime rt;
    lunatic_pid child = spawn(noop_entry);
    REQUIRE(child.id != 0);
    REQUIRE(wait_dead(child));
    CHECK(lunatic_process_alive(child) == 0);

    lunatic_message *m = nullptr;
    REQUIRE(lunatic_message_new(21, 0, &m) == LUNATIC_OK);
    REQUIRE(lunatic_message_append(m, "still mine", 10) == LUNATIC_OK);
    CHECK(lunatic_send(child, m) == LUNATIC_ENOPROC);
    CHECK(std::string(lunatic_errmsg()).size() > 0);

    // Still owned: readable, growable, and sendable elsewhere.
    CHECK(msg_string(m) == "still mine");
    CHECK(lunatic_message_tag(m) == 21);
    REQUIRE(lunatic_message_append(m, "!", 1) == LUNATIC_OK);
    REQUIRE(lunatic_send(rt.self, m) == LUNATIC_OK);
    Received r = recv({21});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_string(r.msg.get()) == "still mine!");

    CHECK(lunatic_send_bytes(child, 1, "x", 1) == LUNATIC_ENOPROC);
    CHECK(lunatic_send_bytes(child, 1, nullptr, 0) == LUNATIC_ENOPROC);
}

TEST_CASE("send/receive: a send to a process that finished after receiving is ENOPROC") {
    Runtime rt;
    lunatic_pid child = spawn(answer_once_entry);
    REQUIRE(child.id != 0);
    REQUIRE(send_u64(child, 30, 5) == LUNATIC_OK);
    Received r = recv({31});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 5);
    REQUIRE(wait_dead(child));
    CHECK(send_u64(child, 30, 6) == LUNATIC_ENOPROC);
}

TEST_CASE("send/receive: mailbox size counts queued messages") {
    Runtime rt;
    size_t n = 99;
    REQUIRE(lunatic_mailbox_size(&n) == LUNATIC_OK);
    CHECK(n == 0);
    for (int i = 0; i < 10; ++i) REQUIRE(send_u64(rt.self, 1 + i % 2, i) == LUNATIC_OK);
    REQUIRE(lunatic_mailbox_size(&n) == LUNATIC_OK);
    CHECK(n == 10);
    CHECK(recv({2}, 0).rc == LUNATIC_OK);
    REQUIRE(lunatic_mailbox_size(&n) == LUNATIC_OK);
    CHECK(n == 9);
}

TEST_CASE("tags: lunatic_tag_new gives distinct tags >= 2^62, from several threads at once") {
    constexpr int kThreads = 4, kPer = 10000;
    std::vector<std::vector<lunatic_tag>> got(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&got, t] {
            got[t].reserve(kPer);
            for (int i = 0; i < kPer; ++i) got[t].push_back(lunatic_tag_new());
        });
    for (auto &t : threads) t.join();
    std::set<lunatic_tag> all;
    size_t small = 0;
    for (auto &v : got)
        for (lunatic_tag tag : v) {
            all.insert(tag);
            if (tag < (int64_t{1} << 62)) ++small;
        }
    CHECK(all.size() == size_t{kThreads} * kPer);
    CHECK(small == 0);
}

TEST_CASE("tags: a fresh tag selects its message") {
    Runtime rt;
    lunatic_tag a = lunatic_tag_new(), b = lunatic_tag_new();
    REQUIRE(a != b);
    REQUIRE(send_u64(rt.self, a, 1) == LUNATIC_OK);
    REQUIRE(send_u64(rt.self, b, 2) == LUNATIC_OK);
    Received rb = recv({b});
    REQUIRE(rb.rc == LUNATIC_OK);
    CHECK(msg_u64(rb.msg.get()) == 2);
    CHECK(lunatic_message_tag(rb.msg.get()) == b);
    Received ra = recv({a});
    REQUIRE(ra.rc == LUNATIC_OK);
    CHECK(msg_u64(ra.msg.get()) == 1);
}

TEST_CASE("send/receive: a thousand short timeouts at once all expire, and all report") {
    Runtime rt;
    constexpr int kN = 1000;
    struct {
        lunatic_pid parent;
        int64_t timeout;
    } a{rt.self, 2 * kMs};
    for (int i = 0; i < kN; ++i) REQUIRE(spawn(timed_receiver_entry, &a, sizeof a).id != 0);
    int timed_out = 0;
    for (int i = 0; i < kN; ++i) {
        Received r = recv({56});
        REQUIRE(r.rc == LUNATIC_OK);
        int64_t report[2] = {0, 0};
        REQUIRE(lunatic_message_size(r.msg.get()) == sizeof report);
        std::memcpy(report, lunatic_message_data(r.msg.get()), sizeof report);
        timed_out += report[0] == LUNATIC_ETIMEDOUT;
    }
    CHECK(timed_out == kN);
}

TEST_CASE("send/receive: a deep mailbox keeps order and a selective receive finds the last one") {
    Runtime rt;
    constexpr uint64_t kN = 100000;
    for (uint64_t i = 0; i < kN; ++i)
        REQUIRE(send_u64(rt.self, i + 1 == kN ? 2 : 1, i) == LUNATIC_OK);
    Received last = recv({2}, 0);
    REQUIRE(last.rc == LUNATIC_OK);
    CHECK(msg_u64(last.msg.get()) == kN - 1);
    uint64_t in_order = 0;
    for (uint64_t i = 0; i + 1 < kN; ++i) {
        Received r = recv({}, 0);
        if (r.rc != LUNATIC_OK) break;
        in_order += msg_u64(r.msg.get()) == i;
    }
    CHECK(in_order == kN - 1);
}

TEST_CASE("send/receive: a huge finite timeout waits instead of expiring at once") {
    // INT64_MAX ns (292 years) must not overflow into a deadline in the past.
    Runtime rt;

    SUBCASE("receive on an attached thread") {
        struct {
            lunatic_pid to;
            int64_t delay;
        } b{rt.self, 20 * kMs};
        REQUIRE(spawn(late_sender_entry, &b, sizeof b).id != 0);
        Watchdog dog("receive with an INT64_MAX timeout", std::chrono::seconds(30));
        Received r = recv({55}, INT64_MAX);
        CHECK_MESSAGE(r.rc == LUNATIC_OK,
                      "receive(INT64_MAX) returned " << std::string(lunatic_strerror(r.rc)));
        if (r.rc == LUNATIC_OK) CHECK(msg_u64(r.msg.get()) == 4242);
    }

    SUBCASE("receive in a process") {
        struct {
            lunatic_pid parent;
            int64_t timeout;
        } a{rt.self, INT64_MAX};
        lunatic_pid receiver = spawn(timed_receiver_entry, &a, sizeof a);
        REQUIRE(receiver.id != 0);
        struct {
            lunatic_pid to;
            int64_t delay;
        } b{receiver, 20 * kMs};
        REQUIRE(spawn(late_sender_entry, &b, sizeof b).id != 0);
        Received r = recv({56});
        REQUIRE(r.rc == LUNATIC_OK);
        int64_t report[2] = {0, 0};
        REQUIRE(lunatic_message_size(r.msg.get()) == sizeof report);
        std::memcpy(report, lunatic_message_data(r.msg.get()), sizeof report);
        CHECK_MESSAGE(report[0] == LUNATIC_OK, "receive(INT64_MAX) returned " << std::string(
                                                   lunatic_strerror(static_cast<int>(report[0]))));
        CHECK(report[1] == 4242);
    }

    SUBCASE("sleep in a process lasts until the runtime kills it") {
        struct Sleeper {
            static int entry(const uint8_t *, size_t, void *user) {
                auto *flags = static_cast<std::atomic<int> *>(user);
                flags[0] = 1;                                // started
                flags[1] = 1000 - lunatic_sleep(INT64_MAX);  // 1004 when killed
                return 0;
            }
        };
        std::atomic<int> flags[2] = {0, 0};
        REQUIRE(spawn(&Sleeper::entry, nullptr, 0, flags).id != 0);
        REQUIRE(wait_until([&] { return flags[0].load() == 1; }));
        lunatic_sleep(20 * kMs);
        CHECK_MESSAGE(flags[1].load() == 0,
                      "sleep(INT64_MAX) returned "
                          << std::string(lunatic_strerror(1000 - flags[1].load())) << " at once");
        {
            Watchdog dog("destroy with a process in sleep(INT64_MAX)", std::chrono::seconds(30));
            REQUIRE(rt.destroy() == LUNATIC_OK);
        }
        CHECK(flags[1].load() == 1000 - LUNATIC_EKILLED);
    }
}

TEST_CASE("send/receive: a negative timeout other than LUNATIC_INFINITE is EINVAL") {
    Runtime rt;
    REQUIRE(send_u64(rt.self, 1, 1) == LUNATIC_OK);
    CHECK(recv({}, -2).rc == LUNATIC_EINVAL);
    CHECK(recv({}, INT64_MIN).rc == LUNATIC_EINVAL);
    CHECK(recv({}, 0).rc == LUNATIC_OK);  // the message was left alone
}
