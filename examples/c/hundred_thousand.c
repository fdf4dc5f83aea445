/*
 * hundred_thousand.c — a ring of 100,000 processes passing a token around.
 *
 *   hundred_thousand [processes] [laps]      (defaults: 100000 10)
 *
 * The main thread joins a runtime as a process and spawns the ring: each
 * process knows only the pid of the next one, and the last one knows the
 * main thread. The main thread sends a token (a hop counter) into the ring;
 * every process adds one and passes it on, lap after lap. When the token comes
 * back, its counter says whether every process saw it: nothing may be lost.
 * After the last lap each process returns, and the runtime frees it.
 *
 * Exit status 0 when every message arrived and every process ended, 1 if not.
 */
#define _POSIX_C_SOURCE 200809L

#include <lunatic/lunatic.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What each process is given when it is spawned (copied by the runtime). */
struct link {
    lunatic_pid next; /* where to pass the token */
    uint32_t laps;    /* how many times the token comes by */
};

/* One process of the ring. */
static int ring_member(const uint8_t *capture, size_t capture_len, void *user) {
    (void)user;
    struct link link;
    if (capture_len != sizeof link) return 1;
    memcpy(&link, capture, sizeof link);

    for (uint32_t lap = 0; lap < link.laps; ++lap) {
        lunatic_message *token = NULL;
        int rc = lunatic_receive(NULL, 0, LUNATIC_INFINITE, &token);
        if (rc != LUNATIC_OK) return rc == LUNATIC_EKILLED ? 0 : 1; /* the runtime is stopping */

        uint64_t hops = 0;
        if (lunatic_message_size(token) == sizeof hops)
            memcpy(&hops, lunatic_message_data(token), sizeof hops);
        lunatic_message_free(token);

        hops += 1;
        rc = lunatic_send_bytes(link.next, LUNATIC_TAG_NONE, &hops, sizeof hops);
        if (rc != LUNATIC_OK) {
            lunatic_fail("could not pass the token on");
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------- reporting */

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); 0 if missing. */
static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long value = 0;
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

/* 1234567 -> "1,234,567" (one of four rotating buffers, for use in one printf). */
static const char *num(unsigned long long v) {
    static char bufs[4][32];
    static int which;
    char *buf = bufs[which++ % 4], digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", v), o = 0;
    for (int i = 0; i < len; ++i) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* A short duration per operation: "840 ns" or "3.2 µs". */
static const char *per_op(double secs, unsigned long long ops) {
    static char bufs[2][32];
    static int which;
    char *buf = bufs[which++ % 2];
    double ns = ops ? secs * 1e9 / (double)ops : 0;
    if (ns < 1000)
        snprintf(buf, 32, "%.0f ns", ns);
    else
        snprintf(buf, 32, "%.1f µs", ns / 1000);
    return buf;
}

static int fail(lunatic_runtime *runtime, const char *what, int rc) {
    fprintf(stderr, "\nFAILED: %s: %s (%s)\n", what, lunatic_strerror(rc), lunatic_errmsg());
    lunatic_runtime_destroy(runtime);
    return 1;
}

int main(int argc, char **argv) {
    unsigned long processes = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    unsigned long laps = argc > 2 ? strtoul(argv[2], NULL, 10) : 10;
    if (processes < 1 || laps < 1 || laps > UINT32_MAX) {
        fprintf(stderr, "usage: %s [processes >= 1] [laps >= 1]\n", argv[0]);
        return 2;
    }

    double t_start = seconds();
    lunatic_runtime *runtime = NULL;
    int rc = lunatic_runtime_create(NULL, &runtime);
    if (rc != LUNATIC_OK) {
        fprintf(stderr, "could not start the runtime: %s\n", lunatic_strerror(rc));
        return 1;
    }
    lunatic_pid self;
    rc = lunatic_runtime_attach(runtime, &self);
    if (rc != LUNATIC_OK) return fail(runtime, "attach the main thread", rc);
    long rss_before = status_kib("VmRSS");

    printf("liblunatic %s: a ring of %s processes on %u worker threads\n\n",
           lunatic_version_string(), num(processes), lunatic_runtime_workers(runtime));

    /* Spawn the ring back to front, so each process can be told the next one. */
    double t0 = seconds();
    struct link link = {.next = self, .laps = (uint32_t)laps};
    for (unsigned long i = 0; i < processes; ++i) {
        lunatic_pid pid;
        rc = lunatic_spawn(ring_member, &link, sizeof link, NULL, NULL, &pid);
        if (rc != LUNATIC_OK) return fail(runtime, "spawn", rc);
        link.next = pid;
    }
    lunatic_pid first = link.next;
    double t_spawned = seconds() - t0;
    printf("  spawned  %13s processes  in %6.2f s  (%s per spawn)\n", num(processes), t_spawned,
           per_op(t_spawned, processes));
    fflush(stdout);

    /* Send the token around, lap after lap; every process adds one to it. */
    t0 = seconds();
    long rss_alive = 0;
    uint64_t hops = 0;
    for (unsigned long lap = 0; lap < laps; ++lap) {
        rc = lunatic_send_bytes(first, LUNATIC_TAG_NONE, &hops, sizeof hops);
        if (rc != LUNATIC_OK) return fail(runtime, "send the token", rc);
        lunatic_message *token = NULL;
        rc = lunatic_receive(NULL, 0, (int64_t)60 * 1000000000, &token);
        if (rc == LUNATIC_ETIMEDOUT) {
            fprintf(stderr,
                    "\nFAILED: the token did not come back from lap %lu within 60 s: lost\n",
                    lap + 1);
            lunatic_runtime_destroy(runtime);
            return 1;
        }
        if (rc != LUNATIC_OK) return fail(runtime, "receive the token", rc);
        if (lunatic_message_size(token) == sizeof hops)
            memcpy(&hops, lunatic_message_data(token), sizeof hops);
        lunatic_message_free(token);
        if (hops != (uint64_t)processes * (lap + 1)) {
            fprintf(stderr, "\nFAILED: after lap %lu the token counted %s hops, expected %s\n",
                    lap + 1, num(hops), num((unsigned long long)processes * (lap + 1)));
            lunatic_runtime_destroy(runtime);
            return 1;
        }
        /* after the first lap every process has run and waits in receive */
        if (lap == 0) rss_alive = status_kib("VmRSS");
    }
    double t_ring = seconds() - t0;
    unsigned long long messages = (unsigned long long)laps * (processes + 1);
    printf("  passed   %13s messages   in %6.2f s  (%s per message)\n", num(messages), t_ring,
           per_op(t_ring, messages));
    printf("           the token went %s times around the ring and counted %s hops: none lost\n",
           num(laps), num(hops));

    /* After its last lap each process returns; wait until only main is left. */
    t0 = seconds();
    lunatic_runtime *rt = runtime;
    while (lunatic_runtime_process_count(rt) > 1 && seconds() - t0 < 60) lunatic_sleep(1000000);
    uint64_t left = lunatic_runtime_process_count(rt) - 1;
    double t_end = seconds() - t0;
    if (left) {
        fprintf(stderr, "\nFAILED: %s processes did not end\n", num(left));
        lunatic_runtime_destroy(runtime);
        return 1;
    }
    printf("  ended    %13s processes  in %6.2f s\n", num(processes), t_end);

    long per_process =
        rss_alive > rss_before ? (rss_alive - rss_before) * 1024 / (long)processes : 0;
    long peak = status_kib("VmHWM");
    printf(
        "  memory   %10.1f MiB while all were alive: %s bytes (%.1f KiB) per process;"
        " peak RSS %.1f MiB\n",
        (double)(rss_alive - rss_before) / 1024, num((unsigned long long)per_process),
        (double)per_process / 1024, (double)peak / 1024);

    rc = lunatic_runtime_destroy(runtime);
    if (rc != LUNATIC_OK) {
        fprintf(stderr, "runtime_destroy: %s\n", lunatic_strerror(rc));
        return 1;
    }
    printf("  total    %10.2f s\n\nOK: %s processes, %s messages, nothing lost.\n",
           seconds() - t_start, num(processes), num(messages));
    return 0;
}
