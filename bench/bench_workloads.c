/*
 * bench_workloads.c — the peer-comparison workloads on liblunatic's C ABI.
 *
 *   bench_workloads WORKLOAD N [RUNS] [--workers W] [--idle-spins S]
 *
 * Runs WORKLOAD of size N, RUNS times (default 1) in this one OS process and
 * prints one line per run in the format every program of the suite prints
 * (bench/README.md):
 *
 *   RESULT workload=skynet n=1000000 value=412.3 unit=ns/leaf check=ok
 *
 * check is "ok" or "fail:<why>"; the exit status is 1 if any check failed.
 * Workloads (the same in bench/peers/<system>/):
 *   skynet   10-ary tree of N leaves; each leaf sends its ordinal to its
 *            parent, parents sum; value = wall ns / leaf; check = the sum
 *   spawn    spawn N empty processes without waiting, then wait until all
 *            have ended; value = ns / process
 *   pingpong N round trips between two processes; value = one-way ns
 *   ring     1,000 processes pass a token N hops; value = ns / hop
 *   fanin    4 senders (worker 1) send N messages in all to one receiver
 *            (worker 0); value = ns / message; check = every message
 *            arrived, in order per sender
 *   parked   N processes blocked in receive; value = bytes of RSS growth per
 *            process (VmRSS after − before); then each gets one message and
 *            exits (checked). Use RUNS=1 in a fresh OS process.
 *
 * Default runtime options (one worker per hardware thread) unless --workers /
 * --idle-spins say otherwise. The attached main thread starts each run in a
 * driver process and waits for it; results come back through memory shared
 * via the spawn's user pointer (a benchmark may; a lunatic program would not).
 */
#define _POSIX_C_SOURCE 200809L

#include <lunatic/lunatic.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAG_DONE 1
#define TAG_DATA 2
#define TAG_STOP 3
#define TAG_NEXT 4

#define RING_SIZE 1000
#define FANIN_SENDERS 4

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long vmrss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_workloads: %s: %s (%s)\n", what, lunatic_strerror(rc), lunatic_errmsg());
    exit(2);
}

static lunatic_pid g_main;

/* What a run reports back to main. */
struct result {
    size_t n;
    double value;
    char check[128];
};

static void report(struct result *r, double value, const char *check) {
    r->value = value;
    snprintf(r->check, sizeof r->check, "%s", check);
    int rc = lunatic_send_bytes(g_main, TAG_DONE, NULL, 0);
    if (rc) die("report", rc);
}

static int send_u64(lunatic_pid to, lunatic_tag tag, uint64_t v) {
    return lunatic_send_bytes(to, tag, &v, sizeof v);
}

static int recv_u64(const lunatic_tag *tags, size_t ntags, uint64_t *v, lunatic_tag *tag) {
    lunatic_message *m = NULL;
    int rc = lunatic_receive(tags, ntags, LUNATIC_INFINITE, &m);
    if (rc) return rc;
    *v = 0;
    if (lunatic_message_size(m) == sizeof *v) memcpy(v, lunatic_message_data(m), sizeof *v);
    if (tag) *tag = lunatic_message_tag(m);
    lunatic_message_free(m);
    return 0;
}

static uint64_t process_count(void) {
    return lunatic_runtime_process_count(lunatic_current_runtime());
}

/* ------------------------------------------------------------------ skynet */

struct skynet_capture {
    lunatic_pid parent;
    uint64_t num, size;
};

static int skynet_node(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    struct skynet_capture c;
    if (len != sizeof c) return 1;
    memcpy(&c, capture, sizeof c);
    if (c.size == 1) return send_u64(c.parent, TAG_DATA, c.num) ? 1 : 0;
    struct skynet_capture child = {.size = c.size / 10};
    if (lunatic_self(&child.parent)) return 1;
    for (uint64_t i = 0; i < 10; ++i) {
        child.num = c.num + i * child.size;
        if (lunatic_spawn(skynet_node, &child, sizeof child, NULL, NULL, NULL)) return 1;
    }
    uint64_t sum = 0;
    for (int i = 0; i < 10; ++i) {
        uint64_t v;
        if (recv_u64(NULL, 0, &v, NULL)) return 1;
        sum += v;
    }
    return send_u64(c.parent, TAG_DATA, sum) ? 1 : 0;
}

