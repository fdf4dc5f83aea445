// Messages: build (new / append / extend / truncate / set_tag), read, free;
// zero-length and 64 MiB payloads through real sends; double free.
#include "fixture.hpp"

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

using namespace capi_test;

namespace {

Msg make_message(lunatic_tag tag, size_t reserve = 0) {
    lunatic_message *m = nullptr;
    int rc = lunatic_message_new(tag, reserve, &m);
    REQUIRE(rc == LUNATIC_OK);
    REQUIRE(m != nullptr);
    return Msg(m);
}

std::vector<uint8_t> bytes_of(const lunatic_message *m) {
    const uint8_t *d = lunatic_message_data(m);
    size_t n = lunatic_message_size(m);
    return d ? std::vector<uint8_t>(d, d + n) : std::vector<uint8_t>();
}

/** A cheap pattern that differs at every offset modulo 251 and depends on `seed`. */
uint8_t pattern(size_t i, uint8_t seed) { return static_cast<uint8_t>((i * 7 + seed) % 251); }

/** Receives one message, checks every byte against pattern(seed 3), and sends the
 *  same message object back to its sender (forwarding a received message). */
int big_echo_entry(const uint8_t *, size_t, void *) {
    lunatic_message *m = nullptr;
    if (lunatic_receive(nullptr, 0, 30 * kSec, &m) != LUNATIC_OK) return 1;
    lunatic_pid from{0, 0};
    if (lunatic_message_sender(m, &from) != LUNATIC_OK) return 2;
    const uint8_t *d = lunatic_message_data(m);
    size_t n = lunatic_message_size(m);
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i)
        if (d[i] != pattern(i, 3)) ++bad;
    uint64_t report[2] = {n, bad};
    if (lunatic_send_bytes(from, 1, report, sizeof report) != LUNATIC_OK) return 3;
    lunatic_message_set_tag(m, 2);
    if (lunatic_send(from, m) != LUNATIC_OK) {
        lunatic_message_free(m);
        return 4;
    }
    return 0;
}

}  // namespace

TEST_CASE("message: new gives an empty data message with the tag") {
    Msg m = make_message(42, 128);
    CHECK(lunatic_message_size(m.get()) == 0);
    CHECK(lunatic_message_data(m.get()) == nullptr);  // NULL when empty
    CHECK(lunatic_message_tag(m.get()) == 42);
    CHECK(lunatic_message_kind_of(m.get()) == LUNATIC_MESSAGE_DATA);
    lunatic_pid sender{7, 7};
    CHECK(lunatic_message_sender(m.get(), &sender) == LUNATIC_OK);
    CHECK(sender.node == 0);  // never sent: zero pid
    CHECK(sender.id == 0);

    Msg untagged = make_message(LUNATIC_TAG_NONE);
    CHECK(lunatic_message_tag(untagged.get()) == 0);
    lunatic_tag fresh = lunatic_tag_new();
    Msg big_tag = make_message(fresh);
    CHECK(lunatic_message_tag(big_tag.get()) == fresh);
}

