// Mailbox<M, S>: receive, timeouts, selective receive and bad payloads.
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("a mailbox needs a process") {
    CHECK_THROWS_AS(lunatic::Mailbox<int>(), lunatic::Error);
    try {
        lunatic::Mailbox<int> m;
    } catch (const lunatic::Error &e) {
        CHECK(e.code() == LUNATIC_ESTATE);
    }
}

TEST_CASE("receive_timeout, try_receive and the order of messages") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<int> mailbox;
    auto self = mailbox.this_process();
    CHECK(mailbox.try_receive().is_timed_out());
    CHECK(mailbox.receive_timeout(0ms).is_timed_out());
    auto waited = mailbox.receive_timeout(20ms);
    CHECK(waited.is_timed_out());
    CHECK_THROWS_AS(waited.value(), lunatic::TimeoutError);
    for (int i = 0; i < 100; ++i) self.send(i);
    CHECK(mailbox.size() == 100);
    for (int i = 0; i < 100; ++i) CHECK(mailbox.receive() == i);
    auto later = lunatic::spawn(self, [](lunatic::Process<int> parent, lunatic::Mailbox<int>) {
        lunatic::sleep(10ms);
        parent.send(77);
    });
    (void)later;
    auto r = mailbox.receive_timeout(5s);
    REQUIRE(r.is_message());
    CHECK(*r == 77);
}

TEST_CASE("tag_receive takes only the tags asked for and leaves the rest in order") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<std::string> mailbox;
    auto self = mailbox.this_process();
    lunatic::Tag a = lunatic::Tag::fresh(), b = lunatic::Tag::fresh(), c = lunatic::Tag::fresh();
    self.tag_send(a, "a1");
    self.tag_send(b, "b1");
    self.tag_send(c, "c1");
    self.tag_send(a, "a2");
    self.send("plain");
    CHECK(mailbox.tag_receive({c}) == "c1");
    CHECK(mailbox.tag_receive({b, a}) == "a1");  // the oldest of either tag
    auto none = mailbox.tag_receive_timeout({lunatic::Tag(424242)}, 5ms);
    CHECK(none.is_timed_out());
    auto r = mailbox.tag_receive_timeout({a}, 1s);
    REQUIRE(r.is_message());
    CHECK(r.tag() == a);
    CHECK(*r == "a2");
    CHECK(mailbox.receive() == "b1");
    CHECK(mailbox.receive() == "plain");
}

TEST_CASE("a payload that is not an M is reported, not dropped, and nothing else is lost") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<std::string> mailbox;
    auto self = mailbox.this_process();
    // 3 bytes cannot be a bincode string (it needs an 8-byte length first).
    const uint8_t junk[] = {1, 2, 3};
    REQUIRE(lunatic_send_bytes(self.raw(), 9, junk, sizeof junk) == LUNATIC_OK);
    self.send("after");
    auto bad = mailbox.receive_timeout(1s);
    CHECK(bad.is_deserialization_failed());
    CHECK(bad.tag() == lunatic::Tag(9));
    CHECK(bad.raw() == std::vector<uint8_t>{1, 2, 3});
    CHECK_FALSE(bad.error().empty());
    CHECK_THROWS_AS(bad.value(), lunatic::DeserializationError);
    CHECK(mailbox.receive() == "after");

    // A string length claiming far more bytes than the payload has.
    const uint8_t lying[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'x'};
    REQUIRE(lunatic_send_bytes(self.raw(), 0, lying, sizeof lying) == LUNATIC_OK);
    CHECK_THROWS_AS(mailbox.receive(), lunatic::DeserializationError);

    // Trailing bytes after a valid value are an error too.
    lunatic::Mailbox<int> ints;
    const uint8_t longer[] = {1, 0, 0, 0, 9};
    REQUIRE(lunatic_send_bytes(self.raw(), 0, longer, sizeof longer) == LUNATIC_OK);
    CHECK(ints.receive_timeout(1s).is_deserialization_failed());
}

TEST_CASE(
    "timed receives: a short wait after long ones times out on time, a long one after short ones "
    "waits") {
    lunatic::Runtime runtime({.workers = 1});
    lunatic::Mailbox<int> results;
    // Runs in a fiber (timers of fibers live in the workers).
    lunatic::spawn(
        results.this_process(), [](lunatic::Process<int> report, lunatic::Mailbox<int> m) {
            auto self = m.this_process();
            int ok = 0;
            // Many long timed receives that get their message at once...
            for (int i = 0; i < 1000; ++i) {
                self.send(i);
                auto r = m.receive_timeout(std::chrono::seconds(30));
                ok += r.is_message() && *r == i;
            }
            // ...then a short one must still time out on time, not after 30 s.
            auto start = std::chrono::steady_clock::now();
            bool timed_out = m.receive_timeout(20ms).is_timed_out();
            bool on_time = std::chrono::steady_clock::now() - start < std::chrono::seconds(10);
            // A short timed receive satisfied at once, then a long one whose message
            // comes after the short one's deadline: it must wait for the message.
            self.send(1);
            m.receive_timeout(10ms);
            self.send_after(2, 100ms);
            auto late = m.receive_timeout(std::chrono::seconds(10));
            bool waited = late.is_message() && *late == 2;
            report.send(ok == 1000 && timed_out && on_time && waited ? 1 : 0);
        });
    auto r = results.receive_timeout(std::chrono::seconds(20));
    REQUIRE(r.is_message());
    CHECK(*r == 1);
}
