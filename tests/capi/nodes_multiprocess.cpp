// Nodes in several OS processes on loopback: this program starts two copies
// of itself as child nodes, then from the parent node spawns processes there
// by name, ping-pongs with them, and checks that a child killed with SIGKILL
// (connection reset) and a child stopped with SIGSTOP (silence: only the
// heartbeat timeout can tell) both turn into noconnection signals, once each.
// Uses lunatic.h only. Every wait is bounded; exit status 0 = pass.
#include <lunatic/lunatic.h>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

extern char **environ;

namespace {

constexpr int64_t kMs = 1000 * 1000;
constexpr int64_t kSec = 1000 * kMs;
constexpr const char *kCookie = "multiprocess-cookie";
constexpr lunatic_tag kStop = 900;

int failures = 0;
#define EXPECT(cond)                                                                    \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            std::fprintf(stderr, "%s:%d: FAILED: %s (%s)\n", __FILE__, __LINE__, #cond, \
                         lunatic_errmsg());                                             \
            ++failures;                                                                 \
        }                                                                               \
    } while (0)

int echo_entry(const uint8_t *, size_t, void *) {
    for (;;) {
        lunatic_message *m = nullptr;
        if (lunatic_receive(nullptr, 0, 120 * kSec, &m) != LUNATIC_OK) return 0;
        if (lunatic_message_tag(m) == kStop) {
            lunatic_message_free(m);
            return 0;
        }
        lunatic_pid from;
        lunatic_message_sender(m, &from);
        lunatic_send_bytes(from, lunatic_message_tag(m), lunatic_message_data(m),
                           lunatic_message_size(m));
        lunatic_message_free(m);
    }
}

// ---- child: a node that prints its port and waits to be killed
int child_main() {
    lunatic_entry_register("mp.echo", echo_entry);
    lunatic_runtime_options ro;
    lunatic_runtime_options_init(&ro);
    ro.workers = 1;
    lunatic_runtime *rt = nullptr;
    if (lunatic_runtime_create(&ro, &rt) != LUNATIC_OK) return 2;
    lunatic_node_options o;
    lunatic_node_options_init(&o);
    std::string name = "child-" + std::to_string(getpid());
    o.name = name.c_str();
    o.cookie = kCookie;
    o.heartbeat_ms = 100;
    o.peer_timeout_ms = 1000;
    uint16_t port = 0;
    if (lunatic_node_start(rt, &o, &port) != LUNATIC_OK) return 3;
    std::printf("PORT %u\n", unsigned(port));
    std::fflush(stdout);
    // Until killed; a parent that died without killing us is noticed by stdin closing.
    char c;
    while (read(0, &c, 1) > 0) {
    }
    lunatic_runtime_destroy(rt);
    return 0;
}

struct Child {
    pid_t pid = -1;
    uint16_t port = 0;
};

Child start_child(const char *self) {
    int out[2], in[2];
    if (pipe(out) != 0 || pipe(in) != 0) std::abort();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    char arg0[] = "nodes_multiprocess", arg1[] = "child";
    char *argv[] = {arg0, arg1, nullptr};
    Child c;
    if (posix_spawn(&c.pid, self, &fa, nullptr, argv, environ) != 0) std::abort();
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(in[0]);  // in[1] stays open (leaked on purpose) until this process ends
    std::string line;
    const auto deadline = 20000;  // ms
    for (int waited = 0; waited < deadline && line.find('\n') == std::string::npos;) {
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) {
            waited += 100;
            continue;
        }
        char buf[64];
        ssize_t n = read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, size_t(n));
    }
    close(out[0]);
    unsigned port = 0;
    if (std::sscanf(line.c_str(), "PORT %u", &port) != 1) {
        std::fprintf(stderr, "child did not report its port: '%s'\n", line.c_str());
        kill(c.pid, SIGKILL);
        std::exit(1);
    }
    c.port = uint16_t(port);
    return c;
}

// A signal (or nullptr after timeout).
lunatic_message *signal_within(int64_t timeout) {
    lunatic_message *m = nullptr;
    if (lunatic_receive_mask(LUNATIC_RECEIVE_SIGNALS, nullptr, 0, timeout, &m) != LUNATIC_OK)
        return nullptr;
    return m;
}

bool is_noconnection_from(lunatic_message *m, lunatic_pid who) {
    lunatic_pid p{0, 0};
    lunatic_exit_reason r = LUNATIC_EXIT_NORMAL;
    return m && lunatic_message_signal(m, &p, &r) == LUNATIC_OK && p.node == who.node &&
           p.id == who.id && r == LUNATIC_EXIT_NOCONNECTION;
}