static int skynet_driver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct result *r = user;
    uint64_t n = r->n;
    struct skynet_capture root = {.num = 0, .size = n};
    lunatic_self(&root.parent);
    int64_t t0 = now_ns();
    if (lunatic_spawn(skynet_node, &root, sizeof root, NULL, NULL, NULL)) return 1;
    uint64_t sum = 0;
    if (recv_u64(NULL, 0, &sum, NULL)) return 1;
    double ns = (double)(now_ns() - t0) / (double)n;
    char check[128];
    uint64_t want = n * (n - 1) / 2;
    if (sum == want)
        snprintf(check, sizeof check, "ok");
    else
        snprintf(check, sizeof check, "fail:sum=%llu,want=%llu", (unsigned long long)sum,
                 (unsigned long long)want);
    report(r, ns, check);
    return 0;
}

/* ------------------------------------------------------------------- spawn */

static int empty_entry(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    return 0;
}

static int spawn_driver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct result *r = user;
    uint64_t base = process_count(), spawned = 0;
    int64_t t0 = now_ns();
    for (size_t i = 0; i < r->n; ++i)
        if (lunatic_spawn(empty_entry, NULL, 0, NULL, NULL, NULL) == 0) ++spawned;
    while (process_count() > base) lunatic_yield();
    double ns = (double)(now_ns() - t0) / (double)r->n;
    report(r, ns, spawned == r->n ? "ok" : "fail:spawn");
    return 0;
}

/* ---------------------------------------------------------------- pingpong */

static int pong_entry(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    for (;;) {
        lunatic_message *m = NULL;
        if (lunatic_receive(NULL, 0, LUNATIC_INFINITE, &m)) return 1;
        if (lunatic_message_tag(m) == TAG_STOP) {
            lunatic_message_free(m);
            return 0;
        }
        lunatic_pid from;
        lunatic_message_sender(m, &from);
        int rc = lunatic_send(from, m); /* the same message goes back */
        if (rc) {
            lunatic_message_free(m);
            return 1;
        }
    }
}

static int pingpong_driver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct result *r = user;
    lunatic_pid other;
    if (lunatic_spawn(pong_entry, NULL, 0, NULL, NULL, &other)) return 1;
    uint64_t ok = 0;
    int64_t t0 = now_ns();
    for (uint64_t i = 0; i < r->n; ++i) {
        uint64_t v;
        if (send_u64(other, TAG_DATA, i)) break;
        if (recv_u64(NULL, 0, &v, NULL)) break;
        ok += v == i;
    }
    double ns = (double)(now_ns() - t0) / (2.0 * (double)r->n);
    lunatic_send_bytes(other, TAG_STOP, NULL, 0);
    report(r, ns, ok == r->n ? "ok" : "fail:lost or wrong replies");
    return 0;
}

/* -------------------------------------------------------------------- ring */

struct ring_capture {
    lunatic_pid driver;
    uint64_t index;
};

/* Waits for its successor's pid, then forwards the token (remaining hops)
 * until TAG_STOP; the node that receives 0 tells the driver its index. */
