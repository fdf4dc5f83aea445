// The process registry: register/lookup/unregister, EEXIST for a taken name,
// the type as part of the key, names freed when their process ends (normal,
// failed, killed), a name given to someone else meanwhile is kept, a race for
// one name has one winner, and the misuse codes.
#include "agent.hpp"

#include <set>

using namespace capi_test;

namespace {

/** Polls lookup (bounded) until the name is gone. */
bool name_freed(const char *name, const char *type = nullptr) {
    return wait_until([&] {
        lunatic_pid p{0, 0};
        return lunatic_lookup(name, type, &p) == LUNATIC_ENOTFOUND;
    });
}

}  // namespace

TEST_CASE("registry: register, lookup, send to the found pid, unregister") {
    Runtime rt;
    lunatic_pid echo = spawn(echo_entry);
    REQUIRE(echo.id != 0);
    REQUIRE(lunatic_register("echo", nullptr, echo) == LUNATIC_OK);
    lunatic_pid found{0, 0};
    REQUIRE(lunatic_lookup("echo", nullptr, &found) == LUNATIC_OK);
    CHECK(found == echo);
    CHECK(ping(found, 3, 99));

    // A process can look it up too (a registered name is the runtime's, not the caller's).
    lunatic_pid a = spawn_agent();
    REQUIRE(call(a, Op::register_self, lunatic_pid{0, 0}, 0, "agent-a").rc == LUNATIC_OK);
    REQUIRE(lunatic_lookup("agent-a", nullptr, &found) == LUNATIC_OK);
    CHECK(found == a);

    REQUIRE(lunatic_unregister("echo", nullptr) == LUNATIC_OK);
    found = lunatic_pid{7, 7};
    CHECK(lunatic_lookup("echo", nullptr, &found) == LUNATIC_ENOTFOUND);
    CHECK(found == lunatic_pid{7, 7});  // untouched on failure
    CHECK(lunatic_unregister("echo", nullptr) == LUNATIC_ENOTFOUND);
    // Unregistering frees the name only: the process lives on.
    CHECK(ping(echo, 3, 100));
    // and the name can be taken again, by anyone
    CHECK(lunatic_register("echo", nullptr, a) == LUNATIC_OK);
    REQUIRE(lunatic_lookup("echo", nullptr, &found) == LUNATIC_OK);
    CHECK(found == a);
    // A name is looked up whole.
    CHECK(lunatic_lookup("ech", nullptr, &found) == LUNATIC_ENOTFOUND);
    CHECK(lunatic_lookup("echo ", nullptr, &found) == LUNATIC_ENOTFOUND);
}

TEST_CASE("registry: a taken name is EEXIST and keeps its process") {
    Runtime rt;
    lunatic_pid a = spawn_agent();
    lunatic_pid b = spawn_agent();
    REQUIRE(lunatic_register("svc", "t", a) == LUNATIC_OK);
    CHECK(lunatic_register("svc", "t", b) == LUNATIC_EEXIST);
    CHECK(std::string(lunatic_errmsg()).find("svc") != std::string::npos);
    lunatic_pid found{0, 0};
    REQUIRE(lunatic_lookup("svc", "t", &found) == LUNATIC_OK);
    CHECK(found == a);
    // After unregister it is free for b.
    REQUIRE(lunatic_unregister("svc", "t") == LUNATIC_OK);
    CHECK(lunatic_register("svc", "t", b) == LUNATIC_OK);
    REQUIRE(lunatic_lookup("svc", "t", &found) == LUNATIC_OK);
    CHECK(found == b);
}

