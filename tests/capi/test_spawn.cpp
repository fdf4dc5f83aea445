// Spawning: capture bytes, user pointer and its destructor, failures (lunatic_fail,
// exit codes, C++ exceptions), the entry registry and spawn by name, spawn options
// (pinned worker, guard page, stack size) and 100,000 processes.
#include "fixture.hpp"

#include <malloc.h>

#include <algorithm>
#include <set>
#include <stdexcept>

using namespace capi_test;

namespace {

/** Waits for a message (tag 1), then sends its capture bytes back to that message's
 *  sender with tag 2. */
int capture_echo_entry(const uint8_t *capture, size_t len, void *) {
    lunatic_tag go = 1;
    lunatic_message *m = nullptr;
    if (lunatic_receive(&go, 1, 10 * kSec, &m) != LUNATIC_OK) return 1;
    lunatic_pid from = msg_sender(m);
    lunatic_message_free(m);
    return lunatic_send_bytes(from, 2, len ? capture : nullptr, len) == LUNATIC_OK ? 0 : 2;
}

struct UserState {
    std::atomic<int> ran{0};
    std::atomic<int> freed{0};
    std::atomic<int> in_entry{0};
    std::atomic<int> freed_during_entry{0};
    std::atomic<void *> seen_user{nullptr};
    std::atomic<int> receive_rc{1};
    std::atomic<int> fail_rc{1};
};

void user_free_fn(void *user) {
    auto *u = static_cast<UserState *>(user);
    if (u->in_entry.load()) u->freed_during_entry++;
    u->freed++;
}

/** Records its user pointer, waits for a message (tag 1), returns the exit code in it. */
int user_entry(const uint8_t *, size_t, void *user) {
    auto *u = static_cast<UserState *>(user);
    u->in_entry = 1;
    u->seen_user = user;
    u->ran++;
    lunatic_tag go = 1;
    lunatic_message *m = nullptr;
    int rc = lunatic_receive(&go, 1, 10 * kSec, &m);
    u->receive_rc = rc;
    int code = rc == LUNATIC_OK ? static_cast<int>(msg_u64(m)) : 0;
    lunatic_message_free(m);
    u->in_entry = 0;
    return code;
}

/** Blocks in an infinite receive; records its status (killed at runtime destroy). */
int blocked_user_entry(const uint8_t *, size_t, void *user) {
    auto *u = static_cast<UserState *>(user);
    u->in_entry = 1;
    u->ran++;
    lunatic_message *m = nullptr;
    lunatic_tag never = 12345;
    u->receive_rc = lunatic_receive(&never, 1, LUNATIC_INFINITE, &m);
    lunatic_message_free(m);
    u->in_entry = 0;
    return 0;
}

/** Fails with the message in its capture. */
int fail_entry(const uint8_t *capture, size_t len, void *user) {
    std::string msg(reinterpret_cast<const char *>(capture), len);
    int rc = lunatic_fail(msg.c_str());
    if (user) static_cast<UserState *>(user)->fail_rc = rc;
    return 1;
}

/** Fails with the exit code in its capture, without lunatic_fail. */
int exit_code_entry(const uint8_t *capture, size_t len, void *) {
    int code = 0;
    if (len == sizeof code) std::memcpy(&code, capture, sizeof code);
    return code;
}

int throwing_entry(const uint8_t *, size_t, void *) {
    throw std::runtime_error("kaboom-from-a-cpp-entry");
}

int throwing_int_entry(const uint8_t *, size_t, void *) { throw 42; }

/** Fails via lunatic_fail(NULL). */
int fail_null_entry(const uint8_t *, size_t, void *) {
    lunatic_fail(nullptr);
    return 3;
}

/** The first ERROR/WARNING log line naming `pid`, or "". */
std::string failure_line(const LogCapture &log, lunatic_pid pid) {
    for (const auto &l : log.snapshot())
        if (names_pid(l.text, pid)) return l.text;
    return {};
}

int registered_entry_a(const uint8_t *capture, size_t len, void *user) {
    // Replies "A:<capture>" to the parent pid given first in the capture, and
    // whether user was NULL (spawn_named passes NULL).
    lunatic_pid parent{0, 0};
    if (len < sizeof parent) return 1;
    std::memcpy(&parent, capture, sizeof parent);
    std::string reply =
        std::string(user == nullptr ? "A:" : "A(user!):") +
        std::string(reinterpret_cast<const char *>(capture + sizeof parent), len - sizeof parent);
    return lunatic_send_bytes(parent, 3, reply.data(), reply.size()) == LUNATIC_OK ? 0 : 2;
}

int registered_entry_b(const uint8_t *, size_t, void *) { return 0; }

// ---- pinning

struct PinReport {
    std::thread::id first;
    std::atomic<int> moves{0};
    std::atomic<int> steps{0};
};

/** Records the OS thread it starts on, then blocks/yields/sleeps 300 times and
 *  counts how often it woke up on another thread. Reports to the parent (tag 9). */
int pinned_entry(const uint8_t *capture, size_t len, void *user) {
    lunatic_pid parent{0, 0};
    if (!capture_pid(capture, len, &parent)) return 1;
    auto *r = static_cast<PinReport *>(user);
    r->first = std::this_thread::get_id();
    for (int i = 0; i < 300; ++i) {
        switch (i % 3) {
        case 0:
            lunatic_yield();
            break;
        case 1:
            lunatic_sleep(50 * 1000);
            break;  // 50 µs
        case 2: {
            lunatic_message *m = nullptr;
            if (lunatic_receive(nullptr, 0, 100 * 1000, &m) == LUNATIC_OK) lunatic_message_free(m);
            break;
        }
        }
        if (std::this_thread::get_id() != r->first) r->moves++;
        r->steps++;
    }
    return send_u64(parent, 9, 1) == LUNATIC_OK ? 0 : 2;
}

/** Keeps both workers busy for a while so work stealing has reasons to move things. */
int busy_entry(const uint8_t *, size_t, void *) {
    for (int i = 0; i < 3000; ++i)
        if (lunatic_yield() != LUNATIC_OK) return 0;
    return 0;
}

struct CurrentReport {
    std::thread::id parent_thread;
    PinReport child;
    std::atomic<int> spawn_rc{1};
};

/** Pinned itself; spawns pinned_entry with LUNATIC_WORKER_CURRENT and records its thread. */
int spawner_on_current_entry(const uint8_t *capture, size_t len, void *user) {
    auto *r = static_cast<CurrentReport *>(user);
    r->parent_thread = std::this_thread::get_id();
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.worker = LUNATIC_WORKER_CURRENT;
    lunatic_pid child{0, 0};
    r->spawn_rc = lunatic_spawn(pinned_entry, capture, len, &r->child, &o, &child);
    return 0;
}

// ---- stacks

/** Uses about N bytes of stack, touching every byte; returns a checksum. */
template <size_t N>
__attribute__((noinline)) uint64_t use_stack(uint8_t seed) {
    uint8_t buf[N];
    volatile uint8_t *v = buf;
    for (size_t i = 0; i < N; ++i) v[i] = static_cast<uint8_t>(i + seed);
    uint64_t sum = 0;
    for (size_t i = 0; i < N; ++i) sum += v[i];
    return sum;
}

template <size_t N>
uint64_t expected_sum(uint8_t seed) {
    uint64_t sum = 0;
    for (size_t i = 0; i < N; ++i) sum += static_cast<uint8_t>(i + seed);
    return sum;
}

/** Uses N bytes of stack, then sends the checksum to the parent (tag 4). */
template <size_t N>
int stack_user_entry(const uint8_t *capture, size_t len, void *) {
    lunatic_pid parent{0, 0};
    if (!capture_pid(capture, len, &parent)) return 1;
    uint64_t sum = use_stack<N>(5);
    lunatic_yield();  // switch with the deep frame gone: must be fine
    return send_u64(parent, 4, sum) == LUNATIC_OK ? 0 : 2;
}

lunatic_spawn_options spawn_opts(uint32_t flags, size_t stack,
                                 int32_t worker = LUNATIC_WORKER_ANY) {
    lunatic_spawn_options o;
    std::memset(&o, 0xCD, sizeof o);  // init must fill every field
    lunatic_spawn_options_init(&o);
    o.flags = flags;
    o.stack_size = stack;
    o.worker = worker;
    return o;
}

}  // namespace

