/*
 * Runtimes created and destroyed in a loop with work in flight: each round
 * (100; 1,000 with LUNATIC_STRESS_FULL=1) starts a runtime, fills it with a
 * ring passing a token, sleepers, processes in timed and selective receives
 * with messages queued, pending send_after timers, linked and monitored
 * processes, and destroys it at once. Every spawned process's user pointer
 * must be freed exactly once by the runtime, and memory must not grow from
 * round to round. Under valgrind (LUNATIC_STRESS_ROUNDS=5 in `make test`) and
 * LeakSanitizer (`make test-asan`) nothing may leak.
 */
#include "stress.h"

#include <stdatomic.h>

static atomic_ulong freed;
static void count_free(void *user) {
    (void)user;
    atomic_fetch_add(&freed, 1);
}

/* First message: the next pid; then forwards every message to it. */
static int ring_member(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    lunatic_message *m = NULL;
    if (lunatic_receive(NULL, 0, LUNATIC_INFINITE, &m) != LUNATIC_OK) return 0;
    lunatic_pid next;
    int ok = lunatic_message_size(m) == sizeof next;
    if (ok) memcpy(&next, lunatic_message_data(m), sizeof next);
    lunatic_message_free(m);
    if (!ok) return 1;
    for (;;) {
        if (lunatic_receive(NULL, 0, LUNATIC_INFINITE, &m) != LUNATIC_OK) return 0;
        if (lunatic_send(next, m) != LUNATIC_OK) {
            lunatic_message_free(m);
            return 0;
        }
    }
}

static int sleeper(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    lunatic_sleep(10000000000LL);
    return 0;
}

/* Waits for a tag that never comes, with a timeout, while messages queue. */
static int picky(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    const lunatic_tag never = 999;
    lunatic_message *m = NULL;
    while (lunatic_receive(&never, 1, 5000000000LL, &m) == LUNATIC_ETIMEDOUT) {
    }
    return 0;
}

/* Sets timers to itself, then waits. */
static int timed(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    lunatic_pid self;
    lunatic_self(&self);
    for (int i = 0; i < 3; ++i) {
        lunatic_message *m = NULL;
        if (lunatic_message_new(5, 32, &m) != LUNATIC_OK) return 1;
        lunatic_message_append(m, "later", 5);
        lunatic_timer timer;
        int rc = lunatic_send_after(self, m, 3000000000LL * (i + 1), &timer);
        if (rc != LUNATIC_OK) {
            lunatic_message_free(m);
            return rc == LUNATIC_EKILLED ? 0 : 1; /* the runtime is being destroyed */
        }
    }
    lunatic_message *m = NULL;
    lunatic_receive(NULL, 0, LUNATIC_INFINITE, &m);
    lunatic_message_free(m);
    return 0;
}

/* Links to the pid it is given and yields forever. */
static int linker(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    lunatic_pid peer;
    if (len != sizeof peer) return 1;
    memcpy(&peer, capture, sizeof peer);
    lunatic_link(peer, 1);
    while (lunatic_yield() == LUNATIC_OK) {
    }
    return 0;
}

static unsigned long spawn(lunatic_entry entry, const void *capture, size_t len, lunatic_pid *out) {
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.user_free = count_free;
    STRESS_OK(lunatic_spawn(entry, capture, len, &freed, &o, out));
    return 1;
}

int main(void) {
    uint32_t rounds = (uint32_t)stress_size(100, 1000);
    const char *override = getenv("LUNATIC_STRESS_ROUNDS"); /* e.g. fewer under valgrind */
    if (override && atoi(override) > 0) rounds = (uint32_t)atoi(override);
    enum { RING = 50, EACH = 20 };
    unsigned long spawned = 0;
    long rss_after_first = 0;
    double t0 = stress_seconds();
    for (uint32_t round = 0; round < rounds; ++round) {
        lunatic_runtime_options options;
        lunatic_runtime_options_init(&options);
        options.workers = 2;
        lunatic_runtime *rt = NULL;
        STRESS_OK(lunatic_runtime_create(&options, &rt));
        lunatic_pid self;
        STRESS_OK(lunatic_runtime_attach(rt, &self));

        lunatic_pid ring[RING];
        for (int i = 0; i < RING; ++i) spawned += spawn(ring_member, NULL, 0, &ring[i]);
        for (int i = 0; i < RING; ++i)
            STRESS_OK(lunatic_send_bytes(ring[i], 0, &ring[(i + 1) % RING], sizeof(lunatic_pid)));
        for (int t = 0; t < 3; ++t) STRESS_OK(lunatic_send_bytes(ring[0], 0, "token", 5));
        for (int i = 0; i < EACH; ++i) {
            lunatic_pid pid;
            spawned += spawn(sleeper, NULL, 0, &pid);
            spawned += spawn(picky, NULL, 0, &pid);
            for (int k = 0; k < 10; ++k) STRESS_OK(lunatic_send_bytes(pid, k, "queued", 6));
            spawned += spawn(timed, NULL, 0, &pid);
            STRESS_OK(lunatic_monitor(pid));
            lunatic_pid first;
            spawned += spawn(sleeper, NULL, 0, &first);
            spawned += spawn(linker, &first, sizeof first, &pid);
        }
        /* Let some of it run, a different amount each round, then pull the plug. */
        lunatic_sleep((int64_t)(round % 5) * 1000000);
        STRESS_OK(lunatic_runtime_destroy(rt));
        STRESS_CHECK(atomic_load(&freed) == spawned, "round %u: %lu user pointers freed of %lu",
                     round, atomic_load(&freed), spawned);
        if (round == 0) rss_after_first = stress_status_kib("VmRSS");
    }
    double secs = stress_seconds() - t0;
    long rss_end = stress_status_kib("VmRSS");
    /* Stacks are given back at destroy: 1,000 rounds must not hold more than a few MiB more. */
    STRESS_CHECK(rss_end - rss_after_first < 64 * 1024, "RSS grew from %ld KiB to %ld KiB",
                 rss_after_first, rss_end);
    printf(
        "stress_runtimes: %u runtimes created and destroyed with %lu processes in flight "
        "(rings, sleepers, timed receives, timers, links, monitors), each user pointer freed "
        "once: %.2f s (%.1f ms per round); RSS %ld KiB after the first round, %ld KiB after "
        "the last; peak RSS %.0f MiB\n",
        rounds, spawned, secs, secs * 1000 / rounds, rss_after_first, rss_end,
        stress_peak_rss_mib());
    return 0;
}