void ping_pong(lunatic_pid echo, int count) {
    for (uint64_t i = 0; i < uint64_t(count); ++i)
        EXPECT(lunatic_send_bytes(echo, 5, &i, sizeof i) == LUNATIC_OK);
    for (uint64_t i = 0; i < uint64_t(count); ++i) {
        lunatic_tag t = 5;
        lunatic_message *m = nullptr;
        if (lunatic_receive(&t, 1, 20 * kSec, &m) != LUNATIC_OK) {
            EXPECT(!"a reply is missing");
            return;
        }
        uint64_t v = ~uint64_t(0);
        if (lunatic_message_size(m) == 8) std::memcpy(&v, lunatic_message_data(m), 8);
        EXPECT(v == i);
        lunatic_message_free(m);
    }
}

int parent_main(const char *self) {
    Child c1 = start_child(self);
    Child c2 = start_child(self);

    lunatic_runtime_options ro;
    lunatic_runtime_options_init(&ro);
    ro.workers = 2;
    lunatic_runtime *rt = nullptr;
    if (lunatic_runtime_create(&ro, &rt) != LUNATIC_OK) return 1;
    lunatic_node_options o;
    lunatic_node_options_init(&o);
    o.name = "parent";
    o.cookie = kCookie;
    o.heartbeat_ms = 100;
    o.peer_timeout_ms = 1000;
    EXPECT(lunatic_node_start(rt, &o, nullptr) == LUNATIC_OK);
    lunatic_pid me;
    EXPECT(lunatic_runtime_attach(rt, &me) == LUNATIC_OK);
    EXPECT(lunatic_trap_links(1) == LUNATIC_OK);

    uint64_t n1 = 0, n2 = 0;
    EXPECT(lunatic_node_connect(rt, "127.0.0.1", c1.port, 10 * kSec, &n1) == LUNATIC_OK);
    EXPECT(lunatic_node_connect(rt, "127.0.0.1", c2.port, 10 * kSec, &n2) == LUNATIC_OK);
    lunatic_pid e1{0, 0}, e2{0, 0};
    EXPECT(lunatic_spawn_node(n1, "mp.echo", nullptr, 0, nullptr, &e1) == LUNATIC_OK);
    EXPECT(lunatic_spawn_node(n2, "mp.echo", nullptr, 0, nullptr, &e2) == LUNATIC_OK);
    lunatic_pid bad{0, 0};
    EXPECT(lunatic_spawn_node(n1, "mp.nothing", nullptr, 0, nullptr, &bad) == LUNATIC_ENOTFOUND);
    ping_pong(e1, 1000);
    ping_pong(e2, 1000);

    // SIGKILL: the connection is reset; link and monitor each fire once.
    EXPECT(lunatic_link(e1, 0) == LUNATIC_OK);
    EXPECT(lunatic_monitor(e1) == LUNATIC_OK);
    ping_pong(e1, 1);  // the link and monitor frames are there
    kill(c1.pid, SIGKILL);
    for (int i = 0; i < 2; ++i) {
        lunatic_message *m = signal_within(10 * kSec);
        EXPECT(is_noconnection_from(m, e1));
        lunatic_message_free(m);
    }
    // SIGSTOP: the connection stays open but silent; the heartbeat timeout finds it.
    EXPECT(lunatic_monitor(e2) == LUNATIC_OK);
    ping_pong(e2, 1);
    kill(c2.pid, SIGSTOP);
    lunatic_message *m = signal_within(15 * kSec);
    EXPECT(is_noconnection_from(m, e2));
    lunatic_message_free(m);
    // Exactly once.
    m = signal_within(500 * kMs);
    EXPECT(m == nullptr);
    lunatic_message_free(m);
    size_t count = 99;
    EXPECT(lunatic_nodes(rt, nullptr, 0, &count) == LUNATIC_OK);
    EXPECT(count == 0);

    kill(c2.pid, SIGKILL);
    kill(c2.pid, SIGCONT);
    waitpid(c1.pid, nullptr, 0);
    waitpid(c2.pid, nullptr, 0);
    EXPECT(lunatic_runtime_destroy(rt) == LUNATIC_OK);
    if (failures)
        std::fprintf(stderr, "%d failure(s)\n", failures);
    else
        std::printf("nodes_multiprocess: ok\n");
    return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc > 1 && std::strcmp(argv[1], "child") == 0) return child_main();
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    return parent_main(self);
}
