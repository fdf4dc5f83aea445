// Nodes: several runtimes in this OS process talking over loopback TCP.
// Handshake and cookie, nodes() and attributes, remote spawn by name, ordered
// remote sends, lookup on a node, remote links, monitors and kill (aimed at
// the right node when the same local id exists on both), node loss turning
// into noconnection signals exactly once, big messages cut into chunks, and
// garbage from a raw socket closing only that connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include "node_fixture.hpp"

using namespace capi_test;

namespace {

constexpr lunatic_tag kStop = 900;
constexpr lunatic_tag kFail = 901;
constexpr lunatic_tag kReady = 902;
constexpr lunatic_tag kGot = 903;

// ------------------------------------------------------------ remote entries
// Entries run on the other node; they report through messages only.

// Echoes until kStop (returns 0) or kFail (fails).
int echo_entry(const uint8_t *capture, size_t len, void *user) {
    return echo_until<kStop, kFail>(capture, len, user);
}

// Capture: the reporter's pid then a name. Registers itself as (name, "t"),
// tells the reporter (kReady), then echoes.
int registrar_entry(const uint8_t *capture, size_t len, void *user) {
    lunatic_pid report;
    if (len < sizeof report) return 1;
    std::memcpy(&report, capture, sizeof report);
    std::string name(reinterpret_cast<const char *>(capture) + sizeof report, len - sizeof report);
    lunatic_pid me = self_pid();
    if (lunatic_register(name.c_str(), "t", me) != LUNATIC_OK) return 1;
    send_u64(report, kReady, me.id);
    return echo_entry(nullptr, 0, user);
}

// Capture: the reporter's pid then a target pid. Traps links, links to the
// target, says kReady, then reports the reason of the LINK_DIED it gets (kGot).
int linker_entry(const uint8_t *capture, size_t len, void *) {
    lunatic_pid pids[2];
    if (len != sizeof pids) return 1;
    std::memcpy(pids, capture, sizeof pids);
    lunatic_trap_links(1);
    if (lunatic_link(pids[1], 7) != LUNATIC_OK) return 1;
    send_u64(pids[0], kReady, 0);
    lunatic_message *m = nullptr;
    if (lunatic_receive_mask(LUNATIC_RECEIVE_LINK_DIED, nullptr, 0, 30 * kSec, &m) != LUNATIC_OK)
        return 1;
    lunatic_pid who{0, 0};
    lunatic_exit_reason reason = LUNATIC_EXIT_NORMAL;
    lunatic_message_signal(m, &who, &reason);
    const uint64_t out[3] = {uint64_t(reason), who.node, who.id};
    lunatic_send_bytes(pids[0], kGot, out, sizeof out);
    lunatic_message_free(m);
    return 0;
}

// Capture: the reporter's pid then a target pid. Links to the target without
// trapping, says kReady, then waits (a link failure kills it).
int doomed_entry(const uint8_t *capture, size_t len, void *) {
    lunatic_pid pids[2];
    if (len != sizeof pids) return 1;
    std::memcpy(pids, capture, sizeof pids);
    if (lunatic_link(pids[1], 0) != LUNATIC_OK) return 1;
    send_u64(pids[0], kReady, 0);
    lunatic_message *m = nullptr;
    if (lunatic_receive(nullptr, 0, 30 * kSec, &m) == LUNATIC_OK) lunatic_message_free(m);
    return 0;
}

// Capture: u64 count, then the pid to report to. Receives count messages,
// each with its index in its first 8 bytes, and reports (kGot) how many came
// in order.
int ordered_sink_entry(const uint8_t *capture, size_t len, void *) {
    uint64_t count = 0;
    lunatic_pid report;
    if (len != sizeof count + sizeof report) return 1;
    std::memcpy(&count, capture, sizeof count);
    std::memcpy(&report, capture + sizeof count, sizeof report);
    uint64_t in_order = 0;
    for (uint64_t i = 0; i < count; ++i) {
        lunatic_message *m = nullptr;
        if (lunatic_receive(nullptr, 0, 60 * kSec, &m) != LUNATIC_OK) break;
        uint64_t seq = ~uint64_t(0);
        if (lunatic_message_size(m) >= sizeof seq)
            std::memcpy(&seq, lunatic_message_data(m), sizeof seq);
        if (seq == i) ++in_order;
        lunatic_message_free(m);
    }
    return send_u64(report, kGot, in_order) == LUNATIC_OK ? 0 : 1;
}

// Capture: the pid to report to, then any bytes. Reports (kGot) the capture's
// length and (kReady) its FNV-1a hash.
int capture_hash_entry(const uint8_t *capture, size_t len, void *) {
    lunatic_pid report;
    if (len < sizeof report) return 1;
    std::memcpy(&report, capture, sizeof report);
    uint64_t hash = 1469598103934665603ull;
    for (size_t i = 0; i < len; ++i) hash = (hash ^ capture[i]) * 1099511628211ull;
    send_u64(report, kGot, len);
    return send_u64(report, kReady, hash) == LUNATIC_OK ? 0 : 1;
}

void register_entries() {
    REQUIRE(lunatic_entry_register("test_nodes.capture_hash", capture_hash_entry) == LUNATIC_OK);
    REQUIRE(lunatic_entry_register("test_nodes.ordered_sink", ordered_sink_entry) == LUNATIC_OK);
    REQUIRE(lunatic_entry_register("test_nodes.doomed", doomed_entry) == LUNATIC_OK);
    REQUIRE(lunatic_entry_register("test_nodes.echo", echo_entry) == LUNATIC_OK);
    REQUIRE(lunatic_entry_register("test_nodes.registrar", registrar_entry) == LUNATIC_OK);
    REQUIRE(lunatic_entry_register("test_nodes.linker", linker_entry) == LUNATIC_OK);
}

// ---------------------------------------------------------------------- nodes

// ------------------------------------------------------------ raw sockets

int raw_connect(uint16_t port) {
    const int fd = loopback_connect(port);
    REQUIRE(fd >= 0);
    return fd;
}

void raw_send(int fd, const std::string &bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return;  // the node may have closed it already: fine
        done += size_t(n);
    }
}

