// Nodes under faults (issue 8), several runtimes in this OS process:
//  - a peer that goes silent (a frozen TCP proxy: the connection stays open,
//    nothing passes) is declared lost after peer_timeout_ms, and each link and
//    monitor to a process there gets noconnection exactly once;
//  - two nodes dialling each other at the same instant end with one working
//    connection, each listing the other once, and no spurious noconnection;
//  - a 64 MiB message between one pair of processes does not stall small
//    round trips between another pair on the same connection (the figures are
//    printed; only a generous no-stall bound is asserted, no speed).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <barrier>

#include "node_fixture.hpp"

using namespace capi_test;

namespace {

constexpr lunatic_tag kStop = 950;
constexpr lunatic_tag kBig = 951;
constexpr lunatic_tag kBigDone = 952;
constexpr lunatic_tag kSending = 953;
constexpr lunatic_tag kPing = 954;

// ------------------------------------------------------------ remote entries

// Echoes until kStop.
int echo_entry(const uint8_t *capture, size_t len, void *user) {
    return echo_until<kStop>(capture, len, user);
}

// Capture: the reporter's pid. Takes one kBig message and tells the reporter
// its size (kBigDone).
int sink_entry(const uint8_t *capture, size_t len, void *) {
    lunatic_pid report;
    if (!capture_pid(capture, len, &report)) return 1;
    lunatic_tag big = kBig;
    lunatic_message *m = nullptr;
    if (lunatic_receive(&big, 1, 120 * kSec, &m) != LUNATIC_OK) return 1;
    const uint64_t size = lunatic_message_size(m);
    lunatic_message_free(m);
    return send_u64(report, kBigDone, size) == LUNATIC_OK ? 0 : 1;
}

constexpr size_t kBigBytes = size_t(64) << 20;

// Capture: the reporter's pid then the sink's. Builds the 64 MiB message,
// says kSending to the reporter, and sends it to the sink.
int big_sender_entry(const uint8_t *capture, size_t len, void *) {
    lunatic_pid pids[2];
    if (len != sizeof pids) return 1;
    std::memcpy(pids, capture, sizeof pids);
    lunatic_message *m = nullptr;
    if (lunatic_message_new(kBig, kBigBytes, &m) != LUNATIC_OK) return 1;
    uint8_t *data = nullptr;
    if (lunatic_message_extend(m, kBigBytes, &data) != LUNATIC_OK) {
        lunatic_message_free(m);
        return 1;
    }
    for (size_t i = 0; i < kBigBytes; ++i) data[i] = uint8_t((i * 131) >> 3);
    send_u64(pids[0], kSending, 0);
    if (lunatic_send(pids[1], m) != LUNATIC_OK) {
        lunatic_message_free(m);
        return 1;
    }
    return 0;
}

void register_entries() {
    REQUIRE(lunatic_entry_register("test_node_faults.echo", echo_entry) == LUNATIC_OK);
    REQUIRE(lunatic_entry_register("test_node_faults.sink", sink_entry) == LUNATIC_OK);
}

// ---------------------------------------------------------------------- nodes

// A node of these tests: their own cookie, and the heartbeat and timeout given.
struct FaultNode : TestNode {
    FaultNode(const char *name, bool attach, uint32_t heartbeat_ms = 0, uint32_t timeout_ms = 0)
        : TestNode(name, attach, config(heartbeat_ms, timeout_ms)) {}

