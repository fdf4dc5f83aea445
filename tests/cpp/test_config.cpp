// ProcessConfig through the typed layer: permissions, fuel, memory, inheritance.
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("ProcessConfig: setters, getters and a new config granting nothing") {
    lunatic::Runtime runtime({.workers = 1});
    lunatic::ProcessConfig config;
    CHECK_FALSE(config.can_spawn_processes());
    CHECK_FALSE(config.can_create_configs());
    CHECK(config.max_memory() == 0);
    config.set_max_memory(1 << 20).set_max_fuel(250ms).set_can_spawn_processes(true).set_stack_size(
        32768);
    CHECK(config.max_memory() == (1 << 20));
    CHECK(config.max_fuel() == 250ms);
    CHECK(config.can_spawn_processes());
    CHECK(config.stack_size() == 32768);
}

TEST_CASE(
    "ProcessConfig: a child without permissions gets PermissionError on spawn and on new configs") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<std::string> mailbox;
    lunatic::ProcessConfig none;
    lunatic::spawn_config(none, mailbox.this_process(),
                          [](lunatic::Process<std::string> parent, lunatic::Mailbox<int>) {
                              std::string result;
                              try {
                                  lunatic::spawn(0, [](int, lunatic::Mailbox<int>) {});
                                  result += "spawned ";
                              } catch (const lunatic::PermissionError &) {
                                  result += "spawn denied ";
                              }
                              try {
                                  lunatic::ProcessConfig c;
                                  result += "config made";
                              } catch (const lunatic::PermissionError &) {
                                  result += "config denied";
                              }
                              parent.send(result);
                          });
    auto r = mailbox.receive_timeout(5s);
    REQUIRE(r.is_message());
    CHECK(*r == "spawn denied config denied");
}

TEST_CASE("ProcessConfig: fuel stops a yielding busy loop, which unwinds; a monitor hears why") {
    static int unwound;
    unwound = 0;
    struct Guard {
        ~Guard() { ++unwound; }
    };
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int> mailbox;
    lunatic::ProcessConfig config;
    config.set_max_fuel(20ms);
    auto hog = lunatic::spawn_config(config, 0, [](int, lunatic::Mailbox<int>) {
        Guard guard;
        for (;;) {
            volatile int x = 0;
            for (int i = 0; i < 10000; ++i) x = x + i;
            lunatic::yield();
        }
    });
    mailbox.monitor(hog);
    auto r = mailbox.receive_timeout(10s);
    REQUIRE(r.is_process_died());
    CHECK(r.reason() == lunatic::ExitReason::fuel_exhausted);
    CHECK(unwound == 1);
}

TEST_CASE("ProcessConfig: inherited by children and grandchildren") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<std::string> mailbox;
    lunatic::ProcessConfig config;
    config.set_can_spawn_processes(true).set_max_memory(1 << 20);
    // Each generation tries a config of its own: inherited, the config forbids it.
    lunatic::spawn_config(
        config, std::make_pair(mailbox.this_process(), 3),
        +[](std::pair<lunatic::Process<std::string>, int> arg, lunatic::Mailbox<int>) {
            struct Generation {
                static void run(std::pair<lunatic::Process<std::string>, int> a,
                                lunatic::Mailbox<int>) {
                    try {
                        lunatic::ProcessConfig c;
                        a.first.send("config made");
                    } catch (const lunatic::PermissionError &) {
                        a.first.send("denied at " + std::to_string(a.second));
                    }
                    if (a.second > 1) lunatic::spawn(std::make_pair(a.first, a.second - 1), &run);
                }
            };
            Generation::run(arg, lunatic::Mailbox<int>());
        });
    std::vector<std::string> seen;
    for (int i = 0; i < 3; ++i) {
        auto r = mailbox.receive_timeout(5s);
        REQUIRE(r.is_message());
        seen.push_back(*r);
    }
    CHECK(seen == std::vector<std::string>{"denied at 3", "denied at 2", "denied at 1"});
}

TEST_CASE("ProcessConfig: spawn_config also starts protocol entries, under the config's limits") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int> mailbox;
    lunatic::ProcessConfig config;  // grants nothing: the child may not spawn
    using Ask = lunatic::Recv<int, lunatic::Send<int, lunatic::End>>;
    auto session = lunatic::spawn_config(config, 10, [](int base, lunatic::Protocol<Ask> p) {
        auto [next, x] = std::move(p).receive();
        int may_spawn = 1;
        try {
            lunatic::spawn(0, [](int, lunatic::Mailbox<int>) {});
        } catch (const lunatic::PermissionError &) {
            may_spawn = 0;
        }
        std::move(next).send(base + x + 100 * may_spawn);
    });
    auto [end, result] = std::move(session).send(5).receive();
    CHECK(result == 15);  // 10 + 5, and the spawn was refused
}

TEST_CASE("lunatic::blocking returns the result, rethrows, and leaves the worker to others") {
    lunatic::Runtime runtime({.workers = 1});
    lunatic::Mailbox<int> mailbox;
    auto self = mailbox.this_process();
    lunatic::spawn(self, [](lunatic::Process<int> parent, lunatic::Mailbox<int>) {
        int v = lunatic::blocking([] {
            std::this_thread::sleep_for(100ms);
            return 7;
        });
        bool rethrown = false;
        try {
            lunatic::blocking([] { throw std::runtime_error("io failed"); });
        } catch (const std::runtime_error &e) {
            rethrown = std::string(e.what()) == "io failed";
        }
        parent.tag_send(lunatic::Tag(1), rethrown ? v : -1);
    });
    // Meanwhile the only worker runs this one: it answers before the blocking call is done.
    lunatic::spawn(self, [](lunatic::Process<int> parent, lunatic::Mailbox<int>) {
        parent.tag_send(lunatic::Tag(2), 2);
    });
    auto first = mailbox.tag_receive_timeout({lunatic::Tag(1), lunatic::Tag(2)}, 5s);
    REQUIRE(first.is_message());
    CHECK(first.tag() == lunatic::Tag(2));
    auto second = mailbox.tag_receive_timeout({lunatic::Tag(1)}, 5s);
    REQUIRE(second.is_message());
    CHECK(*second == 7);
}
