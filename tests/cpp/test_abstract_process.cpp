// Servers: lunatic::AbstractProcess, ProcessRef<T>, deferred responses,
// start_as and startup errors.
#include <doctest/doctest.h>

#include <lunatic/json.hpp>
#include <lunatic/lunatic.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

using namespace std::chrono_literals;

namespace {

auto quiet = [](void *, int, const char *) {};

struct Add {
    int32_t n = 0;
};
LUNATIC_FIELDS(Add, n)
struct Get {};
LUNATIC_NO_FIELDS(Get)
struct GetPlus {
    int32_t n = 0;
};
LUNATIC_FIELDS(GetPlus, n)
struct Crash {};
LUNATIC_NO_FIELDS(Crash)
struct Explode {};
LUNATIC_NO_FIELDS(Explode)
struct Later {
    int32_t n = 0;
};
LUNATIC_FIELDS(Later, n)

using Notify = lunatic::Process<std::string>;

std::atomic<int> counters_started{0};

// Arg: the start value and a process told about terminate.
struct Counter : lunatic::AbstractProcess<Counter> {
    using Arg = std::pair<int32_t, Notify>;
    using Handlers =
        lunatic::Handlers<lunatic::MessageHandler<Add>, lunatic::RequestHandler<Get>,
                          lunatic::RequestHandler<GetPlus>, lunatic::MessageHandler<Crash>,
                          lunatic::MessageHandler<std::string>, lunatic::RequestHandler<Explode>>;
    int32_t count = 0;
    Notify notify;

    static Counter init(lunatic::Config<Counter> &, Arg arg) {
        ++counters_started;
        if (arg.first < 0) throw std::invalid_argument("negative start");
        Counter c;
        c.count = arg.first;
        c.notify = arg.second;
        return c;
    }
    void handle(Add add) { count += add.n; }
    int32_t handle(Get) const { return count; }
    int32_t handle(GetPlus g) const { return count + g.n; }
    void handle(Crash) { throw std::runtime_error("asked to crash"); }
    void handle(std::string text) { notify.send("echo " + text); }
    int32_t handle(Explode) {
        lunatic::sleep(std::chrono::milliseconds(20));
        throw std::runtime_error("exploded mid-request");
    }
    void terminate() {
        if (notify.id() != 0) notify.send("terminated at " + std::to_string(count));
    }
};

// Defers every request to a helper process, which answers in its place.
using HelperMessage = std::pair<int32_t, lunatic::DeferredResponse<int32_t>>;
struct Deferring : lunatic::AbstractProcess<Deferring> {
    using Arg = lunatic::Process<HelperMessage>;
    using Handlers = lunatic::Handlers<lunatic::DeferredRequestHandler<Later, int32_t>,
                                       lunatic::RequestHandler<Get>>;
    lunatic::Process<HelperMessage> helper;
    int32_t handled = 0;
    explicit Deferring(lunatic::Process<HelperMessage> h) : helper(h) {}
    Deferring() = default;
    void handle(Later later, lunatic::DeferredResponse<int32_t> response) {
        ++handled;
        helper.send({later.n, response});  // the response crosses to a third process
    }
    int32_t handle(Get) const { return handled; }
};

void helper_entry(int, lunatic::Mailbox<HelperMessage> mailbox) {
    for (;;) {
        auto [n, response] = mailbox.receive();
        lunatic::sleep(5ms);
        response.send_response(n * 10);
    }
}

// Traps link failures and counts them.
struct Watcher : lunatic::AbstractProcess<Watcher> {
    using Handlers =
        lunatic::Handlers<lunatic::RequestHandler<Get>, lunatic::MessageHandler<int64_t>>;
    int32_t deaths = 0;
    int64_t last_tag = 0;
    static Watcher init(lunatic::Config<Watcher> &config, std::monostate) {
        config.die_if_link_dies(false);
        return Watcher{};
    }
    // Links to a process that fails at once, with the given tag.
    void handle(int64_t tag) {
        lunatic::spawn_link_tag(lunatic::Tag(tag), 0, [](int, lunatic::Mailbox<int>) {
            throw std::runtime_error("linked child failed");
        });
    }
    void handle_link_death(lunatic::Tag tag) {
        ++deaths;
        last_tag = tag.id();
    }
    int32_t handle(Get) const { return deaths * 1000 + static_cast<int32_t>(last_tag); }
};

// A server on Json, to show the serializer is the server's choice.
struct JsonEcho : lunatic::AbstractProcess<JsonEcho> {
    using Serializer = lunatic::Json;
    using Arg = std::string;
    using Handlers = lunatic::Handlers<lunatic::RequestHandler<std::string>>;
    std::string prefix;
    explicit JsonEcho(std::string p) : prefix(std::move(p)) {}
    std::string handle(std::string s) const { return prefix + s; }
};

}  // namespace