TEST_CASE("message: append, extend, truncate and set_tag build the payload") {
    Msg m = make_message(1, 4);  // reserve smaller than what is written: must grow

    const char hello[] = "hello";
    REQUIRE(lunatic_message_append(m.get(), hello, 5) == LUNATIC_OK);
    CHECK(lunatic_message_size(m.get()) == 5);
    CHECK(msg_string(m.get()) == "hello");

    SUBCASE("append of zero bytes with NULL data is allowed and changes nothing") {
        CHECK(lunatic_message_append(m.get(), nullptr, 0) == LUNATIC_OK);
        CHECK(msg_string(m.get()) == "hello");
    }

    SUBCASE("extend gives writable room after the existing bytes") {
        uint8_t *p = nullptr;
        REQUIRE(lunatic_message_extend(m.get(), 6, &p) == LUNATIC_OK);
        REQUIRE(p != nullptr);
        std::memcpy(p, " world", 6);
        CHECK(lunatic_message_size(m.get()) == 11);
        CHECK(msg_string(m.get()) == "hello world");
        // The pointer stays valid until the message grows: write through it again.
        p[0] = '_';
        CHECK(msg_string(m.get()) == "hello_world");

        // Growing far beyond the reservation keeps the old bytes.
        uint8_t *q = nullptr;
        REQUIRE(lunatic_message_extend(m.get(), 100000, &q) == LUNATIC_OK);
        REQUIRE(q != nullptr);
        std::memset(q, 'x', 100000);
        CHECK(lunatic_message_size(m.get()) == 100011);
        CHECK(msg_string(m.get()).substr(0, 11) == "hello_world");
        CHECK(lunatic_message_data(m.get())[100010] == 'x');
        CHECK(q == lunatic_message_data(m.get()) + 11);
    }

    SUBCASE("truncate shrinks, keeping the prefix; beyond the size is EINVAL") {
        REQUIRE(lunatic_message_truncate(m.get(), 3) == LUNATIC_OK);
        CHECK(lunatic_message_size(m.get()) == 3);
        CHECK(msg_string(m.get()) == "hel");
        CHECK(lunatic_message_truncate(m.get(), 4) == LUNATIC_EINVAL);
        CHECK(lunatic_message_size(m.get()) == 3);
        CHECK(lunatic_message_truncate(m.get(), 3) == LUNATIC_OK);  // same size: fine
        REQUIRE(lunatic_message_append(m.get(), "p!", 2) == LUNATIC_OK);
        CHECK(msg_string(m.get()) == "help!");
        REQUIRE(lunatic_message_truncate(m.get(), 0) == LUNATIC_OK);
        CHECK(lunatic_message_size(m.get()) == 0);
        CHECK(lunatic_message_data(m.get()) == nullptr);
    }

    SUBCASE("set_tag changes only the tag") {
        REQUIRE(lunatic_message_set_tag(m.get(), 1234567) == LUNATIC_OK);
        CHECK(lunatic_message_tag(m.get()) == 1234567);
        REQUIRE(lunatic_message_set_tag(m.get(), INT64_MAX) == LUNATIC_OK);
        CHECK(lunatic_message_tag(m.get()) == INT64_MAX);
        CHECK(msg_string(m.get()) == "hello");
        CHECK(lunatic_message_kind_of(m.get()) == LUNATIC_MESSAGE_DATA);
    }
}

TEST_CASE("message: accessors of NULL return the documented neutral values") {
    CHECK(lunatic_message_kind_of(nullptr) == LUNATIC_MESSAGE_DATA);
    CHECK(lunatic_message_tag(nullptr) == 0);
    CHECK(lunatic_message_data(nullptr) == nullptr);
    CHECK(lunatic_message_size(nullptr) == 0);
    lunatic_message_free(nullptr);  // a no-op: must not crash
    Msg still_works = make_message(3);
    CHECK(lunatic_message_tag(still_works.get()) == 3);
}

TEST_CASE("message: building works without a runtime and on an unattached thread") {
    std::atomic<int> result{-100};
    std::thread t([&] {
        lunatic_message *m = nullptr;
        if (lunatic_message_new(9, 0, &m) != LUNATIC_OK) return;
        int rc = lunatic_message_append(m, "abc", 3);
        result = rc == LUNATIC_OK && lunatic_message_size(m) == 3 ? 0 : rc;
        lunatic_message_free(m);
    });
    t.join();
    CHECK(result.load() == 0);
}

TEST_CASE("message: zero-length payloads are sent and received") {
    Runtime rt;
    lunatic_pid echo = spawn(echo_entry);
    REQUIRE(echo.id != 0);

    SUBCASE("send_bytes with NULL data and length 0") {
        REQUIRE(lunatic_send_bytes(echo, 11, nullptr, 0) == LUNATIC_OK);
        Received r = recv({11});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(lunatic_message_size(r.msg.get()) == 0);
        CHECK(lunatic_message_tag(r.msg.get()) == 11);
        CHECK(msg_sender(r.msg.get()) == echo);
    }
    SUBCASE("an empty built message through lunatic_send") {
        Msg m = make_message(12);
        REQUIRE(lunatic_send(echo, m.get()) == LUNATIC_OK);
        m.release();  // owned by the runtime now
        Received r = recv({12});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(lunatic_message_size(r.msg.get()) == 0);
        CHECK(lunatic_message_data(r.msg.get()) == nullptr);
        CHECK(lunatic_message_kind_of(r.msg.get()) == LUNATIC_MESSAGE_DATA);
    }
    SUBCASE("to self") {
        REQUIRE(lunatic_send_bytes(rt.self, 13, nullptr, 0) == LUNATIC_OK);
        Received r = recv({13});
        REQUIRE(r.rc == LUNATIC_OK);
        CHECK(lunatic_message_size(r.msg.get()) == 0);
        CHECK(msg_sender(r.msg.get()) == rt.self);
    }
    CHECK(lunatic_send_bytes(echo, kStopTag, nullptr, 0) == LUNATIC_OK);
}

