/* A runtime destroyed with work in flight frees everything: processes blocked
 * in timed receives (timers pending), sleeping, yielding in a loop, messages
 * queued in their mailboxes, user pointers with destructors. Run under
 * valgrind by meson (tests/meson.build), which fails on any leak or invalid
 * access; without valgrind it still checks every process saw the kill. */
#include <lunatic/lunatic.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_int started;
static atomic_int killed_seen;
static atomic_int freed;

static int waiter(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    atomic_fetch_add(&started, 1);
    lunatic_message *m;
    lunatic_tag never = 77;
    int rc = lunatic_receive(&never, 1, 60000000000LL, &m); /* a timer stays pending */
    if (rc == LUNATIC_EKILLED) atomic_fetch_add(&killed_seen, 1);
    return rc == LUNATIC_EKILLED ? 0 : 1;
}

static int sleeper(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    atomic_fetch_add(&started, 1);
    int rc = lunatic_sleep(60000000000LL);
    if (rc == LUNATIC_EKILLED) atomic_fetch_add(&killed_seen, 1);
    return 0;
}

static int spinner(const uint8_t *capture, size_t len, void *user) {
    (void)capture, (void)len, (void)user;
    atomic_fetch_add(&started, 1);
    for (;;) {
        if (lunatic_yield() == LUNATIC_EKILLED) {
            atomic_fetch_add(&killed_seen, 1);
            return 0;
        }
    }
}

static void free_user(void *user) {
    free(user);
    atomic_fetch_add(&freed, 1);
}

int main(void) {
    enum { ROUNDS = 3, PROCESSES = 150 };
    for (int round = 0; round < ROUNDS; ++round) {
        lunatic_runtime *rt;
        if (lunatic_runtime_create(NULL, &rt) || lunatic_runtime_attach(rt, NULL)) return 1;
        lunatic_spawn_options options;
        lunatic_spawn_options_init(&options);
        options.user_free = free_user;
        lunatic_pid self;
        lunatic_self(&self);
        for (int i = 0; i < PROCESSES; ++i) {
            lunatic_entry entry = i % 3 == 0 ? waiter : i % 3 == 1 ? sleeper : spinner;
            lunatic_pid p;
            if (lunatic_spawn(entry, "capture", 7, malloc(16), &options, &p)) return 2;
            for (int k = 0; k < 5; ++k) lunatic_send_bytes(p, 1, "a message that stays queued", 27);
        }
        for (int k = 0; k < 5; ++k) lunatic_send_bytes(self, 1, "queued for the main thread", 26);
        lunatic_sleep(50000000); /* let them all start and block */
        if (lunatic_runtime_destroy(rt)) return 3;
    }
    int expected = ROUNDS * PROCESSES;
    /* Processes still queued at destroy never start: they are discarded, but
       their user pointers are freed all the same. */
    printf(
        "%d processes in flight: %d had started and all of them saw the kill (%d), "
        "%d user pointers freed\n",
        expected, atomic_load(&started), atomic_load(&killed_seen), atomic_load(&freed));
    return atomic_load(&freed) == expected && atomic_load(&started) > 0 &&
                   atomic_load(&killed_seen) == atomic_load(&started)
               ? 0
               : 4;
}
