// Configs: permissions, inheritance, max_memory and max_fuel (the C ABI).
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "fixture.hpp"

using namespace capi_test;

namespace {

// Sends the parent (capture) the results of trying to spawn and to create a config.
int try_permissions(const uint8_t *capture, size_t len, void *) {
    lunatic_pid parent;
    if (!capture_pid(capture, len, &parent)) return 1;
    int spawn_rc = lunatic_spawn(noop_entry, nullptr, 0, nullptr, nullptr, nullptr);
    lunatic_config *config = nullptr;
    int config_rc = lunatic_config_new(&config);
    lunatic_config_free(config);
    uint64_t packed = (uint64_t(uint32_t(-spawn_rc)) << 32) | uint32_t(-config_rc);
    send_u64(parent, 1, packed);
    return 0;
}

struct Generation {
    lunatic_pid root;
    int depth;
};

// Spawns itself without a config down to depth 3; each generation reports
// whether it may spawn and its config's max_memory as seen by a spawn that is
// over it: all inherit the first one's config.
int generation(const uint8_t *capture, size_t len, void *) {
    Generation g;
    if (len != sizeof g) return 1;
    std::memcpy(&g, capture, sizeof g);
    // 64 KiB default stack: a config with max_memory 32 KiB... is not used here;
    // the inherited config allows spawning and caps memory at 1 MiB.
    lunatic_spawn_options big;
    lunatic_spawn_options_init(&big);
    big.stack_size = 4u << 20;  // over the inherited 1 MiB max_memory
    int over_rc = lunatic_spawn(noop_entry, nullptr, 0, nullptr, &big, nullptr);
    send_u64(g.root, 10 + g.depth, uint64_t(uint32_t(-over_rc)));
    if (g.depth < 3) {
        Generation next{g.root, g.depth + 1};
        if (lunatic_spawn(generation, &next, sizeof next, nullptr, nullptr, nullptr) != LUNATIC_OK)
            return 2;
    }
    return 0;
}

int sink_forever(const uint8_t *, size_t, void *) {
    lunatic_message *m = nullptr;
    // Never receives: the mailbox fills until the memory limit fails the process.
    return lunatic_receive(nullptr, 0, 0, &m) == LUNATIC_EKILLED
               ? 0
               : (lunatic_sleep(60'000'000'000) ? 0 : 1);
}

int busy_yielder(const uint8_t *, size_t, void *) {
    for (;;) {
        volatile uint64_t x = 0;
        for (int i = 0; i < 10000; ++i) x = x + uint64_t(i);
        if (lunatic_yield() != LUNATIC_OK) return 0;
    }
}

lunatic_spawn_options with_config(const lunatic_config *config) {
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.config = config;
    return o;
}

}  // namespace

TEST_CASE("config: a new config grants nothing and every field has a getter") {
    lunatic_config *c = nullptr;
    REQUIRE(lunatic_config_new(&c) == LUNATIC_OK);
    uint64_t u = 1;
    int flag = 1;
    size_t size = 1;
    CHECK(lunatic_config_get_max_memory(c, &u) == LUNATIC_OK);
    CHECK(u == 0);
    CHECK(lunatic_config_get_max_fuel(c, &u) == LUNATIC_OK);
    CHECK(u == 0);
    CHECK(lunatic_config_get_can_spawn_processes(c, &flag) == LUNATIC_OK);
    CHECK(flag == 0);
    CHECK(lunatic_config_get_can_create_configs(c, &flag) == LUNATIC_OK);
    CHECK(flag == 0);
    CHECK(lunatic_config_get_stack_size(c, &size) == LUNATIC_OK);
    CHECK(size == 0);
    CHECK(lunatic_config_get_guard_page(c, &flag) == LUNATIC_OK);
    CHECK(flag == 0);
    CHECK(lunatic_config_set_max_memory(c, 1u << 20) == LUNATIC_OK);
    CHECK(lunatic_config_set_max_fuel(c, 5000) == LUNATIC_OK);
    CHECK(lunatic_config_set_can_spawn_processes(c, 1) == LUNATIC_OK);
    CHECK(lunatic_config_set_stack_size(c, 32768) == LUNATIC_OK);
    CHECK(lunatic_config_set_guard_page(c, 1) == LUNATIC_OK);
    CHECK(lunatic_config_get_max_memory(c, &u) == LUNATIC_OK);
    CHECK(u == (1u << 20));
    CHECK(lunatic_config_get_max_fuel(c, &u) == LUNATIC_OK);
    CHECK(u == 5000);
    CHECK(lunatic_config_get_can_spawn_processes(c, &flag) == LUNATIC_OK);
    CHECK(flag == 1);
    CHECK(lunatic_config_get_stack_size(c, &size) == LUNATIC_OK);
    CHECK(size == 32768);
    CHECK(lunatic_config_get_guard_page(c, &flag) == LUNATIC_OK);
    CHECK(flag == 1);
    CHECK(lunatic_config_set_max_memory(nullptr, 1) == LUNATIC_EINVAL);
    CHECK(lunatic_config_get_max_memory(c, nullptr) == LUNATIC_EINVAL);
    CHECK(lunatic_config_new(nullptr) == LUNATIC_EINVAL);
    lunatic_config_free(c);
    lunatic_config_free(nullptr);
}

TEST_CASE("config: permissions are denied with EPERM until granted") {
    Runtime rt;
    lunatic_config *none = nullptr, *both = nullptr;
    REQUIRE(lunatic_config_new(&none) == LUNATIC_OK);
    REQUIRE(lunatic_config_new(&both) == LUNATIC_OK);
    lunatic_config_set_can_spawn_processes(both, 1);
    lunatic_config_set_can_create_configs(both, 1);
    lunatic_spawn_options denied = with_config(none), granted = with_config(both);
    spawn_with_parent(try_permissions, nullptr, &denied);
    Received r = recv({1});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK((msg_u64(r.msg.get()) >> 32) == uint32_t(-LUNATIC_EPERM));
    CHECK((msg_u64(r.msg.get()) & 0xffffffffu) == uint32_t(-LUNATIC_EPERM));
    spawn_with_parent(try_permissions, nullptr, &granted);
    r = recv({1});
    REQUIRE(r.rc == LUNATIC_OK);
    CHECK(msg_u64(r.msg.get()) == 0);
    lunatic_config_free(none);
    lunatic_config_free(both);
}

TEST_CASE("config: inherited through three generations; a stack over max_memory is ENOMEM") {
    Runtime rt;
    lunatic_config *c = nullptr;
    REQUIRE(lunatic_config_new(&c) == LUNATIC_OK);
    lunatic_config_set_can_spawn_processes(c, 1);
    lunatic_config_set_max_memory(c, 1u << 20);
    lunatic_spawn_options o = with_config(c);
    Generation first{rt.self, 1};
    REQUIRE(lunatic_spawn(generation, &first, sizeof first, nullptr, &o, nullptr) == LUNATIC_OK);
    lunatic_config_free(c);  // the spawn took its own copy
    for (int depth = 1; depth <= 3; ++depth) {
        Received r = recv({lunatic_tag(10 + depth)});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(msg_u64(r.msg.get()) == uint32_t(-LUNATIC_ENOMEM));
    }
}

TEST_CASE("config: a mailbox over max_memory fails its process; a link partner learns why") {
    Runtime rt;
    lunatic_config *c = nullptr;
    REQUIRE(lunatic_config_new(&c) == LUNATIC_OK);
    lunatic_config_set_max_memory(c, 128u << 10);  // 64 KiB stack + at most 64 KiB queued
    lunatic_spawn_options o = with_config(c);
    o.flags |= LUNATIC_SPAWN_LINK;
    o.link_tag = 77;
    REQUIRE(lunatic_trap_links(1) == LUNATIC_OK);
    lunatic_pid sink = spawn(sink_forever, nullptr, 0, nullptr, &o);
    lunatic_config_free(c);
    REQUIRE(sink.id != 0);
    // The limit is reached near 64 messages: the process fails and messages past
    // the limit are dropped (the sends still succeed until it has ended).
    std::vector<uint8_t> kib(1024, 0x5a);
    for (int i = 0; i < 1000; ++i)
        if (lunatic_send_bytes(sink, 0, kib.data(), kib.size()) != LUNATIC_OK) break;
    lunatic_message *m = nullptr;
    REQUIRE(lunatic_receive_mask(LUNATIC_RECEIVE_LINK_DIED, nullptr, 0, kTimeout, &m) ==
            LUNATIC_OK);
    Msg signal(m);
    lunatic_pid who{};
    lunatic_exit_reason reason = LUNATIC_EXIT_NORMAL;
    REQUIRE(lunatic_message_signal(m, &who, &reason) == LUNATIC_OK);
    CHECK(who == sink);
    CHECK(reason == LUNATIC_EXIT_MEMORY_LIMIT);
    CHECK(lunatic_message_tag(m) == 77);
    CHECK(msg_string(m).find("memory limit") != std::string::npos);
    // Its links are told after it has ended: it takes no more messages.
    CHECK(lunatic_send_bytes(sink, 0, kib.data(), kib.size()) == LUNATIC_ENOPROC);
}

TEST_CASE("config: a busy loop that yields is stopped by its fuel") {
    Runtime rt;
    lunatic_config *c = nullptr;
    REQUIRE(lunatic_config_new(&c) == LUNATIC_OK);
    lunatic_config_set_max_fuel(c, 20000);  // 20 ms of running time
    lunatic_spawn_options o = with_config(c);
    lunatic_pid hog = spawn(busy_yielder, nullptr, 0, nullptr, &o);
    lunatic_config_free(c);
    REQUIRE(hog.id != 0);
    REQUIRE(lunatic_monitor(hog) == LUNATIC_OK);
    lunatic_message *m = nullptr;
    REQUIRE(lunatic_receive_mask(LUNATIC_RECEIVE_PROCESS_DIED, nullptr, 0, kTimeout, &m) ==
            LUNATIC_OK);
    Msg signal(m);
    lunatic_exit_reason reason = LUNATIC_EXIT_NORMAL;
    REQUIRE(lunatic_message_signal(m, nullptr, &reason) == LUNATIC_OK);
    CHECK(reason == LUNATIC_EXIT_FUEL_EXHAUSTED);
    CHECK(msg_string(m) == "fuel exhausted");
}