TEST_CASE("message: a 64 MiB payload makes a round trip intact") {
    constexpr size_t kBig = size_t{64} << 20;
    Runtime rt;

    SUBCASE("built with extend, sent with lunatic_send, forwarded back") {
        lunatic_pid child = spawn(big_echo_entry);
        REQUIRE(child.id != 0);
        Msg m = make_message(5, 0);
        uint8_t *p = nullptr;
        REQUIRE(lunatic_message_extend(m.get(), kBig, &p) == LUNATIC_OK);
        REQUIRE(p != nullptr);
        for (size_t i = 0; i < kBig; ++i) p[i] = pattern(i, 3);
        REQUIRE(lunatic_message_size(m.get()) == kBig);
        REQUIRE(lunatic_send(child, m.get()) == LUNATIC_OK);
        m.release();

        Received report = recv({1});
        REQUIRE(report.rc == LUNATIC_OK);
        REQUIRE(lunatic_message_size(report.msg.get()) == 2 * sizeof(uint64_t));
        uint64_t rep[2];
        std::memcpy(rep, lunatic_message_data(report.msg.get()), sizeof rep);
        CHECK(rep[0] == kBig);  // size seen by the child
        CHECK(rep[1] == 0);     // bytes that differed

        Received back = recv({2});
        REQUIRE(back.rc == LUNATIC_OK);
        REQUIRE(lunatic_message_size(back.msg.get()) == kBig);
        const uint8_t *d = lunatic_message_data(back.msg.get());
        size_t bad = 0;
        for (size_t i = 0; i < kBig; ++i)
            if (d[i] != pattern(i, 3)) ++bad;
        CHECK(bad == 0);
        CHECK(msg_sender(back.msg.get()) == child);
    }

    SUBCASE("copied by send_bytes; the caller's buffer may change afterwards") {
        lunatic_pid child = spawn(big_echo_entry);
        REQUIRE(child.id != 0);
        std::vector<uint8_t> buf(kBig);
        for (size_t i = 0; i < kBig; ++i) buf[i] = pattern(i, 3);
        REQUIRE(lunatic_send_bytes(child, 5, buf.data(), buf.size()) == LUNATIC_OK);
        std::fill(buf.begin(), buf.end(), uint8_t{0xEE});  // after the send: must not matter

        Received report = recv({1});
        REQUIRE(report.rc == LUNATIC_OK);
        REQUIRE(lunatic_message_size(report.msg.get()) == 2 * sizeof(uint64_t));
        uint64_t rep[2];
        std::memcpy(rep, lunatic_message_data(report.msg.get()), sizeof rep);
        CHECK(rep[0] == kBig);
        CHECK(rep[1] == 0);
        CHECK(recv({2}).rc == LUNATIC_OK);
    }
}

TEST_CASE("message: append of many small pieces keeps every byte in order") {
    Msg m = make_message(1);
    std::vector<uint8_t> expect;
    for (int i = 0; i < 5000; ++i) {
        uint8_t piece[3] = {static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8),
                            static_cast<uint8_t>(i * 31)};
        REQUIRE(lunatic_message_append(m.get(), piece, sizeof piece) == LUNATIC_OK);
        expect.insert(expect.end(), piece, piece + 3);
    }
    CHECK(bytes_of(m.get()) == expect);
}

// A double free may abort the whole program when it is not detected, so each
// double-free scenario runs in a forked child; the test checks the child's fate.
namespace {

/** Runs fn() in a forked child; returns its wait status (exit code 0 = survived and passed). */
template <class Fn>
int in_child(Fn fn) {
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        default_signals_in_child();
        int code = fn();
        std::fflush(nullptr);
        _exit(code);
    }
    REQUIRE(pid > 0);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return status;
}

void check_child(int status) {
    if (WIFSIGNALED(status)) {
        FAIL("the child died of signal " << WTERMSIG(status) << " ("
                                         << std::string(strsignal(WTERMSIG(status))) << ")");
    }
    REQUIRE(WIFEXITED(status));
    CHECK_MESSAGE(WEXITSTATUS(status) == 0, "child check failed at step " << WEXITSTATUS(status));
}

}  // namespace