TEST_CASE("spawn: options init fills the defaults") {
    lunatic_spawn_options o = spawn_opts(0, 0);
    lunatic_spawn_options d;
    lunatic_spawn_options_init(&d);
    CHECK(d.struct_size == sizeof(lunatic_spawn_options));
    CHECK(d.flags == 0);
    CHECK(d.stack_size == 0);
    CHECK(d.worker == LUNATIC_WORKER_ANY);
    CHECK((d.user_free == nullptr));
    CHECK(o.struct_size == sizeof(lunatic_spawn_options));
}

TEST_CASE("spawn: pids are in the runtime's node, distinct, never reused") {
    Runtime rt;
    std::set<uint64_t> ids{rt.self.id};
    for (int i = 0; i < 1000; ++i) {
        int rc = 1;
        lunatic_pid p = spawn(noop_entry, nullptr, 0, nullptr, nullptr, &rc);
        REQUIRE(rc == LUNATIC_OK);
        CHECK(p.node == rt.self.node);
        CHECK(p.id != 0);
        ids.insert(p.id);
        if (i % 100 == 99) wait_dead(p);  // let earlier ones end: ids must still be fresh
    }
    CHECK(ids.size() == 1001);
}

TEST_CASE("spawn: out may be NULL") {
    Runtime rt;
    REQUIRE(lunatic_spawn(capture_echo_entry, nullptr, 0, nullptr, nullptr, nullptr) == LUNATIC_OK);
    uint64_t count = 0;
    CHECK(wait_until([&] {
        count = lunatic_runtime_process_count(rt.rt);
        return count >= 2;
    }));
}

