/*
 * A flood into one mailbox with a memory limit: a slow receiver (one message
 * per millisecond) whose config sets max_memory (8 MiB; 256 MiB with
 * LUNATIC_STRESS_FULL=1) is flooded by 4 senders with 1 KiB messages. Its
 * mailbox must fill up to the limit and no further: the receiver fails with
 * reason "memory limit" (its monitor hears it exactly once), the senders then
 * get LUNATIC_ENOPROC, and the program's memory stays near the limit.
 */
#include "stress.h"

enum { FLOODERS = 4, SIZE = 1024 };
enum { TAG_DONE = 1 };

static int slow_receiver(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    for (;;) {
        lunatic_message *m = NULL;
        if (lunatic_receive(NULL, 0, LUNATIC_INFINITE, &m) != LUNATIC_OK) return 0;
        lunatic_message_free(m);
        if (lunatic_sleep(1000000) != LUNATIC_OK) return 0;
    }
}

struct flood_args {
    lunatic_pid target, main;
};

static int flooder(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    struct flood_args a;
    if (len != sizeof a) return 1;
    memcpy(&a, capture, sizeof a);
    static const uint8_t payload[SIZE];
    uint64_t accepted = 0;
    int rc;
    while ((rc = lunatic_send_bytes(a.target, 0, payload, sizeof payload)) == LUNATIC_OK) {
        if (++accepted % 256 == 0) lunatic_yield();
    }
    if (rc != LUNATIC_ENOPROC) accepted = UINT64_MAX; /* only "it is gone" may stop a flood */
    return lunatic_send_bytes(a.main, TAG_DONE, &accepted, sizeof accepted) == LUNATIC_OK ? 0 : 1;
}

int main(void) {
    const uint64_t limit = stress_size(8, 256) << 20;
    lunatic_runtime *rt = NULL;
    STRESS_OK(lunatic_runtime_create(NULL, &rt));
    lunatic_pid self;
    STRESS_OK(lunatic_runtime_attach(rt, &self));
    const long rss_before = stress_status_kib("VmRSS");

    lunatic_config *config = NULL;
    STRESS_OK(lunatic_config_new(&config));
    STRESS_OK(lunatic_config_set_max_memory(config, limit));
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.config = config;
    struct flood_args a;
    a.main = self;
    STRESS_OK(lunatic_spawn(slow_receiver, NULL, 0, NULL, &o, &a.target));
    lunatic_config_free(config);
    STRESS_OK(lunatic_monitor(a.target));

    double t0 = stress_seconds();
    for (int i = 0; i < FLOODERS; ++i)
        STRESS_OK(lunatic_spawn(flooder, &a, sizeof a, NULL, NULL, NULL));
    uint64_t accepted = 0;
    const lunatic_tag done = TAG_DONE;
    for (int i = 0; i < FLOODERS; ++i) {
        lunatic_message *m = NULL;
        STRESS_OK(lunatic_receive(&done, 1, 120000000000LL, &m));
        uint64_t n = UINT64_MAX;
        if (lunatic_message_size(m) == sizeof n) memcpy(&n, lunatic_message_data(m), sizeof n);
        lunatic_message_free(m);
        STRESS_CHECK(n != UINT64_MAX, "a flooder stopped on something else than ENOPROC");
        accepted += n;
    }
    double secs = stress_seconds() - t0;

    lunatic_message *m = NULL;
    STRESS_OK(lunatic_receive_mask(LUNATIC_RECEIVE_PROCESS_DIED, NULL, 0, 10000000000LL, &m));
    lunatic_pid who;
    lunatic_exit_reason reason;
    STRESS_OK(lunatic_message_signal(m, &who, &reason));
    STRESS_CHECK(stress_pid_eq(who, a.target) && reason == LUNATIC_EXIT_MEMORY_LIMIT,
                 "the receiver ended with reason %d", (int)reason);
    lunatic_message_free(m);
    STRESS_CHECK(
        lunatic_receive_mask(LUNATIC_RECEIVE_ALL, NULL, 0, 200000000, &m) == LUNATIC_ETIMEDOUT,
        "a second notification");
    /* The mailbox took messages up to its limit (less its stack), not fewer. */
    STRESS_CHECK(accepted * SIZE >= limit - 256 * 1024, "only %llu messages were accepted",
                 (unsigned long long)accepted);
    const double peak = stress_peak_rss_mib();
    const double grown = peak - (double)rss_before / 1024.0;
    /* Queued messages cost their payload plus a header and malloc's rounding. */
    STRESS_CHECK(grown < (double)(limit >> 20) * 2 + 64,
                 "memory grew by %.0f MiB over a %llu MiB limit", grown,
                 (unsigned long long)(limit >> 20));
    printf(
        "stress_flood: %d senders flooded a %llu MiB mailbox with %d-byte messages: %llu sends "
        "accepted (%.0f messages/s) until the receiver failed with 'memory limit' (one "
        "notification); then ENOPROC; peak RSS %.0f MiB (+%.0f MiB)\n",
        FLOODERS, (unsigned long long)(limit >> 20), SIZE, (unsigned long long)accepted,
        (double)accepted / secs, peak, grown);
    STRESS_OK(lunatic_runtime_destroy(rt));
    return 0;
}