// Reads (and throws away) until the node closes the connection; false if it
// is still open after `limit`.
bool closed_by_peer(int fd, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, int(left.count())) <= 0) continue;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return true;
    }
}

std::string le32(uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = char((v >> (8 * i)) & 0xff);
    return s;
}

// A HELLO frame as docs/nodes.md lays it out.
// The protocol version the node speaks (kProtocolVersion in core/node/wire.hpp).
constexpr uint16_t kWireVersion = 2;

std::string hello_frame(uint32_t magic, uint16_t version, uint64_t id) {
    std::string body;
    body.push_back(char(1));  // hello
    body += le32(magic);
    body.push_back(char(version & 0xff));
    body.push_back(char(version >> 8));
    for (int i = 0; i < 8; ++i) body.push_back(char((id >> (8 * i)) & 0xff));
    body += le32(3) + "raw";
    body += std::string(32, 'n');  // nonce
    body += le32(1u << 20);        // max frame
    body += le32(4000);            // peer timeout (ms)
    return le32(uint32_t(body.size())) + body;
}

bool log_has(const LogCapture &log, const char *needle) {
    for (const auto &l : log.snapshot())
        if (l.text.find(needle) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("nodes: options are checked, a node starts once, calls need a node") {
    Runtime rt(1, true);
    lunatic_node_options o;
    lunatic_node_options_init(&o);
    CHECK(lunatic_node_start(rt.rt, &o, nullptr) == LUNATIC_EINVAL);  // no name
    o.name = "a";
    CHECK(lunatic_node_start(rt.rt, &o, nullptr) == LUNATIC_EINVAL);  // no cookie
    o.cookie = "c";
    o.max_frame_bytes = 10;
    CHECK(lunatic_node_start(rt.rt, &o, nullptr) == LUNATIC_EINVAL);
    o.max_frame_bytes = 0;
    o.heartbeat_ms = 1000;
    o.peer_timeout_ms = 1500;  // not more than twice the heartbeat
    CHECK(lunatic_node_start(rt.rt, &o, nullptr) == LUNATIC_EINVAL);
    o.heartbeat_ms = o.peer_timeout_ms = 0;
    o.listen_host = "not an address";
    CHECK(lunatic_node_start(rt.rt, &o, nullptr) == LUNATIC_EINVAL);
    o.listen_host = nullptr;

    size_t count = 99;
    CHECK(lunatic_nodes(rt.rt, nullptr, 0, &count) == LUNATIC_ESTATE);
    // Without a node, other nodes' pids name no process, as before.
    CHECK(lunatic_send_bytes(lunatic_pid{rt.self.node ^ 1, 1}, 1, "x", 1) == LUNATIC_ENOPROC);
    CHECK(lunatic_spawn_node(rt.self.node ^ 1, "test_nodes.echo", nullptr, 0, nullptr, nullptr) ==
          LUNATIC_ENONODE);

    uint16_t port = 0;
    REQUIRE(lunatic_node_start(rt.rt, &o, &port) == LUNATIC_OK);
    CHECK(port != 0);
    CHECK(lunatic_node_start(rt.rt, &o, nullptr) == LUNATIC_EEXIST);
    CHECK(lunatic_nodes(rt.rt, nullptr, 0, &count) == LUNATIC_OK);
    CHECK(count == 0);
    // The port is taken now.
    Runtime other(1, false);
    o.listen_port = port;
    CHECK(lunatic_node_start(other.rt, &o, nullptr) == LUNATIC_EEXIST);
    CHECK(std::string(lunatic_errmsg()).find("listen") != std::string::npos);
}

TEST_CASE("nodes: connect, nodes() with attributes, lookup_nodes, wrong cookie refused") {
    NodeConfig ca, cb;
    ca.attributes = {"role=front", "zone=eu"};
    cb.attributes = {"role=db", "zone=eu"};
    TestNode a("alpha", true, ca);
    TestNode b("beta", false, cb);
    uint64_t got = 0;
    REQUIRE_MESSAGE(a.connect(b, &got) == LUNATIC_OK, lunatic_errmsg());
    CHECK(got == b.id);
    CHECK(a.connect(b) == LUNATIC_OK);  // connected already: fine
    CHECK(wait_until([&] { return a.knows(b.id) && b.knows(a.id); }));
    // Attributes arrive just after the handshake.
    CHECK(wait_until([&] {
        uint64_t ids[4];
        size_t n = 0;
        return lunatic_lookup_nodes(a.r.rt, "role=db", ids, 4, &n) == LUNATIC_OK && n == 1 &&
               ids[0] == b.id;
    }));
    auto list = a.nodes();
    REQUIRE(list.size() == 1);
    CHECK(std::string(list[0].name) == "beta");
    CHECK(std::string(list[0].address) == "127.0.0.1:" + std::to_string(b.port));
    char buf[64];
    size_t len = 0;
    REQUIRE(lunatic_node_attributes(a.r.rt, b.id, buf, sizeof buf, &len) == LUNATIC_OK);
    CHECK(std::string(buf, len) == std::string("role=db\0zone=eu\0", 16));
    uint64_t ids[4];
    size_t n = 0;
    CHECK(lunatic_lookup_nodes(a.r.rt, "zone", ids, 4, &n) == LUNATIC_OK);
    CHECK(n == 1);
    CHECK(lunatic_lookup_nodes(a.r.rt, "role=front", ids, 4, &n) == LUNATIC_OK);
    CHECK(n == 0);  // its own attributes are not a peer's
    CHECK(wait_until([&] {
        return lunatic_lookup_nodes(b.r.rt, "zone=eu,role=front", ids, 4, &n) == LUNATIC_OK &&
               n == 1 && ids[0] == a.id;
    }));

    NodeConfig wrong;
    wrong.cookie = "another-cookie";
    TestNode c("gamma", false, wrong);
    CHECK(c.connect(b) == LUNATIC_EPERM);
    CHECK(std::string(lunatic_errmsg()).find("cookie") != std::string::npos);
    CHECK(wait_until([&] { return log_has(b.r.log, "wrong cookie"); }));
    CHECK_FALSE(b.knows(c.id));
    CHECK_FALSE(c.knows(b.id));
    // Nothing listens there: ENONODE.
    Runtime d(1, false);
    CHECK(lunatic_node_connect(a.r.rt, "127.0.0.1", 1, kTimeout, nullptr) == LUNATIC_ENONODE);
}

TEST_CASE("nodes: remote spawn by name, ping-pong in order, unknown name") {
    register_entries();
    TestNode a("a", true);
    TestNode b("b", false);
    REQUIRE(a.connect(b) == LUNATIC_OK);

    lunatic_pid echo = spawn_on(b.id, "test_nodes.echo");
    constexpr uint64_t kCount = 2000;
    for (uint64_t i = 0; i < kCount; ++i) REQUIRE(send_u64(echo, 5, i) == LUNATIC_OK);
    for (uint64_t i = 0; i < kCount; ++i) {
        Received r = recv({5});
        REQUIRE(r.rc == LUNATIC_OK);
        REQUIRE(msg_u64(r.msg.get()) == i);  // order kept across the network
        REQUIRE(msg_sender(r.msg.get()) == echo);
    }
    // A big-ish and an empty message.
    std::string big(300 * 1024, 'x');
    for (size_t i = 0; i < big.size(); ++i) big[i] = char(i * 7);
    REQUIRE(lunatic_send_bytes(echo, 6, big.data(), big.size()) == LUNATIC_OK);
    REQUIRE(lunatic_send_bytes(echo, 7, nullptr, 0) == LUNATIC_OK);
    Received r1 = recv({6});
    REQUIRE(r1.rc == LUNATIC_OK);
    CHECK(msg_string(r1.msg.get()) == big);
    Received r2 = recv({7});
    REQUIRE(r2.rc == LUNATIC_OK);
    CHECK(lunatic_message_size(r2.msg.get()) == 0);

    lunatic_pid none{0, 0};
    CHECK(lunatic_spawn_node(b.id, "test_nodes.no_such_entry", nullptr, 0, nullptr, &none) ==
          LUNATIC_ENOTFOUND);
    CHECK(std::string(lunatic_errmsg()).find("test_nodes.no_such_entry") != std::string::npos);
    CHECK(lunatic_spawn_node(b.id ^ 0x5a5a, "test_nodes.echo", nullptr, 0, nullptr, &none) ==
          LUNATIC_ENONODE);
    // Its own node id: a local spawn by name.
    lunatic_pid local = spawn_on(a.id, "test_nodes.echo");
    CHECK(local.node == a.id);
    CHECK(send_u64(echo, kStop, 0) == LUNATIC_OK);
    CHECK(send_u64(local, kStop, 0) == LUNATIC_OK);
}

TEST_CASE("nodes: lookup on a node, with the type rule") {
    register_entries();
    TestNode a("a", true);
    TestNode b("b", false);
    REQUIRE(a.connect(b) == LUNATIC_OK);
    std::string capture(reinterpret_cast<const char *>(&a.r.self), sizeof a.r.self);
    capture += "db-server";
    lunatic_pid reg = spawn_on(b.id, "test_nodes.registrar", capture.data(), capture.size());
    Received ready = recv({kReady});
    REQUIRE(ready.rc == LUNATIC_OK);
    lunatic_pid found{0, 0};
    REQUIRE(lunatic_lookup_node(b.id, "db-server", "t", &found) == LUNATIC_OK);
    CHECK(found == reg);
    CHECK(lunatic_lookup_node(b.id, "db-server", "other-type", &found) == LUNATIC_ENOTFOUND);
    CHECK(lunatic_lookup_node(b.id, "nobody", "t", &found) == LUNATIC_ENOTFOUND);
    // Not on this node.
    CHECK(lunatic_lookup_node(a.id, "db-server", "t", &found) == LUNATIC_ENOTFOUND);
    CHECK(send_u64(reg, kStop, 0) == LUNATIC_OK);
}

TEST_CASE("nodes: remote monitors and links see the remote process end") {
    register_entries();
    TestNode a("a", true);
    TestNode b("b", false);
    REQUIRE(a.connect(b) == LUNATIC_OK);
    REQUIRE(lunatic_trap_links(1) == LUNATIC_OK);

    SUBCASE("monitor: normal exit, and NOPROC for a process that is not there") {
        lunatic_pid echo = spawn_on(b.id, "test_nodes.echo");
        REQUIRE(lunatic_monitor(echo) == LUNATIC_OK);
        REQUIRE(lunatic_monitor_tag(echo, 77) == LUNATIC_OK);
        REQUIRE(send_u64(echo, kStop, 0) == LUNATIC_OK);
        int seen = 0;
        for (int i = 0; i < 2; ++i) {
            Msg m = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED);
            REQUIRE(m);
            lunatic_pid who;
            lunatic_exit_reason reason;
            REQUIRE(lunatic_message_signal(m.get(), &who, &reason) == LUNATIC_OK);
            CHECK(who == echo);
            CHECK(reason == LUNATIC_EXIT_NORMAL);
            seen |= lunatic_message_tag(m.get()) == 77 ? 2 : 1;
        }
        CHECK(seen == 3);
        REQUIRE(lunatic_monitor(lunatic_pid{b.id, 999999}) == LUNATIC_OK);
        Msg m = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED);
        REQUIRE(m);
        lunatic_exit_reason reason;
        lunatic_pid who;
        lunatic_message_signal(m.get(), &who, &reason);
        CHECK(reason == LUNATIC_EXIT_NOPROC);
        CHECK(who == lunatic_pid{b.id, 999999});
    }
    SUBCASE("demonitor: nothing arrives") {
        lunatic_pid echo = spawn_on(b.id, "test_nodes.echo");
        REQUIRE(lunatic_monitor_tag(echo, 5) == LUNATIC_OK);
        REQUIRE(lunatic_demonitor_tag(echo, 5) == LUNATIC_OK);
        REQUIRE(send_u64(echo, kFail, 0) == LUNATIC_OK);
        CHECK_FALSE(recv_signal(LUNATIC_RECEIVE_SIGNALS, 300 * kMs));
    }
    SUBCASE("spawn with LUNATIC_SPAWN_LINK, then the child fails") {
        lunatic_spawn_options o;
        lunatic_spawn_options_init(&o);
        o.flags = LUNATIC_SPAWN_LINK;
        o.link_tag = 31;
        lunatic_pid echo = spawn_on(b.id, "test_nodes.echo", nullptr, 0, &o);
        REQUIRE(send_u64(echo, kFail, 0) == LUNATIC_OK);
        Msg m = recv_signal(LUNATIC_RECEIVE_LINK_DIED);
        REQUIRE(m);
        lunatic_pid who;
        lunatic_exit_reason reason;
        lunatic_message_signal(m.get(), &who, &reason);
        CHECK(who == echo);
        CHECK(reason == LUNATIC_EXIT_FAILED);
        CHECK(lunatic_message_tag(m.get()) == 31);
        CHECK(msg_string(m.get()).find("asked to fail") != std::string::npos);
    }
    SUBCASE("link, unlink: a later failure is not seen") {
        lunatic_pid echo = spawn_on(b.id, "test_nodes.echo");
        REQUIRE(lunatic_link(echo, 3) == LUNATIC_OK);
        REQUIRE(lunatic_unlink(echo) == LUNATIC_OK);
        REQUIRE(send_u64(echo, kFail, 0) == LUNATIC_OK);
        CHECK_FALSE(recv_signal(LUNATIC_RECEIVE_SIGNALS, 300 * kMs));
    }
    SUBCASE("a remote process linked to a local one hears of its failure") {
        lunatic_pid local = spawn_on(a.id, "test_nodes.echo");
        lunatic_pid pids[2] = {a.r.self, local};
        spawn_on(b.id, "test_nodes.linker", pids, sizeof pids);
        REQUIRE(recv({kReady}).rc == LUNATIC_OK);
        REQUIRE(send_u64(local, kFail, 0) == LUNATIC_OK);
        Received r = recv({kGot});
        REQUIRE(r.rc == LUNATIC_OK);
        REQUIRE(lunatic_message_size(r.msg.get()) == 24);
        uint64_t got[3];
        std::memcpy(got, lunatic_message_data(r.msg.get()), sizeof got);
        CHECK(got[0] == LUNATIC_EXIT_FAILED);
        CHECK(lunatic_pid{got[1], got[2]} == local);
    }
}