TEST_CASE("a server: messages, requests, with_delay, and shutdown calling terminate") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<std::string> mailbox;
    auto counter = Counter::start(Counter::Arg{10, mailbox.this_process()});
    counter.send(Add{5});
    CHECK(counter.request(Get{}) == 15);
    CHECK(counter.request(GetPlus{1}, 5s) == 16);
    CHECK(counter.with_timeout(5s).request(Get{}) == 15);
    counter.send("hi");  // converts to the only string handler
    CHECK(mailbox.receive_timeout(5s).value() == "echo hi");
    auto timer = counter.with_delay(30ms).send(Add{100});
    (void)timer;
    CHECK(counter.request(Get{}) == 15);
    lunatic::sleep(150ms);
    CHECK(counter.request(Get{}) == 115);
    // A cancelled delayed message never arrives.
    CHECK(counter.with_delay(50ms).send(Add{1000}).cancel());
    lunatic::sleep(100ms);
    CHECK(counter.request(Get{}) == 115);
    // Shutdown: queued messages first, then terminate, then the end.
    counter.send(Add{1});
    CHECK(counter.shutdown(5s) == lunatic::ExitReason::normal);
    CHECK(mailbox.receive_timeout(5s).value() == "terminated at 116");
    CHECK_FALSE(counter.is_alive());
    CHECK_FALSE(counter.send(Add{1}));
    CHECK(counter.shutdown(5s) == lunatic::ExitReason::noproc);
}

TEST_CASE("ProcessRef is a 16-byte value that travels in messages") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<lunatic::ProcessRef<Counter>> mailbox;
    auto counter = Counter::start(Counter::Arg{7, Notify()});
    static_assert(sizeof(counter) == 16);
    mailbox.this_process().send(counter);
    auto back = mailbox.receive();
    CHECK(back == counter);
    CHECK(back.request(Get{}) == 7);
    CHECK(std::hash<lunatic::ProcessRef<Counter>>()(back) ==
          std::hash<lunatic::ProcessRef<Counter>>()(counter));
    counter.shutdown();
}

TEST_CASE("init failing comes back to the starter as StartFailed; a linked starter survives") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    lunatic::Mailbox<std::string> mailbox;
    try {
        Counter::start(Counter::Arg{-1, Notify()});
        FAIL("no error");
    } catch (const lunatic::StartFailed &e) {
        CHECK(std::string(e.what()).find("negative start") != std::string::npos);
    }
    CHECK_THROWS_AS(Counter::link().start(Counter::Arg{-1, Notify()}), lunatic::StartFailed);
    // Still alive and well, and nothing stray in the mailbox.
    lunatic::sleep(20ms);
    CHECK(mailbox.size() == 0);
    auto ok = Counter::link().start(Counter::Arg{1, Notify()});
    CHECK(ok.request(Get{}) == 1);
    ok.shutdown();
}

