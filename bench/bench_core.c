/*
 * bench_core.c — what liblunatic costs: spawn, parked processes, messages.
 *
 * Uses only <lunatic/lunatic.h> (plus libc). Prints a Markdown table in the
 * same format as floor_boost_fiber, which runs the same workloads on raw
 * Boost.Fiber, so the README can show the two side by side.
 *
 *   bench_core [--quick] [--scale X] [--runs N] [--only GROUP,...]
 *
 *   --quick    a tenth of every size (same as --scale 0.1)
 *   --scale X  multiply every size by X
 *   --runs N   runs per cheap workload; the median is printed (default 3)
 *   --only G   only the workload groups named (comma-separated): parked,
 *              parked1m, spawn, pingpong, flood, unpinned
 *   --timed    receives in the measured loops wait at most 10 s instead of
 *              forever (what a timed receive costs)
 *
 * The runtime has its default options (one worker per hardware thread, 64 KiB
 * stacks). The program's main thread is attached; each workload runs in
 * processes it spawns and reports back to it with a message. Results travel
 * in a struct shared through the spawn's user pointer (a benchmark may share
 * memory; a lunatic program would not).
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE */
#define _POSIX_C_SOURCE 200809L

#include <lunatic/lunatic.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* ------------------------------------------------------------------ helpers */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); -1 if missing. */
static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long value = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            value = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return value;
}

/* 1234567 -> "1,234,567" into buf. */
static const char *grouped(uint64_t v, char *buf, size_t size) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < size; ++i) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t round_u64(double v) { return v < 0 ? 0 : (uint64_t)(v + 0.5); }

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_core: %s: %s (%s)\n", what, lunatic_strerror(rc), lunatic_errmsg());
    exit(1);
}

/* ------------------------------------------------------------------- table */

#define MAX_ROWS 32
struct row {
    char workload[96], n[32], result[96], check[96];
};
static struct row g_rows[MAX_ROWS];
static int g_nrows;
static int g_ok = 1;

static void add_row(const char *workload, uint64_t n, const char *result, const char *check) {
    if (g_nrows == MAX_ROWS) return;
    struct row *r = &g_rows[g_nrows++];
    snprintf(r->workload, sizeof r->workload, "%s", workload);
    grouped(n, r->n, sizeof r->n);
    snprintf(r->result, sizeof r->result, "%s", result);
    snprintf(r->check, sizeof r->check, "%s", check ? check : "");
    fprintf(stderr, "  done: %s (%s)\n", workload, r->n);
}

/* "1,000,000 replies ✓" or "… ✗ (expected …)" */
static void count_check(char *out, size_t size, uint64_t got, uint64_t want, const char *what) {
    char g[32], w[32];
    if (got == want) {
        snprintf(out, size, "%s %s ✓", grouped(got, g, sizeof g), what);
    } else {
        g_ok = 0;
        snprintf(out, size, "%s %s ✗ (expected %s)", grouped(got, g, sizeof g), what,
                 grouped(want, w, sizeof w));
    }
}

/* -------------------------------------------------- running a workload */

#define TAG_DONE 1
#define TAG_STOP 2
#define TAG_DATA 3

static lunatic_pid g_main; /* the attached main thread */

/* Timeout of the receives inside the measured loops. Infinite by default: a
 * lost message then shows as the main thread's 600 s wait for the workload
 * failing. --timed gives them a 10 s timeout instead, to measure what timed
 * receives cost. */
static int64_t g_hot_timeout = LUNATIC_INFINITE;

/* Spawns driver(user) and waits for its TAG_DONE message to the main thread. */
static void run_driver(lunatic_entry driver, void *user, const char *name) {
    int rc = lunatic_spawn(driver, NULL, 0, user, NULL, NULL);
    if (rc) die(name, rc);
    lunatic_tag done = TAG_DONE;
    lunatic_message *m = NULL;
    rc = lunatic_receive(&done, 1, (int64_t)600 * 1000000000, &m);
    if (rc) die(name, rc);
    lunatic_message_free(m);
}

static void report_done(void) {
    int rc = lunatic_send_bytes(g_main, TAG_DONE, NULL, 0);
    if (rc) die("report to main", rc);
}

static uint64_t process_count(void) {
    return lunatic_runtime_process_count(lunatic_current_runtime());
}

/* Yields until no more than `base` processes are alive. */
static void wait_count(uint64_t base) {
    while (process_count() > base) lunatic_yield();
}