static int ring_node(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    struct ring_capture c;
    if (len != sizeof c) return 1;
    memcpy(&c, capture, sizeof c);
    lunatic_tag next_tag = TAG_NEXT;
    lunatic_message *m = NULL;
    if (lunatic_receive(&next_tag, 1, LUNATIC_INFINITE, &m)) return 1;
    lunatic_pid next;
    memcpy(&next, lunatic_message_data(m), sizeof next);
    lunatic_message_free(m);
    for (;;) {
        uint64_t v;
        lunatic_tag tag;
        if (recv_u64(NULL, 0, &v, &tag)) return 1;
        if (tag == TAG_STOP) return 0;
        if (v == 0) {
            if (send_u64(c.driver, TAG_DATA, c.index)) return 1;
        } else if (send_u64(next, TAG_DATA, v - 1)) {
            return 1;
        }
    }
}

static int ring_driver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct result *r = user;
    lunatic_pid pids[RING_SIZE];
    struct ring_capture c;
    lunatic_self(&c.driver);
    for (uint64_t i = 0; i < RING_SIZE; ++i) {
        c.index = i;
        if (lunatic_spawn(ring_node, &c, sizeof c, NULL, NULL, &pids[i])) return 1;
    }
    for (int i = 0; i < RING_SIZE; ++i) {
        lunatic_pid next = pids[(i + 1) % RING_SIZE];
        if (lunatic_send_bytes(pids[i], TAG_NEXT, &next, sizeof next)) return 1;
    }
    int64_t t0 = now_ns();
    /* node 0 receives n and the node that receives 0 has made n hops */
    if (send_u64(pids[0], TAG_DATA, r->n)) return 1;
    uint64_t last;
    if (recv_u64(NULL, 0, &last, NULL)) return 1;
    double ns = (double)(now_ns() - t0) / (double)r->n;
    for (int i = 0; i < RING_SIZE; ++i) lunatic_send_bytes(pids[i], TAG_STOP, NULL, 0);
    report(r, ns, last == r->n % RING_SIZE ? "ok" : "fail:token ended at the wrong node");
    return 0;
}

/* ------------------------------------------------------------------- fanin */

struct fanin_capture {
    lunatic_pid to;
    uint64_t sender, count;
};

static int fanin_sender(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    struct fanin_capture c;
    if (len != sizeof c) return 1;
    memcpy(&c, capture, sizeof c);
    for (uint64_t i = 0; i < c.count; ++i)
        if (send_u64(c.to, TAG_DATA, c.sender << 40 | i)) return 1;
    return 0;
}

static int fanin_driver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct result *r = user;
    uint32_t workers = lunatic_runtime_workers(lunatic_current_runtime());
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.worker = workers > 1 ? 1 : 0; /* the driver itself runs on worker 0 */
    struct fanin_capture c;
    lunatic_self(&c.to);
    uint64_t per = r->n / FANIN_SENDERS, next[FANIN_SENDERS] = {0}, bad = 0;
    int64_t t0 = now_ns();
    for (uint64_t s = 0; s < FANIN_SENDERS; ++s) {
        c.sender = s;
        c.count = per;
        if (lunatic_spawn(fanin_sender, &c, sizeof c, NULL, &o, NULL)) return 1;
    }
    for (uint64_t i = 0; i < per * FANIN_SENDERS; ++i) {
        uint64_t v;
        if (recv_u64(NULL, 0, &v, NULL)) return 1;
        uint64_t s = v >> 40, seq = v & ((1ull << 40) - 1);
        if (s >= FANIN_SENDERS || seq != next[s]) ++bad;
        if (s < FANIN_SENDERS) next[s] = seq + 1;
    }
    double ns = (double)(now_ns() - t0) / (double)(per * FANIN_SENDERS);
    report(r, ns, bad ? "fail:lost or reordered" : "ok");
    return 0;
}

/* ------------------------------------------------------------------ parked */

static atomic_size_t g_parked;

static int parked_node(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    atomic_fetch_add_explicit(&g_parked, 1, memory_order_relaxed);
    uint64_t v;
    if (recv_u64(NULL, 0, &v, NULL)) return 1;
    return 0;
}

