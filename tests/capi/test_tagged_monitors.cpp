// The primitives request/reply is built on: tagged monitors (independent of the
// caller's other monitors of the same process; their PROCESS_DIED carries the
// tag), receive masks that filter signals by tag, demonitor with flush, and
// abandoned tags (lunatic_tag_discard: a late reply never shows up).
#include "agent.hpp"

#include <algorithm>

using namespace capi_test;

namespace {

constexpr lunatic_tag kT = 0x5151;
constexpr lunatic_tag kU = 0x5252;

/** Sleeps the number of ms in its first message, then echoes it to the sender. */
int slow_echo_entry(const uint8_t *, size_t, void *) {
    lunatic_message *m = nullptr;
    if (lunatic_receive(nullptr, 0, 30 * kSec, &m) != LUNATIC_OK) return 1;
    lunatic_sleep(static_cast<int64_t>(msg_u64(m)) * kMs);
    lunatic_pid from{0, 0};
    lunatic_message_sender(m, &from);
    int rc = lunatic_send_bytes(from, lunatic_message_tag(m), lunatic_message_data(m),
                                lunatic_message_size(m));
    lunatic_message_free(m);
    return rc == LUNATIC_OK ? 0 : 1;
}

size_t mailbox_size() {
    size_t n = 0;
    REQUIRE(lunatic_mailbox_size(&n) == LUNATIC_OK);
    return n;
}

}  // namespace

TEST_CASE("tagged monitors: independent of the untagged one, the signal carries the tag") {
    Runtime rt;
    lunatic_pid a = spawn_agent();

    SUBCASE("two tags and the untagged monitor: three signals, one per monitor") {
        REQUIRE(lunatic_monitor(a) == LUNATIC_OK);
        REQUIRE(lunatic_monitor_tag(a, kT) == LUNATIC_OK);
        REQUIRE(lunatic_monitor_tag(a, kU) == LUNATIC_OK);
        REQUIRE(lunatic_monitor_tag(a, kU) == LUNATIC_OK);  // same pair and tag: one monitor
        REQUIRE(lunatic_kill(a) == LUNATIC_OK);
        std::vector<lunatic_tag> tags;
        for (int i = 0; i < 3; ++i) {
            Sig s = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED);
            REQUIRE(s.rc == LUNATIC_OK);
            CHECK(s.pid == a);
            CHECK(s.reason == LUNATIC_EXIT_KILLED);
            tags.push_back(s.tag);
        }
        std::sort(tags.begin(), tags.end());
        CHECK(tags == std::vector<lunatic_tag>{0, kT, kU});
        CHECK(recv_signal(LUNATIC_RECEIVE_SIGNALS, 100 * kMs).rc == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("demonitor_tag leaves the untagged monitor standing") {
        REQUIRE(lunatic_monitor(a) == LUNATIC_OK);
        REQUIRE(lunatic_monitor_tag(a, kT) == LUNATIC_OK);
        REQUIRE(lunatic_demonitor_tag(a, kT) == LUNATIC_OK);
        REQUIRE(lunatic_kill(a) == LUNATIC_OK);
        Sig s = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED);
        REQUIRE(s.rc == LUNATIC_OK);
        CHECK(s.tag == 0);
        CHECK(recv_signal(LUNATIC_RECEIVE_SIGNALS, 100 * kMs).rc == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("demonitor leaves the tagged monitor standing") {
        REQUIRE(lunatic_monitor(a) == LUNATIC_OK);
        REQUIRE(lunatic_monitor_tag(a, kT) == LUNATIC_OK);
        REQUIRE(lunatic_demonitor(a) == LUNATIC_OK);
        REQUIRE(lunatic_kill(a) == LUNATIC_OK);
        Sig s = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED);
        REQUIRE(s.rc == LUNATIC_OK);
        CHECK(s.tag == kT);
        CHECK(recv_signal(LUNATIC_RECEIVE_SIGNALS, 100 * kMs).rc == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("demonitor_tag flushes the signal already queued") {
        REQUIRE(lunatic_monitor(a) == LUNATIC_OK);
        REQUIRE(lunatic_monitor_tag(a, kT) == LUNATIC_OK);
        REQUIRE(lunatic_kill(a) == LUNATIC_OK);
        REQUIRE(wait_until([&] { return mailbox_size() == 2; }));
        REQUIRE(lunatic_demonitor_tag(a, kT) == LUNATIC_OK);
        CHECK(mailbox_size() == 1);
        Sig s = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED);
        REQUIRE(s.rc == LUNATIC_OK);
        CHECK(s.tag == 0);  // the untagged monitor's signal was not touched
    }
}

TEST_CASE("tagged monitors: a pid that is gone gives NOPROC with the tag at once") {
    Runtime rt;
    lunatic_pid dead = spawn(noop_entry);
    REQUIRE(wait_dead(dead));
    REQUIRE(lunatic_monitor_tag(dead, kT) == LUNATIC_OK);
    Sig s = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED, kTimeout);
    REQUIRE(s.rc == LUNATIC_OK);
    CHECK(s.tag == kT);
    CHECK(s.reason == LUNATIC_EXIT_NOPROC);
    CHECK(s.pid == dead);
}

TEST_CASE("receive mask SIGNAL_TAGS: only the signals and data carrying a listed tag") {
    Runtime rt;
    lunatic_pid a = spawn_agent();
    lunatic_pid b = spawn_agent();
    REQUIRE(lunatic_monitor(b) == LUNATIC_OK);
    REQUIRE(lunatic_monitor_tag(a, kT) == LUNATIC_OK);
    REQUIRE(lunatic_kill(b) == LUNATIC_OK);
    REQUIRE(wait_dead(b));
    REQUIRE(send_u64(rt.self, kU, 7) == LUNATIC_OK);

    const uint32_t mask =
        LUNATIC_RECEIVE_DATA | LUNATIC_RECEIVE_PROCESS_DIED | LUNATIC_RECEIVE_SIGNAL_TAGS;
    lunatic_message *m = nullptr;
    // b's untagged signal and the kU message are queued, but neither matches kT.
    CHECK(lunatic_receive_mask(mask, &kT, 1, 50 * kMs, &m) == LUNATIC_ETIMEDOUT);
    REQUIRE(lunatic_kill(a) == LUNATIC_OK);
    REQUIRE(lunatic_receive_mask(mask, &kT, 1, kTimeout, &m) == LUNATIC_OK);
    Sig s = read_signal(m);
    lunatic_message_free(m);
    CHECK(s.pid == a);
    CHECK(s.tag == kT);
    // Everything else is still there, in order.
    CHECK(mailbox_size() == 2);
    Sig other = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED);
    CHECK(other.pid == b);
    Received r = recv({kU});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 7);

    SUBCASE("the bit alone, or with unknown bits, is refused") {
        CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_SIGNAL_TAGS, &kT, 1, 0, &m) == LUNATIC_EINVAL);
        CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_ALL | 0x10u, &kT, 1, 0, &m) == LUNATIC_EINVAL);
    }
}

