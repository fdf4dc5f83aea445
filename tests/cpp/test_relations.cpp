// Links, monitors, kill, registry and timers through the typed layer.
#include <doctest/doctest.h>

#include <lunatic/json.hpp>
#include <lunatic/lunatic.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {
std::atomic<int> unwound{0};
struct CountsUnwinding {
    ~CountsUnwinding() { ++unwound; }
};

using Root = lunatic::Process<uint64_t>;

// A member of a chain: spawns the next member linked to itself; the last one
// tells the root its id. Then each waits for a message that never comes.
void chain_member(std::pair<int, Root> arg, lunatic::Mailbox<int> mailbox) {
    CountsUnwinding guard;
    if (arg.first > 1)
        lunatic::spawn_link(std::make_pair(arg.first - 1, arg.second), chain_member);
    else
        arg.second.send(mailbox.this_process().id());
    mailbox.receive();
}
}  // namespace

TEST_CASE("a linked child that fails reaches a parent catching link failures as LinkDied") {
    lunatic::Runtime runtime({.workers = 2, .log = [](void *, int, const char *) {}});
    lunatic::Mailbox<int> mailbox;
    mailbox.catch_link_failure();
    lunatic::Tag tag = lunatic::Tag::fresh();
    auto child = lunatic::spawn_link_tag(
        tag, 0, [](int, lunatic::Mailbox<int>) { throw std::runtime_error("child gave up"); });
    auto r = mailbox.receive_timeout(5s);
    REQUIRE(r.is_link_died());
    CHECK(r.tag() == tag);
    CHECK(r.pid().id == child.id());
    CHECK(r.reason() == lunatic::ExitReason::failed);
    CHECK(r.reason_text().find("child gave up") != std::string::npos);
    CHECK_THROWS_AS(r.value(), lunatic::Error);
}

TEST_CASE("without catching, a link failure kills the linked process, which unwinds") {
    unwound = 0;
    lunatic::Runtime runtime({.workers = 2, .log = [](void *, int, const char *) {}});
    lunatic::Mailbox<int> mailbox;
    auto self = mailbox.this_process();
    // middle waits forever; its linked child fails; middle must die and unwind; we monitor middle.
    auto middle = lunatic::spawn(self, [](lunatic::Process<int> parent, lunatic::Mailbox<int> m) {
        CountsUnwinding guard;
        m.receive();  // go: the parent monitors us by now
        lunatic::spawn_link(0,
                            [](int, lunatic::Mailbox<int>) { throw std::runtime_error("boom"); });
        parent.send(1);
        m.receive();  // killed here through the link
    });
    mailbox.monitor(middle);
    middle.send(0);
    // The child may fail before middle's send: then middle dies at that send.
    auto died = mailbox.receive_timeout(5s);
    if (died.is_message()) died = mailbox.receive_timeout(5s);
    REQUIRE(died.is_process_died());
    CHECK(died.pid().id == middle.id());
    CHECK(died.reason() == lunatic::ExitReason::failed);  // the failure's reason travels on
    CHECK(died.reason_text().find("boom") != std::string::npos);
    CHECK(unwound.load() == 1);
}

TEST_CASE("a normal exit does not propagate through a link") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int> mailbox;
    mailbox.catch_link_failure();
    // The child waits for "go": monitored after it had ended, it would be NOPROC (seen under ASan).
    auto child = lunatic::spawn_link(0, [](int, lunatic::Mailbox<int> m) { m.receive(); });
    mailbox.monitor(child);
    child.send(0);
    auto r = mailbox.receive_timeout(5s);
    REQUIRE(r.is_process_died());
    CHECK(r.reason() == lunatic::ExitReason::normal);
    CHECK(mailbox.receive_timeout(50ms).is_timed_out());  // and no LinkDied
}

TEST_CASE("a kill cascades through a chain of 1,000 linked processes, each unwinding") {
    unwound = 0;
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<uint64_t> mailbox;
    mailbox.catch_link_failure();
    auto first = lunatic::spawn_link(std::make_pair(1000, mailbox.this_process()), chain_member);
    auto last_id = mailbox.receive_timeout(10s);
    REQUIRE(last_id.is_message());
    lunatic::Process<int> last(runtime.node_id(), *last_id);
    CHECK(last.is_alive());
    CHECK(last.kill());
    auto r = mailbox.receive_timeout(10s);
    REQUIRE(r.is_link_died());
    CHECK(r.pid().id == first.id());
    CHECK(r.reason() == lunatic::ExitReason::killed);
    for (int i = 0; i < 1000 && unwound.load() < 1000; ++i) lunatic::sleep(2ms);
    CHECK(unwound.load() == 1000);
    CHECK_FALSE(first.is_alive());
    CHECK(mailbox.receive_timeout(20ms).is_timed_out());  // exactly one LinkDied
}

