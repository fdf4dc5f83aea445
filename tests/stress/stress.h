/*
 * Shared helpers of the stress programs (issue 10): sizes (quick by default,
 * the full sizes with LUNATIC_STRESS_FULL=1), timing, peak RSS, and
 * checks that end the program with a message and exit status 1.
 */
#ifndef LUNATIC_STRESS_H
#define LUNATIC_STRESS_H

#define _POSIX_C_SOURCE 200809L

#include <lunatic/lunatic.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 1 when LUNATIC_STRESS_FULL is set (and not "0"): the full sizes. */
static inline int stress_full(void) {
    const char *v = getenv("LUNATIC_STRESS_FULL");
    return v && *v && strcmp(v, "0") != 0;
}

static inline uint64_t stress_size(uint64_t quick, uint64_t full) {
    return stress_full() ? full : quick;
}

static inline double stress_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM" = peak RSS); 0 if missing. */
static inline long stress_status_kib(const char *field) {
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

static inline double stress_peak_rss_mib(void) {
    return (double)stress_status_kib("VmHWM") / 1024.0;
}

#define STRESS_CHECK(cond, ...)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* A call that must return LUNATIC_OK. */
#define STRESS_OK(call)                                                                \
    do {                                                                               \
        int stress_rc_ = (call);                                                       \
        if (stress_rc_ != LUNATIC_OK) {                                                \
            fprintf(stderr, "%s:%d: FAILED: %s: %s (%s)\n", __FILE__, __LINE__, #call, \
                    lunatic_strerror(stress_rc_), lunatic_errmsg());                   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

static inline int stress_pid_eq(lunatic_pid a, lunatic_pid b) {
    return a.node == b.node && a.id == b.id;
}

/* xorshift64*: a cheap per-process random sequence. */
static inline uint64_t stress_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
