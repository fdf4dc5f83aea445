// Failures: exceptions escaping entries, kills unwinding processes, error codes.
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {
std::mutex log_mutex;
std::vector<std::string> log_lines;
void capture_log(void *, int, const char *line) {
    std::lock_guard lock(log_mutex);
    log_lines.emplace_back(line);
}
bool logged(const std::string &needle) {
    std::lock_guard lock(log_mutex);
    for (auto &l : log_lines)
        if (l.find(needle) != std::string::npos) return true;
    return false;
}
}  // namespace

TEST_CASE("an exception escaping an entry fails the process with its what()") {
    {
        std::lock_guard lock(log_mutex);
        log_lines.clear();
    }
    lunatic::Runtime runtime({.workers = 2, .log = capture_log});
    lunatic::Mailbox<int> mailbox;
    lunatic::spawn(0, [](int, lunatic::Mailbox<int>) { throw std::runtime_error("the sky fell"); });
    for (int i = 0; i < 500 && !logged("the sky fell"); ++i) lunatic::sleep(2ms);
    CHECK(logged("failed: the sky fell"));
    // The runtime carries on.
    auto self = mailbox.this_process();
    lunatic::spawn(self, [](lunatic::Process<int> p, lunatic::Mailbox<int>) { p.send(1); });
    CHECK(mailbox.receive_timeout(5s).is_message());
}

TEST_CASE(
    "a killed process unwinds: its destructors run and ordinary catch blocks do not stop it") {
    static std::atomic<int> destructors{0};
    static std::atomic<int> swallowed{0};
    static std::atomic<int> waiting{0};
    destructors = 0;
    swallowed = 0;
    waiting = 0;
    struct Guard {
        ~Guard() { ++destructors; }
    };
    {
        lunatic::Runtime runtime({.workers = 2});
        for (int i = 0; i < 10; ++i) {
            lunatic::spawn(0, [](int, lunatic::Mailbox<int> m) {
                Guard guard;
                try {
                    ++waiting;
                    m.receive();
                } catch (const lunatic::Error &) {
                    ++swallowed;  // Killed is not a lunatic::Error...
                } catch (const std::exception &) {
                    ++swallowed;  // ...nor a std::exception: never here
                }
            });
        }
        lunatic::Mailbox<int> mailbox;
        for (int i = 0; i < 500 && waiting.load() < 10; ++i) lunatic::sleep(1ms);
        REQUIRE(waiting.load() == 10);
    }  // ~Runtime kills them all
    CHECK(destructors.load() == 10);
    CHECK(swallowed.load() == 0);
}

TEST_CASE("errors carry their C status code") {
    lunatic::Runtime runtime({.workers = 1});
    try {
        lunatic::detail::check(LUNATIC_ENOPROC);
        FAIL("no exception");
    } catch (const lunatic::NoProcessError &e) {
        CHECK(e.code() == LUNATIC_ENOPROC);
    }
    CHECK_THROWS_AS(lunatic::detail::check(LUNATIC_ETIMEDOUT), lunatic::TimeoutError);
    CHECK_THROWS_AS(lunatic::detail::check(LUNATIC_EDECODE), lunatic::DeserializationError);
    CHECK_THROWS_AS(lunatic::detail::check(LUNATIC_EKILLED), lunatic::Killed);
    CHECK_THROWS_AS(lunatic::detail::check(LUNATIC_EINVAL), lunatic::Error);
}

TEST_CASE("ProcessLocal gives every process its own value") {
    static lunatic::ProcessLocal<std::vector<int>> seen;
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<size_t> mailbox;
    seen->push_back(1);
    seen->push_back(2);
    for (int i = 0; i < 20; ++i) {
        lunatic::spawn(std::make_pair(mailbox.this_process(), i),
                       [](std::pair<lunatic::Process<size_t>, int> arg, lunatic::Mailbox<int>) {
                           for (int k = 0; k <= arg.second; ++k) {
                               seen->push_back(k);
                               lunatic::yield();  // move around between workers meanwhile
                           }
                           arg.first.send(seen->size());
                       });
    }
    std::vector<size_t> sizes;
    for (int i = 0; i < 20; ++i) {
        auto r = mailbox.receive_timeout(5s);
        REQUIRE(r.is_message());
        sizes.push_back(*r);
    }
    std::sort(sizes.begin(), sizes.end());
    for (size_t i = 0; i < 20; ++i) CHECK(sizes[i] == i + 1);
    CHECK(seen->size() == 2);
}