TEST_CASE("kill wakes a process blocked in receive or sleeping, and monitors hear of it") {
    unwound = 0;
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int> mailbox;
    auto receiving = lunatic::spawn(0, [](int, lunatic::Mailbox<int> m) {
        CountsUnwinding guard;
        m.receive();
    });
    auto sleeping = lunatic::spawn(0, [](int, lunatic::Mailbox<int>) {
        CountsUnwinding guard;
        lunatic::sleep(std::chrono::hours(1));
    });
    mailbox.monitor(receiving);
    mailbox.monitor(sleeping);
    lunatic::sleep(20ms);
    CHECK(receiving.kill());
    CHECK(sleeping.kill());
    int died = 0;
    for (int i = 0; i < 2; ++i) {
        auto r = mailbox.receive_timeout(5s);
        REQUIRE(r.is_process_died());
        CHECK(r.reason() == lunatic::ExitReason::killed);
        ++died;
    }
    CHECK(died == 2);
    CHECK(unwound.load() == 2);
    CHECK_FALSE(receiving.kill());  // gone now
}

TEST_CASE("monitoring a process that is already gone reports it at once") {
    lunatic::Runtime runtime({.workers = 1});
    lunatic::Mailbox<int> mailbox;
    lunatic::Process<int> ghost(runtime.node_id(), 987654321);
    mailbox.monitor(ghost);
    auto r = mailbox.try_receive();
    REQUIRE(r.is_process_died());
    CHECK(r.reason() == lunatic::ExitReason::noproc);
    CHECK(r.pid().id == ghost.id());
}

TEST_CASE("typed registry: names by message type and serializer, freed when the process ends") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int> mailbox;
    auto worker = lunatic::spawn(0, [](int, lunatic::Mailbox<std::string> m) { m.receive(); });
    worker.register_name("worker");
    auto found = lunatic::Process<std::string>::lookup("worker");
    REQUIRE(found.has_value());
    CHECK(*found == worker);
    // Another message type or serializer finds nothing.
    CHECK_FALSE(lunatic::Process<int>::lookup("worker").has_value());
    CHECK_FALSE((lunatic::Process<std::string, lunatic::Json>::lookup("worker").has_value()));
    // A taken name is an error.
    lunatic::Process<std::string> other(mailbox.this_process().raw());
    CHECK_THROWS_AS(other.register_name("worker"), lunatic::Error);
    CHECK(lunatic::registry_type<int, lunatic::Bincode>() == "i32/bincode");
    // The name goes with the process.
    worker.send("stop");
    bool freed = false;
    for (int i = 0; i < 500 && !freed; ++i) {
        freed = !lunatic::Process<std::string>::lookup("worker").has_value();
        if (!freed) lunatic::sleep(2ms);
    }
    CHECK(freed);
}

TEST_CASE("timers: send_after arrives, cancel stops it, same-delay timers keep their order") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int> mailbox;
    auto self = mailbox.this_process();
    auto start = std::chrono::steady_clock::now();
    self.send_after(1, 30ms);
    auto r = mailbox.receive_timeout(5s);
    REQUIRE(r.is_message());
    CHECK(*r == 1);
    CHECK(std::chrono::steady_clock::now() - start >= 30ms);

    auto cancelled = self.send_after(2, 50ms);
    CHECK(cancelled.cancel());
    CHECK_FALSE(cancelled.cancel());
    CHECK(mailbox.receive_timeout(100ms).is_timed_out());

    auto fired = self.send_after(3, 1ms);
    REQUIRE(mailbox.receive_timeout(5s).is_message());
    CHECK_FALSE(fired.cancel());

    std::vector<lunatic::TimerRef> timers;
    for (int i = 0; i < 100; ++i) timers.push_back(self.tag_send_after(lunatic::Tag(7), i, 20ms));
    for (int i = 0; i < 100; ++i) {
        auto m = mailbox.tag_receive_timeout({lunatic::Tag(7)}, 5s);
        REQUIRE(m.is_message());
        CHECK(*m == i);
    }
}