TEST_CASE("spawn: the capture bytes are copied") {
    Runtime rt;

    SUBCASE("a small capture, overwritten and freed by the parent before the child reads it") {
        const std::string text = "capture bytes \x01\x02\x00\xff end";
        auto *buf = new std::vector<uint8_t>(text.begin(), text.end());
        lunatic_pid child = spawn(capture_echo_entry, buf->data(), buf->size());
        REQUIRE(child.id != 0);
        std::fill(buf->begin(), buf->end(), uint8_t{0xCC});
        delete buf;
        REQUIRE(send_u64(child, 1, 0) == LUNATIC_OK);
        Received r = recv({2});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_string(r.msg.get()) == text);
    }

    SUBCASE("a 1 MiB capture") {
        std::vector<uint8_t> buf(1 << 20);
        for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 13 + 1);
        const std::vector<uint8_t> original = buf;
        lunatic_pid child = spawn(capture_echo_entry, buf.data(), buf.size());
        REQUIRE(child.id != 0);
        std::fill(buf.begin(), buf.end(), uint8_t{0});
        REQUIRE(send_u64(child, 1, 0) == LUNATIC_OK);
        Received r = recv({2});
        REQUIRE(r.rc == LUNATIC_OK);
        REQUIRE(lunatic_message_size(r.msg.get()) == original.size());
        CHECK(std::memcmp(lunatic_message_data(r.msg.get()), original.data(), original.size()) ==
              0);
    }

    SUBCASE("an empty capture (NULL, 0)") {
        lunatic_pid child = spawn(capture_echo_entry, nullptr, 0);
        REQUIRE(child.id != 0);
        REQUIRE(send_u64(child, 1, 0) == LUNATIC_OK);
        Received r = recv({2});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(lunatic_message_size(r.msg.get()) == 0);
    }
}