TEST_CASE("nodes: kill, send_after, link and monitor reach the right node when ids collide") {
    register_entries();
    TestNode a("a", true);
    TestNode b("b", false);
    REQUIRE(a.connect(b) == LUNATIC_OK);
    REQUIRE(lunatic_trap_links(1) == LUNATIC_OK);
    // Local processes with ids 2..21 (the attached test thread has 1).
    std::vector<lunatic_pid> locals;
    for (int i = 0; i < 20; ++i) locals.push_back(spawn_on(a.id, "test_nodes.echo"));
    auto twin = [&](lunatic_pid remote) -> lunatic_pid {
        for (auto &l : locals)
            if (l.id == remote.id) return l;
        return lunatic_pid{0, 0};
    };
    // Remote processes whose local ids exist here too.
    std::vector<lunatic_pid> remotes;
    while (remotes.size() < 3) {
        lunatic_pid p = spawn_on(b.id, "test_nodes.echo");
        REQUIRE(p.id < 21);
        if (twin(p).id) remotes.push_back(p);
    }
    for (auto &l : locals) REQUIRE(lunatic_monitor(l) == LUNATIC_OK);

    // send_after: the remote one echoes it back.
    lunatic_message *msg = nullptr;
    REQUIRE(lunatic_message_new(41, 8, &msg) == LUNATIC_OK);
    REQUIRE(lunatic_message_append(msg, "timer!", 6) == LUNATIC_OK);
    REQUIRE(lunatic_send_after(remotes[0], msg, 20 * kMs, nullptr) == LUNATIC_OK);
    Received r = recv({41});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_sender(r.msg.get()) == remotes[0]);
    CHECK(msg_string(r.msg.get()) == "timer!");

    // kill
    REQUIRE(lunatic_monitor(remotes[0]) == LUNATIC_OK);
    REQUIRE(lunatic_kill(remotes[0]) == LUNATIC_OK);
    Msg m = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED);
    REQUIRE(m);
    lunatic_pid who;
    lunatic_exit_reason reason;
    lunatic_message_signal(m.get(), &who, &reason);
    CHECK(who == remotes[0]);
    CHECK(reason == LUNATIC_EXIT_KILLED);
    CHECK(lunatic_process_alive(twin(remotes[0])) == 1);

    // link: the remote one fails, the local twin lives on.
    REQUIRE(lunatic_link(remotes[1], 9) == LUNATIC_OK);
    REQUIRE(send_u64(remotes[1], kFail, 0) == LUNATIC_OK);
    m = recv_signal(LUNATIC_RECEIVE_LINK_DIED);
    REQUIRE(m);
    lunatic_message_signal(m.get(), &who, &reason);
    CHECK(who == remotes[1]);
    CHECK(reason == LUNATIC_EXIT_FAILED);
    CHECK(lunatic_process_alive(twin(remotes[1])) == 1);

    // monitor of the third, stopped normally.
    REQUIRE(lunatic_monitor_tag(remotes[2], 12) == LUNATIC_OK);
    REQUIRE(send_u64(remotes[2], kStop, 0) == LUNATIC_OK);
    m = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED);
    REQUIRE(m);
    lunatic_message_signal(m.get(), &who, &reason);
    CHECK(who == remotes[2]);
    CHECK(lunatic_message_tag(m.get()) == 12);
    CHECK(reason == LUNATIC_EXIT_NORMAL);
    // No local process was touched.
    CHECK_FALSE(recv_signal(LUNATIC_RECEIVE_SIGNALS, 200 * kMs));
    for (auto &l : locals) CHECK(lunatic_process_alive(l) == 1);
}