TEST_CASE("registry: the type is part of the key") {
    Runtime rt;
    lunatic_pid a = spawn_agent();
    lunatic_pid b = spawn_agent();
    REQUIRE(lunatic_register("calc", "i32/bincode", a) == LUNATIC_OK);
    lunatic_pid found{0, 0};
    CHECK(lunatic_lookup("calc", "i32/json", &found) == LUNATIC_ENOTFOUND);
    CHECK(lunatic_lookup("calc", "", &found) == LUNATIC_ENOTFOUND);
    CHECK(lunatic_lookup("calc", nullptr, &found) == LUNATIC_ENOTFOUND);
    CHECK(lunatic_lookup("calc", "i32/bincode ", &found) == LUNATIC_ENOTFOUND);
    REQUIRE(lunatic_lookup("calc", "i32/bincode", &found) == LUNATIC_OK);
    CHECK(found == a);
    // The same name with another type is another key: not taken.
    REQUIRE(lunatic_register("calc", "i32/json", b) == LUNATIC_OK);
    REQUIRE(lunatic_lookup("calc", "i32/json", &found) == LUNATIC_OK);
    CHECK(found == b);
    REQUIRE(lunatic_lookup("calc", "i32/bincode", &found) == LUNATIC_OK);
    CHECK(found == a);
    // Unregister with the wrong type removes nothing.
    CHECK(lunatic_unregister("calc", "f64/json") == LUNATIC_ENOTFOUND);
    REQUIRE(lunatic_lookup("calc", "i32/bincode", &found) == LUNATIC_OK);
    // NULL type and "" are the same key.
    REQUIRE(lunatic_register("plain", nullptr, a) == LUNATIC_OK);
    REQUIRE(lunatic_lookup("plain", "", &found) == LUNATIC_OK);
    CHECK(found == a);
    CHECK(lunatic_register("plain", "", b) == LUNATIC_EEXIST);
    REQUIRE(lunatic_unregister("plain", "") == LUNATIC_OK);
    CHECK(lunatic_lookup("plain", nullptr, &found) == LUNATIC_ENOTFOUND);
}

TEST_CASE("registry: a name is freed when its process ends") {
    Runtime rt;
    lunatic_pid a = spawn_agent();
    REQUIRE(lunatic_register("short-lived", nullptr, a) == LUNATIC_OK);
    REQUIRE(lunatic_register("short-lived", "typed", a) == LUNATIC_OK);  // two keys, one process
    lunatic_pid found{0, 0};
    REQUIRE(lunatic_lookup("short-lived", nullptr, &found) == LUNATIC_OK);
    REQUIRE(lunatic_monitor(a) == LUNATIC_OK);

    SUBCASE("normal exit") { REQUIRE(tell(a, Op::exit) == LUNATIC_OK); }
    SUBCASE("failure") { REQUIRE(tell(a, Op::fail, "bye") == LUNATIC_OK); }
    SUBCASE("kill") { REQUIRE(lunatic_kill(a) == LUNATIC_OK); }
    SUBCASE("killed through a link") {
        lunatic_pid b = spawn_agent();
        REQUIRE(call(a, Op::link, b, 1).rc == LUNATIC_OK);
        REQUIRE(tell(b, Op::fail, "b takes a along") == LUNATIC_OK);
    }
    REQUIRE(await_death(a).rc == LUNATIC_OK);
    CHECK(name_freed("short-lived"));
    CHECK(name_freed("short-lived", "typed"));
    // Free for a new process.
    lunatic_pid c = spawn_agent();
    CHECK(lunatic_register("short-lived", nullptr, c) == LUNATIC_OK);
    REQUIRE(lunatic_lookup("short-lived", nullptr, &found) == LUNATIC_OK);
    CHECK(found == c);
}

TEST_CASE("registry: a process that registered itself frees its name when it ends") {
    Runtime rt;
    lunatic_pid a = spawn_agent();
    REQUIRE(call(a, Op::register_self, lunatic_pid{0, 0}, 0, "self-named").rc == LUNATIC_OK);
    lunatic_pid found{0, 0};
    REQUIRE(lunatic_lookup("self-named", nullptr, &found) == LUNATIC_OK);
    CHECK(found == a);
    REQUIRE(tell(a, Op::exit) == LUNATIC_OK);
    CHECK(name_freed("self-named"));
}

TEST_CASE("registry: a name given to another process meanwhile survives the old owner's end") {
    Runtime rt;
    lunatic_pid a = spawn_agent();
    lunatic_pid b = spawn_agent();
    REQUIRE(lunatic_monitor(a) == LUNATIC_OK);
    REQUIRE(lunatic_register("moving", nullptr, a) == LUNATIC_OK);
    REQUIRE(lunatic_unregister("moving", nullptr) == LUNATIC_OK);
    REQUIRE(lunatic_register("moving", nullptr, b) == LUNATIC_OK);
    REQUIRE(tell(a, Op::exit) == LUNATIC_OK);
    REQUIRE(await_death(a).rc == LUNATIC_OK);
    REQUIRE(wait_dead(a));
    lunatic_sleep(20 * kMs);
    lunatic_pid found{0, 0};
    REQUIRE(lunatic_lookup("moving", nullptr, &found) == LUNATIC_OK);
    CHECK(found == b);
}