TEST_CASE("spawn: the user pointer reaches the entry and user_free runs once, after the end") {
    Runtime rt;
    lunatic_spawn_options o = spawn_opts(0, 0);
    o.user_free = user_free_fn;

    SUBCASE("normal exit") {
        UserState u;
        lunatic_pid child = spawn(user_entry, nullptr, 0, &u, &o);
        REQUIRE(child.id != 0);
        REQUIRE(wait_until([&] { return u.ran.load() == 1; }));
        CHECK(u.seen_user.load() == static_cast<void *>(&u));
        CHECK(u.freed.load() == 0);  // still running: not freed yet
        REQUIRE(send_u64(child, 1, 0) == LUNATIC_OK);
        CHECK(wait_until([&] { return u.freed.load() >= 1; }));
        CHECK(u.receive_rc.load() == LUNATIC_OK);
        REQUIRE(rt.destroy() == LUNATIC_OK);
        CHECK(u.ran.load() == 1);
        CHECK(u.freed.load() == 1);
        CHECK(u.freed_during_entry.load() == 0);
    }

    SUBCASE("failed exit") {
        UserState u;
        lunatic_pid child = spawn(user_entry, nullptr, 0, &u, &o);
        REQUIRE(child.id != 0);
        REQUIRE(send_u64(child, 1, 9) == LUNATIC_OK);  // returns 9: a failure
        CHECK(wait_until([&] { return u.freed.load() >= 1; }));
        REQUIRE(rt.destroy() == LUNATIC_OK);
        CHECK(u.freed.load() == 1);
        CHECK(u.freed_during_entry.load() == 0);
    }

    SUBCASE("killed by runtime destroy while blocked") {
        UserState u;
        lunatic_pid child = spawn(blocked_user_entry, nullptr, 0, &u, &o);
        REQUIRE(child.id != 0);
        REQUIRE(wait_until([&] { return u.ran.load() == 1; }));
        {
            Watchdog dog("destroy with a blocked user_free process", std::chrono::seconds(30));
            REQUIRE(rt.destroy() == LUNATIC_OK);
        }
        CHECK(u.receive_rc.load() == LUNATIC_EKILLED);
        CHECK(u.freed.load() == 1);
        CHECK(u.freed_during_entry.load() == 0);
    }

    SUBCASE("called for processes discarded at destroy before they started") {
        // A spinner occupies worker 0 without calling the runtime; processes pinned
        // to worker 0 queue behind it. The runtime is destroyed while they wait, and
        // the spinner is released only then: they are discarded (or started and
        // killed at once), and either way each user_free must run exactly once.
        struct Spin {
            static int entry(const uint8_t *, size_t, void *user) {
                auto *flags = static_cast<std::atomic<int> *>(user);
                flags[0] = 1;  // started
                while (flags[1].load() == 0) {
                }
                return 0;
            }
        };
        std::atomic<int> spin_flags[2] = {0, 0};
        lunatic_spawn_options pin0 = spawn_opts(0, 0, 0);
        REQUIRE(spawn(&Spin::entry, nullptr, 0, spin_flags, &pin0).id != 0);
        REQUIRE(wait_until([&] { return spin_flags[0].load() == 1; }));
        constexpr int kN = 20;
        std::vector<UserState> us(kN);
        lunatic_spawn_options pin0_free = pin0;
        pin0_free.user_free = user_free_fn;
        for (auto &u : us) REQUIRE(spawn(user_entry, nullptr, 0, &u, &pin0_free).id != 0);
        std::thread release([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            spin_flags[1] = 1;
        });
        {
            Watchdog dog("destroy with queued processes", std::chrono::seconds(30));
            CHECK(rt.destroy() == LUNATIC_OK);
        }
        release.join();
        int wrong = 0, started = 0;
        for (auto &u : us) {
            if (u.freed.load() != 1) ++wrong;
            started += u.ran.load();
        }
        INFO(started << " of " << kN << " queued processes started before the runtime stopped");
        CHECK(wrong == 0);
    }

    SUBCASE("not called when the spawn fails") {
        UserState u;
        lunatic_pid p{0, 0};
        CHECK(lunatic_spawn(nullptr, nullptr, 0, &u, &o, &p) == LUNATIC_EINVAL);
        REQUIRE(rt.destroy() == LUNATIC_OK);
        CHECK(u.freed.load() == 0);
    }

    SUBCASE("many processes, each freed once") {
        constexpr int kN = 200;
        std::vector<UserState> us(kN);
        std::vector<lunatic_pid> pids;
        for (auto &u : us) {
            lunatic_pid p = spawn(user_entry, nullptr, 0, &u, &o);
            REQUIRE(p.id != 0);
            pids.push_back(p);
        }
        for (auto &p : pids) REQUIRE(send_u64(p, 1, 0) == LUNATIC_OK);
        CHECK(wait_until([&] {
            for (auto &u : us)
                if (u.freed.load() == 0) return false;
            return true;
        }));
        REQUIRE(rt.destroy() == LUNATIC_OK);
        int wrong = 0;
        for (auto &u : us)
            if (u.freed.load() != 1 || u.ran.load() != 1) ++wrong;
        CHECK(wrong == 0);
    }
}

TEST_CASE("spawn: a process that calls lunatic_fail and returns non-zero is a logged failure") {
    Runtime rt;
    UserState u;
    const std::string why = "deliberate failure 8f3a";
    lunatic_pid child = spawn(fail_entry, why.data(), why.size(), &u);
    REQUIRE(child.id != 0);
    REQUIRE(wait_dead(child));
    CHECK(u.fail_rc.load() == LUNATIC_OK);
    // Failed processes are gone like any other: sends are ENOPROC.
    CHECK(send_u64(child, 1, 1) == LUNATIC_ENOPROC);
    REQUIRE(rt.destroy() == LUNATIC_OK);  // flushes every log line

    std::string line = failure_line(rt.log, child);
    INFO("log:\n" << rt.log.dump());
    REQUIRE(!line.empty());
    CHECK(line.find(why) != std::string::npos);
    bool error_level = false;
    for (const auto &l : rt.log.snapshot())
        if (l.text.find(why) != std::string::npos) error_level = l.level == LUNATIC_LOG_ERROR;
    CHECK(error_level);
}

