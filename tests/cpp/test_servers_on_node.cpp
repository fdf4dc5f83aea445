// Servers on another node: StartBuilder::on_node with start, start_as (in that
// node's registry), start_as_new, link_with and configure; a ProcessRef<T> of
// another node for send, request, with_delay and shutdown; startup errors and
// a lost node coming back to the starter. Two node runtimes in one OS process
// (as tests/cpp/test_nodes.cpp): they share the entry registry, so both know
// every server type of this program, as two nodes running one binary do.
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

using namespace std::chrono_literals;

namespace {

auto quiet = [](void *, int, const char *) {};

struct Add {
    int32_t n = 0;
};
LUNATIC_FIELDS(Add, n)
struct Get {};
LUNATIC_NO_FIELDS(Get)
struct WhereAmI {};
LUNATIC_NO_FIELDS(WhereAmI)
struct TrySpawn {};
LUNATIC_NO_FIELDS(TrySpawn)
struct Crash {};
LUNATIC_NO_FIELDS(Crash)
struct Never {};
LUNATIC_NO_FIELDS(Never)

using Notify = lunatic::Process<std::string>;

std::atomic<int> remote_inits{0};

// Arg: the start value and a process (on the starter's node) told about terminate.
struct RemoteCounter : lunatic::AbstractProcess<RemoteCounter> {
    using Arg = std::pair<int32_t, Notify>;
    using Handlers =
        lunatic::Handlers<lunatic::MessageHandler<Add>, lunatic::RequestHandler<Get>,
                          lunatic::RequestHandler<WhereAmI>, lunatic::RequestHandler<TrySpawn>,
                          lunatic::MessageHandler<Crash>,
                          lunatic::DeferredRequestHandler<Never, int32_t>>;
    int32_t count = 0;
    Notify notify;

    static RemoteCounter init(lunatic::Config<RemoteCounter> &, Arg arg) {
        ++remote_inits;
        if (arg.first < 0) throw std::invalid_argument("negative start on the other node");
        RemoteCounter c;
        c.count = arg.first;
        c.notify = arg.second;
        return c;
    }
    void handle(Add add) { count += add.n; }
    int32_t handle(Get) const { return count; }
    // The node the server runs on.
    uint64_t handle(WhereAmI) const {
        lunatic_pid self{};
        lunatic_self(&self);
        return self.node;
    }
    // The status of a spawn from the server: LUNATIC_EPERM under a config
    // without can_spawn_processes.
    int32_t handle(TrySpawn) const {
        try {
            lunatic::spawn(0, [](int, lunatic::Mailbox<int>) {});
            return LUNATIC_OK;
        } catch (const lunatic::Error &e) {
            return e.code();
        }
    }
    void handle(Crash) { throw std::runtime_error("remote crash"); }
    void handle(Never, lunatic::DeferredResponse<int32_t>) {}  // never answered
    void terminate() {
        if (notify.id() != 0) notify.send("terminated at " + std::to_string(count));
    }
};

// Registered already (this program starts RemoteCounter); a program that only
// receives starts of it would say this.
LUNATIC_SERVER_ENTRY(RemoteCounter);

// This runtime as a node, attached to the test's thread, and a second node
// (not attached to any thread) connected to it.
struct TwoNodes {
    lunatic::Runtime here{{.workers = 2, .log = quiet}};
    lunatic_runtime *other = nullptr;
    uint64_t other_id = 0;

