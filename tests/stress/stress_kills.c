/*
 * Random kills under load, with exactly-once notifications: N victims
 * (5,000; 20,000 with LUNATIC_STRESS_FULL=1) keep messaging themselves,
 * yielding and sleeping; a few fail by themselves at random. Each victim is
 * monitored by one observer and linked to another (which traps links). The
 * main thread kills every victim in random order while the rest run. Every
 * victim's end must reach its monitoring observer as exactly one
 * PROCESS_DIED and its linked observer as exactly one LINK_DIED, with the
 * same reason (killed or failed) — and nothing more may arrive afterwards.
 */
#include "stress.h"

enum { OBSERVERS = 4 };
enum { TAG_WATCH = 1, TAG_LINKS = 2, TAG_READY = 3, TAG_GO = 4, TAG_REPORT = 5, TAG_WORK = 6 };
static const lunatic_tag LINK_TAG = 77;

struct observer_args {
    lunatic_pid main;
};

struct report {
    uint64_t monitors, links, killed, failed, errors;
};

static int by_id(const void *a, const void *b) {
    uint64_t x = ((const lunatic_pid *)a)->id, y = ((const lunatic_pid *)b)->id;
    return x < y ? -1 : x > y;
}

/* Index of pid in the sorted list, or -1. */
static long find(const lunatic_pid *list, size_t n, lunatic_pid pid) {
    const lunatic_pid *at = bsearch(&pid, list, n, sizeof *list, by_id);
    return at && stress_pid_eq(*at, pid) ? at - list : -1;
}

/* Receives a list of pids (tag) into a new sorted array. */
static lunatic_pid *receive_list(lunatic_tag tag, size_t *n) {
    lunatic_message *m = NULL;
    if (lunatic_receive(&tag, 1, 60000000000LL, &m) != LUNATIC_OK) return NULL;
    *n = lunatic_message_size(m) / sizeof(lunatic_pid);
    lunatic_pid *list = malloc(*n * sizeof *list + 1);
    if (list && *n) memcpy(list, lunatic_message_data(m), *n * sizeof *list);
    lunatic_message_free(m);
    if (list) qsort(list, *n, sizeof *list, by_id);
    return list;
}

static int observer(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    struct observer_args a;
    if (len != sizeof a) return 1;
    memcpy(&a, capture, sizeof a);
    struct report r = {0, 0, 0, 0, 0};
    if (lunatic_trap_links(1) != LUNATIC_OK) return 1;
    size_t nw = 0, nl = 0;
    lunatic_pid *watched = receive_list(TAG_WATCH, &nw);
    lunatic_pid *linked = receive_list(TAG_LINKS, &nl);
    if (!watched || !linked) return 1;
    uint8_t *seen_monitor = calloc(nw + 1, 1), *seen_link = calloc(nl + 1, 1);
    lunatic_exit_reason *reasons = calloc(nw + 1, sizeof *reasons);
    if (!seen_monitor || !seen_link || !reasons) return 1;
    for (size_t i = 0; i < nw; ++i)
        if (lunatic_monitor(watched[i]) != LUNATIC_OK) ++r.errors;
    for (size_t i = 0; i < nl; ++i)
        if (lunatic_link(linked[i], LINK_TAG) != LUNATIC_OK) ++r.errors;
    lunatic_send_bytes(a.main, TAG_READY, NULL, 0);

    /* Until everything expected has come, then 300 ms more for anything extra. */
    for (;;) {
        int done = r.monitors == nw && r.links == nl;
        lunatic_message *m = NULL;
        int rc = lunatic_receive_mask(LUNATIC_RECEIVE_ALL, NULL, 0,
                                      done ? 300000000LL : 120000000000LL, &m);
        if (rc == LUNATIC_ETIMEDOUT && done) break;
        if (rc != LUNATIC_OK) {
            ++r.errors;
            break;
        }
        lunatic_pid pid;
        lunatic_exit_reason reason;
        lunatic_message_kind kind = lunatic_message_kind_of(m);
        if (kind == LUNATIC_MESSAGE_DATA ||
            lunatic_message_signal(m, &pid, &reason) != LUNATIC_OK) {
            ++r.errors;
        } else if (reason != LUNATIC_EXIT_KILLED && reason != LUNATIC_EXIT_FAILED) {
            ++r.errors;
        } else if (kind == LUNATIC_MESSAGE_PROCESS_DIED) {
            long i = find(watched, nw, pid);
            if (i < 0 || seen_monitor[i]++) {
                ++r.errors; /* unknown or doubled */
            } else {
                ++r.monitors;
                r.killed += reason == LUNATIC_EXIT_KILLED;
                r.failed += reason == LUNATIC_EXIT_FAILED;
            }
        } else {
            long i = find(linked, nl, pid);
            if (i < 0 || seen_link[i]++ || lunatic_message_tag(m) != LINK_TAG)
                ++r.errors;
            else
                ++r.links;
        }
        lunatic_message_free(m);
    }
    free(watched);
    free(linked);
    free(seen_monitor);
    free(seen_link);
    free(reasons);
    return lunatic_send_bytes(a.main, TAG_REPORT, &r, sizeof r) == LUNATIC_OK ? 0 : 1;
}