TEST_CASE("spawn: lunatic_fail(NULL) then a non-zero return is still a logged failure") {
    Runtime rt;
    lunatic_pid child = spawn(fail_null_entry);
    REQUIRE(child.id != 0);
    REQUIRE(wait_dead(child));
    REQUIRE(rt.destroy() == LUNATIC_OK);
    INFO("log:\n" << rt.log.dump());
    CHECK(!failure_line(rt.log, child).empty());
}

TEST_CASE("spawn: a non-zero exit code without lunatic_fail is a failure named 'exit code N'") {
    Runtime rt;
    int code = 77;
    lunatic_pid child = spawn(exit_code_entry, &code, sizeof code);
    REQUIRE(child.id != 0);
    REQUIRE(wait_dead(child));
    REQUIRE(rt.destroy() == LUNATIC_OK);
    INFO("log:\n" << rt.log.dump());
    std::string line = failure_line(rt.log, child);
    REQUIRE(!line.empty());
    CHECK(line.find("exit code 77") != std::string::npos);
}

TEST_CASE("spawn: processes that return 0 log no failure") {
    Runtime rt;
    std::vector<lunatic_pid> pids;
    for (int i = 0; i < 20; ++i) {
        int zero = 0;
        lunatic_pid p = spawn(i % 2 ? noop_entry : exit_code_entry, &zero, sizeof zero);
        REQUIRE(p.id != 0);
        pids.push_back(p);
    }
    for (auto &p : pids) REQUIRE(wait_dead(p));
    REQUIRE(rt.destroy() == LUNATIC_OK);
    INFO("log:\n" << rt.log.dump());
    int errors = 0;
    for (const auto &l : rt.log.snapshot())
        if (l.level == LUNATIC_LOG_ERROR) ++errors;
    CHECK(errors == 0);
}

TEST_CASE("spawn: an exception escaping a C++ entry fails that process, not the runtime") {
    Runtime rt;
    lunatic_pid thrower = spawn(throwing_entry);
    lunatic_pid int_thrower = spawn(throwing_int_entry);
    REQUIRE(thrower.id != 0);
    REQUIRE(int_thrower.id != 0);
    REQUIRE(wait_dead(thrower));
    REQUIRE(wait_dead(int_thrower));

    // The runtime still works, on both workers.
    for (int i = 0; i < 4; ++i) {
        lunatic_pid echo = spawn(echo_entry);
        REQUIRE(echo.id != 0);
        CHECK(ping(echo, 5, 1000 + i));
        CHECK(lunatic_send_bytes(echo, kStopTag, nullptr, 0) == LUNATIC_OK);
    }
    REQUIRE(rt.destroy() == LUNATIC_OK);
    INFO("log:\n" << rt.log.dump());
    std::string line = failure_line(rt.log, thrower);
    REQUIRE(!line.empty());
    CHECK(line.find("kaboom-from-a-cpp-entry") != std::string::npos);  // what()
    CHECK(!failure_line(rt.log, int_thrower).empty());
}

TEST_CASE("spawn: entries registered by name") {
    // The registry is process-global: names here are unique to this test.
    const char *name_a = "capi_test.spawn.entry_a";
    const char *name_b = "capi_test.spawn.entry_b";

    REQUIRE(lunatic_entry_register(name_a, registered_entry_a) == LUNATIC_OK);
    CHECK(lunatic_entry_register(name_a, registered_entry_a) == LUNATIC_OK);  // same entry: fine
    CHECK(lunatic_entry_register(name_a, registered_entry_b) == LUNATIC_EEXIST);
    REQUIRE(lunatic_entry_register(name_b, registered_entry_b) == LUNATIC_OK);

    lunatic_entry found = nullptr;
    REQUIRE(lunatic_entry_lookup(name_a, &found) == LUNATIC_OK);
    CHECK((found == &registered_entry_a));  // the conflict did not replace it
    REQUIRE(lunatic_entry_lookup(name_b, &found) == LUNATIC_OK);
    CHECK((found == &registered_entry_b));
    found = &registered_entry_b;
    CHECK(lunatic_entry_lookup("capi_test.spawn.no_such_entry", &found) == LUNATIC_ENOTFOUND);
    // A name is looked up whole, not by prefix.
    CHECK(lunatic_entry_lookup("capi_test.spawn.entry_", &found) == LUNATIC_ENOTFOUND);

    // Registered names are visible from other threads too (process-global).
    std::atomic<int> other_thread_rc{1};
    std::thread([&] {
        lunatic_entry e = nullptr;
        int rc = lunatic_entry_lookup(name_a, &e);
        other_thread_rc = rc == LUNATIC_OK && e == &registered_entry_a ? 0 : (rc ? rc : 1);
    }).join();
    CHECK(other_thread_rc.load() == 0);

    Runtime rt;
    SUBCASE("spawn_named runs the entry with the capture and a NULL user") {
        const std::string text = "by name";
        std::vector<uint8_t> cap(sizeof(lunatic_pid) + text.size());
        std::memcpy(cap.data(), &rt.self, sizeof rt.self);
        std::memcpy(cap.data() + sizeof rt.self, text.data(), text.size());
        lunatic_pid child{0, 0};
        REQUIRE(lunatic_spawn_named(name_a, cap.data(), cap.size(), nullptr, &child) == LUNATIC_OK);
        CHECK(child.node == rt.self.node);
        Received r = recv({3});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_string(r.msg.get()) == "A:by name");
        CHECK(msg_sender(r.msg.get()) == child);
    }
    SUBCASE("spawn_named with options") {
        lunatic_spawn_options o = spawn_opts(LUNATIC_SPAWN_GUARD_PAGE, 128 * 1024);
        lunatic_pid child{0, 0};
        REQUIRE(lunatic_spawn_named(name_a, &rt.self, sizeof rt.self, &o, &child) == LUNATIC_OK);
        Received r = recv({3});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_string(r.msg.get()) == "A:");
    }
    SUBCASE("an unknown name is ENOTFOUND") {
        lunatic_pid child{0, 0};
        CHECK(lunatic_spawn_named("capi_test.spawn.no_such_entry", nullptr, 0, nullptr, &child) ==
              LUNATIC_ENOTFOUND);
        CHECK(lunatic_runtime_process_count(rt.rt) == 1);  // nothing was started
    }
}

