// The typed layer across nodes: lunatic::spawn_node<entry> by the entry's
// stable name, Process<M, S> sends to another node, lookup_node with the
// registry's type rule. (The C ABI suite, tests/capi/test_nodes.cpp, covers
// the protocol, links, monitors and node loss.)
#include <doctest/doctest.h>

#include <lunatic/lunatic.hpp>
#include <lunatic/node.hpp>

#include <chrono>
#include <string>

using namespace std::chrono_literals;

namespace {

void doubler(lunatic::Process<int> reply_to, lunatic::Mailbox<int> m) {
    int v = m.receive();
    reply_to.send(v * 2);
}

void named(std::string name, lunatic::Mailbox<int> m) {
    m.this_process().register_name(name);
    (void)m.receive_timeout(10s);
}

// A second runtime that is a node, not attached to any thread.
struct OtherNode {
    lunatic_runtime *rt = nullptr;
    uint16_t port = 0;
    uint64_t id = 0;
    OtherNode() {
        lunatic_runtime_options o;
        lunatic_runtime_options_init(&o);
        o.workers = 1;
        REQUIRE(lunatic_runtime_create(&o, &rt) == LUNATIC_OK);
        lunatic_node_options n;
        lunatic_node_options_init(&n);
        n.name = "other";
        n.cookie = "typed";
        REQUIRE(lunatic_node_start(rt, &n, &port) == LUNATIC_OK);
        id = lunatic_runtime_node_id(rt);
    }
    ~OtherNode() { lunatic_runtime_destroy(rt); }
};

}  // namespace

TEST_CASE("nodes: typed spawn_node by the entry's name, typed sends and lookup_node") {
    lunatic::Runtime runtime({.workers = 2});
    lunatic_node_options n;
    lunatic_node_options_init(&n);
    n.name = "here";
    n.cookie = "typed";
    REQUIRE(lunatic_node_start(runtime.raw(), &n, nullptr) == LUNATIC_OK);
    OtherNode other;
    REQUIRE(lunatic_node_connect(runtime.raw(), "127.0.0.1", other.port, 5'000'000'000, nullptr) ==
            LUNATIC_OK);

    const std::string name = lunatic::node_entry_name<doubler>();
    CHECK(name.rfind("cpp:", 0) == 0);
    CHECK(name.size() > 7);
    CHECK(name.compare(name.size() - 7, 7, "doubler") == 0);
    lunatic::Mailbox<int> mailbox;
    auto child = lunatic::spawn_node<doubler>(other.id, mailbox.this_process());
    static_assert(std::is_same_v<decltype(child), lunatic::Process<int>>);
    CHECK(child.node_id() == other.id);
    CHECK(child.send(21));
    auto reply = mailbox.receive_timeout(5s);
    REQUIRE(reply.is_message());
    CHECK(*reply == 42);

    auto server = lunatic::spawn_node<named>(other.id, std::string("typed-server"));
    std::optional<lunatic::Process<int>> found;
    for (int i = 0; i < 500 && !found; ++i) {
        found = lunatic::lookup_node<int>(other.id, "typed-server");
        if (!found) lunatic::sleep(10ms);
    }
    REQUIRE(found);
    CHECK(*found == server);
    // Another message type: not found (the registry's type rule holds across nodes).
    CHECK_FALSE(lunatic::lookup_node<std::string>(other.id, "typed-server"));
    CHECK(server.send(0));

    // A node that is not connected.
    CHECK_THROWS_AS(lunatic::spawn_node<doubler>(other.id ^ 1, mailbox.this_process()),
                    lunatic::Error);
}
