// Supervisors: strategies, restart order, named children, restart types,
// restart intensity, dynamic children and shutdown order.
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

auto quiet = [](void *, int, const char *) {};

// What the children did, in order ("start A", "stop B"): processes share the
// address space, so a test can read it (under a mutex: workers are threads).
std::mutex journal_mutex;
std::vector<std::string> journal;

void note(const std::string &line) {
    std::lock_guard<std::mutex> lock(journal_mutex);
    journal.push_back(line);
}
std::vector<std::string> take_journal() {
    std::lock_guard<std::mutex> lock(journal_mutex);
    return std::exchange(journal, {});
}

struct Crash {};
LUNATIC_NO_FIELDS(Crash)
struct Name {};
LUNATIC_NO_FIELDS(Name)

// A child that journals its start and its terminate, and crashes on request.
struct Child : lunatic::AbstractProcess<Child> {
    using Arg = std::string;
    using Handlers =
        lunatic::Handlers<lunatic::MessageHandler<Crash>, lunatic::RequestHandler<Name>>;
    std::string name;
    explicit Child(std::string n) : name(std::move(n)) { note("start " + name); }
    void handle(Crash) { throw std::runtime_error(name + " crashed"); }
    std::string handle(Name) const { return name; }
    void terminate() { note("stop " + name); }
};

// A child that crashes right after every start.
struct Crasher : lunatic::AbstractProcess<Crasher> {
    using Handlers = lunatic::Handlers<lunatic::MessageHandler<Crash>>;
    static Crasher init(lunatic::Config<Crasher> &config, std::monostate) {
        note("start crasher");
        config.self_ref().send(Crash{});
        return Crasher{};
    }
    void handle(Crash) { throw std::runtime_error("crash loop"); }
};

// The status of a spawn made by the child: LUNATIC_EPERM under a config
// without can_spawn_processes.
struct TrySpawn {};
LUNATIC_NO_FIELDS(TrySpawn)
struct Spawner : lunatic::AbstractProcess<Spawner> {
    using Handlers = lunatic::Handlers<lunatic::RequestHandler<TrySpawn>>;
    int32_t handle(TrySpawn) const {
        try {
            lunatic::spawn(0, [](int, lunatic::Mailbox<int>) {});
            return LUNATIC_OK;
        } catch (const lunatic::Error &e) {
            return e.code();
        }
    }
};

// A child whose terminate never ends on its own (it sleeps far past any
// shutdown timeout): only a kill stops it.
struct Stubborn : lunatic::AbstractProcess<Stubborn> {
    using Handlers = lunatic::Handlers<lunatic::RequestHandler<Name>>;
    std::string handle(Name) const { return "stubborn"; }
    void terminate() {
        note("stubborn ignores shutdown");
        lunatic::sleep(60s);
        note("stubborn woke up");  // never: the kill ends the sleep
    }
};

lunatic::ChildSpec child(const std::string &id) { return lunatic::ChildSpec::of<Child>(id).id(id); }

std::vector<lunatic_pid> pids(const lunatic::ProcessRef<lunatic::Supervisor> &sup) {
    std::vector<lunatic_pid> out;
    for (const auto &c : lunatic::which_children(sup)) out.push_back(c.process.raw());
    return out;
}

bool same(lunatic_pid a, lunatic_pid b) { return a.node == b.node && a.id == b.id; }

// Waits until the supervisor's child at index has a pid other than before.
lunatic_pid wait_restarted(const lunatic::ProcessRef<lunatic::Supervisor> &sup, std::size_t index,
                           lunatic_pid before) {
    for (int i = 0; i < 2000; ++i) {
        auto now = lunatic::which_children(sup);
        if (index < now.size() && now[index].running && !same(now[index].process.raw(), before))
            return now[index].process.raw();
        lunatic::sleep(2ms);
    }
    FAIL("child not restarted");
    return {};
}

}  // namespace