TEST_CASE("spawn: a process pinned to a worker stays on that worker's thread") {
    Runtime rt(2);
    REQUIRE(lunatic_runtime_workers(rt.rt) == 2);
    for (int i = 0; i < 4; ++i) REQUIRE(spawn(busy_entry).id != 0);

    PinReport on0, on0_again, on1;
    lunatic_spawn_options o0 = spawn_opts(0, 0, 0);
    lunatic_spawn_options o1 = spawn_opts(0, 0, 1);
    REQUIRE(spawn_with_parent(pinned_entry, &on0, &o0).id != 0);
    REQUIRE(spawn_with_parent(pinned_entry, &on0_again, &o0).id != 0);
    REQUIRE(spawn_with_parent(pinned_entry, &on1, &o1).id != 0);
    for (int i = 0; i < 3; ++i) REQUIRE(recv({9}, 20 * kSec).rc == LUNATIC_OK);

    CHECK(on0.steps.load() == 300);
    CHECK(on0.moves.load() == 0);
    CHECK(on0_again.moves.load() == 0);
    CHECK(on1.moves.load() == 0);
    CHECK(on0.first == on0_again.first);  // same worker, same thread
    CHECK(on0.first != on1.first);        // different workers, different threads
    CHECK(on0.first != std::this_thread::get_id());
    CHECK(on1.first != std::this_thread::get_id());

    SUBCASE("LUNATIC_WORKER_CURRENT from a pinned process pins the child beside it") {
        CurrentReport cr;
        REQUIRE(spawn_with_parent(spawner_on_current_entry, &cr, &o1).id != 0);
        REQUIRE(recv({9}, 20 * kSec).rc == LUNATIC_OK);
        CHECK(cr.spawn_rc.load() == LUNATIC_OK);
        CHECK(cr.parent_thread == on1.first);
        CHECK(cr.child.first == on1.first);
        CHECK(cr.child.moves.load() == 0);
    }
    SUBCASE("LUNATIC_WORKER_CURRENT from an attached thread means worker 0") {
        PinReport cur;
        lunatic_spawn_options oc = spawn_opts(0, 0, LUNATIC_WORKER_CURRENT);
        REQUIRE(spawn_with_parent(pinned_entry, &cur, &oc).id != 0);
        REQUIRE(recv({9}, 20 * kSec).rc == LUNATIC_OK);
        CHECK(cur.first == on0.first);
        CHECK(cur.moves.load() == 0);
    }
    SUBCASE("a worker index out of range is EINVAL") {
        lunatic_spawn_options bad = spawn_opts(0, 0, 2);
        lunatic_pid p{0, 0};
        CHECK(lunatic_spawn(noop_entry, nullptr, 0, nullptr, &bad, &p) == LUNATIC_EINVAL);
        bad.worker = -3;
        CHECK(lunatic_spawn(noop_entry, nullptr, 0, nullptr, &bad, &p) == LUNATIC_EINVAL);
    }
}