    TwoNodes() {
        lunatic_node_options n;
        lunatic_node_options_init(&n);
        n.name = "here";
        n.cookie = "servers";
        REQUIRE(lunatic_node_start(here.raw(), &n, nullptr) == LUNATIC_OK);
        lunatic_runtime_options o;
        lunatic_runtime_options_init(&o);
        o.workers = 1;
        o.log = quiet;
        REQUIRE(lunatic_runtime_create(&o, &other) == LUNATIC_OK);
        n.name = "other";
        uint16_t port = 0;
        REQUIRE(lunatic_node_start(other, &n, &port) == LUNATIC_OK);
        other_id = lunatic_runtime_node_id(other);
        REQUIRE(lunatic_node_connect(here.raw(), "127.0.0.1", port, 5'000'000'000, nullptr) ==
                LUNATIC_OK);
    }
    ~TwoNodes() { stop_other(); }
    void stop_other() {
        lunatic_runtime_destroy(other);
        other = nullptr;
    }
};

}  // namespace

TEST_CASE("on_node: a server started on another node answers sends, requests and shutdown") {
    TwoNodes nodes;
    lunatic::Mailbox<std::string> mailbox;
    auto counter = RemoteCounter::on_node(nodes.other_id).start({10, mailbox.this_process()});
    CHECK(counter.node_id() == nodes.other_id);
    CHECK(counter.request(WhereAmI{}, 5s) == nodes.other_id);
    // Spawned there by the entry's stable name, registered in this program.
    const std::string entry = lunatic::detail::server_node_entry_name<RemoteCounter>();
    CHECK(entry.rfind("cpp:server:ProcessRef<", 0) == 0);
    lunatic_entry found = nullptr;
    CHECK(lunatic_entry_lookup(entry.c_str(), &found) == LUNATIC_OK);
    CHECK(counter.send(Add{5}));
    CHECK(counter.request(Get{}, 5s) == 15);
    CHECK(counter.with_timeout(5s).request(Get{}) == 15);
    (void)counter.with_delay(20ms).send(Add{100});
    int32_t now = 0;
    for (int i = 0; i < 500 && now != 115; ++i) {
        now = counter.request(Get{}, 5s);
        if (now != 115) lunatic::sleep(2ms);
    }
    CHECK(now == 115);
    // A request that times out leaves nothing behind, here as locally.
    CHECK_THROWS_AS(counter.request(Never{}, 50ms), lunatic::TimeoutError);
    // Shutdown: terminate runs there, and its message crosses back.
    counter.send(Add{1});
    CHECK(counter.shutdown(5s) == lunatic::ExitReason::normal);
    auto note = mailbox.receive_timeout(5s);
    REQUIRE(note.is_message());
    CHECK(*note == "terminated at 116");
    // Gone: a request is a prompt ServerDied (noproc from the other node), so is shutdown.
    auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(counter.request(Get{}), lunatic::ServerDied);
    CHECK(counter.shutdown(5s) == lunatic::ExitReason::noproc);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    // Nothing left behind by the requests, their monitors or the late reply.
    lunatic::sleep(20ms);
    CHECK(mailbox.size() == 0);
    CHECK(mailbox.try_receive().is_timed_out());  // signals included
}

TEST_CASE(
    "on_node start_as: get-or-start in that node's registry, one server for racing starters") {
    TwoNodes nodes;
    const int before = remote_inits.load();
    auto first = RemoteCounter::on_node(nodes.other_id).start_as("remote-counter", {1, Notify()});
    CHECK(remote_inits.load() - before == 1);
    CHECK(first.node_id() == nodes.other_id);
    // Registered there, not here.
    CHECK(lunatic::ProcessRef<RemoteCounter>::lookup_node(nodes.other_id, "remote-counter") ==
          first);
    CHECK_FALSE(lunatic::ProcessRef<RemoteCounter>::lookup("remote-counter").has_value());
    CHECK(RemoteCounter::on_node(nodes.other_id).start_as("remote-counter", {2, Notify()}) ==
          first);
    try {
        RemoteCounter::on_node(nodes.other_id).start_as_new("remote-counter", {3, Notify()});
        FAIL("no error");
    } catch (const lunatic::NameTaken &e) {
        CHECK(e.pid().node == first.node_id());
        CHECK(e.pid().id == first.id());
    }
    CHECK(remote_inits.load() - before == 1);
    // The same name here is this node's registry: a server of its own.
    auto local = RemoteCounter::start_as("remote-counter", RemoteCounter::Arg{4, Notify()});
    CHECK(local != first);
    CHECK(local.request(Get{}) == 4);
    local.shutdown();
    first.shutdown(5s);

    // Racing starters, all on this node, all naming the other node.
    lunatic::Mailbox<lunatic::ProcessRef<RemoteCounter>> refs;
    const int raced_before = remote_inits.load();
    constexpr int kStarters = 6;
    for (int i = 0; i < kStarters; ++i) {
        lunatic::spawn(
            std::make_pair(nodes.other_id, refs.this_process()),
            [](std::pair<uint64_t, lunatic::Process<lunatic::ProcessRef<RemoteCounter>>> c,
               lunatic::Mailbox<int>) {
                c.second.send(RemoteCounter::on_node(c.first).start_as("raced", {7, Notify()}));
            });
    }
    lunatic::ProcessRef<RemoteCounter> winner;
    for (int i = 0; i < kStarters; ++i) {
        auto r = refs.receive_timeout(10s);
        REQUIRE(r.is_message());
        if (i == 0) winner = *r;
        CHECK(*r == winner);
    }
    CHECK(remote_inits.load() - raced_before == 1);
    CHECK(winner.node_id() == nodes.other_id);
    CHECK(winner.request(Get{}, 5s) == 7);
    winner.shutdown(5s);
}

TEST_CASE("on_node startup errors come back to the starter") {
    TwoNodes nodes;
    // init fails there: StartFailed with its text, and the name is free again.
    try {
        RemoteCounter::on_node(nodes.other_id).start_as("failing", {-1, Notify()});
        FAIL("no error");
    } catch (const lunatic::StartFailed &e) {
        CHECK(std::string(e.what()).find("negative start on the other node") != std::string::npos);
    }
    CHECK_FALSE(lunatic::ProcessRef<RemoteCounter>::lookup_node(nodes.other_id, "failing"));
    // A node this one is not connected to.
    try {
        RemoteCounter::on_node(nodes.other_id ^ 1).start({1, Notify()});
        FAIL("no error");
    } catch (const lunatic::Error &e) {
        CHECK(e.code() == LUNATIC_ENONODE);
    }
    // (An entry missing on the other node, LUNATIC_ENOTFOUND, cannot happen
    // between two runtimes of one OS process: they share the entry registry.
    // tests/capi/test_nodes.cpp covers it for lunatic_spawn_node.)
}

TEST_CASE("on_node with link_with and configure") {
    TwoNodes nodes;
    lunatic::Mailbox<std::string> mailbox;
    mailbox.catch_link_failure();
    const lunatic::Tag tag(77);
    auto linked = RemoteCounter::on_node(nodes.other_id).link_with(tag).start({0, Notify()});
    linked.send(Crash{});
    auto signal = mailbox.receive_timeout(10s);
    REQUIRE(signal.is_link_died());
    CHECK(signal.tag() == tag);
    CHECK(signal.pid().node == linked.node_id());
    CHECK(signal.pid().id == linked.id());
    CHECK(signal.reason() == lunatic::ExitReason::failed);
    CHECK(signal.reason_text().find("remote crash") != std::string::npos);

    // The config travels with the start: without can_spawn_processes the
    // server's own spawn is refused there; without a config it inherits the
    // starter's (an attached thread may do everything).
    lunatic::ProcessConfig config;
    config.set_can_spawn_processes(false);
    auto limited = RemoteCounter::on_node(nodes.other_id).configure(config).start({0, Notify()});
    CHECK(limited.request(TrySpawn{}, 5s) == LUNATIC_EPERM);
    auto free = RemoteCounter::on_node(nodes.other_id).start({0, Notify()});
    CHECK(free.request(TrySpawn{}, 5s) == LUNATIC_OK);
    limited.shutdown(5s);
    free.shutdown(5s);
    lunatic_trap_links(0);
}

TEST_CASE("a request to a server whose node goes away ends with ServerDied") {
    TwoNodes nodes;
    lunatic::Mailbox<std::string> mailbox;
    auto counter = RemoteCounter::on_node(nodes.other_id).start({0, Notify()});
    // A local process waits, without a time limit, on a request never answered.
    lunatic::spawn(
        std::make_pair(counter, mailbox.this_process()),
        [](std::pair<lunatic::ProcessRef<RemoteCounter>, Notify> c, lunatic::Mailbox<int>) {
            try {
                c.first.request(Never{});
                c.second.send("answered");
            } catch (const lunatic::ServerDied &e) {
                c.second.send("server died: " + std::to_string(static_cast<int>(e.reason())));
            }
        });
    CHECK(counter.request(Get{}, 5s) == 0);  // the node is up
    lunatic::sleep(20ms);                    // the request is waiting by now (most likely)
    nodes.stop_other();
    auto r = mailbox.receive_timeout(10s);
    REQUIRE(r.is_message());
    // Killed with its runtime, or cut off with its node: either way, not a hang.
    const std::string killed =
        "server died: " + std::to_string(static_cast<int>(lunatic::ExitReason::killed));
    const std::string cut =
        "server died: " + std::to_string(static_cast<int>(lunatic::ExitReason::noconnection));
    CHECK((*r == killed || *r == cut));
}

TEST_CASE("a supervisor child on another node; a supervisor started on another node") {
    TwoNodes nodes;
    lunatic::Mailbox<std::string> mailbox;
    auto sup = lunatic::Supervisor::start(
        lunatic::SupervisorSpec()
            .intensity(10, 5s)
            .child(lunatic::ChildSpec::of<RemoteCounter>(RemoteCounter::Arg{3, Notify()})
                       .id("far")
                       .name("far-counter")
                       .on_node(nodes.other_id))
            .child(
                lunatic::ChildSpec::of<RemoteCounter>(RemoteCounter::Arg{4, mailbox.this_process()})
                    .id("near")));
    auto kids = lunatic::which_children(sup);
    REQUIRE(kids.size() == 2);
    auto far = kids[0].ref<RemoteCounter>();
    CHECK(far.node_id() == nodes.other_id);
    CHECK(far.request(Get{}, 5s) == 3);
    CHECK(lunatic::ProcessRef<RemoteCounter>::lookup_node(nodes.other_id, "far-counter") == far);
    // It crashes there: restarted there, and its name registered there again.
    far.send(Crash{});
    lunatic::ProcessRef<RemoteCounter> again;
    for (int i = 0; i < 2000; ++i) {
        auto now = lunatic::which_children(sup);
        if (now[0].running && now[0].process.raw().id != far.id()) {
            again = now[0].ref<RemoteCounter>();
            break;
        }
        lunatic::sleep(2ms);
    }
    REQUIRE(again.id() != 0);
    CHECK(again.node_id() == nodes.other_id);
    CHECK(again.request(Get{}, 5s) == 3);
    CHECK(lunatic::ProcessRef<RemoteCounter>::lookup_node(nodes.other_id, "far-counter") == again);
    CHECK(sup.shutdown(10s) == lunatic::ExitReason::normal);
    CHECK(mailbox.receive_timeout(5s).value() == "terminated at 4");
    CHECK_FALSE(lunatic::ProcessRef<RemoteCounter>::lookup_node(nodes.other_id, "far-counter"));

    // The supervisor itself on the other node: its spec names child types by
    // stable names, which that node (the same program) knows.
    auto remote_sup =
        lunatic::Supervisor::on_node(nodes.other_id)
            .start(lunatic::SupervisorSpec().child(
                lunatic::ChildSpec::of<RemoteCounter>(RemoteCounter::Arg{5, mailbox.this_process()})
                    .id("there")));
    CHECK(remote_sup.node_id() == nodes.other_id);
    auto there = lunatic::which_children(remote_sup);
    REQUIRE(there.size() == 1);
    CHECK(there[0].process.node_id() == nodes.other_id);
    CHECK(there[0].ref<RemoteCounter>().request(Get{}, 5s) == 5);
    CHECK(remote_sup.shutdown(10s) == lunatic::ExitReason::normal);
    CHECK(mailbox.receive_timeout(5s).value() == "terminated at 5");
}