TEST_CASE("nodes: a lost node gives noconnection once per link and monitor") {
    register_entries();
    TestNode a("a", true);
    auto b = std::make_unique<TestNode>("b", false);
    REQUIRE(a.connect(*b) == LUNATIC_OK);
    const uint64_t b_id = b->id;
    REQUIRE(lunatic_trap_links(1) == LUNATIC_OK);
    lunatic_pid e1 = spawn_on(b_id, "test_nodes.echo");
    lunatic_pid e2 = spawn_on(b_id, "test_nodes.echo");
    REQUIRE(lunatic_link(e1, 4) == LUNATIC_OK);
    REQUIRE(lunatic_monitor(e1) == LUNATIC_OK);
    REQUIRE(lunatic_monitor(e2) == LUNATIC_OK);
    REQUIRE(lunatic_monitor_tag(e2, 42) == LUNATIC_OK);
    // Local processes linked to e2: one traps (it reports its LINK_DIED), one
    // does not (it dies of it, with the same reason).
    lunatic_pid pids[2] = {a.r.self, e2};
    spawn_on(a.id, "test_nodes.linker", pids, sizeof pids);
    REQUIRE(recv({kReady}).rc == LUNATIC_OK);
    lunatic_pid doomed = spawn_on(a.id, "test_nodes.doomed", pids, sizeof pids);
    REQUIRE(recv({kReady}).rc == LUNATIC_OK);
    REQUIRE(lunatic_monitor_tag(doomed, 55) == LUNATIC_OK);
    lunatic_pid bystander = spawn_on(a.id, "test_nodes.echo");
    // Round trip, so every link and monitor frame has reached b.
    REQUIRE(send_u64(e1, 1, 1) == LUNATIC_OK);
    REQUIRE(recv({1}).rc == LUNATIC_OK);

    b.reset();  // the node goes away (its runtime is destroyed)

    int link_died = 0, died_e1 = 0, died_e2 = 0, died_e2_tagged = 0, died_doomed = 0;
    for (int i = 0; i < 5; ++i) {
        Msg m = recv_signal(LUNATIC_RECEIVE_SIGNALS, 10 * kSec);
        REQUIRE_MESSAGE(m, "signal " << i << " missing; log:\n" << a.r.log.dump());
        lunatic_pid who;
        lunatic_exit_reason reason;
        REQUIRE(lunatic_message_signal(m.get(), &who, &reason) == LUNATIC_OK);
        CHECK(reason == LUNATIC_EXIT_NOCONNECTION);
        CHECK(msg_string(m.get()) == "noconnection");
        if (lunatic_message_kind_of(m.get()) == LUNATIC_MESSAGE_LINK_DIED) {
            CHECK(who == e1);
            CHECK(lunatic_message_tag(m.get()) == 4);
            ++link_died;
        } else if (who == e1) {
            ++died_e1;
        } else if (who == doomed) {
            CHECK(lunatic_message_tag(m.get()) == 55);
            ++died_doomed;
        } else if (who == e2 && lunatic_message_tag(m.get()) == 42) {
            ++died_e2_tagged;
        } else if (who == e2) {
            ++died_e2;
        }
    }
    CHECK(link_died == 1);
    CHECK(died_e1 == 1);
    CHECK(died_e2 == 1);
    CHECK(died_e2_tagged == 1);
    CHECK(died_doomed == 1);
    // The local linker got its LINK_DIED too.
    Received r = recv({kGot});
    REQUIRE(r.rc == LUNATIC_OK);
    uint64_t got[3];
    std::memcpy(got, lunatic_message_data(r.msg.get()), sizeof got);
    CHECK(got[0] == LUNATIC_EXIT_NOCONNECTION);
    CHECK(lunatic_pid{got[1], got[2]} == e2);
    // Exactly once: nothing more, and a process with no relation there lives on.
    CHECK_FALSE(recv_signal(LUNATIC_RECEIVE_SIGNALS, 300 * kMs));
    CHECK(lunatic_process_alive(bystander) == 1);
    CHECK_FALSE(a.knows(b_id));
    CHECK(send_u64(e1, 1, 1) == LUNATIC_ENONODE);
    CHECK(lunatic_kill(e1) == LUNATIC_ENONODE);
    // Linking to or monitoring a process of a node not connected: noconnection at once.
    REQUIRE(lunatic_link(e1, 6) == LUNATIC_OK);
    REQUIRE(lunatic_monitor(e2) == LUNATIC_OK);
    for (int i = 0; i < 2; ++i) {
        Msg m = recv_signal(LUNATIC_RECEIVE_SIGNALS);
        REQUIRE(m);
        lunatic_pid who;
        lunatic_exit_reason reason;
        REQUIRE(lunatic_message_signal(m.get(), &who, &reason) == LUNATIC_OK);
        CHECK(reason == LUNATIC_EXIT_NOCONNECTION);
        CHECK(who == (lunatic_message_kind_of(m.get()) == LUNATIC_MESSAGE_LINK_DIED ? e1 : e2));
    }
    CHECK(log_has(a.r.log, "lost node"));
}

