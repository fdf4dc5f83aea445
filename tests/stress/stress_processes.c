/*
 * Many processes at once: N processes (100,000; 1,000,000 with
 * LUNATIC_STRESS_FULL=1) are spawned and all park in receive at the same
 * time; then each gets one message and answers with its index. Every index
 * must come back exactly once, and every process must end.
 */
#include "stress.h"

static int answer_once(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    uint32_t index;
    if (len != sizeof index) return 1;
    memcpy(&index, capture, sizeof index);
    lunatic_message *ping = NULL;
    int rc = lunatic_receive(NULL, 0, LUNATIC_INFINITE, &ping);
    if (rc != LUNATIC_OK) return 1;
    lunatic_pid from;
    rc = lunatic_message_sender(ping, &from);
    lunatic_message_free(ping);
    if (rc != LUNATIC_OK) return 1;
    return lunatic_send_bytes(from, 0, &index, sizeof index) == LUNATIC_OK ? 0 : 1;
}

int main(void) {
    const uint32_t n = (uint32_t)stress_size(100000, 1000000);
    lunatic_runtime *rt = NULL;
    STRESS_OK(lunatic_runtime_create(NULL, &rt));
    STRESS_OK(lunatic_runtime_attach(rt, NULL));
    const long rss_before = stress_status_kib("VmRSS");

    lunatic_pid *pids = malloc(sizeof *pids * n);
    uint8_t *seen = calloc(n, 1);
    STRESS_CHECK(pids && seen, "out of memory");

    double t0 = stress_seconds();
    for (uint32_t i = 0; i < n; ++i)
        STRESS_OK(lunatic_spawn(answer_once, &i, sizeof i, NULL, NULL, &pids[i]));
    double t_spawn = stress_seconds() - t0;
    /* Let them all reach their receive: the count of live ones stays n + 1. */
    STRESS_CHECK(lunatic_runtime_process_count(rt) == (uint64_t)n + 1, "%llu processes alive",
                 (unsigned long long)lunatic_runtime_process_count(rt));
    lunatic_sleep(200000000);
    const long rss_parked = stress_status_kib("VmRSS");

    t0 = stress_seconds();
    for (uint32_t i = 0; i < n; ++i) STRESS_OK(lunatic_send_bytes(pids[i], 0, "?", 1));
    uint64_t answers = 0, duplicates = 0;
    for (uint32_t i = 0; i < n; ++i) {
        lunatic_message *m = NULL;
        int rc = lunatic_receive(NULL, 0, 60000000000LL, &m);
        STRESS_CHECK(rc == LUNATIC_OK, "answer %u of %u: %s", i, n, lunatic_strerror(rc));
        uint32_t index = UINT32_MAX;
        if (lunatic_message_size(m) == sizeof index)
            memcpy(&index, lunatic_message_data(m), sizeof index);
        lunatic_message_free(m);
        STRESS_CHECK(index < n, "an answer out of range: %u", index);
        if (seen[index]++) ++duplicates;
        ++answers;
    }
    double t_round = stress_seconds() - t0;
    STRESS_CHECK(duplicates == 0, "%llu duplicate answers", (unsigned long long)duplicates);
    lunatic_message *extra = NULL;
    STRESS_CHECK(lunatic_receive(NULL, 0, 100000000, &extra) == LUNATIC_ETIMEDOUT,
                 "an extra answer");

    double deadline = stress_seconds() + 60;
    while (lunatic_runtime_process_count(rt) > 1 && stress_seconds() < deadline)
        lunatic_sleep(1000000);
    STRESS_CHECK(lunatic_runtime_process_count(rt) == 1, "%llu processes did not end",
                 (unsigned long long)lunatic_runtime_process_count(rt) - 1);

    printf(
        "stress_processes: %u processes on %u workers: spawned in %.2f s (%.0f spawns/s), "
        "%.0f bytes RSS each while parked; %u round trips in %.2f s (%.0f/s); "
        "peak RSS %.0f MiB\n",
        n, lunatic_runtime_workers(rt), t_spawn, n / t_spawn,
        (double)(rss_parked - rss_before) * 1024.0 / n, n, t_round, n / t_round,
        stress_peak_rss_mib());
    free(pids);
    free(seen);
    STRESS_OK(lunatic_runtime_destroy(rt));
    return 0;
}
