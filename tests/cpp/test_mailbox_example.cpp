// lunatic's own documentation example (DESIGN.md §4), run from lunatic::main.
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>

#include <atomic>
#include <chrono>

namespace {
std::atomic<int> checks_passed{0};
}

TEST_CASE("lunatic's mailbox example, from lunatic::main") {
    checks_passed = 0;
    int code = lunatic::main([](lunatic::Mailbox<int> parent_mailbox) {
        auto child =
            lunatic::Process<int>::spawn(1, [](int capture, lunatic::Mailbox<int> mailbox) {
                if (capture == 1) ++checks_passed;
                if (mailbox.receive() == 2) ++checks_passed;
                ++checks_passed;
            });
        child.send(2);
        // Wait until the child is done: it exits, so a send to it starts failing.
        using namespace std::chrono_literals;
        for (int i = 0; i < 500 && checks_passed.load() < 3; ++i) lunatic::sleep(2ms);
        (void)parent_mailbox;
        return checks_passed.load() == 3 ? 0 : 7;
    });
    CHECK(code == 0);
    CHECK(checks_passed.load() == 3);
}

TEST_CASE("lunatic::main returns the root's result and stops the runtime with the rest killed") {
    static std::atomic<bool> child_unwound{false};
    child_unwound = false;
    struct Guard {
        ~Guard() { child_unwound = true; }
    };
    int code = lunatic::main([](lunatic::Mailbox<std::string> mailbox) {
        lunatic::spawn(mailbox.this_process(),
                       [](lunatic::Process<std::string> root, lunatic::Mailbox<int> m) {
                           Guard guard;
                           root.send("started");
                           m.receive();  // never comes: the runtime stops and this throws Killed
                       });
        if (mailbox.receive() != "started") return 1;
        return 42;
    });
    CHECK(code == 42);
    CHECK(child_unwound.load());
}