TEST_CASE("message: a message freed twice does not crash the library") {
    // "A message freed twice is detected where possible": the second free must
    // be harmless (no abort, no heap corruption visible to later allocations).
    int status = in_child([]() -> int {
        lunatic_message *m = nullptr;
        if (lunatic_message_new(77, 64, &m) != LUNATIC_OK) return 1;
        if (lunatic_message_append(m, "twice", 5) != LUNATIC_OK) return 2;
        lunatic_message_free(m);
        lunatic_message_free(m);  // the misuse under test

        // The allocator and the library still work: several messages, intact and distinct.
        std::vector<lunatic_message *> after(16, nullptr);
        for (int i = 0; i < 16; ++i) {
            if (lunatic_message_new(i, 0, &after[i]) != LUNATIC_OK) return 3;
            if (lunatic_message_append(after[i], &i, sizeof i) != LUNATIC_OK) return 4;
        }
        for (int i = 0; i < 16; ++i) {
            int v = -1;
            if (lunatic_message_tag(after[i]) != i) return 5;
            if (lunatic_message_size(after[i]) != sizeof v) return 6;
            std::memcpy(&v, lunatic_message_data(after[i]), sizeof v);
            if (v != i) return 7;
        }
        for (auto *m2 : after) lunatic_message_free(m2);
        return 0;
    });
    check_child(status);
}

TEST_CASE("message: a message freed twice after many other frees does not crash the library") {
    // The same misuse in a busier heap: other messages of the same size were
    // freed just before, so the allocator's per-thread cache for that size is
    // full and the freed message lands in another free list.
    int status = in_child([]() -> int {
#ifdef M_PERTURB
        // `meson test` sets MALLOC_PERTURB_, which makes glibc scribble over freed
        // memory and so hides whether the library really detects the second free.
        // Run with the allocator as programs normally get it.
        mallopt(M_PERTURB, 0);
#endif
        std::vector<lunatic_message *> others(32, nullptr);
        for (auto &o : others)
            if (lunatic_message_new(1, 0, &o) != LUNATIC_OK) return 1;
        lunatic_message *m = nullptr;
        if (lunatic_message_new(77, 0, &m) != LUNATIC_OK) return 2;
        for (auto *o : others) lunatic_message_free(o);
        lunatic_message_free(m);
        lunatic_message_free(m);  // the misuse under test
        // Two new messages must be two distinct objects with their own tags.
        lunatic_message *a = nullptr, *b = nullptr;
        if (lunatic_message_new(10, 0, &a) != LUNATIC_OK) return 3;
        if (lunatic_message_new(20, 0, &b) != LUNATIC_OK) return 4;
        if (a == b) return 5;
        if (lunatic_message_tag(a) != 10 || lunatic_message_tag(b) != 20) return 6;
        lunatic_message_free(a);
        lunatic_message_free(b);
        return 0;
    });
    check_child(status);
}

TEST_CASE("message: a received message freed twice does not crash the library") {
    int status = in_child([]() -> int {
        lunatic_runtime_options o = runtime_options(1, nullptr);
        lunatic_runtime *rt = nullptr;
        if (lunatic_runtime_create(&o, &rt) != LUNATIC_OK) return 1;
        lunatic_pid me{0, 0};
        if (lunatic_runtime_attach(rt, &me) != LUNATIC_OK) return 2;
        if (lunatic_send_bytes(me, 4, "x", 1) != LUNATIC_OK) return 3;
        lunatic_message *m = nullptr;
        if (lunatic_receive(nullptr, 0, kTimeout, &m) != LUNATIC_OK) return 4;
        lunatic_message_free(m);
        lunatic_message_free(m);  // the misuse under test
        // The mailbox still works.
        if (lunatic_send_bytes(me, 5, "yz", 2) != LUNATIC_OK) return 5;
        lunatic_tag five = 5;
        if (lunatic_receive(&five, 1, kTimeout, &m) != LUNATIC_OK) return 6;
        if (msg_string(m) != "yz") return 7;
        lunatic_message_free(m);
        if (lunatic_runtime_destroy(rt) != LUNATIC_OK) return 8;
        return 0;
    });
    check_child(status);
}
