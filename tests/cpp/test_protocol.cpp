// Session-typed protocols (lunatic/protocol.hpp): the issue's example, choice and
// recursion, session tags against unrelated messages and a second session with
// the same peer, unfinished drops, timeouts and the Json serializer. The
// misuses that must not compile are in tests/cpp/compile_fail/.
#include <doctest/doctest.h>

#include <lunatic/json.hpp>
#include <lunatic/lunatic.hpp>
#include <lunatic/msgpack.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using lunatic::Choose;
using lunatic::Dual;
using lunatic::End;
using lunatic::Loop;
using lunatic::Offer;
using lunatic::Protocol;
using lunatic::Rec;
using lunatic::Recv;
using lunatic::Send;

namespace {

const lunatic::RuntimeOptions quiet{.workers = 2, .log = [](void *, int, const char *) {}};

/// A ProcessDied signal of a monitored process.
struct Death {
    bool received = false;
    uint64_t id = 0;
    lunatic::ExitReason reason = lunatic::ExitReason::normal;
    std::string text;
};

/// Waits up to 5 s for the next ProcessDied signal (or LinkDied, by mask); data messages stay
/// queued.
Death wait_died(uint32_t mask = LUNATIC_RECEIVE_PROCESS_DIED) {
    Death death;
    lunatic_message *m = nullptr;
    if (lunatic_receive_mask(mask, nullptr, 0, int64_t{5'000'000'000}, &m) != LUNATIC_OK)
        return death;
    lunatic_pid pid{};
    lunatic_exit_reason reason{};
    lunatic_message_signal(m, &pid, &reason);
    death = {true, pid.id, static_cast<lunatic::ExitReason>(reason),
             std::string(reinterpret_cast<const char *>(lunatic_message_data(m)),
                         lunatic_message_size(m))};
    lunatic_message_free(m);
    return death;
}

bool ended_normally() {
    Death death = wait_died();
    return death.received && death.reason == lunatic::ExitReason::normal;
}

/// The tag of the reports children send outside their sessions.
constexpr lunatic::Tag report(9);

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

// ---- the issue's example

using AddProtocol = Recv<int, Recv<int, Send<int, End>>>;

// ---- a calculator: the client picks an operation until it chooses quit; the
// server then reports how many operations it did.
using CalcServer = Rec<Offer<Recv<int, Recv<int, Send<int, Loop>>>,  // 0: add
                             Recv<int, Recv<int, Send<int, Loop>>>,  // 1: multiply
                             Recv<int, Send<int, Loop>>,             // 2: negate
                             Send<int, End>>>;                       // 3: quit (operations done)
using CalcClient = Dual<CalcServer>;

static_assert(std::is_same_v<Dual<AddProtocol>, Send<int, Send<int, Recv<int, End>>>>);
static_assert(std::is_same_v<Dual<Dual<CalcServer>>, CalcServer>);
static_assert(std::is_same_v<CalcClient, Rec<Choose<Send<int, Send<int, Recv<int, Loop>>>,
                                                    Send<int, Send<int, Recv<int, Loop>>>,
                                                    Send<int, Recv<int, Loop>>, Recv<int, End>>>>);
// A Rec is unfolded where it is reached: one turn of the loop leads back to the same type.
static_assert(std::is_same_v<Protocol<CalcServer>::state_type,
                             Offer<Recv<int, Recv<int, Send<int, CalcServer>>>,
                                   Recv<int, Recv<int, Send<int, CalcServer>>>,
                                   Recv<int, Send<int, CalcServer>>, Send<int, End>>>);
// Loop refers to the innermost Rec, Var<1> to the one around it.
using Nested = Rec<Send<int, Rec<Offer<Recv<int, Loop>, Recv<int, lunatic::Var<1>>, End>>>>;
using Inner = Rec<Offer<Recv<int, Loop>, Recv<int, Nested>, End>>;  // Nested after its Send
static_assert(std::is_same_v<Protocol<Nested>::state_type, Send<int, Inner>>);
static_assert(
    std::is_same_v<Protocol<Inner>::state_type, Offer<Recv<int, Inner>, Recv<int, Nested>, End>>);
static_assert(!std::is_copy_constructible_v<Protocol<AddProtocol>>);
static_assert(!std::is_copy_assignable_v<Protocol<AddProtocol>>);
static_assert(std::is_nothrow_move_constructible_v<Protocol<AddProtocol>>);

void calc_server(int, Protocol<CalcServer> p) {
    int operations = 0;
    for (;;) {
        bool more = std::move(p).offer(
            lunatic::overloaded{[&](Protocol<Recv<int, Recv<int, Send<int, CalcServer>>>> add) {
                                    // (add and multiply have the same type: told apart by index
                                    // below)
                                    auto [p1, a] = std::move(add).receive();
                                    auto [p2, b] = std::move(p1).receive();
                                    p = std::move(p2).send(a + b);
                                    return true;
                                },
                                [&](Protocol<Recv<int, Send<int, CalcServer>>> negate) {
                                    auto [p1, a] = std::move(negate).receive();
                                    p = std::move(p1).send(-a);
                                    return true;
                                },
                                [&](Protocol<Send<int, End>> quit) {
                                    std::move(quit).send(operations);
                                    return false;
                                }});
        if (!more) return;
        ++operations;
    }
}

// The same server written with the variant and its index (add and multiply
// have the same protocol type, so a visitor cannot tell them apart).
void calc_server_by_index(int, Protocol<CalcServer> p) {
    int operations = 0;
    for (;;) {
        auto branch = std::move(p).offer();
        switch (branch.index()) {
        case 0:
        case 1: {
            bool add = branch.index() == 0;
            auto [p1, a] = std::move(add ? std::get<0>(branch) : std::get<1>(branch)).receive();
            auto [p2, b] = std::move(p1).receive();
            p = std::move(p2).send(add ? a + b : a * b);
            break;
        }
        case 2: {
            auto [p1, a] = std::move(std::get<2>(branch)).receive();
            p = std::move(p1).send(-a);
            break;
        }
        default:
            std::move(std::get<3>(branch)).send(operations);
            return;
        }
        ++operations;
    }
}

struct Op {
    int kind;  // 0 add, 1 multiply, 2 negate
    int a, b;
};

/// Runs ops against a calculator session and quits; returns the results and the server's count.
std::pair<std::vector<int>, int> run_calculator(Protocol<CalcClient> client,
                                                const std::vector<Op> &ops) {
    std::vector<int> results;
    for (const Op &op : ops) {
        std::optional<lunatic::Received<Protocol<CalcClient>, int>> r;
        if (op.kind == 0)
            r = std::move(client).select<0>().send(op.a).send(op.b).receive_timeout(5s);
        else if (op.kind == 1)
            r = std::move(client).select<1>().send(op.a).send(op.b).receive_timeout(5s);
        else
            r = std::move(client).select<2>().send(op.a).receive_timeout(5s);
        REQUIRE(r.has_value());
        results.push_back(r->value);
        client = std::move(r->protocol);  // the same type again: CalcClient
    }
    auto count = std::move(client).select<3>().receive_timeout(5s);
    REQUIRE(count.has_value());
    return {results, count->value};
}

}  // namespace

TEST_CASE("protocol: the issue's example gives 5, and the child ends normally") {
    lunatic::Runtime runtime(quiet);
    lunatic::Mailbox<int> mailbox;
    // Linked: if the child failed, this thread would be killed instead of waiting forever.
    auto child = lunatic::spawn_link(1, [](int capture, lunatic::Protocol<AddProtocol> protocol) {
        auto [p1, a] = std::move(protocol).receive();
        auto [p2, b] = std::move(p1).receive();
        std::move(p2).send(capture + a + b);
    });
    static_assert(std::is_same_v<decltype(child), Protocol<Send<int, Send<int, Recv<int, End>>>>>);
    CHECK_FALSE(child.tag().is_none());
    mailbox.monitor(child.peer());
    auto [end, result] = std::move(child).send(2).send(2).receive();  // 5
    static_assert(std::is_same_v<decltype(end), Protocol<End>>);
    CHECK(result == 5);
    CHECK(ended_normally());
}

TEST_CASE(
    "protocol: spawn, spawn_link and spawn_link_tag give the dual end; both ends share one fresh "
    "tag") {
    lunatic::Runtime runtime(quiet);
    lunatic::Mailbox<int> mailbox;
    mailbox.catch_link_failure();
    using Child =
        Send<int64_t, Send<uint64_t, End>>;  // the child reports its tag and its peer's id
    auto entry = [](int, Protocol<Child> p) {
        int64_t tag = p.tag().id();
        uint64_t peer = p.peer().id();
        std::move(p).send(tag).send(peer);
    };
    lunatic::Tag link_tag = lunatic::Tag::fresh();
    auto a = lunatic::spawn(0, entry);
    auto b = lunatic::spawn_link(0, entry);
    auto c = lunatic::spawn_link_tag(link_tag, 0, entry);
    static_assert(std::is_same_v<decltype(a), Protocol<Recv<int64_t, Recv<uint64_t, End>>>>);
    static_assert(std::is_same_v<decltype(b), decltype(a)> &&
                  std::is_same_v<decltype(c), decltype(a)>);
    CHECK(a.tag() != b.tag());
    CHECK(b.tag() != c.tag());
    uint64_t me = mailbox.this_process().id();
    for (auto *p : {&a, &b, &c}) {
        lunatic::Tag expected = p->tag();
        auto r1 = std::move(*p).receive_timeout(5s);
        REQUIRE(r1.has_value());
        CHECK(r1->value == expected.id());
        auto r2 = std::move(r1->protocol).receive_timeout(5s);
        REQUIRE(r2.has_value());
        CHECK(r2->value == me);
        CHECK_FALSE(p->holds_session());
    }
    CHECK(mailbox.receive_timeout(30ms).is_timed_out());  // no LinkDied: every child ended normally
}

TEST_CASE(
    "protocol: a calculator session loops until the client chooses quit (visitor and index "
    "servers)") {
    lunatic::Runtime runtime(quiet);
    lunatic::Mailbox<int> mailbox;
    const std::vector<Op> ops = {{0, 2, 3}, {1, 4, 5}, {2, 7, 0}, {0, -10, 4}, {1, 6, 7}};
    const std::vector<int> expected = {5, 20, -7, -6, 42};
    // The visitor server folds add and multiply (same type) into one lambda: it adds.
    const std::vector<int> expected_visitor = {5, 9, -7, -6, 13};

    auto by_index = lunatic::spawn(0, calc_server_by_index);
    static_assert(std::is_same_v<decltype(by_index), Protocol<CalcClient>>);
    mailbox.monitor(by_index.peer());
    auto [results, count] = run_calculator(std::move(by_index), ops);
    CHECK(results == expected);
    CHECK(count == 5);
    CHECK(ended_normally());

    auto visitor = lunatic::spawn(0, calc_server);
    mailbox.monitor(visitor.peer());
    auto [results2, count2] = run_calculator(std::move(visitor), ops);
    CHECK(results2 == expected_visitor);
    CHECK(count2 == 5);
    CHECK(ended_normally());

    // Quitting at once: zero operations.
    auto quick = lunatic::spawn(0, calc_server_by_index);
    auto [none, zero] = run_calculator(std::move(quick), {});
    CHECK(none.empty());
    CHECK(zero == 0);
}

TEST_CASE(
    "protocol: a two-way Choose with select_left / select_right and an Offer handled as a "
    "variant") {
    lunatic::Runtime runtime(quiet);
    lunatic::Mailbox<int> mailbox;
    // The child (server) offers: left = echo a string back upper-cased, right = end.
    using Echo = Rec<Offer<Recv<std::string, Send<std::string, Loop>>, End>>;
    auto client = lunatic::spawn(0, [](int, Protocol<Echo> p) {
        for (;;) {
            auto branch = std::move(p).offer();
            if (auto *echo = std::get_if<0>(&branch)) {
                auto [p1, text] = std::move(*echo).receive();
                for (char &ch : text) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
                p = std::move(p1).send(text);
            } else {
                return;  // End: nothing to do
            }
        }
    });
    static_assert(
        std::is_same_v<decltype(client),
                       Protocol<Rec<Choose<Send<std::string, Recv<std::string, Loop>>, End>>>>);
    mailbox.monitor(client.peer());
    auto r = std::move(client).select_left().send("hello").receive_timeout(5s);
    REQUIRE(r.has_value());
    CHECK(r->value == "HELLO");
    auto r2 = std::move(r->protocol).select_left().send(std::string("x y")).receive_timeout(5s);
    REQUIRE(r2.has_value());
    CHECK(r2->value == "X Y");
    auto end = std::move(r2->protocol).select_right();
    static_assert(std::is_same_v<decltype(end), Protocol<End>>);
    CHECK(ended_normally());
}

TEST_CASE(
    "protocol: unrelated messages interleave with two sessions between the same two processes") {
    lunatic::Runtime runtime(quiet);
    lunatic::Mailbox<int> mailbox;
    // Session A is spawned; through it the parent hands over the tag of session B.
    //   A (child's side): Recv<tag of B>, Send<int>, Offer<Send<int, End>, End>
    //   B (child's side): Send<int>, Recv<int>, End
    using A = Recv<int64_t, Send<int, Offer<Send<int, End>, End>>>;
    using B = Send<int, Recv<int, End>>;
    auto a = lunatic::spawn(0, [](int, Protocol<A> a) {
        lunatic::Mailbox<int> own;
        lunatic::Process<int> parent(a.peer().raw());
        auto [a1, b_tag] =
            std::move(a).receive();  // skips the untagged 100 and the Tag(7) 200 queued before
        auto b = Protocol<B>::from_process(parent, lunatic::Tag(b_tag));
        auto b1 = std::move(b).send(11);
        parent.send(999);  // unrelated, between the sessions' messages
        auto a2 = std::move(a1).send(22);
        auto [b2, received] = std::move(b1).receive();  // 33
        int reply = received;  // (a structured binding cannot be captured by clang 14's lambdas)
        // What the parent sent outside the sessions is all still here, in order.
        auto untagged = own.try_receive();
        auto tagged = own.tag_receive_timeout({lunatic::Tag(7)}, 1s);
        int unrelated =
            (untagged.is_message() ? *untagged : -1000) + (tagged.is_message() ? *tagged : -1000);
        // Before choosing, the parent sends an untagged 1: were offer() to take
        // untagged messages (lunatic-rs did), it would read it as "branch 1".
        std::move(a2).offer(lunatic::overloaded{
            [&](Protocol<Send<int, End>> left) {
                auto late = own.try_receive();  // the untagged 1, still queued
                std::move(left).send(reply + unrelated +
                                     (late.is_message() ? 1000 * *late : -100000));
            },
            [](Protocol<End>) {}});
    });
    lunatic::Process<int> child(a.peer().raw());
    mailbox.monitor(child);
    child.send(100);
    child.tag_send(lunatic::Tag(7), 200);
    lunatic::Tag b_tag = lunatic::Tag::fresh();
    auto a1 = std::move(a).send(b_tag.id());
    auto b = Protocol<Dual<B>>::from_process(child, b_tag);

    // The child sent B:11, then 999 untagged, then A:22. Take A first, then B.
    auto a2 = std::move(a1).receive_timeout(5s);
    REQUIRE(a2.has_value());
    CHECK(a2->value == 22);
    auto b1 = std::move(b).receive_timeout(5s);
    REQUIRE(b1.has_value());
    CHECK(b1->value == 11);
    std::move(b1->protocol).send(b1->value + a2->value);
    child.send(1);  // unrelated: looks like a choice index
    auto last = std::move(a2->protocol).select_left().receive_timeout(5s);
    REQUIRE(last.has_value());
    CHECK(last->value == 33 + 100 + 200 + 1000);
    CHECK(ended_normally());
    // And the untagged 999 waits in this mailbox, untouched by the sessions.
    auto unrelated = mailbox.try_receive();
    REQUIRE(unrelated.is_message());
    CHECK(*unrelated == 999);
    CHECK(mailbox.try_receive().is_timed_out());
}

TEST_CASE("protocol: many sessions with one peer at once, answered in reverse order") {
    lunatic::Runtime runtime(quiet);
    constexpr int n = 20;
    // The child opens n sessions to the parent (tags from the parent), asks on
    // all of them, then the parent answers them last to first.
    using Ask = Send<int, Recv<int, End>>;
    auto tags = lunatic::spawn(0, [](int, Protocol<Recv<std::vector<int64_t>, Send<int, End>>> p) {
        lunatic::Process<int> parent(p.peer().raw());
        auto [p1, ids] = std::move(p).receive();
        std::vector<Protocol<Recv<int, End>>> waiting;
        for (std::size_t i = 0; i < ids.size(); ++i)
            waiting.push_back(Protocol<Ask>::from_process(parent, lunatic::Tag(ids[i]))
                                  .send(static_cast<int>(i)));
        int sum = 0;
        for (std::size_t i = 0; i < waiting.size(); ++i) {
            auto [end, value] = std::move(waiting[i]).receive();
            sum += value == static_cast<int>(i) * 10 ? 1 : 0;  // each answer on its own session
        }
        std::move(p1).send(sum);
    });
    lunatic::Process<int> child(tags.peer().raw());
    std::vector<int64_t> ids;
    std::vector<Protocol<Dual<Ask>>> sessions;
    for (int i = 0; i < n; ++i) {
        ids.push_back(lunatic::Tag::fresh().id());
        sessions.push_back(Protocol<Dual<Ask>>::from_process(child, lunatic::Tag(ids.back())));
    }
    auto waiting = std::move(tags).send(ids);
    for (int i = n - 1; i >= 0; --i) {
        auto r = std::move(sessions[i]).receive_timeout(5s);
        REQUIRE(r.has_value());
        CHECK(r->value == i);
        std::move(r->protocol).send(r->value * 10);
    }
    auto sum = std::move(waiting).receive_timeout(5s);
    REQUIRE(sum.has_value());
    CHECK(sum->value == n);
}

TEST_CASE(
    "protocol: dropping a protocol before End fails the process; a linked parent is told why") {
    lunatic::Runtime runtime(quiet);
    lunatic::Mailbox<int> mailbox;
    mailbox.catch_link_failure();
    lunatic::Tag link = lunatic::Tag::fresh();
    auto p = lunatic::spawn_link_tag(link, 0, [](int, Protocol<AddProtocol> protocol) {
        auto [p1, a] = std::move(protocol).receive();
        auto [p2, b] = std::move(p1).receive();
        (void)a;
        (void)b;
        // p2 (Send<int, End>) is dropped here without sending.
    });
    auto waiting = std::move(p).send(1).send(2);
    auto died = mailbox.receive_timeout(5s);
    REQUIRE(died.is_link_died());
    CHECK(died.tag() == link);
    CHECK(died.reason() == lunatic::ExitReason::failed);
    CHECK(contains(died.reason_text(), "protocol dropped before End"));
    CHECK(contains(died.reason_text(), "Send<int, End>"));
    // The parent's end waits for an answer that never comes: a timeout, not a hang,
    // and consuming it that way is no drop.
    auto nothing = std::move(waiting).receive_timeout(50ms);
    CHECK_FALSE(nothing.has_value());
    // An entry that takes its protocol as Protocol&& and leaves it unfinished: the
    // protocol is dropped when the entry returns, with the same result.
    auto by_ref = lunatic::spawn_link(
        0, [](int, Protocol<Recv<int, Send<int, End>>> &&protocol) { (void)protocol; });
    auto died2 = mailbox.receive_timeout(5s);
    REQUIRE(died2.is_link_died());
    CHECK(died2.pid().id == by_ref.peer().id());
    CHECK(contains(died2.reason_text(), "protocol dropped before End: Recv<int, Send<int, End>>"));
    CHECK_THROWS_AS(std::move(by_ref).send(1), lunatic::NoProcessError);  // the peer is gone
    // This process is fine: another session works.
    auto again = lunatic::spawn(3, [](int capture, Protocol<AddProtocol> protocol) {
        auto [p1, a] = std::move(protocol).receive();
        auto [p2, b] = std::move(p1).receive();
        std::move(p2).send(capture + a + b);
    });
    auto r = std::move(again).send(4).send(5).receive_timeout(5s);
    REQUIRE(r.has_value());
    CHECK(r->value == 12);
}

TEST_CASE(
    "protocol: a discarded result is a drop too; later protocol operations of that process throw") {
    lunatic::Runtime runtime(quiet);
    lunatic::Mailbox<std::string> mailbox;
    using Child = Send<int, Send<int, End>>;
    mailbox.catch_link_failure();  // linked: the child may end before a monitor could be set
    auto p = lunatic::spawn_link(
        mailbox.this_process(), [](lunatic::Process<std::string> parent, Protocol<Child> protocol) {
            // A second session with the parent whose result is thrown away at once.
            auto extra =
                Protocol<Send<int, Recv<int, End>>>::from_process(parent, lunatic::Tag::fresh());
            std::move(extra).send(5);  // the Recv<int, End> it returns is dropped at the ';'
            try {
                std::move(protocol).send(1);
                parent.tag_send(report, "not thrown");
            } catch (const lunatic::ProtocolError &e) {
                parent.tag_send(report, std::string("caught: ") + e.what());
            }
            // Returning normally does not undo it: the process fails with the drop's message.
        });
    Death died = wait_died(LUNATIC_RECEIVE_LINK_DIED);
    REQUIRE(died.received);
    CHECK(died.id == p.peer().id());
    CHECK(died.reason == lunatic::ExitReason::failed);
    CHECK(contains(died.text, "protocol dropped before End: Recv<int, End>"));
    auto said = mailbox.tag_receive_timeout({report}, 5s);
    REQUIRE(said.is_message());
    CHECK(contains(*said, "caught: protocol dropped before End: Recv<int, End>"));
    // Nothing was sent on the spawned session.
    CHECK_FALSE(std::move(p).receive_timeout(20ms).has_value());
}

TEST_CASE(
    "protocol: use after consume throws; an exception keeps its own message; a send to a gone peer "
    "throws") {
    lunatic::Runtime runtime(quiet);
    lunatic::Mailbox<std::string> mailbox;
    // Use after consume (moved from) is a runtime error (C++ cannot forbid it at compile time).
    auto p = lunatic::spawn(mailbox.this_process(), [](lunatic::Process<std::string> parent,
                                                       Protocol<Send<int, End>> protocol) {
        Protocol<Send<int, End>> moved = std::move(protocol);
        try {
            std::move(protocol).send(1);
            parent.tag_send(report, "not thrown");
        } catch (const lunatic::ProtocolError &e) {
            parent.tag_send(report, e.what());
        }
        std::move(moved).send(2);
    });
    auto said = mailbox.tag_receive_timeout({report}, 5s);
    REQUIRE(said.is_message());
    CHECK(contains(*said, "protocol used after it was consumed or moved from (at Send<int, End>)"));
    auto two = std::move(p).receive_timeout(5s);
    REQUIRE(two.has_value());
    CHECK(two->value == 2);

    // A child that throws mid-session: its exception is the failure reason (the
    // protocol dropped while unwinding does not replace it).
    lunatic::Mailbox<int> signals;
    auto failing = lunatic::spawn(0, [](int, Protocol<Recv<int, Send<int, End>>> protocol) {
        auto [p1, a] = std::move(protocol).receive();
        if (a == 1) throw std::runtime_error("the child gave up");
        std::move(p1).send(a);
    });
    signals.monitor(failing.peer());
    auto waiting = std::move(failing).send(1);
    Death died = wait_died();
    REQUIRE(died.received);
    CHECK(died.reason == lunatic::ExitReason::failed);
    CHECK(contains(died.text, "the child gave up"));
    CHECK_FALSE(contains(died.text, "protocol dropped"));
    CHECK_FALSE(std::move(waiting).receive_timeout(20ms).has_value());

    // Sending to a peer that is gone.
    auto gone =
        lunatic::spawn(0, [](int, Protocol<Recv<int, End>>) { throw std::runtime_error("bye"); });
    signals.monitor(gone.peer());
    REQUIRE(wait_died().received);
    CHECK_THROWS_AS(std::move(gone).send(1), lunatic::NoProcessError);
    CHECK_FALSE(gone.holds_session());
}

TEST_CASE(
    "protocol: a message of the wrong type on the session fails the receiver with a clear "
    "message") {
    lunatic::Runtime runtime(quiet);
    lunatic::Mailbox<int> mailbox;
    mailbox.catch_link_failure();
    auto p = lunatic::spawn_link(0, [](int, Protocol<Recv<std::string, End>> protocol) {
        auto [end, text] = std::move(protocol).receive();
        (void)text;
    });
    // Bypass the types: an int64 on the session's tag (8 bytes; a Bincode string needs 8 + its
    // length).
    lunatic::Process<int64_t>(p.peer().raw()).tag_send(p.tag(), int64_t{5});
    auto died = mailbox.receive_timeout(5s);
    REQUIRE(died.is_link_died());
    CHECK(died.reason() == lunatic::ExitReason::failed);
    CHECK(contains(died.reason_text(),
                   "the message received at Recv<std::string, End> is not a std::string"));
    CHECK_THROWS_AS(std::move(p).send("late"), lunatic::NoProcessError);
}

TEST_CASE("protocol: offer_timeout and receive_timeout give up on a silent peer") {
    lunatic::Runtime runtime(quiet);
    // The child waits on a choice and on a value that never come (it is killed at the end).
    auto p = lunatic::spawn(0, [](int, Protocol<Send<int, Choose<End, End>>> protocol) {
        lunatic::sleep(std::chrono::hours(1));
        std::move(protocol).send(1).select_left();
    });
    auto start = std::chrono::steady_clock::now();
    auto nothing = std::move(p).receive_timeout(30ms);
    CHECK_FALSE(nothing.has_value());
    CHECK(std::chrono::steady_clock::now() - start >= 30ms);

    auto q = lunatic::spawn(0, [](int, Protocol<Choose<End, End>> protocol) {
        lunatic::sleep(std::chrono::hours(1));
        std::move(protocol).select_right();
    });
    CHECK_FALSE(std::move(q).offer_timeout(20ms).has_value());

    // offer_timeout with a choice that does come.
    auto r = lunatic::spawn(0, [](int, Protocol<Choose<Send<int, End>, End>> protocol) {
        std::move(protocol).select_left().send(77);
    });
    auto branch = std::move(r).offer_timeout(5s);
    REQUIRE(branch.has_value());
    REQUIRE(branch->index() == 0);
    auto value = std::move(std::get<0>(*branch)).receive_timeout(5s);
    REQUIRE(value.has_value());
    CHECK(value->value == 77);
}

TEST_CASE("protocol: in an attached thread a drop marks the process and later operations throw") {
    lunatic::Runtime runtime(quiet);
    auto p = lunatic::spawn(0, [](int, Protocol<Recv<int, End>> protocol) {
        auto r = std::move(protocol).receive_timeout(std::chrono::hours(1));
        (void)r;
    });
    { Protocol<Send<int, End>> dropped = std::move(p); }
    auto q = lunatic::spawn(0, [](int, Protocol<Recv<int, End>> protocol) {
        auto r = std::move(protocol).receive_timeout(std::chrono::hours(1));
        (void)r;
    });
    try {
        std::move(q).send(1);
        FAIL("no ProtocolError");
    } catch (const lunatic::ProtocolError &e) {
        CHECK(contains(e.what(), "protocol dropped before End: Send<int, End>"));
    }
}

namespace {
struct Order {
    std::string item;
    int quantity = 0;
    std::vector<std::string> notes;
};
LUNATIC_FIELDS(Order, item, quantity, notes)

// The shop (child) receives orders until the customer pays, then sends a receipt.
using Shop = Rec<Offer<Recv<Order, Send<bool, Loop>>,           // order: accepted?
                       Recv<double, Send<std::string, End>>>>;  // pay: receipt
}  // namespace

TEST_CASE("protocol: Protocol<P, Json> with a struct, strings and a Json capture") {
    lunatic::Runtime runtime(quiet);
    lunatic::Mailbox<int> mailbox;
    auto customer = lunatic::spawn(
        std::string("corner shop"), [](std::string name, Protocol<Shop, lunatic::Json> p) {
            int items = 0;
            for (;;) {
                auto branch = std::move(p).offer();
                if (branch.index() == 0) {
                    auto [p1, order] = std::move(std::get<0>(branch)).receive();
                    bool ok = order.quantity > 0 && order.notes.size() <= 1;
                    if (ok) items += order.quantity;
                    p = std::move(p1).send(ok);
                } else {
                    auto [p1, paid] = std::move(std::get<1>(branch)).receive();
                    std::move(p1).send(name + ": " + std::to_string(items) + " items, paid " +
                                       std::to_string(int(paid)));
                    return;
                }
            }
        });
    static_assert(std::is_same_v<decltype(customer), Protocol<Dual<Shop>, lunatic::Json>>);
    mailbox.monitor(customer.peer());
    auto r1 =
        std::move(customer).select_left().send(Order{"tea", 2, {"green"}}).receive_timeout(5s);
    REQUIRE(r1.has_value());
    CHECK(r1->value);
    auto r2 = std::move(r1->protocol).select_left().send(Order{"cake", 0, {}}).receive_timeout(5s);
    REQUIRE(r2.has_value());
    CHECK_FALSE(r2->value);
    auto r3 = std::move(r2->protocol)
                  .select_left()
                  .send({"jam", 3, {}})
                  .receive_timeout(5s);  // braces: an Order
    REQUIRE(r3.has_value());
    CHECK(r3->value);
    auto receipt = std::move(r3->protocol).select_right().send(12.5).receive_timeout(5s);
    REQUIRE(receipt.has_value());
    CHECK(receipt->value == "corner shop: 5 items, paid 12");
    CHECK(ended_normally());
}

TEST_CASE("protocol: Protocol<P, MessagePack>, the capture a tuple") {
    lunatic::Runtime runtime(quiet);
    using Sum = Recv<std::vector<int64_t>, Send<std::pair<int64_t, std::string>, End>>;
    auto p = lunatic::spawn(
        std::make_tuple(std::string("sum"), int64_t{1000}),
        [](std::tuple<std::string, int64_t> capture, Protocol<Sum, lunatic::MessagePack> protocol) {
            auto [next, values] = std::move(protocol).receive();
            int64_t total = std::get<1>(capture);
            for (int64_t v : values) total += v;
            std::move(next).send({total, std::get<0>(capture)});
        });
    static_assert(std::is_same_v<decltype(p), Protocol<Dual<Sum>, lunatic::MessagePack>>);
    auto r = std::move(p).send({1, 2, 3, int64_t{1} << 40}).receive_timeout(5s);
    REQUIRE(r.has_value());
    CHECK(r->value.first == 1006 + (int64_t{1} << 40));
    CHECK(r->value.second == "sum");
}

TEST_CASE("protocol: the capture's wire form and the state names") {
    // ProtocolCapture{process: {node_id, id}, tag, capture}: Bincode 16 + 8 bytes, then the
    // capture.
    lunatic::ProtocolCapture<int32_t> capture{lunatic::Process<std::monostate>(1, 2), 3, 4};
    CHECK(lunatic::Bincode::encoded_size(capture) == 28);
    lunatic_message *m =
        lunatic::detail::encode_message<lunatic::Json>(lunatic::Tag::none(), capture);
    std::string json(reinterpret_cast<const char *>(lunatic_message_data(m)),
                     lunatic_message_size(m));
    lunatic_message_free(m);
    CHECK(json == R"({"process":{"node_id":1,"id":2},"tag":3,"capture":4})");

    CHECK(Protocol<AddProtocol>::state_name() == "Recv<int, Recv<int, Send<int, End>>>");
    CHECK(
        Protocol<Dual<CalcServer>>::state_name() ==
        "Rec<Choose<Send<int, Send<int, Recv<int, Loop>>>, Send<int, Send<int, Recv<int, Loop>>>, "
        "Send<int, Recv<int, Loop>>, Recv<int, End>>>");
    CHECK(Protocol<Send<std::vector<std::string>, End>>::state_name() ==
          "Send<std::vector<std::string>, End>");
}