TEST_CASE("requests to a dead server and one that dies mid-request: ServerDied at once") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    lunatic::Mailbox<std::string> mailbox;
    auto counter = Counter::start(Counter::Arg{1, Notify()});
    try {
        counter.request(Explode{});  // no time limit: only the server's death can end it
        FAIL("no error");
    } catch (const lunatic::ServerDied &e) {
        CHECK(e.reason() == lunatic::ExitReason::failed);
        CHECK(e.reason_text().find("exploded mid-request") != std::string::npos);
    }
    // A crash while a request waits in the queue behind it: ServerDied too
    // (failed, or noproc if the server was gone before the request was sent).
    auto other = Counter::start(Counter::Arg{1, Notify()});
    other.send(Crash{});
    try {
        other.request(Get{});
        FAIL("no error");
    } catch (const lunatic::ServerDied &e) {
        if (e.reason() == lunatic::ExitReason::failed)
            CHECK(e.reason_text().find("asked to crash") != std::string::npos);
        else
            CHECK(e.reason() == lunatic::ExitReason::noproc);
    }
    auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(counter.request(Get{}), lunatic::ServerDied);
    CHECK_THROWS_AS(counter.with_timeout(60s).request(Get{}), lunatic::ServerDied);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(mailbox.size() == 0);
}

TEST_CASE("deferred requests answered by a third process") {
    lunatic::Runtime runtime({.workers = 2});
    auto helper = lunatic::spawn(0, helper_entry);
    auto server = Deferring::start(helper);
    // The server is free while the helper works: requests keep being handled.
    for (int32_t i = 1; i <= 20; ++i) CHECK(server.request(Later{i}, 10s) == i * 10);
    CHECK(server.request(Get{}) == 20);
    server.shutdown();
}

TEST_CASE("start_as is get-or-start; start_as_new throws NameTaken carrying the holder") {
    lunatic::Runtime runtime({.workers = 2});
    int before = counters_started.load();
    auto first = Counter::start_as("the-counter", Counter::Arg{3, Notify()});
    CHECK(counters_started.load() - before == 1);
    auto found = lunatic::ProcessRef<Counter>::lookup("the-counter");
    REQUIRE(found.has_value());
    CHECK(*found == first);
    // Taken: the holder comes back and no init runs.
    before = counters_started.load();
    CHECK(Counter::start_as("the-counter", Counter::Arg{4, Notify()}) == first);
    CHECK(Counter::link().start_as("the-counter", Counter::Arg{5, Notify()}) == first);
    CHECK(first.request(Get{}) == 3);
    try {
        Counter::start_as_new("the-counter", Counter::Arg{4, Notify()});
        FAIL("no error");
    } catch (const lunatic::NameTaken &e) {
        CHECK(e.pid().id == first.id());
        CHECK(e.code() == LUNATIC_EEXIST);
    }
    CHECK(counters_started.load() == before);  // neither call ran init
    // Typed: another server type under the same name is another key, so a
    // Watcher starts there beside the Counter (and the Counter is not found as one).
    CHECK_FALSE(lunatic::ProcessRef<Watcher>::lookup("the-counter").has_value());
    auto watcher = Watcher::start_as("the-counter");
    CHECK(watcher.raw().id != first.id());
    CHECK(lunatic::ProcessRef<Watcher>::lookup("the-counter") == watcher);
    CHECK(lunatic::ProcessRef<Counter>::lookup("the-counter") == first);
    watcher.shutdown();
    first.shutdown();
    // Freed with the server: the name can be taken again.
    auto second = Counter::start_as_new("the-counter", Counter::Arg{6, Notify()});
    CHECK(second != first);
    CHECK(second.request(Get{}) == 6);
    second.shutdown();
    // A failed init frees the name.
    CHECK_THROWS_AS(Counter::start_as("the-counter", Counter::Arg{-1, Notify()}),
                    lunatic::StartFailed);
    CHECK_FALSE(lunatic::ProcessRef<Counter>::lookup("the-counter").has_value());
}