TEST_CASE("nodes: a 16 MiB message is cut into chunks and arrives whole") {
    register_entries();
    NodeConfig small;
    small.max_frame = 64 * 1024;
    TestNode a("a", true);
    TestNode b("b", false, small);
    REQUIRE(a.connect(b) == LUNATIC_OK);
    lunatic_pid e1 = spawn_on(b.id, "test_nodes.echo");
    lunatic_pid e2 = spawn_on(b.id, "test_nodes.echo");
    std::string big(16u << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = char((i * 131) >> 3);
    REQUIRE(lunatic_send_bytes(e1, 8, big.data(), big.size()) == LUNATIC_OK);
    // Small messages to another process in the meantime, all answered.
    for (uint64_t i = 0; i < 100; ++i) REQUIRE(send_u64(e2, 9, i) == LUNATIC_OK);
    for (uint64_t i = 0; i < 100; ++i) {
        Received r = recv({9}, 20 * kSec);
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_u64(r.msg.get()) == i);
    }
    Received r = recv({8}, 30 * kSec);
    REQUIRE(r.rc == LUNATIC_OK);
    REQUIRE(lunatic_message_size(r.msg.get()) == big.size());
    CHECK(std::memcmp(lunatic_message_data(r.msg.get()), big.data(), big.size()) == 0);
}