TEST_CASE("spawn: stack size options") {
    Runtime rt;

    SUBCASE("a 512 KiB stack holds a 256 KiB frame") {
        lunatic_spawn_options o = spawn_opts(0, 512 * 1024);
        REQUIRE(spawn_with_parent(stack_user_entry<256 * 1024>, nullptr, &o).id != 0);
        Received r = recv({4});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_u64(r.msg.get()) == expected_sum<256 * 1024>(5));
    }
    SUBCASE("a small 16 KiB stack runs a small entry") {
        lunatic_spawn_options o = spawn_opts(0, 16 * 1024);
        REQUIRE(spawn_with_parent(stack_user_entry<2 * 1024>, nullptr, &o).id != 0);
        Received r = recv({4});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_u64(r.msg.get()) == expected_sum<2 * 1024>(5));
    }
    SUBCASE("mixed sizes at once") {
        lunatic_spawn_options big = spawn_opts(0, 1024 * 1024);
        lunatic_spawn_options small = spawn_opts(0, 32 * 1024);
        for (int i = 0; i < 20; ++i) {
            REQUIRE(spawn_with_parent(stack_user_entry<512 * 1024>, nullptr, &big).id != 0);
            REQUIRE(spawn_with_parent(stack_user_entry<8 * 1024>, nullptr, &small).id != 0);
        }
        int good = 0;
        for (int i = 0; i < 40; ++i) {
            Received r = recv({4});
            REQUIRE(r.rc == LUNATIC_OK);
            uint64_t v = msg_u64(r.msg.get());
            if (v == expected_sum<512 * 1024>(5) || v == expected_sum<8 * 1024>(5)) ++good;
        }
        CHECK(good == 40);
    }
}

TEST_CASE("spawn: the runtime's default stack size applies to spawns without one") {
    Runtime rt(2, true, 512 * 1024);
    REQUIRE(spawn_with_parent(stack_user_entry<256 * 1024>).id != 0);
    Received r = recv({4});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == expected_sum<256 * 1024>(5));
}

TEST_CASE("spawn: guard-page stacks") {
    Runtime rt;

    SUBCASE("one process with a guarded 256 KiB stack uses 128 KiB of it") {
        lunatic_spawn_options o = spawn_opts(LUNATIC_SPAWN_GUARD_PAGE, 256 * 1024);
        REQUIRE(spawn_with_parent(stack_user_entry<128 * 1024>, nullptr, &o).id != 0);
        Received r = recv({4});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_u64(r.msg.get()) == expected_sum<128 * 1024>(5));
    }
    SUBCASE("guarded default-size stacks, many at once, pinned and not") {
        constexpr int kN = 300;
        lunatic_spawn_options o = spawn_opts(LUNATIC_SPAWN_GUARD_PAGE, 0);
        lunatic_spawn_options pinned = spawn_opts(LUNATIC_SPAWN_GUARD_PAGE, 0, 1);
        for (int i = 0; i < kN; ++i)
            REQUIRE(
                spawn_with_parent(stack_user_entry<16 * 1024>, nullptr, i % 2 ? &o : &pinned).id !=
                0);
        int good = 0;
        for (int i = 0; i < kN; ++i) {
            Received r = recv({4});
            REQUIRE(r.rc == LUNATIC_OK);
            if (msg_u64(r.msg.get()) == expected_sum<16 * 1024>(5)) ++good;
        }
        CHECK(good == kN);
    }
}

TEST_CASE("spawn: processes spawn processes") {
    // A tree: the root's children spawn grandchildren; every grandchild answers
    // the test thread, whose pid travels down in the captures.
    struct Tree {
        static int node(const uint8_t *capture, size_t len, void *) {
            struct {
                lunatic_pid top;
                uint64_t depth;
            } a;
            if (len != sizeof a) return 1;
            std::memcpy(&a, capture, sizeof a);
            if (a.depth == 0) {
                lunatic_pid me{0, 0};
                if (lunatic_self(&me) != LUNATIC_OK) return 2;
                return send_u64(a.top, 6, me.id) == LUNATIC_OK ? 0 : 3;
            }
            a.depth--;
            for (int i = 0; i < 3; ++i)
                if (lunatic_spawn(node, &a, sizeof a, nullptr, nullptr, nullptr) != LUNATIC_OK)
                    return 4;
            return 0;
        }
    };
    Runtime rt;
    struct {
        lunatic_pid top;
        uint64_t depth;
    } a{rt.self, 4};
    REQUIRE(spawn(&Tree::node, &a, sizeof a).id != 0);
    std::set<uint64_t> leaves;
    for (int i = 0; i < 81; ++i) {
        Received r = recv({6});
        REQUIRE(r.rc == LUNATIC_OK);
        leaves.insert(msg_u64(r.msg.get()));
        CHECK(msg_sender(r.msg.get()).id == msg_u64(r.msg.get()));  // lunatic_self == sender
    }
    CHECK(leaves.size() == 81);
    CHECK(recv({6}, 0).rc == LUNATIC_ETIMEDOUT);
}

