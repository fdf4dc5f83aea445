// Mailbox and Message: the queue under every receive.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "core/mailbox.hpp"

using namespace lunatic::core;

namespace {
Message *tagged(int64_t tag, int value) {
    Message *m = Message::create(tag, 0);
    REQUIRE(m != nullptr);
    REQUIRE(m->append(&value, sizeof value));
    return m;
}
int value_of(Message *m) {
    int v;
    REQUIRE(m->size() == sizeof v);
    std::memcpy(&v, m->data(), sizeof v);
    return v;
}
}  // namespace

TEST_CASE("a mailbox hands out messages in arrival order") {
    Mailbox box;
    for (int i = 0; i < 10; ++i) box.push(tagged(0, i));
    CHECK(box.size() == 10);
    for (int i = 0; i < 10; ++i) {
        Message *m = box.take(TagFilter{});
        REQUIRE(m != nullptr);
        CHECK(value_of(m) == i);
        Message::destroy(m);
    }
    CHECK(box.take(TagFilter{}) == nullptr);
}

TEST_CASE("selective take leaves the other messages queued in order") {
    Mailbox box;
    // tags: 1 2 3 1 2 3 ...
    for (int i = 0; i < 9; ++i) box.push(tagged(i % 3 + 1, i));
    const int64_t want[] = {3, 2};
    std::vector<int> taken;
    while (Message *m = box.take(TagFilter{want, 2})) {
        taken.push_back(value_of(m));
        Message::destroy(m);
    }
    CHECK(taken == std::vector<int>{1, 2, 4, 5, 7, 8});
    CHECK(box.size() == 3);
    std::vector<int> rest;
    while (Message *m = box.take(TagFilter{})) {
        CHECK(m->tag() == 1);
        rest.push_back(value_of(m));
        Message::destroy(m);
    }
    CHECK(rest == std::vector<int>{0, 3, 6});
}

TEST_CASE("taking the last message keeps the tail right for later pushes") {
    Mailbox box;
    box.push(tagged(1, 10));
    box.push(tagged(2, 20));
    const int64_t two = 2;
    Message *m = box.take(TagFilter{&two, 1});
    REQUIRE(m != nullptr);
    Message::destroy(m);
    box.push(tagged(3, 30));
    std::vector<int> order;
    while (Message *n = box.take(TagFilter{})) {
        order.push_back(value_of(n));
        Message::destroy(n);
    }
    CHECK(order == std::vector<int>{10, 30});
}

TEST_CASE("messages grow past their inline buffer and keep their bytes") {
    Message *m = Message::create(5, 0);
    REQUIRE(m != nullptr);
    std::vector<uint8_t> expected;
    for (int i = 0; i < 1000; ++i) {
        uint8_t b = static_cast<uint8_t>(i * 7);
        REQUIRE(m->append(&b, 1));
        expected.push_back(b);
    }
    REQUIRE(m->size() == expected.size());
    CHECK(std::memcmp(m->data(), expected.data(), expected.size()) == 0);
    uint8_t *tail = m->extend(4);
    REQUIRE(tail != nullptr);
    std::memset(tail, 0xab, 4);
    CHECK(m->size() == 1004);
    CHECK(m->data()[1003] == 0xab);
    m->truncate(10);
    CHECK(m->size() == 10);
    CHECK(Message::destroy(m));
}

TEST_CASE("a queued message is not a live one, so freeing it by mistake is refused") {
    Mailbox box;
    Message *m = tagged(0, 1);
    box.push(m);
    CHECK_FALSE(m->is_live());
    CHECK_FALSE(Message::destroy(m));  // still owned by the mailbox
    Message *back = box.take(TagFilter{});
    CHECK(back == m);
    CHECK(back->is_live());
    CHECK(Message::destroy(back));
}