static int receive_u64(int64_t timeout, uint64_t *value, lunatic_pid *sender, lunatic_tag *tag) {
    lunatic_message *m = NULL;
    int rc = lunatic_receive(NULL, 0, timeout, &m);
    if (rc) return rc;
    *value = 0;
    if (lunatic_message_size(m) == sizeof *value)
        memcpy(value, lunatic_message_data(m), sizeof *value);
    if (sender) lunatic_message_sender(m, sender);
    if (tag) *tag = lunatic_message_tag(m);
    lunatic_message_free(m);
    return 0;
}

/* ------------------------------------------------------------------ parked */

struct parked {
    size_t n;
    atomic_size_t blocked; /* children about to block in receive */
    lunatic_pid *pids;
    /* results */
    double spawn_ns, wake_ns;
    long rss_kib;
    uint64_t replies;
    int errors;
};

static int parked_child(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct parked *p = user;
    atomic_fetch_add_explicit(&p->blocked, 1, memory_order_relaxed);
    uint64_t v;
    lunatic_pid from;
    if (receive_u64(LUNATIC_INFINITE, &v, &from, NULL)) return 1;
    return lunatic_send_bytes(from, TAG_DATA, &(uint64_t){v + 1}, sizeof v) ? 1 : 0;
}

static int parked_driver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct parked *p = user;
    size_t n = p->n;
    uint64_t base = process_count();
    atomic_store(&p->blocked, 0);

    int64_t t0 = now_ns();
    for (size_t i = 0; i < n; ++i) {
        int rc = lunatic_spawn(parked_child, NULL, 0, p, NULL, &p->pids[i]);
        if (rc) die("parked: spawn", rc);
    }
    while (atomic_load_explicit(&p->blocked, memory_order_relaxed) < n) lunatic_yield();
    int64_t t1 = now_ns();
    p->rss_kib = status_kib("VmRSS");

    int64_t t2 = now_ns();
    for (size_t i = 0; i < n; ++i) {
        uint64_t v = i;
        if (lunatic_send_bytes(p->pids[i], TAG_DATA, &v, sizeof v)) p->errors++;
    }
    uint64_t got = 0, sum = 0;
    for (size_t i = 0; i < n; ++i) {
        uint64_t v;
        if (receive_u64(g_hot_timeout, &v, NULL, NULL)) break;
        ++got;
        sum += v;
    }
    wait_count(base);
    int64_t t3 = now_ns();
    /* each child replied with its index + 1: the sum proves none was lost or duplicated */
    p->replies = sum == (uint64_t)n * (n + 1) / 2 ? got : 0;
    p->spawn_ns = (double)(t1 - t0) / n;
    p->wake_ns = (double)(t3 - t2) / n;
    report_done();
    return 0;
}

/* Round 1 touches fresh memory (cold: page faults dominate on a VM); later
 * rounds reuse what the first left behind (warm). */
static void run_parked(size_t n, int runs, long rss_start) {
    struct parked p;
    memset(&p, 0, sizeof p);
    p.n = n;
    p.pids = calloc(n, sizeof *p.pids);
    if (!p.pids) die("calloc", LUNATIC_ENOMEM);
    double spawn_warm[16], wake_warm[16], spawn_cold = 0, wake_cold = 0, rss_cold = 0;
    int nwarm = 0;
    uint64_t worst = n;
    for (int r = 0; r < runs && r < 16; ++r) {
        p.errors = 0;
        run_driver(parked_driver, &p, "parked");
        if (r == 0) {
            spawn_cold = p.spawn_ns;
            wake_cold = p.wake_ns;
            rss_cold = (double)(p.rss_kib - rss_start) * 1024.0 / n;
        } else {
            spawn_warm[nwarm] = p.spawn_ns;
            wake_warm[nwarm++] = p.wake_ns;
        }
        if (p.replies < worst) worst = p.replies;
        if (p.errors) worst = 0;
    }
    free(p.pids);

    char res[96], chk[96], a[32], b[32];
    snprintf(res, sizeof res, "%s ns/process cold", grouped(round_u64(spawn_cold), a, sizeof a));
    if (nwarm)
        snprintf(res + strlen(res), sizeof res - strlen(res), ", %s ns warm",
                 grouped(round_u64(median(spawn_warm, nwarm)), b, sizeof b));
    add_row("parked: spawn until blocked in receive", n, res, NULL);
    snprintf(res, sizeof res, "%s B/process", grouped(round_u64(rss_cold), a, sizeof a));
    add_row("parked: RSS while blocked (VmRSS − start)", n, res, NULL);
    snprintf(res, sizeof res, "%s ns/process cold", grouped(round_u64(wake_cold), a, sizeof a));
    if (nwarm)
        snprintf(res + strlen(res), sizeof res - strlen(res), ", %s ns warm",
                 grouped(round_u64(median(wake_warm, nwarm)), b, sizeof b));
    count_check(chk, sizeof chk, worst, n, "replies");
    add_row("parked: wake with 1 message, reply, exit", n, res, chk);
}

