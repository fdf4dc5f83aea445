// Misuse is a status code, never a crash: NULL arguments, calls from threads
// that are not processes, pids that are dead, stale or never existed; plus
// lunatic_strerror / lunatic_errmsg and the version functions.
#include "fixture.hpp"

#include <set>

using namespace capi_test;

namespace {

/** Runs fn on a fresh OS thread that is not attached to any runtime. */
template <class Fn>
void on_unattached_thread(Fn fn) {
    std::thread t(fn);
    t.join();
}

}  // namespace

TEST_CASE("misuse: NULL arguments are EINVAL") {
    Runtime rt;  // attached, so ESTATE cannot hide an argument check
    lunatic_message *m = nullptr;
    REQUIRE(lunatic_message_new(1, 0, &m) == LUNATIC_OK);
    Msg owned(m);
    uint8_t *ptr = nullptr;
    lunatic_pid pid{0, 0};
    lunatic_tag tag = 1;
    lunatic_entry entry = nullptr;

    SUBCASE("runtime") {
        CHECK(lunatic_runtime_create(nullptr, nullptr) == LUNATIC_EINVAL);
        lunatic_runtime_options o = runtime_options(1, nullptr);
        CHECK(lunatic_runtime_create(&o, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_runtime_attach(nullptr, &pid) == LUNATIC_EINVAL);
        CHECK(lunatic_runtime_node_id(nullptr) == 0);
        CHECK(lunatic_runtime_workers(nullptr) == 0);
        CHECK(lunatic_runtime_process_count(nullptr) == 0);
    }
    SUBCASE("option structs with struct_size 0") {
        lunatic_runtime_options o = runtime_options(1, nullptr);
        o.struct_size = 0;
        lunatic_runtime *other = nullptr;
        CHECK(lunatic_runtime_create(&o, &other) == LUNATIC_EINVAL);
        if (other) lunatic_runtime_destroy(other);
        lunatic_spawn_options so;
        lunatic_spawn_options_init(&so);
        so.struct_size = 0;
        CHECK(lunatic_spawn(noop_entry, nullptr, 0, nullptr, &so, &pid) == LUNATIC_EINVAL);
    }
    SUBCASE("messages") {
        CHECK(lunatic_message_new(1, 0, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_message_append(nullptr, "x", 1) == LUNATIC_EINVAL);
        CHECK(lunatic_message_append(owned.get(), nullptr, 1) == LUNATIC_EINVAL);
        CHECK(lunatic_message_extend(nullptr, 1, &ptr) == LUNATIC_EINVAL);
        CHECK(lunatic_message_extend(owned.get(), 1, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_message_truncate(nullptr, 0) == LUNATIC_EINVAL);
        CHECK(lunatic_message_set_tag(nullptr, 1) == LUNATIC_EINVAL);
        CHECK(lunatic_message_sender(nullptr, &pid) == LUNATIC_EINVAL);
        CHECK(lunatic_message_sender(owned.get(), nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_message_size(owned.get()) == 0);  // the failed calls changed nothing
    }
    SUBCASE("send / receive") {
        lunatic_pid me = rt.self;
        CHECK(lunatic_send(me, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_send_bytes(me, 1, nullptr, 5) == LUNATIC_EINVAL);
        CHECK(lunatic_receive(nullptr, 0, 0, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_receive(nullptr, 2, 0, &m) == LUNATIC_EINVAL);  // ntags without tags
        CHECK(lunatic_receive(&tag, 1, 0, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_mailbox_size(nullptr) == LUNATIC_EINVAL);
        // None of these queued anything.
        CHECK(recv({}, 0).rc == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("processes") {
        CHECK(lunatic_spawn(nullptr, nullptr, 0, nullptr, nullptr, &pid) == LUNATIC_EINVAL);
        CHECK(lunatic_spawn(noop_entry, nullptr, 4, nullptr, nullptr, &pid) == LUNATIC_EINVAL);
        CHECK(lunatic_self(nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_entry_register(nullptr, noop_entry) == LUNATIC_EINVAL);
        CHECK(lunatic_entry_register("capi_test.misuse.null_entry", nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_entry_lookup("capi_test.misuse.null_entry", &entry) == LUNATIC_ENOTFOUND);
        CHECK(lunatic_entry_lookup(nullptr, &entry) == LUNATIC_EINVAL);
        CHECK(lunatic_entry_register("capi_test.misuse.lookup_out", noop_entry) == LUNATIC_OK);
        CHECK(lunatic_entry_lookup("capi_test.misuse.lookup_out", nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_spawn_named(nullptr, nullptr, 0, nullptr, &pid) == LUNATIC_EINVAL);
        CHECK(lunatic_spawn_named("capi_test.misuse.lookup_out", nullptr, 3, nullptr, &pid) ==
              LUNATIC_EINVAL);
        CHECK(lunatic_sleep(-5) == LUNATIC_EINVAL);
        const char *detail = lunatic_errmsg();  // right after an EINVAL: a detail
        REQUIRE(detail != nullptr);
        CHECK(std::strlen(detail) > 0);
        CHECK(lunatic_runtime_process_count(rt.rt) == 1);  // nothing was spawned
    }
}

TEST_CASE("misuse: calls that need a process fail with ESTATE on a thread that is not attached") {
    Runtime rt(2, false);  // a runtime exists, but nobody is attached
    struct Codes {
        int receive = 1, self = 1, yield = 1, sleep = 1, mailbox = 1, send = 1, send_bytes = 1,
            spawn = 1, spawn_named = 1, fail = 1, detach = 1, alive = -1;
        bool current_null = false, errmsg_ok = false;
    } c;
    lunatic_pid target{lunatic_runtime_node_id(rt.rt), 1};
    REQUIRE(lunatic_entry_register("capi_test.misuse.noop", noop_entry) == LUNATIC_OK);

    on_unattached_thread([&] {
        lunatic_message *m = nullptr;
        c.receive = lunatic_receive(nullptr, 0, 0, &m);
        if (c.receive == LUNATIC_OK) lunatic_message_free(m);
        c.errmsg_ok = lunatic_errmsg() != nullptr && lunatic_errmsg()[0] != '\0';
        lunatic_pid p{0, 0};
        c.self = lunatic_self(&p);
        c.yield = lunatic_yield();
        c.sleep = lunatic_sleep(1000);
        size_t n = 0;
        c.mailbox = lunatic_mailbox_size(&n);
        lunatic_message *out = nullptr;
        if (lunatic_message_new(1, 0, &out) == LUNATIC_OK) {
            c.send = lunatic_send(target, out);
            if (c.send != LUNATIC_OK) lunatic_message_free(out);
        }
        c.send_bytes = lunatic_send_bytes(target, 1, "x", 1);
        c.spawn = lunatic_spawn(noop_entry, nullptr, 0, nullptr, nullptr, &p);
        c.spawn_named = lunatic_spawn_named("capi_test.misuse.noop", nullptr, 0, nullptr, &p);
        c.fail = lunatic_fail("not a process");
        c.detach = lunatic_detach();
        c.alive = lunatic_process_alive(target);
        c.current_null = lunatic_current_runtime() == nullptr;
    });
    CHECK(c.receive == LUNATIC_ESTATE);
    CHECK(c.errmsg_ok);
    CHECK(c.self == LUNATIC_ESTATE);
    CHECK(c.yield == LUNATIC_ESTATE);
    CHECK(c.sleep == LUNATIC_ESTATE);
    CHECK(c.mailbox == LUNATIC_ESTATE);
    CHECK(c.send == LUNATIC_ESTATE);
    CHECK(c.send_bytes == LUNATIC_ESTATE);
    CHECK(c.spawn == LUNATIC_ESTATE);
    CHECK(c.spawn_named == LUNATIC_ESTATE);
    CHECK(c.fail == LUNATIC_ESTATE);
    CHECK(c.detach == LUNATIC_ESTATE);
    CHECK(c.alive == 0);
    CHECK(c.current_null);
    CHECK(lunatic_runtime_process_count(rt.rt) == 0);  // nothing was spawned
}

TEST_CASE("misuse: the same calls with no runtime at all are ESTATE too") {
    int receive = 1, self = 1, yield = 1, sleep = 1, send_bytes = 1;
    on_unattached_thread([&] {
        lunatic_message *m = nullptr;
        receive = lunatic_receive(nullptr, 0, 0, &m);
        lunatic_pid p{0, 0};
        self = lunatic_self(&p);
        yield = lunatic_yield();
        sleep = lunatic_sleep(0);
        send_bytes = lunatic_send_bytes(lunatic_pid{1, 1}, 1, nullptr, 0);
    });
    CHECK(receive == LUNATIC_ESTATE);
    CHECK(self == LUNATIC_ESTATE);
    CHECK(yield == LUNATIC_ESTATE);
    CHECK(sleep == LUNATIC_ESTATE);
    CHECK(send_bytes == LUNATIC_ESTATE);
}

TEST_CASE("misuse: sends to pids that do not name a process are ENOPROC") {
    Runtime rt;
    const uint64_t node = rt.self.node;

    SUBCASE("an id that never existed in this runtime") {
        lunatic_pid never{node, uint64_t{1} << 60};
        CHECK(send_u64(never, 1, 1) == LUNATIC_ENOPROC);
        CHECK(lunatic_process_alive(never) == 0);
        lunatic_message *m = nullptr;
        REQUIRE(lunatic_message_new(1, 0, &m) == LUNATIC_OK);
        CHECK(lunatic_send(never, m) == LUNATIC_ENOPROC);
        lunatic_message_free(m);  // still ours after the failed send
        const char *detail = lunatic_errmsg();
        REQUIRE(detail != nullptr);
        CHECK(std::string(detail).size() > 0);
    }
    SUBCASE("the id of a live process, with a wrong node") {
        lunatic_pid echo = spawn(echo_entry);
        REQUIRE(echo.id != 0);
        lunatic_pid wrong_node{node ^ 0x5555, echo.id};
        CHECK(send_u64(wrong_node, 1, 1) == LUNATIC_ENOPROC);
        CHECK(lunatic_process_alive(wrong_node) == 0);
        CHECK(lunatic_process_alive(echo) == 1);
        // The real process received nothing from that.
        CHECK(ping(echo, 2, 3));
        CHECK(recv({1}, 0).rc == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("the zero pid") {
        int rc = send_u64(lunatic_pid{0, 0}, 1, 1);
        CHECK((rc == LUNATIC_ENOPROC || rc == LUNATIC_EINVAL));
        CHECK(lunatic_process_alive(lunatic_pid{0, 0}) == 0);
    }
    SUBCASE("a stale pid from a destroyed runtime") {
        Runtime old(1, false);
        lunatic_pid stale{0, 0};
        std::thread([&] {
            if (lunatic_runtime_attach(old.rt, nullptr) != LUNATIC_OK) return;
            stale = spawn(echo_entry);
            lunatic_detach();
        }).join();
        REQUIRE(stale.id != 0);
        REQUIRE(old.destroy() == LUNATIC_OK);
        CHECK(stale.node != node);
        CHECK(send_u64(stale, 1, 1) == LUNATIC_ENOPROC);
        CHECK(lunatic_process_alive(stale) == 0);
    }
}

TEST_CASE("misuse: a process calling detach or attach is refused and keeps running") {
    struct Probe {
        static int entry(const uint8_t *capture, size_t len, void *) {
            lunatic_pid parent{0, 0};
            if (!capture_pid(capture, len, &parent)) return 1;
            int64_t codes[3];
            codes[0] = lunatic_detach();
            codes[1] = lunatic_runtime_attach(lunatic_current_runtime(), nullptr);
            lunatic_pid me{0, 0};
            codes[2] = lunatic_self(&me);
            if (lunatic_send_bytes(parent, 5, codes, sizeof codes) != LUNATIC_OK) return 2;
            // Still a working process: answer one more message.
            return answer_once_entry(nullptr, 0, nullptr);
        }
    };
    Runtime rt;
    lunatic_pid child = spawn_with_parent(&Probe::entry);
    REQUIRE(child.id != 0);
    Received r = recv({5});
    REQUIRE(r.rc == LUNATIC_OK);
    int64_t codes[3] = {1, 1, 1};
    REQUIRE(lunatic_message_size(r.msg.get()) == sizeof codes);
    std::memcpy(codes, lunatic_message_data(r.msg.get()), sizeof codes);
    CHECK(codes[0] == LUNATIC_ESTATE);
    CHECK((codes[1] == LUNATIC_EEXIST || codes[1] == LUNATIC_ESTATE));
    CHECK(codes[2] == LUNATIC_OK);
    REQUIRE(send_u64(child, 30, 8) == LUNATIC_OK);
    Received a = recv({31});
    REQUIRE(a.rc == LUNATIC_OK);
    CHECK(msg_u64(a.msg.get()) == 8);
}

TEST_CASE("strerror: every code has a distinct, non-empty description") {
    const int codes[] = {LUNATIC_OK,        LUNATIC_EINVAL,   LUNATIC_ENOPROC, LUNATIC_ETIMEDOUT,
                         LUNATIC_EKILLED,   LUNATIC_EPERM,    LUNATIC_ENOMEM,  LUNATIC_EEXIST,
                         LUNATIC_ENOTFOUND, LUNATIC_EDECODE,  LUNATIC_ENONODE, LUNATIC_ESTATE,
                         LUNATIC_ENOTSUP,   LUNATIC_EINTERNAL};
    std::set<std::string> seen;
    for (int code : codes) {
        CAPTURE(code);
        const char *s = lunatic_strerror(code);
        REQUIRE(s != nullptr);
        CHECK(std::strlen(s) > 0);
        seen.insert(s);
        CHECK(lunatic_strerror(code) == std::string(s));  // stable
    }
    CHECK(seen.size() == sizeof codes / sizeof codes[0]);
    // Codes that do not exist still get a string.
    for (int code : {-14, -1000, 1, 12345, INT32_MIN}) {
        CAPTURE(code);
        const char *s = lunatic_strerror(code);
        REQUIRE(s != nullptr);
        CHECK(std::strlen(s) > 0);
    }
}

TEST_CASE("errmsg: never NULL, on any thread, before and after errors") {
    const char *s = lunatic_errmsg();
    REQUIRE(s != nullptr);
    bool other_ok = false;
    std::thread([&] {
        const char *a = lunatic_errmsg();
        lunatic_message_append(nullptr, nullptr, 0);  // an error on this thread
        const char *b = lunatic_errmsg();
        other_ok = a != nullptr && b != nullptr && b[0] != '\0';
    }).join();
    CHECK(other_ok);

    Runtime rt;
    CHECK(lunatic_message_truncate(nullptr, 0) == LUNATIC_EINVAL);
    const char *detail = lunatic_errmsg();
    REQUIRE(detail != nullptr);
    CHECK(std::strlen(detail) > 0);
}

TEST_CASE("version: run-time version matches the header") {
    REQUIRE(lunatic_version_string() != nullptr);
    CHECK(std::string(lunatic_version_string()) == LUNATIC_VERSION_STRING);
    CHECK(lunatic_version_number() == LUNATIC_VERSION_NUMBER);
    std::string expect = std::to_string(LUNATIC_VERSION_MAJOR) + "." +
                         std::to_string(LUNATIC_VERSION_MINOR) + "." +
                         std::to_string(LUNATIC_VERSION_PATCH);
    CHECK(expect == LUNATIC_VERSION_STRING);
}

// ---------------------------------------------------------------------------
// Bad input at every surface (issue 10): the functions not covered above, with
// NULL, dead pids and calls from a thread that is not a process.

namespace {

/** A pid that was a process of rt and has ended. */
lunatic_pid dead_pid() {
    lunatic_pid pid = spawn(noop_entry);
    REQUIRE(pid.id != 0);
    REQUIRE(wait_dead(pid));
    return pid;
}

}  // namespace

TEST_CASE("misuse: every remaining function with NULL arguments") {
    Runtime rt;
    lunatic_message *m = nullptr;
    REQUIRE(lunatic_message_new(1, 0, &m) == LUNATIC_OK);
    Msg owned(m);
    lunatic_pid pid{0, 0};
    lunatic_exit_reason reason{};
    void *value = nullptr;
    static int key;

    SUBCASE("runtime and option initializers") {
        CHECK(lunatic_runtime_destroy(nullptr) == LUNATIC_OK);  // NULL-safe, as the *_free are
        lunatic_runtime_options_init(nullptr);                  // no-ops, no crash
        lunatic_spawn_options_init(nullptr);
    }
    SUBCASE("message readers") {
        CHECK(lunatic_message_kind_of(nullptr) == LUNATIC_MESSAGE_DATA);
        CHECK(lunatic_message_tag(nullptr) == 0);
        CHECK(lunatic_message_data(nullptr) == nullptr);
        CHECK(lunatic_message_size(nullptr) == 0);
        CHECK(lunatic_message_signal(nullptr, &pid, &reason) == LUNATIC_EINVAL);
        CHECK(lunatic_message_signal(owned.get(), &pid, &reason) == LUNATIC_EINVAL);  // data
        lunatic_message_free(nullptr);
        CHECK(lunatic_message_truncate(owned.get(), 1) == LUNATIC_EINVAL);  // beyond the size
        CHECK(lunatic_message_size(owned.get()) == 0);
    }
    SUBCASE("receive_mask") {
        CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_ALL, nullptr, 0, 0, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_ALL, nullptr, 3, 0, &m) == LUNATIC_EINVAL);
        CHECK(lunatic_receive_mask(0, nullptr, 0, 0, &m) == LUNATIC_EINVAL);  // asks for nothing
        CHECK(lunatic_receive_mask(0x100, nullptr, 0, 0, &m) == LUNATIC_EINVAL);  // unknown bit
        CHECK(recv({}, 0).rc == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("blocking and process-local storage") {
        CHECK(lunatic_blocking(nullptr, nullptr, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_process_local_get(&key, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_process_local_get(nullptr, &value) == LUNATIC_EINVAL);
        CHECK(lunatic_process_local_set(nullptr, &key, nullptr) == LUNATIC_EINVAL);
    }
    SUBCASE("links, monitors, tags") {
        CHECK(lunatic_tag_discard(0) == LUNATIC_EINVAL);
        // With itself: accepted and harmless, as in Erlang (nothing arrives, nothing fails).
        CHECK(lunatic_link(rt.self, 1) == LUNATIC_OK);
        CHECK(lunatic_unlink(rt.self) == LUNATIC_OK);
        CHECK(lunatic_monitor(rt.self) == LUNATIC_OK);
        CHECK(lunatic_demonitor(rt.self) == LUNATIC_OK);
        CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_ALL, nullptr, 0, 0, &m) == LUNATIC_ETIMEDOUT);
        CHECK(lunatic_process_alive(rt.self) == 1);
        CHECK(lunatic_kill(lunatic_pid{0, 0}) == LUNATIC_ENOPROC);
    }
    SUBCASE("registry") {
        CHECK(lunatic_register(nullptr, nullptr, rt.self) == LUNATIC_EINVAL);
        CHECK(lunatic_unregister(nullptr, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_lookup(nullptr, nullptr, &pid) == LUNATIC_EINVAL);
        CHECK(lunatic_lookup("capi_test.misuse.registry", nullptr, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_lookup("capi_test.misuse.registry", nullptr, &pid) == LUNATIC_ENOTFOUND);
        CHECK(lunatic_unregister("capi_test.misuse.registry", nullptr) == LUNATIC_ENOTFOUND);
    }
    SUBCASE("timers") {
        lunatic_timer timer{0, 0};
        CHECK(lunatic_send_after(rt.self, nullptr, 0, &timer) == LUNATIC_EINVAL);
        CHECK(lunatic_send_after(rt.self, owned.get(), -1, &timer) == LUNATIC_EINVAL);
        int cancelled = -1;
        CHECK(lunatic_timer_cancel(lunatic_timer{0, 0}, &cancelled) != LUNATIC_OK);
        CHECK(lunatic_message_size(owned.get()) == 0);  // still ours after the failures
    }
    SUBCASE("configs") {
        lunatic_config *config = nullptr;
        uint64_t u = 0;
        size_t size = 0;
        int flag = 0;
        CHECK(lunatic_config_new(nullptr) == LUNATIC_EINVAL);
        lunatic_config_free(nullptr);
        CHECK(lunatic_config_set_max_memory(nullptr, 1) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_max_memory(nullptr, &u) == LUNATIC_EINVAL);
        CHECK(lunatic_config_set_max_fuel(nullptr, 1) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_max_fuel(nullptr, &u) == LUNATIC_EINVAL);
        CHECK(lunatic_config_set_can_spawn_processes(nullptr, 1) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_can_spawn_processes(nullptr, &flag) == LUNATIC_EINVAL);
        CHECK(lunatic_config_set_can_create_configs(nullptr, 1) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_can_create_configs(nullptr, &flag) == LUNATIC_EINVAL);
        CHECK(lunatic_config_set_stack_size(nullptr, 1) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_stack_size(nullptr, &size) == LUNATIC_EINVAL);
        CHECK(lunatic_config_set_guard_page(nullptr, 1) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_guard_page(nullptr, &flag) == LUNATIC_EINVAL);
        REQUIRE(lunatic_config_new(&config) == LUNATIC_OK);
        CHECK(lunatic_config_get_max_memory(config, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_max_fuel(config, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_can_spawn_processes(config, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_can_create_configs(config, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_stack_size(config, nullptr) == LUNATIC_EINVAL);
        CHECK(lunatic_config_get_guard_page(config, nullptr) == LUNATIC_EINVAL);
        lunatic_config_free(config);
    }
    CHECK(lunatic_runtime_process_count(rt.rt) == 1);
}

TEST_CASE("misuse: dead pids in links, monitors, kill, registry and timers") {
    Runtime rt;
    const lunatic_pid dead = dead_pid();
    const lunatic_pid never{rt.self.node, rt.self.id + 1000000};

    SUBCASE("kill") {
        CHECK(lunatic_kill(dead) == LUNATIC_ENOPROC);
        CHECK(lunatic_kill(never) == LUNATIC_ENOPROC);
        CHECK(lunatic_process_alive(dead) == 0);
    }
    SUBCASE("monitor: one PROCESS_DIED with reason NOPROC, demonitor is fine") {
        REQUIRE(lunatic_monitor(dead) == LUNATIC_OK);
        lunatic_message *m = nullptr;
        REQUIRE(lunatic_receive_mask(LUNATIC_RECEIVE_PROCESS_DIED, nullptr, 0, kTimeout, &m) ==
                LUNATIC_OK);
        Msg got(m);
        lunatic_pid who{0, 0};
        lunatic_exit_reason reason{};
        CHECK(lunatic_message_signal(m, &who, &reason) == LUNATIC_OK);
        CHECK(who == dead);
        CHECK(reason == LUNATIC_EXIT_NOPROC);
        CHECK(lunatic_demonitor(dead) == LUNATIC_OK);
        CHECK(lunatic_demonitor_tag(never, 5) == LUNATIC_OK);
        CHECK(lunatic_receive_mask(LUNATIC_RECEIVE_ALL, nullptr, 0, 0, &m) == LUNATIC_ETIMEDOUT);
    }
    SUBCASE("link while trapping: one LINK_DIED with reason NOPROC; unlink is fine") {
        REQUIRE(lunatic_trap_links(1) == LUNATIC_OK);
        REQUIRE(lunatic_link(never, 9) == LUNATIC_OK);
        lunatic_message *m = nullptr;
        REQUIRE(lunatic_receive_mask(LUNATIC_RECEIVE_LINK_DIED, nullptr, 0, kTimeout, &m) ==
                LUNATIC_OK);
        Msg got(m);
        lunatic_pid who{0, 0};
        lunatic_exit_reason reason{};
        CHECK(lunatic_message_signal(m, &who, &reason) == LUNATIC_OK);
        CHECK(who == never);
        CHECK(reason == LUNATIC_EXIT_NOPROC);
        CHECK(lunatic_message_tag(m) == 9);
        CHECK(lunatic_unlink(never) == LUNATIC_OK);
        CHECK(lunatic_unlink(dead) == LUNATIC_OK);
        CHECK(lunatic_trap_links(0) == LUNATIC_OK);
    }
    SUBCASE("register a dead pid: refused, nothing registered") {
        CHECK(lunatic_register("capi_test.misuse.dead", nullptr, dead) == LUNATIC_ENOPROC);
        lunatic_pid found{0, 0};
        CHECK(lunatic_lookup("capi_test.misuse.dead", nullptr, &found) == LUNATIC_ENOTFOUND);
    }
    SUBCASE("send_after to a dead pid: the message is dropped or refused, never delivered") {
        lunatic_message *m = nullptr;
        REQUIRE(lunatic_message_new(3, 0, &m) == LUNATIC_OK);
        lunatic_timer timer{0, 0};
        int rc = lunatic_send_after(dead, m, 0, &timer);
        if (rc != LUNATIC_OK) {
            CHECK(rc == LUNATIC_ENOPROC);
            lunatic_message_free(m);
        }
        CHECK(recv({3}, 50 * kMs).rc == LUNATIC_ETIMEDOUT);
    }
    CHECK(lunatic_process_alive(rt.self) == 1);  // none of it harmed the caller
}

TEST_CASE(
    "misuse: links, monitors, kill, registry, timers, locals from a thread that is not attached") {
    Runtime rt(2, false);
    lunatic_pid target{lunatic_runtime_node_id(rt.rt), 1};
    static int key;
    struct Codes {
        int link = 1, unlink = 1, trap = 1, monitor = 1, demonitor = 1, monitor_tag = 1,
            discard = 1, kill = 1, reg = 1, send_after = 1, local_get = 1, local_set = 1,
            blocking = 1, receive_mask = 1;
    } c;
    on_unattached_thread([&] {
        c.link = lunatic_link(target, 1);
        c.unlink = lunatic_unlink(target);
        c.trap = lunatic_trap_links(1);
        c.monitor = lunatic_monitor(target);
        c.demonitor = lunatic_demonitor(target);
        c.monitor_tag = lunatic_monitor_tag(target, 7);
        c.discard = lunatic_tag_discard(7);
        c.kill = lunatic_kill(target);
        c.reg = lunatic_register("capi_test.misuse.unattached", nullptr, target);
        lunatic_message *m = nullptr;
        if (lunatic_message_new(1, 0, &m) == LUNATIC_OK) {
            lunatic_timer timer{0, 0};
            c.send_after = lunatic_send_after(target, m, 0, &timer);
            if (c.send_after != LUNATIC_OK) lunatic_message_free(m);
        }
        void *value = nullptr;
        c.local_get = lunatic_process_local_get(&key, &value);
        c.local_set = lunatic_process_local_set(&key, &key, nullptr);
        int result = 0;
        c.blocking = lunatic_blocking([](void *) { return 0; }, nullptr, &result);
        lunatic_message *out = nullptr;
        c.receive_mask = lunatic_receive_mask(LUNATIC_RECEIVE_ALL, nullptr, 0, 0, &out);
    });
    CHECK(c.link == LUNATIC_ESTATE);
    CHECK(c.unlink == LUNATIC_ESTATE);
    CHECK(c.trap == LUNATIC_ESTATE);
    CHECK(c.monitor == LUNATIC_ESTATE);
    CHECK(c.demonitor == LUNATIC_ESTATE);
    CHECK(c.monitor_tag == LUNATIC_ESTATE);
    CHECK(c.discard == LUNATIC_ESTATE);
    CHECK(c.kill == LUNATIC_ESTATE);
    CHECK(c.reg == LUNATIC_ESTATE);
    CHECK(c.send_after == LUNATIC_ESTATE);
    CHECK(c.local_get == LUNATIC_ESTATE);
    CHECK(c.local_set == LUNATIC_ESTATE);
    CHECK(c.blocking == LUNATIC_ESTATE);
    CHECK(c.receive_mask == LUNATIC_ESTATE);
}