static int parked_driver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct result *r = user;
    lunatic_pid *pids = calloc(r->n, sizeof *pids);
    if (!pids) return 1;
    uint64_t base = process_count();
    long before = vmrss_kib();
    atomic_store(&g_parked, 0);
    for (size_t i = 0; i < r->n; ++i)
        if (lunatic_spawn(parked_node, NULL, 0, NULL, NULL, &pids[i])) return 1;
    while (atomic_load_explicit(&g_parked, memory_order_relaxed) < r->n) lunatic_yield();
    long after = vmrss_kib();
    size_t sent = 0;
    for (size_t i = 0; i < r->n; ++i) sent += send_u64(pids[i], TAG_DATA, i) == 0;
    while (process_count() > base) lunatic_yield();
    free(pids);
    double bytes = (double)(after - before) * 1024.0 / (double)r->n;
    report(r, bytes, sent == r->n ? "ok" : "fail:a parked process was gone");
    return 0;
}

/* -------------------------------------------------------------------- main */

struct workload {
    const char *name, *unit;
    lunatic_entry driver;
};

static const struct workload k_workloads[] = {
    {"skynet", "ns/leaf", skynet_driver},        {"spawn", "ns/process", spawn_driver},
    {"pingpong", "ns/message", pingpong_driver}, {"ring", "ns/hop", ring_driver},
    {"fanin", "ns/message", fanin_driver},       {"parked", "B/process", parked_driver},
};

int main(int argc, char **argv) {
    const char *name = NULL;
    size_t n = 0;
    int runs = 1;
    lunatic_runtime_options opt;
    lunatic_runtime_options_init(&opt);
    int positional = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--workers") && i + 1 < argc) {
            opt.workers = (uint32_t)atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--idle-spins") && i + 1 < argc) {
            opt.idle_spins = (uint32_t)atoi(argv[++i]);
        } else if (positional == 0) {
            name = argv[i], ++positional;
        } else if (positional == 1) {
            n = (size_t)strtoull(argv[i], NULL, 10), ++positional;
        } else if (positional == 2) {
            runs = atoi(argv[i]), ++positional;
        } else {
            name = NULL;
            break;
        }
    }
    const struct workload *w = NULL;
    for (size_t i = 0; name && i < sizeof k_workloads / sizeof *k_workloads; ++i)
        if (!strcmp(name, k_workloads[i].name)) w = &k_workloads[i];
    if (!w || n == 0 || runs < 1) {
        fprintf(stderr,
                "usage: %s WORKLOAD N [RUNS] [--workers W] [--idle-spins S]\n"
                "workloads: skynet spawn pingpong ring fanin parked\n",
                argv[0]);
        return 2;
    }
    if (!strcmp(w->name, "skynet")) {
        size_t p = 1;
        while (p < n) p *= 10;
        if (p != n) {
            fprintf(stderr, "skynet: N must be a power of 10\n");
            return 2;
        }
    }

    lunatic_runtime *rt = NULL;
    int rc = lunatic_runtime_create(&opt, &rt);
    if (rc) die("runtime_create", rc);
    rc = lunatic_runtime_attach(rt, &g_main);
    if (rc) die("attach", rc);
    int failed = 0;
    for (int i = 0; i < runs; ++i) {
        struct result r = {.n = n};
        rc = lunatic_spawn(w->driver, NULL, 0, &r, NULL, NULL);
        if (rc) die("spawn driver", rc);
        lunatic_tag done = TAG_DONE;
        lunatic_message *m = NULL;
        rc = lunatic_receive(&done, 1, (int64_t)900 * 1000000000, &m);
        if (rc) die(w->name, rc);
        lunatic_message_free(m);
        failed |= strcmp(r.check, "ok") != 0;
        printf("RESULT workload=%s n=%zu value=%.1f unit=%s check=%s\n", w->name, n, r.value,
               w->unit, r.check);
        fflush(stdout);
    }
    rc = lunatic_runtime_destroy(rt);
    if (rc) die("runtime_destroy", rc);
    return failed ? 1 : 0;
}