static int victim(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    uint64_t state;
    if (len != sizeof state) return 1;
    memcpy(&state, capture, sizeof state);
    const lunatic_tag go = TAG_GO, work = TAG_WORK;
    lunatic_message *m = NULL;
    if (lunatic_receive(&go, 1, LUNATIC_INFINITE, &m) != LUNATIC_OK) return 0; /* killed */
    lunatic_message_free(m);
    lunatic_pid self;
    lunatic_self(&self);
    for (uint64_t i = 0;; ++i) {
        uint64_t r = stress_random(&state);
        if (r % 40000 == 0) {
            lunatic_fail("failed at random");
            return 1;
        }
        if (lunatic_send_bytes(self, TAG_WORK, &i, sizeof i) != LUNATIC_OK) return 0;
        if (lunatic_receive(&work, 1, LUNATIC_INFINITE, &m) != LUNATIC_OK) return 0;
        lunatic_message_free(m);
        if ((r >> 20) % 64 == 0 && lunatic_yield() != LUNATIC_OK) return 0;
        if ((r >> 30) % 4096 == 0 && lunatic_sleep(1000000) != LUNATIC_OK) return 0;
    }
}

int main(void) {
    const uint32_t n = (uint32_t)stress_size(5000, 20000);
    lunatic_runtime *rt = NULL;
    STRESS_OK(lunatic_runtime_create(NULL, &rt));
    lunatic_pid self;
    STRESS_OK(lunatic_runtime_attach(rt, &self));

    lunatic_pid observers[OBSERVERS];
    struct observer_args oa = {self};
    for (int o = 0; o < OBSERVERS; ++o)
        STRESS_OK(lunatic_spawn(observer, &oa, sizeof oa, NULL, NULL, &observers[o]));
    lunatic_pid *victims = malloc(n * sizeof *victims);
    lunatic_pid *lists[OBSERVERS][2];
    size_t counts[OBSERVERS][2] = {{0}};
    STRESS_CHECK(victims, "out of memory");
    for (int o = 0; o < OBSERVERS; ++o)
        for (int k = 0; k < 2; ++k) lists[o][k] = malloc(n * sizeof(lunatic_pid));
    for (uint32_t i = 0; i < n; ++i) {
        uint64_t seed = 0x9E3779B97F4A7C15ULL * (i + 1);
        STRESS_OK(lunatic_spawn(victim, &seed, sizeof seed, NULL, NULL, &victims[i]));
        int w = i % OBSERVERS, l = (i + 1) % OBSERVERS;
        lists[w][0][counts[w][0]++] = victims[i];
        lists[l][1][counts[l][1]++] = victims[i];
    }
    for (int o = 0; o < OBSERVERS; ++o) {
        STRESS_OK(lunatic_send_bytes(observers[o], TAG_WATCH, lists[o][0],
                                     counts[o][0] * sizeof(lunatic_pid)));
        STRESS_OK(lunatic_send_bytes(observers[o], TAG_LINKS, lists[o][1],
                                     counts[o][1] * sizeof(lunatic_pid)));
    }
    const lunatic_tag ready = TAG_READY;
    for (int o = 0; o < OBSERVERS; ++o) {
        lunatic_message *m = NULL;
        STRESS_OK(lunatic_receive(&ready, 1, 60000000000LL, &m));
        lunatic_message_free(m);
    }

    double t0 = stress_seconds();
    for (uint32_t i = 0; i < n; ++i) STRESS_OK(lunatic_send_bytes(victims[i], TAG_GO, NULL, 0));
    lunatic_sleep(50000000); /* all at work */
    uint64_t state = 12345;
    for (uint32_t i = n - 1; i > 0; --i) { /* a random order */
        uint32_t j = (uint32_t)(stress_random(&state) % (i + 1));
        lunatic_pid t = victims[i];
        victims[i] = victims[j];
        victims[j] = t;
    }
    uint64_t kills = 0, gone = 0;
    for (uint32_t i = 0; i < n; ++i) {
        int rc = lunatic_kill(victims[i]);
        STRESS_CHECK(rc == LUNATIC_OK || rc == LUNATIC_ENOPROC, "kill: %s", lunatic_strerror(rc));
        if (rc == LUNATIC_OK)
            ++kills;
        else
            ++gone;
        if (i % 16 == 15) lunatic_sleep(200000); /* the others keep running meanwhile */
    }
    struct report total = {0, 0, 0, 0, 0};
    const lunatic_tag report_tag = TAG_REPORT;
    for (int o = 0; o < OBSERVERS; ++o) {
        lunatic_message *m = NULL;
        STRESS_OK(lunatic_receive(&report_tag, 1, 180000000000LL, &m));
        struct report r;
        STRESS_CHECK(lunatic_message_size(m) == sizeof r, "a report of %zu bytes",
                     lunatic_message_size(m));
        memcpy(&r, lunatic_message_data(m), sizeof r);
        lunatic_message_free(m);
        total.monitors += r.monitors;
        total.links += r.links;
        total.killed += r.killed;
        total.failed += r.failed;
        total.errors += r.errors;
    }
    double secs = stress_seconds() - t0;
    STRESS_CHECK(total.errors == 0, "%llu notifications unexpected, doubled or wrong",
                 (unsigned long long)total.errors);
    STRESS_CHECK(total.monitors == n, "%llu of %u PROCESS_DIED", (unsigned long long)total.monitors,
                 n);
    STRESS_CHECK(total.links == n, "%llu of %u LINK_DIED", (unsigned long long)total.links, n);
    STRESS_CHECK(total.killed + total.failed == n, "reasons do not add up");
    STRESS_CHECK(total.failed >= gone, "%llu kills found no process but only %llu failed",
                 (unsigned long long)gone, (unsigned long long)total.failed);
    printf(
        "stress_kills: %u victims on %u workers: %llu killed, %llu failed by themselves; "
        "%u PROCESS_DIED and %u LINK_DIED, each exactly once, in %.2f s; peak RSS %.0f MiB\n",
        n, lunatic_runtime_workers(rt), (unsigned long long)total.killed,
        (unsigned long long)total.failed, n, n, secs, stress_peak_rss_mib());
    for (int o = 0; o < OBSERVERS; ++o)
        for (int k = 0; k < 2; ++k) free(lists[o][k]);
    free(victims);
    STRESS_OK(lunatic_runtime_destroy(rt));
    return 0;
}