/* ------------------------------------------------------------------- spawn */

struct spawn_bench {
    size_t n;
    double ns;
    uint64_t ok;
};

static int empty_child(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    return 0;
}

/* Spawns n empty processes without waiting for any, then waits until all
 * have ended. */
static int spawn_empty_driver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct spawn_bench *s = user;
    uint64_t base = process_count(), spawned = 0;
    int64_t t0 = now_ns();
    for (size_t i = 0; i < s->n; ++i)
        if (lunatic_spawn(empty_child, NULL, 0, NULL, NULL, NULL) == 0) ++spawned;
    wait_count(base);
    s->ns = (double)(now_ns() - t0) / s->n;
    s->ok = spawned;
    report_done();
    return 0;
}

static int reply_child(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    lunatic_pid parent;
    if (len != sizeof parent) return 1;
    memcpy(&parent, capture, sizeof parent);
    return lunatic_send_bytes(parent, TAG_DATA, NULL, 0) ? 1 : 0;
}

/* One at a time: spawn a child, wait for its message, next. */
static int spawn_reply_driver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct spawn_bench *s = user;
    lunatic_pid self;
    lunatic_self(&self);
    uint64_t base = process_count(), got = 0;
    int64_t t0 = now_ns();
    for (size_t i = 0; i < s->n; ++i) {
        if (lunatic_spawn(reply_child, &self, sizeof self, NULL, NULL, NULL)) break;
        lunatic_message *m = NULL;
        if (lunatic_receive(NULL, 0, g_hot_timeout, &m)) break;
        lunatic_message_free(m);
        ++got;
    }
    wait_count(base);
    s->ns = (double)(now_ns() - t0) / s->n;
    s->ok = got;
    report_done();
    return 0;
}

static void run_spawn(size_t n, int runs) {
    double t[16];
    uint64_t worst = n;
    char res[96], chk[96], a[32];
    struct spawn_bench s = {.n = n};
    for (int r = 0; r < runs && r < 16; ++r) {
        run_driver(spawn_empty_driver, &s, "spawn");
        t[r] = s.ns;
        if (s.ok < worst) worst = s.ok;
    }
    snprintf(res, sizeof res, "%s ns/process",
             grouped(round_u64(median(t, runs < 16 ? runs : 16)), a, sizeof a));
    count_check(chk, sizeof chk, worst, n, "spawned and ended");
    add_row("spawn + run + exit (empty process)", n, res, chk);

    worst = n;
    for (int r = 0; r < runs && r < 16; ++r) {
        run_driver(spawn_reply_driver, &s, "spawn+reply");
        t[r] = s.ns;
        if (s.ok < worst) worst = s.ok;
    }
    snprintf(res, sizeof res, "%s ns/process",
             grouped(round_u64(median(t, runs < 16 ? runs : 16)), a, sizeof a));
    count_check(chk, sizeof chk, worst, n, "messages");
    add_row("spawn + 1 message to parent + exit", n, res, chk);
}

/* ---------------------------------------------------------------- pingpong */

struct pingpong {
    size_t n;
    int32_t worker;
    double ns;
    uint64_t ok;
};

static int pong(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    for (;;) {
        uint64_t v;
        lunatic_pid from;
        lunatic_tag tag;
        if (receive_u64(LUNATIC_INFINITE, &v, &from, &tag)) return 1;
        if (tag == TAG_STOP) return 0;
        v += 1;
        if (lunatic_send_bytes(from, TAG_DATA, &v, sizeof v)) return 1;
    }
}

static int ping(const uint8_t *capture, size_t len, void *user) {
    struct pingpong *p = user;
    lunatic_pid other;
    if (len != sizeof other) return 1;
    memcpy(&other, capture, sizeof other);
    uint64_t ok = 0;
    int64_t t0 = now_ns();
    for (uint64_t i = 0; i < p->n; ++i) {
        uint64_t v;
        if (lunatic_send_bytes(other, TAG_DATA, &i, sizeof i)) break;
        if (receive_u64(g_hot_timeout, &v, NULL, NULL)) break;
        ok += v == i + 1;
    }
    p->ns = (double)(now_ns() - t0) / (2.0 * p->n);
    p->ok = ok;
    lunatic_send_bytes(other, TAG_STOP, NULL, 0);
    report_done();
    return 0;
}

