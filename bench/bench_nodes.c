/*
 * Two lunatic nodes on loopback, in two OS processes: ping-pong round trip and
 * one-way throughput of small (8-byte) messages between a process on each
 * node. The Erlang distribution counterpart is peers/erlang/nodes.erl; run
 * both with bench/nodes.sh. Prints `RESULT <name> <value> <unit>` lines.
 *
 *   bench_nodes [round_trips] [messages]
 */
#include <lunatic/lunatic.h>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SEC ((int64_t)1000000000)
#define TAG_DATA 1
#define TAG_DONE 2

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Echoes each message to its sender. */
static int echo_entry(const uint8_t *c, size_t n, void *u) {
    (void)c, (void)n, (void)u;
    for (;;) {
        lunatic_message *m = NULL;
        if (lunatic_receive(NULL, 0, 600 * SEC, &m) != LUNATIC_OK) return 0;
        lunatic_pid from;
        lunatic_message_sender(m, &from);
        lunatic_send(from, m); /* the same message goes back */
    }
}

/* Counts `count` messages (capture: u64 count), then tells the sender of the last. */
static int sink_entry(const uint8_t *c, size_t n, void *u) {
    (void)u;
    uint64_t count = 0;
    if (n != sizeof count) return 1;
    memcpy(&count, c, sizeof count);
    lunatic_pid from = {0, 0};
    for (uint64_t i = 0; i < count; ++i) {
        lunatic_message *m = NULL;
        if (lunatic_receive(NULL, 0, 600 * SEC, &m) != LUNATIC_OK) return 1;
        if (i + 1 == count) lunatic_message_sender(m, &from);
        lunatic_message_free(m);
    }
    lunatic_send_bytes(from, TAG_DONE, &count, sizeof count);
    return 0;
}

static lunatic_runtime *start_node(const char *name, uint16_t *port) {
    lunatic_runtime_options ro;
    lunatic_runtime_options_init(&ro);
    ro.workers = 1;
    lunatic_runtime *rt = NULL;
    if (lunatic_runtime_create(&ro, &rt) != LUNATIC_OK) exit(2);
    lunatic_node_options o;
    lunatic_node_options_init(&o);
    o.name = name;
    o.cookie = "bench";
    if (lunatic_node_start(rt, &o, port) != LUNATIC_OK) exit(3);
    return rt;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    lunatic_entry_register("bench.echo", echo_entry);
    lunatic_entry_register("bench.sink", sink_entry);
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        uint16_t port = 0;
        lunatic_runtime *rt = start_node("bench-b", &port);
        printf("PORT %u\n", (unsigned)port);
        fflush(stdout);
        char ch;
        while (read(0, &ch, 1) > 0) {
        }
        lunatic_runtime_destroy(rt);
        return 0;
    }
    const uint64_t trips = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    const uint64_t msgs = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;

    int out[2], in[2];
    if (pipe(out) || pipe(in)) return 1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, in[1]); /* else the child never sees its stdin close */
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return 1;
    self[len] = 0;
    char a0[] = "bench_nodes", a1[] = "child";
    char *args[] = {a0, a1, NULL};
    pid_t child;
    if (posix_spawn(&child, self, &fa, NULL, args, environ) != 0) return 1;
    close(out[1]);
    close(in[0]);
    char line[64] = {0};
    size_t got = 0;
    while (got < sizeof line - 1 && !strchr(line, '\n')) {
        ssize_t n = read(out[0], line + got, sizeof line - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    unsigned port = 0;
    if (sscanf(line, "PORT %u", &port) != 1) return 1;

    lunatic_runtime *rt = start_node("bench-a", NULL);
    lunatic_pid me;
    lunatic_runtime_attach(rt, &me);
    uint64_t b = 0;
    if (lunatic_node_connect(rt, "127.0.0.1", (uint16_t)port, 10 * SEC, &b) != LUNATIC_OK) {
        fprintf(stderr, "connect: %s\n", lunatic_errmsg());
        return 1;
    }
    lunatic_pid echo, sink;
    if (lunatic_spawn_node(b, "bench.echo", NULL, 0, NULL, &echo) != LUNATIC_OK) {
        fprintf(stderr, "spawn_node: %s\n", lunatic_errmsg());
        return 1;
    }

    /* ping-pong: one message there and back at a time */
    uint64_t v = 0;
    for (int warm = 0; warm < 1000; ++warm) {
        lunatic_send_bytes(echo, TAG_DATA, &v, sizeof v);
        lunatic_message *m;
        lunatic_receive(NULL, 0, 10 * SEC, &m);
        lunatic_message_free(m);
    }
    double t0 = now_s();
    for (uint64_t i = 0; i < trips; ++i) {
        lunatic_send_bytes(echo, TAG_DATA, &i, sizeof i);
        lunatic_message *m;
        if (lunatic_receive(NULL, 0, 10 * SEC, &m) != LUNATIC_OK) return 1;
        lunatic_message_free(m);
    }
    double rtt = (now_s() - t0) / (double)trips;
    printf("RESULT nodes_pingpong_rtt %.2f us\n", rtt * 1e6);

    /* one-way throughput: msgs small messages, then the sink's one answer */
    if (lunatic_spawn_node(b, "bench.sink", &msgs, sizeof msgs, NULL, &sink) != LUNATIC_OK)
        return 1;
    t0 = now_s();
    for (uint64_t i = 0; i < msgs; ++i)
        if (lunatic_send_bytes(sink, TAG_DATA, &i, sizeof i) != LUNATIC_OK) return 1;
    lunatic_tag done = TAG_DONE;
    lunatic_message *m;
    if (lunatic_receive(&done, 1, 600 * SEC, &m) != LUNATIC_OK) return 1;
    lunatic_message_free(m);
    double secs = now_s() - t0;
    printf("RESULT nodes_throughput %.0f msg/s\n", (double)msgs / secs);

    lunatic_runtime_destroy(rt);
    close(in[1]);
    waitpid(child, NULL, 0);
    return 0;
}