    static NodeConfig config(uint32_t heartbeat_ms, uint32_t timeout_ms) {
        NodeConfig c;
        c.cookie = "fault-cookie";
        c.heartbeat_ms = heartbeat_ms;
        c.timeout_ms = timeout_ms;
        return c;
    }
};

// A round trip to an echo process: true when the same value came back in time.
bool round_trip(lunatic_pid echo, lunatic_tag tag, uint64_t value, int64_t timeout = kTimeout) {
    if (send_u64(echo, tag, value) != LUNATIC_OK) return false;
    Received r = recv({tag}, timeout);
    return r.rc == LUNATIC_OK && msg_u64(r.msg.get()) == value;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("node faults: a silent peer is lost after peer_timeout_ms, noconnection exactly once") {
    register_entries();
    constexpr uint32_t kHeartbeatMs = 100;
    constexpr uint32_t kPeerTimeoutMs = 800;
    FaultNode a("a", true, kHeartbeatMs, kPeerTimeoutMs);
    FaultNode b("b", false, kHeartbeatMs, kPeerTimeoutMs);
    Proxy proxy(b.port);
    uint64_t got = 0;
    REQUIRE(lunatic_node_connect(a.r.rt, "127.0.0.1", proxy.port, kTimeout, &got) == LUNATIC_OK);
    REQUIRE(got == b.id);
    lunatic_pid e1 = spawn_on(b.id, "test_node_faults.echo");
    lunatic_pid e2 = spawn_on(b.id, "test_node_faults.echo");
    REQUIRE(lunatic_trap_links(1) == LUNATIC_OK);
    REQUIRE(lunatic_link(e1, 3) == LUNATIC_OK);
    REQUIRE(lunatic_monitor(e1) == LUNATIC_OK);
    REQUIRE(lunatic_monitor(e2) == LUNATIC_OK);
    REQUIRE(round_trip(e1, 1, 11));  // the link and monitors stand at b now
    REQUIRE(round_trip(e2, 2, 22));
    // Quiet for longer than the timeout while the proxy still passes bytes:
    // heartbeats alone keep the connection up.
    lunatic_sleep(int64_t(2 * kPeerTimeoutMs) * kMs);
    CHECK_FALSE(recv_signal(LUNATIC_RECEIVE_SIGNALS, 0));
    REQUIRE(round_trip(e1, 1, 12));

    const auto frozen_at = std::chrono::steady_clock::now();
    proxy.freeze();
    int link_died = 0, died_e1 = 0, died_e2 = 0;
    double lost_after_ms = 0;
    for (int i = 0; i < 3; ++i) {
        Msg m = recv_signal(LUNATIC_RECEIVE_SIGNALS, 10 * kSec);
        REQUIRE_MESSAGE(m, "signal " << i << " missing; log:\n" << a.r.log.dump());
        if (i == 0) lost_after_ms = ms_since(frozen_at);
        lunatic_pid who;
        lunatic_exit_reason reason;
        REQUIRE(lunatic_message_signal(m.get(), &who, &reason) == LUNATIC_OK);
        CHECK(reason == LUNATIC_EXIT_NOCONNECTION);
        if (lunatic_message_kind_of(m.get()) == LUNATIC_MESSAGE_LINK_DIED) {
            CHECK(who == e1);
            CHECK(lunatic_message_tag(m.get()) == 3);
            ++link_died;
        } else if (who == e1) {
            ++died_e1;
        } else if (who == e2) {
            ++died_e2;
        }
    }
    MESSAGE("silent peer declared lost " << lost_after_ms << " ms after it froze (peer_timeout_ms "
                                         << kPeerTimeoutMs << ")");
    CHECK(link_died == 1);
    CHECK(died_e1 == 1);
    CHECK(died_e2 == 1);
    // Not before the timeout could have run out (less a heartbeat of slack),
    // and within it plus a generous margin for a busy machine.
    CHECK(lost_after_ms >= double(kPeerTimeoutMs - kHeartbeatMs));
    CHECK(lost_after_ms <= double(kPeerTimeoutMs) + 4000.0);
    // Exactly once: nothing more arrives, whatever the redialling does.
    CHECK_FALSE(recv_signal(LUNATIC_RECEIVE_SIGNALS, 500 * kMs));
}

// Crossed dials: both sides agree which connection stays (the one dialled by
// the node with the smaller id, docs/nodes.md "Connections"); the other is
// closed before it is ever up, so nobody hears of a lost node, and the losing
// connect() waits for the connection that stays and succeeds.
TEST_CASE("node faults: two nodes dialling each other at once end with one working connection") {
    register_entries();
    constexpr int kRounds = 20;
    int failed_rounds = 0;
    int crossed_rounds = 0;   // rounds in which both dials got through to a HELLO
    int declined_rounds = 0;  // of those, rounds resolved by a STATUS nok
    std::string first_failure;
    for (int round = 0; round < kRounds; ++round) {
        FaultNode a("a", true);
        FaultNode b("b", false);
        std::barrier start(2);
        int rc_ab = LUNATIC_EINTERNAL, rc_ba = LUNATIC_EINTERNAL;
        uint64_t id_ab = 0, id_ba = 0;
        std::thread other([&] {
            start.arrive_and_wait();
            rc_ba = lunatic_node_connect(b.r.rt, "127.0.0.1", a.port, kTimeout, &id_ba);
        });
        start.arrive_and_wait();
        rc_ab = lunatic_node_connect(a.r.rt, "127.0.0.1", b.port, kTimeout, &id_ab);
        other.join();
        // Then messages both ways through whichever connection won, watched by
        // a monitor that must not fire while the duplicate is dropped.
        std::string why;
        lunatic_pid echo{0, 0};
        if (rc_ab != LUNATIC_OK || rc_ba != LUNATIC_OK) {
            why = std::string("connect: ") + lunatic_strerror(rc_ab) + " / " +
                  lunatic_strerror(rc_ba);
        } else if (id_ab != b.id || id_ba != a.id) {
            why = "connect returned the wrong node id";
        } else if (int rc = lunatic_spawn_node(b.id, "test_node_faults.echo", nullptr, 0, nullptr,
                                               &echo);
                   rc != LUNATIC_OK) {
            why = std::string("spawn_node: ") + lunatic_errmsg();
        } else if (lunatic_monitor(echo) != LUNATIC_OK) {
            why = "monitor failed";
        } else {
            for (uint64_t i = 0; i < 10 && why.empty(); ++i) {
                if (!round_trip(echo, 5, i)) why = "a round trip failed";
                if (i == 4) lunatic_sleep(50 * kMs);
            }
            if (why.empty() && recv_signal(LUNATIC_RECEIVE_SIGNALS, 0))
                why = "a spurious signal (noconnection?)";
            if (why.empty() && (a.count_of(b.id) != 1 || b.count_of(a.id) != 1))
                why = "nodes() does not list the other node exactly once";
            send_u64(echo, kStop, 0);
        }
        const std::string logs = a.r.log.dump() + b.r.log.dump();
        if (why.empty() && logs.find("lost node") != std::string::npos)
            why = "a node logged a lost node";
        // Which way the crossing was resolved: the dialer saw a connection up
        // or under way before its AUTH, or the other node answered nok.
        crossed_rounds += logs.find("dropped a second connection") != std::string::npos;
        declined_rounds += logs.find("keeps another connection") != std::string::npos;
        if (!why.empty()) {
            if (failed_rounds++ == 0)
                first_failure = "round " + std::to_string(round) + ": " + why + "\na:\n" +
                                a.r.log.dump() + "b:\n" + b.r.log.dump();
        }
    }
    MESSAGE(crossed_rounds << " of " << kRounds << " rounds dialled crossed (one dial dropped), "
                           << declined_rounds << " of them resolved by a nok");
    CHECK_MESSAGE(failed_rounds == 0, failed_rounds
                                          << " of " << kRounds
                                          << " rounds failed; the first: " << first_failure);
}

TEST_CASE("node faults: a 64 MiB message does not stall small round trips on the connection") {
    register_entries();
    REQUIRE(lunatic_entry_register("test_node_faults.big_sender", big_sender_entry) == LUNATIC_OK);
    FaultNode a("a", true);
    FaultNode b("b", false);
    REQUIRE(lunatic_node_connect(a.r.rt, "127.0.0.1", b.port, kTimeout, nullptr) == LUNATIC_OK);
    lunatic_pid echo = spawn_on(b.id, "test_node_faults.echo");
    lunatic_pid sink = spawn_on(b.id, "test_node_faults.sink", &a.r.self, sizeof a.r.self);
    // Round trips before, for a baseline (and so everything is warm).
    double idle_worst_ms = 0;
    for (uint64_t i = 0; i < 20; ++i) {
        const auto t = std::chrono::steady_clock::now();
        REQUIRE(round_trip(echo, kPing, i));
        idle_worst_ms = std::max(idle_worst_ms, ms_since(t));
    }

    const lunatic_pid pids[2] = {a.r.self, sink};
    REQUIRE(lunatic_spawn(big_sender_entry, pids, sizeof pids, nullptr, nullptr, nullptr) ==
            LUNATIC_OK);
    REQUIRE(recv({kSending}, 30 * kSec).rc == LUNATIC_OK);
    const auto sent_at = std::chrono::steady_clock::now();
    double worst_ms = 0, worst_started_ms = 0, transfer_ms = 0;
    uint64_t trips = 0;
    for (;;) {
        Received done = recv({kBigDone}, 0);
        if (done.rc == LUNATIC_OK) {
            transfer_ms = ms_since(sent_at);
            CHECK(msg_u64(done.msg.get()) == kBigBytes);
            break;
        }
        REQUIRE_MESSAGE(ms_since(sent_at) < 120'000.0, "the 64 MiB message never arrived");
        const auto t = std::chrono::steady_clock::now();
        REQUIRE(round_trip(echo, kPing, 1000 + trips, 60 * kSec));
        if (ms_since(t) > worst_ms) {
            worst_ms = ms_since(t);
            worst_started_ms = std::chrono::duration<double, std::milli>(t - sent_at).count();
        }
        ++trips;
    }
    MESSAGE("64 MiB transfer " << transfer_ms << " ms; during it " << trips
                               << " small round trips, worst " << worst_ms << " ms (started "
                               << worst_started_ms << " ms in; idle worst " << idle_worst_ms
                               << " ms)");
    // The proof of interleaving, not a speed claim: small round trips kept
    // going during the transfer, and none waited for a large part of it.
    CHECK(trips >= 3);
    // Measured on a 2-core machine at load 1-2: worst 11-15 ms of a 390-500 ms
    // transfer (128 KiB chunks, TCP_NOTSENT_LOWAT); 50-210 ms with 1 MiB chunks
    // and a full socket buffer. Under AddressSanitizer on a loaded machine:
    // worst 311 ms of 1,375 ms. Half leaves room for both.
    CHECK_MESSAGE(worst_ms < transfer_ms / 2,
                  "a small round trip waited for most of the 64 MiB transfer: the small send (or "
                  "its reply) was held behind the big message, e.g. by backpressure that counts "
                  "every sender's bytes queued for the peer instead of the big sender's own");
    REQUIRE(send_u64(echo, kStop, 0) == LUNATIC_OK);
}
