/*
 * Many messages across all workers: S senders each send M / (S * R) messages
 * to each of R receivers (M = 2,000,000; 10,000,000 with
 * LUNATIC_STRESS_FULL=1). Each message carries its sender and a sequence
 * number: a receiver checks that every sender's messages arrive complete and
 * in order. A sender keeps at most a window of unacknowledged messages per
 * receiver (the receivers acknowledge in batches), so the run measures
 * throughput rather than how far a mailbox can grow. The counts reported to
 * the main thread must add up exactly.
 */
#include "stress.h"

enum { SENDERS = 4, RECEIVERS = 4, WINDOW = 4096, ACK_EVERY = 1024 };
enum { TAG_DATA = 1, TAG_ACK = 2, TAG_REPORT = 3 };

struct data {
    uint32_t sender;
    uint32_t pad;
    uint64_t seq;
};

struct receiver_args {
    uint64_t per_pair;
    lunatic_pid main;
};

struct sender_args {
    uint32_t index;
    uint64_t per_pair;
    lunatic_pid main;
    lunatic_pid receivers[RECEIVERS];
};

struct report {
    uint64_t count;
    uint64_t errors;
};

static int report(lunatic_pid to, uint64_t count, uint64_t errors) {
    struct report r = {count, errors};
    return lunatic_send_bytes(to, TAG_REPORT, &r, sizeof r);
}

static int receiver(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    struct receiver_args a;
    if (len != sizeof a) return 1;
    memcpy(&a, capture, sizeof a);
    uint64_t next[SENDERS] = {0}, total = 0, errors = 0;
    const lunatic_tag data_tag = TAG_DATA;
    while (total < a.per_pair * SENDERS) {
        lunatic_message *m = NULL;
        if (lunatic_receive(&data_tag, 1, 60000000000LL, &m) != LUNATIC_OK) {
            ++errors;
            break;
        }
        struct data d;
        if (lunatic_message_size(m) != sizeof d) {
            ++errors;
            lunatic_message_free(m);
            continue;
        }
        memcpy(&d, lunatic_message_data(m), sizeof d);
        lunatic_pid from;
        lunatic_message_sender(m, &from);
        lunatic_message_free(m);
        if (d.sender >= SENDERS || d.seq != next[d.sender]) {
            ++errors; /* lost, doubled or reordered */
            if (d.sender >= SENDERS) continue;
            next[d.sender] = d.seq;
        }
        ++next[d.sender];
        ++total;
        if (next[d.sender] % ACK_EVERY == 0) {
            /* A sender that has finished is gone: its acknowledgements are not needed. */
            int rc = lunatic_send_bytes(from, TAG_ACK, NULL, 0);
            if (rc != LUNATIC_OK && rc != LUNATIC_ENOPROC) ++errors;
        }
    }
    return report(a.main, total, errors) == LUNATIC_OK ? 0 : 1;
}

static int sender(const uint8_t *capture, size_t len, void *user) {
    (void)user;
    struct sender_args a;
    if (len != sizeof a) return 1;
    memcpy(&a, capture, sizeof a);
    uint64_t outstanding[RECEIVERS] = {0}, sent = 0, errors = 0;
    const lunatic_tag ack_tag = TAG_ACK;
    for (uint64_t seq = 0; seq < a.per_pair; ++seq) {
        for (uint32_t r = 0; r < RECEIVERS; ++r) {
            while (outstanding[r] >= WINDOW) {
                lunatic_message *ack = NULL;
                if (lunatic_receive(&ack_tag, 1, 60000000000LL, &ack) != LUNATIC_OK)
                    return report(a.main, sent, errors + 1), 1;
                lunatic_pid from;
                lunatic_message_sender(ack, &from);
                lunatic_message_free(ack);
                for (uint32_t k = 0; k < RECEIVERS; ++k)
                    if (stress_pid_eq(from, a.receivers[k])) outstanding[k] -= ACK_EVERY;
            }
            struct data d = {a.index, 0, seq};
            if (lunatic_send_bytes(a.receivers[r], TAG_DATA, &d, sizeof d) != LUNATIC_OK) {
                ++errors;
                continue;
            }
            ++outstanding[r];
            ++sent;
        }
    }
    return report(a.main, sent, errors) == LUNATIC_OK ? 0 : 1;
}

int main(void) {
    const uint64_t total = stress_size(2000000, 10000000);
    const uint64_t per_pair = total / (SENDERS * RECEIVERS);
    lunatic_runtime *rt = NULL;
    STRESS_OK(lunatic_runtime_create(NULL, &rt));
    lunatic_pid self;
    STRESS_OK(lunatic_runtime_attach(rt, &self));

    struct sender_args sa;
    memset(&sa, 0, sizeof sa);
    sa.per_pair = per_pair;
    sa.main = self;
    struct receiver_args ra = {per_pair, self};
    double t0 = stress_seconds();
    for (uint32_t r = 0; r < RECEIVERS; ++r)
        STRESS_OK(lunatic_spawn(receiver, &ra, sizeof ra, NULL, NULL, &sa.receivers[r]));
    for (uint32_t s = 0; s < SENDERS; ++s) {
        sa.index = s;
        STRESS_OK(lunatic_spawn(sender, &sa, sizeof sa, NULL, NULL, NULL));
    }
    uint64_t sent = 0, received = 0, errors = 0;
    for (int i = 0; i < SENDERS + RECEIVERS; ++i) {
        lunatic_message *m = NULL;
        const lunatic_tag tag = TAG_REPORT;
        STRESS_OK(lunatic_receive(&tag, 1, 300000000000LL, &m));
        struct report r;
        STRESS_CHECK(lunatic_message_size(m) == sizeof r, "a report of %zu bytes",
                     lunatic_message_size(m));
        memcpy(&r, lunatic_message_data(m), sizeof r);
        lunatic_pid from;
        lunatic_message_sender(m, &from);
        lunatic_message_free(m);
        int is_receiver = 0;
        for (uint32_t k = 0; k < RECEIVERS; ++k)
            is_receiver |= stress_pid_eq(from, sa.receivers[k]);
        if (is_receiver)
            received += r.count;
        else
            sent += r.count;
        errors += r.errors;
    }
    double secs = stress_seconds() - t0;
    const uint64_t expected = per_pair * SENDERS * RECEIVERS;
    STRESS_CHECK(errors == 0, "%llu messages lost, doubled or out of order",
                 (unsigned long long)errors);
    STRESS_CHECK(sent == expected, "sent %llu of %llu", (unsigned long long)sent,
                 (unsigned long long)expected);
    STRESS_CHECK(received == expected, "received %llu of %llu", (unsigned long long)received,
                 (unsigned long long)expected);
    printf(
        "stress_messages: %llu messages, %d senders -> %d receivers on %u workers, in order and "
        "exactly once: %.2f s, %.0f messages/s; peak RSS %.0f MiB\n",
        (unsigned long long)expected, SENDERS, RECEIVERS, lunatic_runtime_workers(rt), secs,
        (double)expected / secs, stress_peak_rss_mib());
    STRESS_OK(lunatic_runtime_destroy(rt));
    return 0;
}
