/* A config with a 16 KiB stack lets 1,000,000 processes wait in receive within
 * 6 GiB (issue: ProcessConfig). Every process is spawned with the config from
 * an unprivileged parent, checked to be parked, then woken with one message
 * each and counted out. The peak resident set of the whole test (VmHWM) must
 * stay under the bound. LUNATIC_PARKED_COUNT overrides the count (smaller
 * runs while developing). */
#include <lunatic/lunatic.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STACK_BYTES (16u * 1024u)
#define LIMIT_BYTES (6ull << 30)

static atomic_long parked;
static atomic_long answered;

static int child(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    atomic_fetch_add(&parked, 1);
    lunatic_message *m = NULL;
    int rc = lunatic_receive(NULL, 0, LUNATIC_INFINITE, &m);
    if (rc != LUNATIC_OK) return 1;
    lunatic_message_free(m);
    atomic_fetch_add(&answered, 1);
    return 0;
}

/* Peak resident set of this OS process, in bytes (0 if unknown). */
static unsigned long long peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) sscanf(line + 6, "%llu", &kib);
    fclose(f);
    return kib * 1024;
}

int main(void) {
    long count = 1000000;
    const char *env = getenv("LUNATIC_PARKED_COUNT");
    if (env && atol(env) > 0) count = atol(env);

    lunatic_runtime *rt;
    lunatic_pid self;
    if (lunatic_runtime_create(NULL, &rt) || lunatic_runtime_attach(rt, &self)) return 1;

    lunatic_config *config;
    if (lunatic_config_new(&config) != LUNATIC_OK) return 1;
    lunatic_config_set_stack_size(config, STACK_BYTES);
    size_t got = 0;
    lunatic_config_get_stack_size(config, &got);
    if (got != STACK_BYTES) {
        fprintf(stderr, "stack size read back as %zu\n", got);
        return 1;
    }
    lunatic_spawn_options options;
    lunatic_spawn_options_init(&options);
    options.config = config;

    lunatic_pid *pids = malloc(sizeof *pids * (size_t)count);
    if (!pids) return 1;
    const unsigned long long before = peak_rss();
    for (long i = 0; i < count; ++i) {
        int rc = lunatic_spawn(child, NULL, 0, NULL, &options, &pids[i]);
        if (rc != LUNATIC_OK) {
            fprintf(stderr, "spawn %ld: %s (%s)\n", i, lunatic_strerror(rc), lunatic_errmsg());
            return 1;
        }
    }
    lunatic_config_free(config);
    while (atomic_load(&parked) < count) lunatic_sleep(1000000);
    const unsigned long long peak = peak_rss();
    printf(
        "%ld processes parked with %u-byte stacks: peak RSS %.2f GiB (%.0f bytes/process "
        "over the %.1f MiB before)\n",
        count, STACK_BYTES, peak / 1073741824.0, (double)(peak - before) / (double)count,
        before / 1048576.0);

    for (long i = 0; i < count; ++i) {
        if (lunatic_send_bytes(pids[i], 0, "", 0) != LUNATIC_OK) {
            fprintf(stderr, "send %ld: %s\n", i, lunatic_errmsg());
            return 1;
        }
    }
    while (atomic_load(&answered) < count) lunatic_sleep(1000000);
    while (lunatic_runtime_process_count(rt) > 1) lunatic_sleep(1000000);
    free(pids);
    if (lunatic_runtime_destroy(rt) != LUNATIC_OK) return 1;

    if (peak == 0) {
        fprintf(stderr, "cannot read VmHWM\n");
        return 1;
    }
    if (count == 1000000 && peak > LIMIT_BYTES) {
        fprintf(stderr, "over the bound: %llu > %llu bytes\n", peak, LIMIT_BYTES);
        return 1;
    }
    printf("all %ld woke and ended\n", count);
    return 0;
}