TEST_CASE("one_for_one: only the crashed child restarts; its name is registered again") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    take_journal();
    auto sup = lunatic::Supervisor::start(lunatic::SupervisorSpec()
                                              .intensity(10, 5s)
                                              .child(child("a").name("child-a"))
                                              .child(child("b").name("child-b")));
    CHECK(take_journal() == std::vector<std::string>{"start a", "start b"});
    auto before = pids(sup);
    REQUIRE(before.size() == 2);
    auto a = lunatic::ProcessRef<Child>::lookup("child-a");
    REQUIRE(a.has_value());
    CHECK(same(a->raw(), before[0]));
    a->send(Crash{});
    lunatic_pid a2 = wait_restarted(sup, 0, before[0]);
    CHECK(same(pids(sup)[1], before[1]));  // b untouched
    auto found = lunatic::ProcessRef<Child>::lookup("child-a");
    REQUIRE(found.has_value());
    CHECK(same(found->raw(), a2));
    CHECK(found->request(Name{}) == "a");
    CHECK(take_journal() == std::vector<std::string>{"start a"});
    // Shutdown stops the children in reverse order.
    CHECK(sup.shutdown(10s) == lunatic::ExitReason::normal);
    CHECK(take_journal() == std::vector<std::string>{"stop b", "stop a"});
    CHECK_FALSE(lunatic::ProcessRef<Child>::lookup("child-a").has_value());
}

TEST_CASE("one_for_all: the others stop in reverse order, then all start in order") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    take_journal();
    auto sup = lunatic::Supervisor::start(lunatic::SupervisorSpec()
                                              .strategy(lunatic::Strategy::one_for_all)
                                              .intensity(10, 5s)
                                              .child(child("a"))
                                              .child(child("b"))
                                              .child(child("c")));
    take_journal();
    auto before = pids(sup);
    lunatic::ProcessRef<Child>(before[1]).send(Crash{});
    wait_restarted(sup, 2, before[2]);
    auto after = pids(sup);
    for (int i = 0; i < 3; ++i) CHECK_FALSE(same(after[i], before[i]));
    CHECK(take_journal() ==
          std::vector<std::string>{"stop c", "stop a", "start a", "start b", "start c"});
    sup.shutdown(10s);
}

TEST_CASE("rest_for_one: the crashed child and those after it, in order") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    take_journal();
    auto sup = lunatic::Supervisor::start(lunatic::SupervisorSpec()
                                              .strategy(lunatic::Strategy::rest_for_one)
                                              .intensity(10, 5s)
                                              .child(child("a"))
                                              .child(child("b"))
                                              .child(child("c"))
                                              .child(child("d")));
    take_journal();
    auto before = pids(sup);
    lunatic::ProcessRef<Child>(before[1]).send(Crash{});
    wait_restarted(sup, 3, before[3]);
    auto after = pids(sup);
    CHECK(same(after[0], before[0]));
    for (int i = 1; i < 4; ++i) CHECK_FALSE(same(after[i], before[i]));
    CHECK(take_journal() ==
          std::vector<std::string>{"stop d", "stop c", "start b", "start c", "start d"});
    sup.shutdown(10s);
}

TEST_CASE("a child crashing in a loop trips the restart intensity: the supervisor fails") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    take_journal();
    lunatic::Mailbox<int> mailbox;
    mailbox.catch_link_failure();  // linked before the crash loop starts: its end cannot be missed
    auto sup = lunatic::Supervisor::link().start(
        lunatic::SupervisorSpec()
            .intensity(3, 10s)
            .child(child("steady"))
            .child(lunatic::ChildSpec::of<Crasher>().id("crasher")));
    auto r = mailbox.receive_timeout(20s);
    REQUIRE(r.is_link_died());
    CHECK(r.pid().id == sup.id());
    CHECK(r.reason() == lunatic::ExitReason::failed);
    CHECK(r.reason_text().find("restart intensity") != std::string::npos);
    auto lines = take_journal();
    int crasher_starts = 0;
    for (const auto &l : lines) crasher_starts += l == "start crasher";
    // The first start and 3 restarts; the 4th crash is one too many.
    CHECK(crasher_starts == 4);
    CHECK(lines.back() == "stop steady");  // the other children were shut down
    CHECK_FALSE(sup.is_alive());
}