TEST_CASE("registry: registering a pid that is gone is ENOPROC") {
    Runtime rt;
    lunatic_pid dead = spawn(noop_entry);
    REQUIRE(wait_dead(dead));
    CHECK(lunatic_register("ghost", nullptr, dead) == LUNATIC_ENOPROC);
    CHECK(lunatic_register("ghost", nullptr, never_existed(rt.self)) == LUNATIC_ENOPROC);
    CHECK(lunatic_register("ghost", nullptr, other_node(rt.self)) == LUNATIC_ENOPROC);
    lunatic_pid found{0, 0};
    CHECK(lunatic_lookup("ghost", nullptr, &found) == LUNATIC_ENOTFOUND);
}

TEST_CASE("registry: 100 processes race for one name: one wins, the others get EEXIST") {
    struct Race {
        std::atomic<int> ok{0}, exists{0}, other{0};
        std::atomic<uint64_t> winner{0};
    };
    struct Entry {
        static int run(const uint8_t *capture, size_t len, void *user) {
            auto *r = static_cast<Race *>(user);
            lunatic_pid parent;
            if (!capture_pid(capture, len, &parent)) return 5;
            lunatic_pid me = self_pid();
            int rc = lunatic_register("contested", "race", me);
            if (rc == LUNATIC_OK) {
                r->ok++;
                r->winner = me.id;
            } else if (rc == LUNATIC_EEXIST) {
                r->exists++;
            } else {
                r->other++;
            }
            send_u64(parent, 50, 1);
            // Stay alive until told, so the name stays taken.
            lunatic_tag stop = kStopTag;
            lunatic_message *m = nullptr;
            if (lunatic_receive(&stop, 1, 30 * kSec, &m) == LUNATIC_OK) lunatic_message_free(m);
            return 0;
        }
    };
    Race race;
    Runtime rt;
    std::vector<lunatic_pid> pids;
    for (int i = 0; i < 100; ++i) pids.push_back(spawn_with_parent(&Entry::run, &race));
    for (int i = 0; i < 100; ++i) REQUIRE(recv({50}).rc == LUNATIC_OK);
    CHECK(race.ok.load() == 1);
    CHECK(race.exists.load() == 99);
    CHECK(race.other.load() == 0);
    lunatic_pid found{0, 0};
    REQUIRE(lunatic_lookup("contested", "race", &found) == LUNATIC_OK);
    CHECK(found.id == race.winner.load());
    for (auto &p : pids) lunatic_send_bytes(p, kStopTag, nullptr, 0);
    CHECK(name_freed("contested", "race"));
}

TEST_CASE("registry: misuse") {
    SUBCASE("NULL or empty names are EINVAL") {
        Runtime rt;
        lunatic_pid found{0, 0};
        CHECK(lunatic_register(nullptr, nullptr, rt.self) == LUNATIC_EINVAL);
        CHECK(lunatic_register("", nullptr, rt.self) == LUNATIC_EINVAL);
        CHECK(lunatic_register("", "t", rt.self) == LUNATIC_EINVAL);
        CHECK(lunatic_unregister(nullptr, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_unregister("", nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_lookup(nullptr, nullptr, &found) == LUNATIC_EINVAL);
        CHECK(lunatic_lookup("", nullptr, &found) == LUNATIC_EINVAL);
        REQUIRE(lunatic_register("me", nullptr, rt.self) == LUNATIC_OK);
        CHECK(lunatic_lookup("me", nullptr, nullptr) == LUNATIC_EINVAL);
        // The test thread is a process like any other: its name is found.
        REQUIRE(lunatic_lookup("me", nullptr, &found) == LUNATIC_OK);
        CHECK(found == rt.self);
    }
    SUBCASE("the calls need a process") {
        Runtime rt(2, false);
        const lunatic_pid p{lunatic_runtime_node_id(rt.rt), 1};
        lunatic_pid found{0, 0};
        CHECK(lunatic_register("x", nullptr, p) == LUNATIC_ESTATE);
        CHECK(lunatic_unregister("x", nullptr) == LUNATIC_ESTATE);
        CHECK(lunatic_lookup("x", nullptr, &found) == LUNATIC_ESTATE);
    }
    SUBCASE("names are per runtime") {
        Runtime rt;
        REQUIRE(lunatic_register("only-here", nullptr, rt.self) == LUNATIC_OK);
        std::atomic<int> rc{1};
        std::thread([&] {
            lunatic_runtime *other = nullptr;
            if (lunatic_runtime_create(nullptr, &other) != LUNATIC_OK) return;
            if (lunatic_runtime_attach(other, nullptr) == LUNATIC_OK) {
                lunatic_pid f{0, 0};
                rc = lunatic_lookup("only-here", nullptr, &f);
            }
            lunatic_runtime_destroy(other);
        }).join();
        CHECK(rc.load() == LUNATIC_ENOTFOUND);
    }
}
