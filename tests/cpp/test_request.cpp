// Request/reply (lunatic::request over plain processes): replies, a server
// that is dead or dies mid-request, timeouts and late replies.
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {

auto quiet = [](void *, int, const char *) {};

using Doubler = lunatic::Process<lunatic::Request<int32_t, int32_t>>;

void doubler(int, lunatic::Mailbox<lunatic::Request<int32_t, int32_t>> mailbox) {
    for (;;) {
        auto request = mailbox.receive();
        request.reply(request.body * 2);
    }
}

// Answers each request after `capture` milliseconds with body + capture.
void slow(int32_t delay_ms, lunatic::Mailbox<lunatic::Request<int32_t, int32_t>> mailbox) {
    for (;;) {
        auto request = mailbox.receive();
        lunatic::sleep(std::chrono::milliseconds(delay_ms));
        request.reply(request.body + delay_ms);
    }
}

}  // namespace

TEST_CASE("request returns the reply; unrelated messages stay queued") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int32_t> mailbox;
    mailbox.this_process().send(99);  // must still be there afterwards
    auto server = lunatic::spawn(0, doubler);
    for (int32_t i = 0; i < 100; ++i) CHECK(lunatic::request(server, i, 5s) == 2 * i);
    CHECK(lunatic::request(server, 21) == 42);  // no time limit
    auto left = mailbox.try_receive();
    REQUIRE(left.is_message());
    CHECK(*left == 99);
    CHECK(mailbox.size() == 0);
}

TEST_CASE("a request to a server that is gone is a prompt ServerDied") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int32_t> mailbox;
    auto server =
        lunatic::spawn(0, [](int, lunatic::Mailbox<lunatic::Request<int32_t, int32_t>>) {});
    mailbox.monitor(server);
    REQUIRE(mailbox.receive_timeout(5s).is_process_died());
    auto start = std::chrono::steady_clock::now();
    try {
        lunatic::request(server, 1);  // no timeout: only the death can end it
        FAIL("no error");
    } catch (const lunatic::ServerDied &e) {
        CHECK(e.reason() == lunatic::ExitReason::noproc);
        CHECK(e.code() == LUNATIC_ENOPROC);
    }
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    CHECK(mailbox.size() == 0);  // no ProcessDied left behind
}

TEST_CASE("a server that dies mid-request gives ServerDied with its reason, not a hang") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    lunatic::Mailbox<int32_t> mailbox;
    auto server =
        lunatic::spawn(0, [](int, lunatic::Mailbox<lunatic::Request<int32_t, int32_t>> m) {
            m.receive();
            lunatic::sleep(20ms);
            throw std::runtime_error("handler exploded");
        });
    try {
        lunatic::request(server, 1);
        FAIL("no error");
    } catch (const lunatic::ServerDied &e) {
        CHECK(e.reason() == lunatic::ExitReason::failed);
        CHECK(e.reason_text().find("handler exploded") != std::string::npos);
        CHECK(e.pid().id == server.id());
    }
    // A killed server, too (it would answer after a minute).
    auto sleeper = lunatic::spawn(60000, slow);
    lunatic::spawn(sleeper, [](Doubler target, lunatic::Mailbox<int>) {
        lunatic::sleep(30ms);
        target.kill();
    });
    auto start = std::chrono::steady_clock::now();
    try {
        lunatic::request(sleeper, 1, 60s);
        FAIL("no error");
    } catch (const lunatic::ServerDied &e) {
        CHECK(e.reason() == lunatic::ExitReason::killed);
    }
    CHECK(std::chrono::steady_clock::now() - start < 10s);
    CHECK(mailbox.size() == 0);
}

TEST_CASE("a server that replies and then ends: the reply wins") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    for (int i = 0; i < 50; ++i) {
        auto server = lunatic::spawn(
            i % 2, [](int fail, lunatic::Mailbox<lunatic::Request<int32_t, int32_t>> m) {
                auto r = m.receive();
                r.reply(r.body + 1);
                if (fail) throw std::runtime_error("after the reply");
            });
        CHECK(lunatic::request(server, i, 10s) == i + 1);
    }
    // Nothing left behind: the end of each server (queued before or after the
    // request's demonitor) never shows up as a ProcessDied.
    lunatic::Mailbox<int32_t> mailbox;
    lunatic::sleep(20ms);
    CHECK(mailbox.size() == 0);
    CHECK(mailbox.try_receive().is_timed_out());  // signals included
}

TEST_CASE("a timed-out request: TimeoutError, and the late reply never shows up") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int32_t> mailbox;
    auto server = lunatic::spawn(200, slow);
    auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(lunatic::request(server, 1, 30ms), lunatic::TimeoutError);
    CHECK(std::chrono::steady_clock::now() - start < 190ms);
    // The server replies at about 200 ms; a second request queued behind the
    // first is answered after that, so by then the late reply has arrived (and
    // was dropped on arrival).
    CHECK(lunatic::request(server, 5, 10s) == 205);
    lunatic::sleep(20ms);
    CHECK(mailbox.size() == 0);
    CHECK(mailbox.try_receive().is_timed_out());
}

TEST_CASE("requests to several servers: each reply goes to its own request") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int32_t> mailbox;
    auto a = lunatic::spawn(50, slow);
    auto b = lunatic::spawn(100, slow);
    // a's reply comes (late) while the request to b is waiting: it must not be taken for b's.
    CHECK_THROWS_AS(lunatic::request(a, 1, 10ms), lunatic::TimeoutError);
    CHECK(lunatic::request(b, 1, 10s) == 101);
    // Several processes with requests to the same servers at once (b answers
    // one every 100 ms: about a second).
    auto self = mailbox.this_process();
    for (int32_t i = 0; i < 10; ++i) {
        lunatic::spawn(std::make_tuple(i, a, b, self),
                       [](std::tuple<int32_t, Doubler, Doubler, lunatic::Process<int32_t>> c,
                          lunatic::Mailbox<int>) {
                           auto [n, sa, sb, parent] = c;
                           int32_t x = lunatic::request(sa, n, 30s);
                           int32_t y = lunatic::request(sb, n, 30s);
                           parent.send(x == n + 50 && y == n + 100 ? 1 : 0);
                       });
    }
    int ok = 0;
    for (int i = 0; i < 10; ++i) {
        auto r = mailbox.receive_timeout(60s);
        REQUIRE(r.is_message());
        ok += *r;
    }
    CHECK(ok == 10);
}

TEST_CASE("a reply of the wrong type is a DeserializationError") {
    lunatic::Runtime runtime({.workers = 2});
    // A server that thinks replies are strings.
    auto wrong =
        lunatic::spawn(0, [](int, lunatic::Mailbox<lunatic::Request<int32_t, std::string>> m) {
            auto r = m.receive();
            r.reply("not a number, and far too long for one");
        });
    lunatic::Process<lunatic::Request<int32_t, int32_t>> as_int(wrong.raw());
    CHECK_THROWS_AS(lunatic::request(as_int, 1, 5s), lunatic::DeserializationError);
}