TEST_CASE("nodes: garbage, oversized, malformed and silent connections close only themselves") {
    register_entries();
    NodeConfig quick;
    quick.heartbeat_ms = 100;
    quick.timeout_ms = 1500;
    TestNode a("a", true);
    TestNode b("b", false, quick);
    REQUIRE(a.connect(b) == LUNATIC_OK);
    lunatic_pid echo = spawn_on(b.id, "test_nodes.echo");
    const auto limit = std::chrono::milliseconds(5000);

    SUBCASE("an HTTP request") {
        int fd = raw_connect(b.port);
        raw_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(closed_by_peer(fd, limit));
        ::close(fd);
    }
    SUBCASE("an oversized frame") {
        int fd = raw_connect(b.port);
        raw_send(fd, le32(0xfffffff0u) + std::string(64, 'x'));
        CHECK(closed_by_peer(fd, limit));
        ::close(fd);
        CHECK(wait_until([&] { return log_has(b.r.log, "limit"); }));
    }
    SUBCASE("an empty frame") {
        int fd = raw_connect(b.port);
        raw_send(fd, le32(0));
        CHECK(closed_by_peer(fd, limit));
        ::close(fd);
    }
    SUBCASE("a hello with a bad magic, another version, a truncated body") {
        for (int kind = 0; kind < 3; ++kind) {
            int fd = raw_connect(b.port);
            std::string f = kind == 0   ? hello_frame(0x12345678, kWireVersion, 77)
                            : kind == 1 ? hello_frame(0x4e554c31, 99, 77)
                                        : hello_frame(0x4e554c31, kWireVersion, 77);
            if (kind == 2) {
                f.resize(f.size() - 10);
                f.replace(0, 4, le32(uint32_t(f.size() - 4)));
            }
            raw_send(fd, f);
            CHECK(closed_by_peer(fd, limit));
            ::close(fd);
        }
        CHECK(wait_until([&] { return log_has(b.r.log, "version 99"); }));
    }
    SUBCASE("a frame that is not allowed before the handshake") {
        int fd = raw_connect(b.port);
        std::string body = std::string(1, char(5)) + std::string(40, '\0');  // a message frame
        raw_send(fd, le32(uint32_t(body.size())) + body);
        CHECK(closed_by_peer(fd, limit));
        ::close(fd);
    }
    SUBCASE("a hello and then silence: the handshake times out") {
        int fd = raw_connect(b.port);
        raw_send(fd, hello_frame(0x4e554c31, kWireVersion, 77));
        CHECK(closed_by_peer(fd, std::chrono::milliseconds(10000)));
        ::close(fd);
        CHECK(wait_until([&] { return log_has(b.r.log, "did not complete in time"); }));
    }
    // Nothing reached a process and the real peer is still fine.
    REQUIRE(send_u64(echo, 3, 33) == LUNATIC_OK);
    Received r = recv({3});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 33);
    CHECK(a.knows(b.id));
    CHECK(b.nodes().size() == 1);
}

