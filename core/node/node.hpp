// Node: a runtime that talks to other runtimes over TCP (docs/nodes.md).
//
// One io thread per node runs Boost.Asio: the acceptor, every peer
// connection's reads and writes, heartbeats and redials. It never runs
// process code: what arrives is delivered into mailboxes (core::deliver) and
// through the links/monitors machinery, like a send from another thread.
// Processes (on worker threads) hand frames to a peer's send queue; the io
// thread writes them out.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/message.hpp"
#include "core/process_config.hpp"
#include "core/status.hpp"

namespace lunatic::core {

class Runtime;
class Process;

namespace node {

struct NodeOptions {
    std::string name;
    std::string cookie;
    std::string listen_host = "127.0.0.1";
    uint16_t listen_port = 0;  // 0: the system chooses
    uint32_t max_frame_bytes = 0;
    uint32_t heartbeat_ms = 0;
    uint32_t peer_timeout_ms = 0;
    uint32_t reconnect_max_ms = 0;
    std::vector<std::string> attributes;  // "key=value"
};

struct NodeInfo {
    uint64_t id = 0;
    std::string name;
    std::string address;  // host:port it listens on
    std::vector<std::string> attributes;
};

// The answer to a request to another node (remote spawn, lookup).
struct Reply {
    Status status = Status::ok;
    Pid pid{};
    std::string detail;
};

// What a remote spawn asks for.
struct RemoteSpawn {
    std::string entry;
    const void *capture = nullptr;
    std::size_t capture_len = 0;
    bool link = false;
    int64_t link_tag = 0;
    SharedConfig config;  // null: none (every permission)
};

class Peer;
class Node;

class Node {
public:
    Node(Runtime &rt, NodeOptions options);
    ~Node();
    Node(const Node &) = delete;
    Node &operator=(const Node &) = delete;

    Status listen(uint16_t *out_port, std::string *error);
    // Closes every connection and joins the io thread; nothing reaches a process afterwards.
    void stop() noexcept;

    uint64_t id() const noexcept;
    const NodeOptions &options() const noexcept { return options_; }

    // Blocks the calling thread until the node at host:port has authenticated
    // (or the timeout, or a refusal). Any thread.
    Status connect(const std::string &host, uint16_t port, int64_t timeout_ns, uint64_t *out_id,
                   std::string *error);
    std::vector<NodeInfo> nodes();
    bool connected(uint64_t node_id);

    // ---- called by the runtime for pids on other nodes (from any thread)
    // Takes the message on ok; no_node if that node is not connected.
    Status send(Pid from, Pid to, Message *message);
    Status link(Pid from, Pid to, int64_t tag);
    Status unlink(Pid from, Pid to);
    Status monitor(Pid from, Pid to, int64_t tag);
    Status demonitor(Pid from, Pid to, int64_t tag);
    Status kill(Pid from, Pid to);
    // A local process ended: tell its remote link / its remote watcher.
    void link_exit(Pid dead, Pid to, ExitReason reason, const std::string &text);
    void monitor_down(Pid dead, Pid watcher, int64_t tag, ExitReason reason,
                      const std::string &text);

    // ---- requests made by a process, which waits for the answer (selective
    // receive of a reserved negative tag) at most timeout_ns.
    Status spawn(Process &self, uint64_t node, const RemoteSpawn &request, int64_t timeout_ns,
                 Reply *out);
    Status lookup(Process &self, uint64_t node, const std::string &name, const std::string &type,
                  int64_t timeout_ns, Reply *out);

private:
    friend class Peer;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    Runtime &rt_;
    NodeOptions options_;
};

}  // namespace node
}  // namespace lunatic::core