TEST_CASE("spawn: 100,000 processes each receive and answer one message, none lost") {
    constexpr uint64_t kN = 100000;
    Runtime rt;
    std::vector<lunatic_pid> pids(kN);
    for (uint64_t i = 0; i < kN; ++i) {
        int rc = lunatic_spawn(answer_once_entry, nullptr, 0, nullptr, nullptr, &pids[i]);
        REQUIRE(rc == LUNATIC_OK);
    }
    // Each one is parked in its receive: all alive at once.
    CHECK(lunatic_runtime_process_count(rt.rt) == kN + 1);

    for (uint64_t i = 0; i < kN; ++i) REQUIRE(send_u64(pids[i], 40, i) == LUNATIC_OK);

    std::vector<uint8_t> seen(kN, 0);
    uint64_t duplicates = 0, wrong_sender = 0, out_of_range = 0;
    for (uint64_t i = 0; i < kN; ++i) {
        Received r = recv({41}, 20 * kSec);
        REQUIRE_MESSAGE(r.rc == LUNATIC_OK, "reply " << i << " of " << kN << ": "
                                                     << std::string(lunatic_strerror(r.rc)));
        uint64_t v = msg_u64(r.msg.get());
        if (v >= kN) {
            ++out_of_range;
            continue;
        }
        if (seen[v]++) ++duplicates;
        if (msg_sender(r.msg.get()) != pids[v]) ++wrong_sender;
    }
    CHECK(duplicates == 0);
    CHECK(wrong_sender == 0);
    CHECK(out_of_range == 0);
    CHECK(std::count(seen.begin(), seen.end(), uint8_t{1}) == static_cast<long>(kN));
    CHECK(recv({41}, 0).rc == LUNATIC_ETIMEDOUT);
    CHECK(wait_until([&] { return lunatic_runtime_process_count(rt.rt) == 1; },
                     std::chrono::milliseconds(20000)));
}

// AddressSanitizer needs mappings of its own (shadow, allocator): once they
// are exhausted it aborts the program, so the test cannot run under it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSkipWithoutMappings = true;
#else
constexpr bool kSkipWithoutMappings = false;
#endif

TEST_CASE("spawn: running out of guard-page mappings is ENOMEM; the runtime survives it" *
          doctest::skip(kSkipWithoutMappings)) {
    // Each guarded stack costs kernel mappings, and vm.max_map_count caps them
    // (near 32,000 by default). Past the cap a spawn must fail with ENOMEM, the
    // runtime must keep working, and destroy must still succeed. Runs in a fresh
    // copy of this program: exhausting the mappings could disturb other tests,
    // and the outcome must not depend on what earlier tests left in the heap.
    if (!in_fresh_child()) {
        ChildResult r = run_fresh(
            "spawn: running out of guard-page mappings is ENOMEM; the runtime survives it");
        check_child_ok(r);
        return;
    }
#ifdef M_MMAP_THRESHOLD
    // Fix glibc's threshold for giving a large allocation its own mapping at its
    // default (128 KiB): otherwise the threshold moves with the heap's history and
    // whether destroy can allocate once the mappings are exhausted becomes luck.
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
    Runtime rt;
    lunatic_spawn_options guarded = spawn_opts(LUNATIC_SPAWN_GUARD_PAGE, 0);
    int n = 0, rc = LUNATIC_OK;
    for (; n < 200000; ++n) {
        rc = lunatic_spawn(answer_once_entry, nullptr, 0, nullptr, &guarded, nullptr);
        if (rc != LUNATIC_OK) break;
    }
    INFO(n << " guarded processes were spawned before the first failure");
    CHECK(rc == LUNATIC_ENOMEM);
    // An unguarded process still starts and answers.
    lunatic_pid echo{0, 0};
    CHECK(lunatic_spawn(echo_entry, nullptr, 0, nullptr, nullptr, &echo) == LUNATIC_OK);
    if (echo.id != 0) CHECK(ping(echo, 3, 77));
    rc = rt.destroy();
    CHECK_MESSAGE(rc == LUNATIC_OK, "destroy failed: " << std::string(lunatic_errmsg()));
}