TEST_CASE("restart types: temporary goes, transient restarts only after a failure") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    take_journal();
    auto sup = lunatic::Supervisor::start(
        lunatic::SupervisorSpec()
            .intensity(10, 5s)
            .child(child("temp").restart(lunatic::Restart::temporary))
            .child(child("trans").restart(lunatic::Restart::transient).name("trans"))
            .child(child("perm")));
    take_journal();
    auto before = pids(sup);
    // temporary: crashes, is not restarted, and leaves the list.
    lunatic::ProcessRef<Child>(before[0]).send(Crash{});
    for (int i = 0; i < 2000 && lunatic::which_children(sup).size() == 3; ++i) lunatic::sleep(2ms);
    auto now = lunatic::which_children(sup);
    REQUIRE(now.size() == 2);
    CHECK(now[0].id == "trans");
    // transient, normal end (shut down by someone else): not restarted.
    lunatic::ProcessRef<Child>(before[1]).shutdown(5s);
    lunatic::sleep(50ms);
    now = lunatic::which_children(sup);
    CHECK_FALSE(now[0].running);
    CHECK_FALSE(lunatic::ProcessRef<Child>::lookup("trans").has_value());
    // permanent, normal end: restarted.
    lunatic::ProcessRef<Child>(before[2]).shutdown(5s);
    wait_restarted(sup, 1, before[2]);
    CHECK(take_journal() == std::vector<std::string>{"stop trans", "stop perm", "start perm"});
    sup.shutdown(10s);
}

TEST_CASE("transient after a failure restarts") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    auto sup = lunatic::Supervisor::start(
        lunatic::SupervisorSpec().child(child("t").restart(lunatic::Restart::transient)));
    auto before = pids(sup);
    lunatic::ProcessRef<Child>(before[0]).send(Crash{});
    wait_restarted(sup, 0, before[0]);
    sup.shutdown(10s);
}

TEST_CASE("dynamic children: start_child, terminate_child, and a failed start") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    take_journal();
    auto sup = lunatic::Supervisor::start(lunatic::SupervisorSpec().child(child("first")));
    auto added = lunatic::start_child(sup, child("added").name("added"));
    CHECK(added.id == "added");
    CHECK(added.ref<Child>().request(Name{}) == "added");
    CHECK(lunatic::which_children(sup).size() == 2);
    // A name that is taken: the start fails, the supervisor goes on.
    CHECK_THROWS_AS(lunatic::start_child(sup, child("again").name("added")), lunatic::StartFailed);
    CHECK(lunatic::which_children(sup).size() == 2);
    CHECK(lunatic::terminate_child(sup, "added"));
    CHECK_FALSE(lunatic::terminate_child(sup, "added"));
    CHECK_FALSE(added.ref<Child>().is_alive());
    CHECK(lunatic::which_children(sup).size() == 1);
    CHECK(sup.is_alive());
    sup.shutdown(10s);
    CHECK(take_journal() ==
          std::vector<std::string>{"start first", "start added", "stop added", "stop first"});
}

TEST_CASE("a child failing to start makes the supervisor's start fail, stopping the others") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    take_journal();
    Child::start_as_new("holder", std::string("holder"));
    take_journal();
    try {
        lunatic::Supervisor::start(
            lunatic::SupervisorSpec().child(child("ok")).child(child("clash").name("holder")));
        FAIL("no error");
    } catch (const lunatic::StartFailed &e) {
        CHECK(std::string(e.what()).find("clash") != std::string::npos);
    }
    CHECK(take_journal() == std::vector<std::string>{"start ok", "stop ok"});
}

TEST_CASE("a linked supervisor dies with its parent's failure, and its children with it") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    lunatic::Mailbox<lunatic::ProcessRef<lunatic::Supervisor>> mailbox;
    take_journal();
    auto parent = lunatic::spawn(
        mailbox.this_process(),
        [](lunatic::Process<lunatic::ProcessRef<lunatic::Supervisor>> to, lunatic::Mailbox<int> m) {
            to.send(lunatic::Supervisor::link().start(lunatic::SupervisorSpec().child(child("x"))));
            m.receive();
            throw std::runtime_error("parent fails");
        });
    auto sup = mailbox.receive_timeout(10s).value();
    lunatic::Mailbox<int> plain;
    plain.monitor(lunatic::Process<int>(sup.raw()));
    lunatic::Process<int>(parent.raw()).send(1);
    auto r = plain.receive_timeout(10s);
    REQUIRE(r.is_process_died());
    CHECK(r.reason() == lunatic::ExitReason::failed);
    CHECK(take_journal() == std::vector<std::string>{"start x", "stop x"});
}