TEST_CASE("tag_discard: queued messages with the tag go, later ones never arrive") {
    Runtime rt;
    for (uint64_t i = 0; i < 3; ++i) REQUIRE(send_u64(rt.self, kT, i) == LUNATIC_OK);
    REQUIRE(send_u64(rt.self, kU, 42) == LUNATIC_OK);
    REQUIRE(mailbox_size() == 4);

    REQUIRE(lunatic_tag_discard(kT) == LUNATIC_OK);
    CHECK(mailbox_size() == 1);
    REQUIRE(send_u64(rt.self, kT, 99) == LUNATIC_OK);  // a late arrival: freed, not queued
    CHECK(mailbox_size() == 1);
    Received r = recv({}, 100 * kMs);
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(lunatic_message_tag(r.msg.get()) == kU);
    CHECK(msg_u64(r.msg.get()) == 42);
    CHECK(recv({}, 50 * kMs).rc == LUNATIC_ETIMEDOUT);

    CHECK(lunatic_tag_discard(LUNATIC_TAG_NONE) == LUNATIC_EINVAL);
}

TEST_CASE("tag_discard: a reply that comes after the requester gave up never shows up") {
    Runtime rt;
    lunatic_pid server = spawn(slow_echo_entry);
    const lunatic_tag reply = lunatic_tag_new();
    REQUIRE(lunatic_monitor_tag(server, reply) == LUNATIC_OK);
    REQUIRE(send_u64(server, reply, 300) == LUNATIC_OK);  // answers after 300 ms

    const uint32_t mask =
        LUNATIC_RECEIVE_DATA | LUNATIC_RECEIVE_PROCESS_DIED | LUNATIC_RECEIVE_SIGNAL_TAGS;
    lunatic_message *m = nullptr;
    REQUIRE(lunatic_receive_mask(mask, &reply, 1, 20 * kMs, &m) == LUNATIC_ETIMEDOUT);
    REQUIRE(lunatic_demonitor_tag(server, reply) == LUNATIC_OK);
    REQUIRE(lunatic_tag_discard(reply) == LUNATIC_OK);

    REQUIRE(wait_dead(server));  // it has replied and ended by now
    CHECK(mailbox_size() == 0);
    CHECK(recv({}, 50 * kMs).rc == LUNATIC_ETIMEDOUT);
    CHECK(recv_signal(LUNATIC_RECEIVE_SIGNALS, 50 * kMs).rc == LUNATIC_ETIMEDOUT);
}

TEST_CASE("tag_discard: the last 4,096 abandoned tags are remembered, older ones forgotten") {
    Runtime rt;
    const lunatic_tag first = 0x1000000;
    for (lunatic_tag t = first; t < first + 5000; ++t)
        REQUIRE(lunatic_tag_discard(t) == LUNATIC_OK);
    REQUIRE(lunatic_tag_discard(first + 4999) == LUNATIC_OK);  // again: still one entry
    REQUIRE(send_u64(rt.self, first, 1) == LUNATIC_OK);        // evicted: queued as usual
    REQUIRE(send_u64(rt.self, first + 903, 2) == LUNATIC_OK);  // the newest 4,096 are
    REQUIRE(send_u64(rt.self, first + 904, 3) == LUNATIC_OK);  // first+904 .. first+4999
    REQUIRE(send_u64(rt.self, first + 4999, 4) == LUNATIC_OK);
    CHECK(mailbox_size() == 2);
    Received a = recv({}, 100 * kMs);
    REQUIRE(a.rc == LUNATIC_OK);
    CHECK(msg_u64(a.msg.get()) == 1);
    Received b = recv({}, 100 * kMs);
    REQUIRE(b.rc == LUNATIC_OK);
    CHECK(msg_u64(b.msg.get()) == 2);
}
