// Process<M, S> handles: values that compare, hash, print and travel in messages.
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>

#include <chrono>
#include <sstream>
#include <string>
#include <unordered_set>

using namespace std::chrono_literals;

TEST_CASE("a handle is a 16-byte value that compares, hashes and prints") {
    static_assert(sizeof(lunatic::Process<int>) == 16);
    lunatic::Process<int> a(0x1234, 7), b(0x1234, 7), c(0x1234, 8);
    CHECK(a == b);
    CHECK_FALSE(a == c);
    CHECK(a.node_id() == 0x1234);
    CHECK(a.id() == 7);
    std::unordered_set<lunatic::Process<int>> set{a, b, c};
    CHECK(set.size() == 2);
    std::ostringstream text;
    text << a;
    CHECK(text.str() == "<1234.7>");
}

TEST_CASE("a child replies to the handle it was sent in a message") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<std::string> mailbox;
    auto echo = lunatic::spawn(0, [](int, lunatic::Mailbox<lunatic::Process<std::string>> m) {
        auto reply_to = m.receive();
        reply_to.send("pong");
    });
    CHECK(echo.send(mailbox.this_process()));
    auto reply = mailbox.receive_timeout(5s);
    REQUIRE(reply.is_message());
    CHECK(*reply == "pong");
}

TEST_CASE("a handle decodes back to the same process in the child") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<lunatic::Process<int>> mailbox;
    // The capture carries the parent's handle; the child sends its own handle back.
    lunatic::spawn(mailbox.this_process(),
                   [](lunatic::Process<lunatic::Process<int>> parent, lunatic::Mailbox<int> m) {
                       parent.send(m.this_process());
                   });
    auto child = mailbox.receive_timeout(5s);
    REQUIRE(child.is_message());
    CHECK(child->node_id() == runtime.node_id());
    CHECK(child->id() != mailbox.this_process().id());
}

TEST_CASE("send and tag_send report a finished process instead of throwing") {
    lunatic::Runtime runtime({.workers = 1});
    lunatic::Mailbox<int> mailbox;
    auto child =
        lunatic::spawn(mailbox.this_process(),
                       [](lunatic::Process<int> parent, lunatic::Mailbox<int>) { parent.send(1); });
    REQUIRE(mailbox.receive_timeout(5s).is_message());
    bool delivered = true;
    for (int i = 0; i < 1000 && delivered; ++i) {
        delivered = child.send(5);
        lunatic::sleep(1ms);
    }
    CHECK_FALSE(delivered);
    CHECK_FALSE(child.tag_send(lunatic::Tag(3), 5));
    CHECK_FALSE(lunatic::Process<int>(runtime.node_id(), 999999999).send(1));
}

TEST_CASE("tags: fresh ones are unique, none is zero") {
    lunatic::Tag a = lunatic::Tag::fresh(), b = lunatic::Tag::fresh();
    CHECK(a != b);
    CHECK_FALSE(a.is_none());
    CHECK(lunatic::Tag::none().is_none());
    CHECK(lunatic::Tag() == lunatic::Tag::none());
    CHECK(lunatic::Tag(5).id() == 5);
}