static void pingpong_once(struct pingpong *p) {
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.worker = p->worker;
    lunatic_pid other;
    int rc = lunatic_spawn(pong, NULL, 0, NULL, &o, &other);
    if (rc) die("spawn pong", rc);
    rc = lunatic_spawn(ping, &other, sizeof other, p, &o, NULL);
    if (rc) die("spawn ping", rc);
    lunatic_tag done = TAG_DONE;
    lunatic_message *m = NULL;
    rc = lunatic_receive(&done, 1, (int64_t)600 * 1000000000, &m);
    if (rc) die("pingpong", rc);
    lunatic_message_free(m);
}

static void run_pingpong(size_t n, int runs, int32_t worker, const char *name) {
    double t[16];
    uint64_t worst = n;
    struct pingpong p = {.n = n, .worker = worker};
    for (int r = 0; r < runs && r < 16; ++r) {
        pingpong_once(&p);
        t[r] = p.ns;
        if (p.ok < worst) worst = p.ok;
    }
    char res[96], chk[96], a[32];
    snprintf(res, sizeof res, "%s ns/message",
             grouped(round_u64(median(t, runs < 16 ? runs : 16)), a, sizeof a));
    count_check(chk, sizeof chk, worst, n, "round trips");
    add_row(name, n, res, chk);
}

/* ------------------------------------------------------------------- flood */

struct flood {
    size_t n;
    int64_t end_ns;
    uint64_t in_order;
    size_t mailbox_peak; /* sampled every 1,024 messages */
};

static int flood_receiver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len;
    struct flood *f = user;
    uint64_t in_order = 0;
    for (uint64_t i = 0; i < f->n; ++i) {
        uint64_t v;
        if (receive_u64(g_hot_timeout, &v, NULL, NULL)) break;
        if (v != i) break;
        ++in_order;
        size_t queued;
        if ((i & 1023) == 0 && lunatic_mailbox_size(&queued) == 0 && queued > f->mailbox_peak)
            f->mailbox_peak = queued;
    }
    f->end_ns = now_ns();
    f->in_order = in_order;
    report_done();
    return 0;
}

static int flood_sender(const uint8_t *capture, size_t len, void *user) {
    struct flood *f = user;
    lunatic_pid to;
    if (len != sizeof to) return 1;
    memcpy(&to, capture, sizeof to);
    for (uint64_t i = 0; i < f->n; ++i)
        if (lunatic_send_bytes(to, TAG_DATA, &i, sizeof i)) return 1;
    return 0;
}

/* from_thread: the attached main thread sends; otherwise a process pinned
 * to the other worker does. */
static void run_flood(size_t n, int runs, int from_thread, uint32_t workers) {
    double rate[16];
    uint64_t worst = n;
    size_t peak = 0;
    for (int r = 0; r < runs && r < 16; ++r) {
        struct flood f = {.n = n};
        lunatic_spawn_options o;
        lunatic_spawn_options_init(&o);
        o.worker = 0;
        lunatic_pid rx;
        int rc = lunatic_spawn(flood_receiver, NULL, 0, &f, &o, &rx);
        if (rc) die("spawn receiver", rc);
        int64_t t0 = now_ns();
        if (from_thread) {
            for (uint64_t i = 0; i < n; ++i) {
                rc = lunatic_send_bytes(rx, TAG_DATA, &i, sizeof i);
                if (rc) die("flood send", rc);
            }
        } else {
            o.worker = workers > 1 ? 1 : 0;
            rc = lunatic_spawn(flood_sender, &rx, sizeof rx, &f, &o, NULL);
            if (rc) die("spawn sender", rc);
        }
        lunatic_tag done = TAG_DONE;
        lunatic_message *m = NULL;
        rc = lunatic_receive(&done, 1, (int64_t)600 * 1000000000, &m);
        if (rc) die("flood", rc);
        lunatic_message_free(m);
        rate[r] = (double)n / ((double)(f.end_ns - t0) / 1e9);
        if (f.in_order < worst) worst = f.in_order;
        if (f.mailbox_peak > peak) peak = f.mailbox_peak;
    }
    char res[96], chk[96], a[32];
    snprintf(res, sizeof res, "%.2f M messages/s", median(rate, runs < 16 ? runs : 16) / 1e6);
    count_check(chk, sizeof chk, worst, n, "in order");
    snprintf(chk + strlen(chk), sizeof chk - strlen(chk), "; mailbox peak %s",
             grouped(peak, a, sizeof a));
    add_row(from_thread ? "flood: the attached main thread sends to one receiver"
                        : "flood: sender on another thread, one receiver",
            n, res, chk);
}