TEST_CASE("nodes: nodes tell each other their peers: a full mesh") {
    register_entries();
    TestNode a("a", true);
    TestNode b("b", false);
    TestNode c("c", false);
    REQUIRE(a.connect(b) == LUNATIC_OK);
    REQUIRE(c.connect(b) == LUNATIC_OK);
    CHECK(wait_until([&] { return a.knows(c.id) && c.knows(a.id); }, std::chrono::seconds(10)));
    // And a can use it.
    lunatic_pid echo = spawn_on(c.id, "test_nodes.echo");
    REQUIRE(send_u64(echo, 2, 22) == LUNATIC_OK);
    Received r = recv({2});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 22);
}

TEST_CASE("nodes: a lost connection is re-established with backoff") {
    register_entries();
    NodeConfig quick;
    quick.heartbeat_ms = 100;
    quick.timeout_ms = 2000;
    TestNode a("a", true, quick);
    TestNode b("b", false, quick);
    Proxy proxy(b.port);
    uint64_t got = 0;
    REQUIRE(lunatic_node_connect(a.r.rt, "127.0.0.1", proxy.port, kTimeout, &got) == LUNATIC_OK);
    CHECK(got == b.id);
    // Both have each other's real listening address once INFO has arrived.
    REQUIRE(wait_until([&] {
        auto list = a.nodes();
        return list.size() == 1 &&
               std::string(list[0].address) == "127.0.0.1:" + std::to_string(b.port) &&
               b.knows(a.id);
    }));
    lunatic_pid echo = spawn_on(b.id, "test_nodes.echo");
    REQUIRE(lunatic_monitor(echo) == LUNATIC_OK);
    REQUIRE(send_u64(echo, 1, 1) == LUNATIC_OK);
    REQUIRE(recv({1}).rc == LUNATIC_OK);

    proxy.cut();
    Msg m = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED, 10 * kSec);
    REQUIRE(m);
    lunatic_pid who;
    lunatic_exit_reason reason;
    lunatic_message_signal(m.get(), &who, &reason);
    CHECK(who == echo);
    CHECK(reason == LUNATIC_EXIT_NOCONNECTION);
    // The node with the smaller id dials the other's listening address again
    // (not through the proxy); processes there are reachable again.
    CHECK_MESSAGE(
        wait_until([&] { return a.knows(b.id) && b.knows(a.id); }, std::chrono::seconds(15)),
        "a:\n"
            << a.r.log.dump() << "b:\n"
            << b.r.log.dump());
    lunatic_pid echo2 = spawn_on(b.id, "test_nodes.echo");
    REQUIRE(send_u64(echo2, 2, 7) == LUNATIC_OK);
    Received r = recv({2});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 7);
    // The old echo was not lost with the connection: it is still there.
    REQUIRE(send_u64(echo, 3, 8) == LUNATIC_OK);
    CHECK(recv({3}).rc == LUNATIC_OK);
}

namespace {
// What a local flooder sends, and how far it got (the test thread reads it).
struct Flood {
    lunatic_pid to{0, 0};
    uint64_t count = 0;
    size_t size = 0;
    std::atomic<uint64_t> sent{0};
    std::atomic<int> result{-1};  // the flooder's return value once it has ended
};

int flooder_entry(const uint8_t *, size_t, void *user) {
    auto *flood = static_cast<Flood *>(user);
    std::vector<uint8_t> payload(flood->size);
    for (uint64_t i = 0; i < flood->count; ++i) {
        std::memcpy(payload.data(), &i, sizeof i);
        if (lunatic_send_bytes(flood->to, kGot + 1, payload.data(), payload.size()) != LUNATIC_OK) {
            flood->result.store(1);
            return 1;
        }
        flood->sent.store(i + 1);
    }
    flood->result.store(0);
    return 0;
}
}  // namespace

TEST_CASE("nodes: a flood to a stalled peer waits on a bounded queue, then arrives in order") {
    register_entries();
    // 64 MiB in 4 KiB messages; the send queue's limit is 4 MiB.
    constexpr uint64_t kCount = 16384;
    constexpr size_t kSize = 4096;
    Flood flood;  // outlives the nodes (and so the flooder)
    NodeConfig c;
    c.timeout_ms = 60000;  // the stalled node must not be declared lost
    TestNode a("bp-a", true, c), b("bp-b", false, c);
    REQUIRE(a.connect(b) == LUNATIC_OK);
    uint8_t capture[sizeof(uint64_t) + sizeof(lunatic_pid)];
    std::memcpy(capture, &kCount, sizeof kCount);
    std::memcpy(capture + sizeof kCount, &a.r.self, sizeof a.r.self);
    const lunatic_pid sink = spawn_on(b.id, "test_nodes.ordered_sink", capture, sizeof capture);
    flood.to = sink;
    flood.count = kCount;
    flood.size = kSize;
    uint64_t plateau = 0;
    {
        // Stall b's io thread: it blocks in b's log callback (which takes this
        // mutex) when it logs the bad frame below, and so stops reading.
        std::unique_lock stall(b.r.log.mu);
        const int fd = raw_connect(b.port);
        raw_send(fd, le32(0));  // an empty frame: b logs and closes it
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        REQUIRE(lunatic_spawn(flooder_entry, nullptr, 0, &flood, nullptr, nullptr) == LUNATIC_OK);
        // The flooder is suspended once a's queue is full: wait until it stops moving.
        uint64_t last = ~uint64_t(0);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            const uint64_t now = flood.sent.load();
            if (now == last) break;
            last = now;
        }
        plateau = flood.sent.load();
        ::close(fd);
    }
    INFO("sent while b was stalled: " << plateau << " of " << kCount);
    CHECK(plateau > 0);
    // Held back: at most the queue's limit plus the sockets' buffers, not all 64 MiB.
    CHECK(plateau * kSize < kCount * kSize / 2);
    // Released, b drains: the flooder resumes and everything arrives, in order.
    Received got = recv({kGot}, 60 * kSec);
    REQUIRE(got.rc == LUNATIC_OK);
    CHECK(msg_u64(got.msg.get()) == kCount);
    // (the flooder notes its last send after the sink may have reported)
    for (int i = 0; i < 500 && flood.sent.load() != kCount; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(flood.sent.load() == kCount);
}

