// Set-up shared by the node tests (test_nodes.cpp, test_node_faults.cpp):
// a runtime that is a node, an echo entry for the other side, spawning on a
// node, waiting for a signal.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "fixture.hpp"

namespace capi_test {

// Echoes every data message back to its sender (same tag and bytes) until
// `stop` (returns 0) or `fail` (fails; 0: no such tag).
template <lunatic_tag stop, lunatic_tag fail = 0>
int echo_until(const uint8_t *, size_t, void *) {
    for (;;) {
        lunatic_message *m = nullptr;
        int rc = lunatic_receive(nullptr, 0, 60 * kSec, &m);
        if (rc != LUNATIC_OK) return rc == LUNATIC_ETIMEDOUT ? 0 : 1;
        const lunatic_tag tag = lunatic_message_tag(m);
        if (tag == stop) {
            lunatic_message_free(m);
            return 0;
        }
        if (fail != 0 && tag == fail) {
            lunatic_message_free(m);
            lunatic_fail("asked to fail");
            return 1;
        }
        lunatic_pid from{0, 0};
        lunatic_message_sender(m, &from);
        lunatic_send_bytes(from, tag, lunatic_message_data(m), lunatic_message_size(m));
        lunatic_message_free(m);
    }
}

struct NodeConfig {
    const char *cookie = "lunatic-test-cookie";
    uint32_t max_frame = 0;
    uint32_t heartbeat_ms = 0;
    uint32_t timeout_ms = 0;
    std::vector<const char *> attributes;
};

// A runtime that is a node; the test thread is attached to it if `attach`.
struct TestNode {
    Runtime r;
    uint16_t port = 0;
    uint64_t id = 0;

    TestNode(const char *name, bool attach, const NodeConfig &c = NodeConfig())
        : r(attach ? 2 : 1, attach) {
        lunatic_node_options o;
        std::memset(&o, 0xAB, sizeof o);  // init must fill every field
        lunatic_node_options_init(&o);
        CHECK(o.struct_size == sizeof o);
        CHECK(o.listen_host == nullptr);
        CHECK(o.listen_port == 0);
        o.name = name;
        o.cookie = c.cookie;
        o.max_frame_bytes = c.max_frame;
        o.heartbeat_ms = c.heartbeat_ms;
        o.peer_timeout_ms = c.timeout_ms;
        o.attributes = c.attributes.data();
        o.attribute_count = c.attributes.size();
        int rc = lunatic_node_start(r.rt, &o, &port);
        REQUIRE_MESSAGE(rc == LUNATIC_OK, "lunatic_node_start: " << lunatic_errmsg());
        REQUIRE(port != 0);
        id = lunatic_runtime_node_id(r.rt);
    }

    // Connects to `other`; returns the status.
    int connect(const TestNode &other, uint64_t *out_id = nullptr) {
        uint64_t got = 0;
        int rc = lunatic_node_connect(r.rt, "127.0.0.1", other.port, kTimeout, &got);
        if (out_id) *out_id = got;
        return rc;
    }

    std::vector<lunatic_node_info> nodes() {
        size_t count = 0;
        std::vector<lunatic_node_info> out(16);
        REQUIRE(lunatic_nodes(r.rt, out.data(), out.size(), &count) == LUNATIC_OK);
        out.resize(std::min(count, out.size()));
        return out;
    }

    bool knows(uint64_t node_id) {
        for (const auto &n : nodes())
            if (n.id == node_id) return true;
        return false;
    }

    // How many times `node_id` appears in lunatic_nodes.
    int count_of(uint64_t node_id) {
        int n = 0;
        for (const auto &i : nodes()) n += i.id == node_id;
        return n;
    }
};

// Spawns `entry` on `node`; REQUIREs success (the log, if given, goes into the message).
inline lunatic_pid spawn_on(uint64_t node, const char *entry, const void *capture = nullptr,
                            size_t len = 0, const lunatic_spawn_options *options = nullptr,
                            const LogCapture *log = nullptr) {
    lunatic_pid pid{0, 0};
    int rc = lunatic_spawn_node(node, entry, capture, len, options, &pid);
    REQUIRE_MESSAGE(rc == LUNATIC_OK, "lunatic_spawn_node: " << std::string(lunatic_errmsg())
                                                             << "\nlog:\n"
                                                             << (log ? log->dump() : ""));
    CHECK(pid.node == node);
    return pid;
}

// A signal of the given kinds, or a null message.
inline Msg recv_signal(uint32_t mask, int64_t timeout = kTimeout) {
    lunatic_message *m = nullptr;
    if (lunatic_receive_mask(mask, nullptr, 0, timeout, &m) != LUNATIC_OK) return Msg();
    return Msg(m);
}

// A TCP connection to 127.0.0.1:port (a node, or a test's proxy), or -1.
inline int loopback_connect(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// A TCP proxy on loopback to a node's port. cut() shuts every connection
// through it down (as a crashed peer's kernel would); freeze() stops passing
// bytes either way but keeps the connections open (a hung peer, or a network
// dropping everything: only heartbeats notice). New connections are still
// accepted after cut(), refused once frozen.
class Proxy {
public:
    explicit Proxy(uint16_t target) : target_(target) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(listen_fd_ >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(listen_fd_, 8) == 0);
        socklen_t len = sizeof addr;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&addr), &len);
        port = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~Proxy() {
        stop_ = true;
        acceptor_.join();
        cut();
        for (auto &t : pumps_) t.join();
        for (int fd : fds_) ::close(fd);
        ::close(listen_fd_);
    }
    Proxy(const Proxy &) = delete;
    Proxy &operator=(const Proxy &) = delete;

    void cut() {
        std::lock_guard<std::mutex> lock(mu_);
        for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    void freeze() { frozen_ = true; }
    uint16_t port = 0;

private:
    void accept_loop() {
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            int c = ::accept(listen_fd_, nullptr, nullptr);
            if (c < 0) continue;
            if (frozen_) {  // a frozen peer does not answer new connections either
                ::close(c);
                continue;
            }
            const int s = loopback_connect(target_);
            if (s < 0) {
                ::close(c);
                continue;
            }
            std::lock_guard<std::mutex> lock(mu_);
            fds_.push_back(c);
            fds_.push_back(s);
            pumps_.emplace_back([this, c, s] { pump(c, s); });
            pumps_.emplace_back([this, c, s] { pump(s, c); });
        }
    }
    void pump(int from, int to) {
        char buf[65536];
        while (!stop_) {
            if (frozen_) {  // hold everything, close nothing
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
            }
            pollfd p{from, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            if (frozen_) continue;
            ssize_t n = ::recv(from, buf, sizeof buf, 0);
            if (n <= 0) break;
            for (ssize_t done = 0; done < n;) {
                ssize_t w = ::send(to, buf + done, size_t(n - done), MSG_NOSIGNAL);
                if (w <= 0) return;
                done += w;
            }
        }
        if (!frozen_) ::shutdown(to, SHUT_WR);  // pass the end of the stream on
    }
    uint16_t target_;
    int listen_fd_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<bool> frozen_{false};
    std::thread acceptor_;
    std::mutex mu_;
    std::vector<int> fds_;
    std::vector<std::thread> pumps_;
};

}  // namespace capi_test