TEST_CASE("start_as races: many starters at once, one server") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic::Mailbox<lunatic::ProcessRef<Counter>> mailbox;
    for (int round = 0; round < 10; ++round) {
        std::string name = "raced-" + std::to_string(round);
        int before = counters_started.load();
        constexpr int kStarters = 8;
        for (int i = 0; i < kStarters; ++i) {
            lunatic::spawn(
                std::make_pair(name, mailbox.this_process()),
                [](std::pair<std::string, lunatic::Process<lunatic::ProcessRef<Counter>>> c,
                   lunatic::Mailbox<int>) {
                    c.second.send(Counter::start_as(c.first, Counter::Arg{1, Notify()}));
                });
        }
        lunatic::ProcessRef<Counter> winner;
        for (int i = 0; i < kStarters; ++i) {
            auto r = mailbox.receive_timeout(10s);
            REQUIRE(r.is_message());
            if (i == 0) winner = *r;
            CHECK(*r == winner);
        }
        CHECK(counters_started.load() - before == 1);
        CHECK(winner.is_alive());
        winner.shutdown();
    }
}

TEST_CASE("start_as_new races: one starter wins, the others get NameTaken carrying it") {
    lunatic::Runtime runtime({.workers = 2});
    // Each starter reports the pid it started (ok = 1) or the holder NameTaken named (ok = 0).
    using Report = std::pair<int32_t, lunatic::ProcessRef<Counter>>;
    lunatic::Mailbox<Report> mailbox;
    const int before = counters_started.load();
    constexpr int kStarters = 8;
    for (int i = 0; i < kStarters; ++i) {
        lunatic::spawn(
            mailbox.this_process(), [](lunatic::Process<Report> parent, lunatic::Mailbox<int>) {
                try {
                    parent.send({1, Counter::start_as_new("strict", Counter::Arg{1, Notify()})});
                } catch (const lunatic::NameTaken &e) {
                    parent.send({0, lunatic::ProcessRef<Counter>(e.pid())});
                }
            });
    }
    int winners = 0;
    lunatic::ProcessRef<Counter> server;
    for (int i = 0; i < kStarters; ++i) {
        auto r = mailbox.receive_timeout(10s);
        REQUIRE(r.is_message());
        if (i == 0) server = r->second;
        CHECK(r->second == server);
        winners += r->first;
    }
    CHECK(winners == 1);
    CHECK(counters_started.load() - before == 1);
    server.shutdown();
}

TEST_CASE("die_if_link_dies(false): link failures reach handle_link_death") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    auto watcher = Watcher::start();
    watcher.send(int64_t{42});
    int32_t seen = 0;
    for (int i = 0; i < 500 && seen == 0; ++i) {
        seen = watcher.request(Get{});
        if (!seen) lunatic::sleep(2ms);
    }
    CHECK(seen == 1042);
    CHECK(watcher.is_alive());
    watcher.shutdown();
}

TEST_CASE("a linked server that fails takes a non-trapping starter with it") {
    lunatic::Runtime runtime({.workers = 2, .log = quiet});
    lunatic::Mailbox<int> mailbox;
    auto starter = lunatic::spawn(0, [](int, lunatic::Mailbox<int> m) {
        m.receive();  // go: the test monitors this process by now
        auto counter = Counter::link().start(Counter::Arg{0, Notify()});
        counter.send(Crash{});
        m.receive();  // killed here through the link
    });
    mailbox.monitor(starter);
    starter.send(1);
    auto r = mailbox.receive_timeout(10s);
    REQUIRE(r.is_process_died());
    CHECK(r.reason() == lunatic::ExitReason::failed);
    CHECK(r.reason_text().find("asked to crash") != std::string::npos);
}

TEST_CASE("a server with another serializer") {
    lunatic::Runtime runtime({.workers = 2});
    auto echo = JsonEcho::start_as("echo", std::string("> "));
    CHECK(echo.request(std::string("json")) == "> json");
    CHECK(echo.request("literal") == "> literal");
    CHECK(lunatic::ProcessRef<JsonEcho>::lookup("echo").has_value());
    echo.shutdown();
}