TEST_CASE("nodes: unauthenticated connections are capped and closed at their deadline") {
    register_entries();
    NodeConfig c;
    c.timeout_ms = 1000;  // the handshake deadline too (it is at most 5 s)
    c.heartbeat_ms = 100;
    TestNode b("cap-b", false, c);
    // Silent raw connections, more than the cap of 64.
    std::vector<int> fds;
    for (int i = 0; i < 80; ++i) fds.push_back(raw_connect(b.port));
    bool capped = false;
    for (int i = 0; i < 200 && !capped; ++i) {
        capped = log_has(b.r.log, "in their handshake already");
        if (!capped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK_MESSAGE(capped, b.r.log.dump());
    // Every one is closed by the node: over the cap at once, the others at the deadline.
    int closed = 0;
    for (int fd : fds) {
        closed += closed_by_peer(fd, std::chrono::seconds(10)) ? 1 : 0;
        ::close(fd);
    }
    CHECK(closed == 80);
    CHECK(log_has(b.r.log, "the handshake did not complete in time"));
    // The node still takes a real node.
    TestNode a("cap-a", true, c);
    int rc = LUNATIC_ENONODE;
    for (int i = 0; i < 50 && rc != LUNATIC_OK; ++i) {
        rc = a.connect(b);
        if (rc != LUNATIC_OK) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE_MESSAGE(rc == LUNATIC_OK, lunatic_errmsg());
    CHECK(a.knows(b.id));
    const lunatic_pid echo = spawn_on(b.id, "test_nodes.echo");
    CHECK(ping(echo, 5, 55));
    CHECK(send_u64(echo, kStop, 0) == LUNATIC_OK);
}

TEST_CASE("nodes: a spawn capture many frames long goes in chunks") {
    register_entries();
    NodeConfig c;
    c.max_frame = 4096;
    TestNode a("big-a", true, c), b("big-b", false, c);
    REQUIRE(a.connect(b) == LUNATIC_OK);
    for (size_t size : {size_t(100), size_t(4000), size_t(40000), size_t(1) << 20}) {
        CAPTURE(size);
        std::vector<uint8_t> capture(size);
        std::memcpy(capture.data(), &a.r.self, sizeof a.r.self);
        for (size_t i = sizeof a.r.self; i < size; ++i) capture[i] = uint8_t(i * 131 + (i >> 9));
        uint64_t hash = 1469598103934665603ull;
        for (uint8_t byte : capture) hash = (hash ^ byte) * 1099511628211ull;
        spawn_on(b.id, "test_nodes.capture_hash", capture.data(), capture.size());
        Received len = recv({kGot});
        REQUIRE(len.rc == LUNATIC_OK);
        CHECK(msg_u64(len.msg.get()) == size);
        Received got = recv({kReady});
        REQUIRE(got.rc == LUNATIC_OK);
        CHECK(msg_u64(got.msg.get()) == hash);
    }
    // The node still answers ordinary requests afterwards.
    const lunatic_pid echo = spawn_on(b.id, "test_nodes.echo");
    CHECK(ping(echo, 5, 56));
    CHECK(send_u64(echo, kStop, 0) == LUNATIC_OK);
}

TEST_CASE("nodes: a sender held by backpressure is released when the connection is lost") {
    register_entries();
    constexpr uint64_t kCount = 16384;
    Flood flood;
    NodeConfig ca, cb;
    ca.timeout_ms = 1000;  // a gives up on the stalled b soon
    ca.heartbeat_ms = 200;
    cb.timeout_ms = 60000;
    TestNode a("lost-a", true, ca), b("lost-b", false, cb);
    REQUIRE(a.connect(b) == LUNATIC_OK);
    uint8_t capture[sizeof(uint64_t) + sizeof(lunatic_pid)];
    std::memcpy(capture, &kCount, sizeof kCount);
    std::memcpy(capture + sizeof kCount, &a.r.self, sizeof a.r.self);
    flood.to = spawn_on(b.id, "test_nodes.ordered_sink", capture, sizeof capture);
    flood.count = kCount;
    flood.size = 4096;
    {
        std::unique_lock stall(b.r.log.mu);  // as above: b stops reading
        const int fd = raw_connect(b.port);
        raw_send(fd, le32(0));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        REQUIRE(lunatic_spawn(flooder_entry, nullptr, 0, &flood, nullptr, nullptr) == LUNATIC_OK);
        // Suspended on the full queue until a declares b lost; then its next send fails.
        for (int i = 0; i < 400 && flood.result.load() < 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        ::close(fd);
    }
    CHECK(flood.result.load() == 1);
    CHECK(flood.sent.load() < kCount);
    CHECK(log_has(a.r.log, "lost node"));
}
