// 100,000 typed processes, each answering one message: none lost.
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("100,000 typed processes each answer one message") {
    constexpr int kProcesses = 100000;
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<uint64_t> mailbox;
    auto self = mailbox.this_process();
    std::vector<lunatic::Process<uint64_t>> children;
    children.reserve(kProcesses);
    for (uint64_t i = 0; i < kProcesses; ++i) {
        children.push_back(lunatic::spawn(
            std::make_pair(self, i),
            [](std::pair<lunatic::Process<uint64_t>, uint64_t> arg, lunatic::Mailbox<uint64_t> m) {
                uint64_t x = m.receive();
                arg.first.send(x * 2 + arg.second);
            }));
    }
    for (uint64_t i = 0; i < kProcesses; ++i) REQUIRE(children[i].send(i));
    uint64_t sum = 0;
    int received = 0;
    for (; received < kProcesses; ++received) {
        auto r = mailbox.receive_timeout(10s);
        if (!r.is_message()) break;
        sum += *r;
    }
    CHECK(received == kProcesses);
    const uint64_t n = kProcesses;
    CHECK(sum == 3 * (n * (n - 1) / 2));
}