/* -------------------------------------------------------------------- main */

/* What touching a fresh page costs here: ns per 4 KiB page over 16 MiB. */
static double first_touch_ns(void) {
    const size_t pages = 4096, page = 4096;
    void *mem = mmap(NULL, pages * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return 0;
    volatile char *p = mem;
    int64_t t0 = now_ns();
    for (size_t i = 0; i < pages; ++i) p[i * page] = 1;
    double ns = (double)(now_ns() - t0) / pages;
    munmap(mem, pages * page);
    return ns;
}

static void model_name(char *out, size_t size) {
    snprintf(out, size, "?");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t') c++;
                snprintf(out, size, "%s", c);
                out[strcspn(out, "\n")] = '\0';
            }
            break;
        }
    }
    fclose(f);
}

static int wanted(const char *only, const char *group) {
    if (!only) return 1;
    size_t n = strlen(group);
    for (const char *p = only; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, group, n) == 0) return 1;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

static size_t scaled(double base, double scale) {
    double v = base * scale;
    return v < 1 ? 1 : (size_t)v;
}

int main(int argc, char **argv) {
    double scale = 1.0;
    int runs = 3;
    const char *only = NULL;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--quick"))
            scale = 0.1;
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--timed"))
            g_hot_timeout = (int64_t)10 * 1000000000;
        else {
            fprintf(stderr,
                    "usage: %s [--quick] [--scale X] [--runs N] [--only GROUP,...] [--timed]\n"
                    "groups: parked, parked1m, spawn, pingpong, flood, unpinned\n",
                    argv[0]);
            return 2;
        }
    }
    if (runs < 1) runs = 1;
    if (runs > 15) runs = 15;
    size_t n_small = scaled(100000, scale), n_big = scaled(1000000, scale);

    double touch = first_touch_ns();
    lunatic_runtime *rt = NULL;
    int rc = lunatic_runtime_create(NULL, &rt);
    if (rc) die("runtime_create", rc);
    rc = lunatic_runtime_attach(rt, &g_main);
    if (rc) die("attach", rc);
    uint32_t workers = lunatic_runtime_workers(rt);
    long rss_start = status_kib("VmRSS");
    int64_t t_start = now_ns();

    /* Parked workloads first, so VmRSS − start counts only them. */
    if (wanted(only, "parked")) run_parked(n_small, runs, rss_start);
    if (wanted(only, "parked1m")) run_parked(n_big, 2, rss_start);
    if (wanted(only, "spawn")) run_spawn(n_big, runs);
    if (wanted(only, "pingpong"))
        run_pingpong(n_big, runs, 0, "pingpong, both on one worker (one-way)");
    if (wanted(only, "flood")) {
        run_flood(n_big, runs, 0, workers);
        run_flood(n_big, runs, 1, workers);
    }
    if (wanted(only, "unpinned"))
        run_pingpong(n_big, runs, LUNATIC_WORKER_ANY, "pingpong, unpinned on 2 workers (one-way)");

    double wall = (double)(now_ns() - t_start) / 1e9;
    long hwm = status_kib("VmHWM");
    rc = lunatic_runtime_destroy(rt);
    if (rc) die("runtime_destroy", rc);

    char model[128], a[32], b[32];
    model_name(model, sizeof model);
    printf("### liblunatic %s (C ABI, default runtime options%s)\n\n", lunatic_version_string(),
           g_hot_timeout == LUNATIC_INFINITE ? "" : ", receives with a 10 s timeout");
    printf(
        "Machine: %u workers, %s; first touch of a fresh page costs %s ns here. "
        "Medians of %d runs; parked: cold = first round, warm = later rounds. "
        "Pinned rows use lunatic_spawn_options.worker; unpinned: LUNATIC_WORKER_ANY.\n\n",
        workers, model, grouped(round_u64(touch), a, sizeof a), runs);
    printf("| workload | n | result | check |\n| --- | ---: | ---: | --- |\n");
    for (int i = 0; i < g_nrows; ++i)
        printf("| %s | %s | %s | %s |\n", g_rows[i].workload, g_rows[i].n, g_rows[i].result,
               g_rows[i].check);
    printf("\nPeak RSS (VmHWM): %s KiB; wall time %.1f s.\n",
           grouped((uint64_t)(hwm < 0 ? 0 : hwm), b, sizeof b), wall);
    return g_ok ? 0 : 1;
}