TEST_CASE("supervisors nest") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    take_journal();
    auto top =
        lunatic::Supervisor::start(lunatic::SupervisorSpec()
                                       .child(child("outer"))
                                       .child(lunatic::ChildSpec::of<lunatic::Supervisor>(
                                                  lunatic::SupervisorSpec().child(child("inner")))
                                                  .id("sub")));
    auto kids = lunatic::which_children(top);
    REQUIRE(kids.size() == 2);
    auto inner = lunatic::which_children(kids[1].ref<lunatic::Supervisor>());
    REQUIRE(inner.size() == 1);
    CHECK(inner[0].ref<Child>().request(Name{}) == "inner");
    top.shutdown(10s);
    CHECK(take_journal() ==
          std::vector<std::string>{"start outer", "start inner", "stop inner", "stop outer"});
}

TEST_CASE("a child with its own config runs under it") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    lunatic::ProcessConfig no_spawning;
    no_spawning.set_can_spawn_processes(false).set_max_memory(4 << 20);
    auto sup = lunatic::Supervisor::start(
        lunatic::SupervisorSpec()
            .intensity(10, 5s)
            .child(lunatic::ChildSpec::of<Spawner>().id("limited").configure(no_spawning))
            .child(lunatic::ChildSpec::of<Spawner>().id("free")));
    auto kids = lunatic::which_children(sup);
    REQUIRE(kids.size() == 2);
    // The config is the child's, not the supervisor's: its sibling may spawn.
    CHECK(kids[0].ref<Spawner>().request(TrySpawn{}, 5s) == LUNATIC_EPERM);
    CHECK(kids[1].ref<Spawner>().request(TrySpawn{}, 5s) == LUNATIC_OK);
    // And again after a restart.
    kids[0].ref<Spawner>().kill();
    lunatic_pid restarted = wait_restarted(sup, 0, kids[0].process.raw());
    CHECK(lunatic::ProcessRef<Spawner>(restarted).request(TrySpawn{}, 5s) == LUNATIC_EPERM);
    CHECK(sup.shutdown(10s) == lunatic::ExitReason::normal);
}

TEST_CASE("a child that ignores shutdown is killed after its shutdown timeout") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    take_journal();
    auto sup = lunatic::Supervisor::start(
        lunatic::SupervisorSpec()
            .child(child("polite"))
            .child(lunatic::ChildSpec::of<Stubborn>().id("stubborn").shutdown_timeout(300ms)));
    auto kids = lunatic::which_children(sup);
    REQUIRE(kids.size() == 2);
    lunatic::Mailbox<int> watcher;
    watcher.monitor(kids[1].process);
    auto start = std::chrono::steady_clock::now();
    CHECK(sup.shutdown(20s) == lunatic::ExitReason::normal);
    auto took = std::chrono::steady_clock::now() - start;
    auto r = watcher.receive_timeout(5s);
    REQUIRE(r.is_process_died());
    CHECK(r.reason() == lunatic::ExitReason::killed);
    // Killed once its 300 ms were up: not before (generous margins: not after 10 s).
    CHECK(took >= 250ms);
    CHECK(took < 10s);
    // Reverse order: the stubborn one first (killed), then the polite one.
    CHECK(take_journal() ==
          std::vector<std::string>{"start polite", "stubborn ignores shutdown", "stop polite"});
    CHECK_FALSE(kids[0].ref<Child>().is_alive());
}

TEST_CASE("a ChildSpec naming a server type this program lacks is a StartFailed, not a crash") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    // A spec as it could arrive from elsewhere: its child type is unknown here.
    lunatic::ChildSpec spec = child("odd");
    std::get<5>(lunatic_fields(spec)) = "cpp:server:ProcessRef<NoSuchServer>/bincode";
    auto sup = lunatic::Supervisor::start(lunatic::SupervisorSpec());
    try {
        lunatic::start_child(sup, spec);
        FAIL("no error");
    } catch (const lunatic::StartFailed &e) {
        CHECK(std::string(e.what()).find("NoSuchServer") != std::string::npos);
    }
    CHECK_THROWS_AS(lunatic::Supervisor::start(lunatic::SupervisorSpec().child(spec)),
                    lunatic::StartFailed);
    CHECK(sup.is_alive());
    sup.shutdown(10s);
}
