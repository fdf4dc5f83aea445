/*
 * The C ABI used from C11, compiled as C: proves lunatic.h is C-clean and that
 * the basic flow works from C. Exits 0 on success; prints each failed check.
 */
#include <lunatic/lunatic.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                              \
        }                                                                            \
    } while (0)

#define CHECK_RC(expr, want)                                                              \
    do {                                                                                  \
        int rc_ = (expr);                                                                 \
        if (rc_ != (want)) {                                                              \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s); errmsg: %s\n", \
                    __FILE__, __LINE__, #expr, rc_, lunatic_strerror(rc_), (want),        \
                    lunatic_strerror(want), lunatic_errmsg());                            \
            ++failures;                                                                   \
        }                                                                                 \
    } while (0)

#define SECOND ((int64_t)1000000000)

enum { TAG_HELLO = 1, TAG_REPLY = 2, TAG_OTHER = 3, TAG_DONE = 4 };

struct greeting {
    lunatic_pid parent;
    char text[16];
};

/* A C entry: receives TAG_HELLO, answers "<capture text>:<payload>" with TAG_REPLY. */
static int greeter(const uint8_t *capture, size_t capture_len, void *user) {
    struct greeting g;
    lunatic_tag want = TAG_HELLO;
    lunatic_message *msg = NULL;
    lunatic_message *reply = NULL;
    char buf[64];
    int n;
    int *ran = (int *)user;

    if (capture_len != sizeof g) return 1;
    memcpy(&g, capture, sizeof g);
    if (lunatic_receive(&want, 1, 5 * SECOND, &msg) != LUNATIC_OK) return 2;
    n = snprintf(buf, sizeof buf, "%s:%.*s", g.text, (int)lunatic_message_size(msg),
                 (const char *)lunatic_message_data(msg));
    lunatic_message_free(msg);
    if (n < 0) return 3;
    if (lunatic_message_new(TAG_REPLY, (size_t)n, &reply) != LUNATIC_OK) return 4;
    if (lunatic_message_append(reply, buf, (size_t)n) != LUNATIC_OK) return 5;
    if (lunatic_send(g.parent, reply) != LUNATIC_OK) {
        lunatic_message_free(reply);
        return 6;
    }
    if (ran) *ran = 1;
    return 0;
}

static void test_versions(void) {
    char expect[32];
    CHECK(lunatic_version_string() != NULL);
    CHECK(strcmp(lunatic_version_string(), LUNATIC_VERSION_STRING) == 0);
    snprintf(expect, sizeof expect, "%d.%d.%d", LUNATIC_VERSION_MAJOR, LUNATIC_VERSION_MINOR,
             LUNATIC_VERSION_PATCH);
    CHECK(strcmp(expect, LUNATIC_VERSION_STRING) == 0);
    CHECK(lunatic_version_number() == LUNATIC_VERSION_NUMBER);
}

static void test_strerror(void) {
    int code;
    for (code = LUNATIC_EINTERNAL; code <= LUNATIC_OK; ++code) {
        const char *s = lunatic_strerror(code);
        int other;
        CHECK(s != NULL && s[0] != '\0');
        for (other = LUNATIC_EINTERNAL; other < code; ++other)
            CHECK(strcmp(s, lunatic_strerror(other)) != 0);
    }
    CHECK(lunatic_errmsg() != NULL);
}

static void test_messages(void) {
    lunatic_message *m = NULL;
    uint8_t *room = NULL;
    lunatic_pid sender;

    CHECK_RC(lunatic_message_new(7, 4, &m), LUNATIC_OK);
    if (!m) return;
    CHECK(lunatic_message_size(m) == 0);
    CHECK(lunatic_message_kind_of(m) == LUNATIC_MESSAGE_DATA);
    CHECK(lunatic_message_tag(m) == 7);
    CHECK_RC(lunatic_message_append(m, "abc", 3), LUNATIC_OK);
    CHECK_RC(lunatic_message_extend(m, 3, &room), LUNATIC_OK);
    if (room) memcpy(room, "def", 3);
    CHECK(lunatic_message_size(m) == 6);
    CHECK(lunatic_message_data(m) != NULL && memcmp(lunatic_message_data(m), "abcdef", 6) == 0);
    CHECK_RC(lunatic_message_truncate(m, 4), LUNATIC_OK);
    CHECK(lunatic_message_size(m) == 4);
    CHECK_RC(lunatic_message_truncate(m, 5), LUNATIC_EINVAL);
    CHECK_RC(lunatic_message_set_tag(m, 8), LUNATIC_OK);
    CHECK(lunatic_message_tag(m) == 8);
    sender.node = 1;
    sender.id = 1;
    CHECK_RC(lunatic_message_sender(m, &sender), LUNATIC_OK);
    CHECK(sender.node == 0 && sender.id == 0);
    lunatic_message_free(m);
    lunatic_message_free(NULL);
    CHECK_RC(lunatic_message_new(1, 0, NULL), LUNATIC_EINVAL);
}

static void test_runtime(void) {
    lunatic_runtime_options options;
    lunatic_spawn_options spawn_options;
    lunatic_runtime *rt = NULL;
    lunatic_pid me, child, from;
    lunatic_message *msg = NULL;
    lunatic_tag tags[2];
    struct greeting g;
    int ran = 0;
    size_t queued = 99;

    lunatic_runtime_options_init(&options);
    CHECK(options.struct_size == sizeof options);
    options.workers = 2;
    CHECK_RC(lunatic_runtime_create(&options, &rt), LUNATIC_OK);
    if (!rt) return;
    CHECK(lunatic_runtime_workers(rt) == 2);
    CHECK(lunatic_runtime_node_id(rt) != 0);

    /* Not attached yet: calls that need a process say so. */
    CHECK_RC(lunatic_self(&me), LUNATIC_ESTATE);

    CHECK_RC(lunatic_runtime_attach(rt, &me), LUNATIC_OK);
    CHECK(me.node == lunatic_runtime_node_id(rt));
    CHECK(lunatic_current_runtime() == rt);

    memset(&g, 0, sizeof g);
    g.parent = me;
    strcpy(g.text, "hi from C");
    lunatic_spawn_options_init(&spawn_options);
    CHECK(spawn_options.struct_size == sizeof spawn_options);
    CHECK(spawn_options.worker == LUNATIC_WORKER_ANY);
    child.node = 0;
    child.id = 0;
    CHECK_RC(lunatic_spawn(greeter, &g, sizeof g, &ran, &spawn_options, &child), LUNATIC_OK);
    CHECK(child.node == me.node && child.id != me.id);

    /* Selective receive: TAG_OTHER sits in the mailbox while TAG_REPLY is awaited. */
    CHECK_RC(lunatic_send_bytes(me, TAG_OTHER, "other", 5), LUNATIC_OK);
    CHECK_RC(lunatic_send_bytes(child, TAG_HELLO, "world", 5), LUNATIC_OK);
    tags[0] = TAG_REPLY;
    tags[1] = TAG_DONE;
    CHECK_RC(lunatic_receive(tags, 2, 5 * SECOND, &msg), LUNATIC_OK);
    if (msg) {
        CHECK(lunatic_message_tag(msg) == TAG_REPLY);
        CHECK(lunatic_message_size(msg) == strlen("hi from C:world"));
        CHECK(lunatic_message_data(msg) != NULL &&
              memcmp(lunatic_message_data(msg), "hi from C:world", lunatic_message_size(msg)) == 0);
        CHECK_RC(lunatic_message_sender(msg, &from), LUNATIC_OK);
        CHECK(from.node == child.node && from.id == child.id);
        lunatic_message_free(msg);
        msg = NULL;
    }
    CHECK_RC(lunatic_mailbox_size(&queued), LUNATIC_OK);
    CHECK(queued == 1);

    /* Timeouts: nothing with TAG_DONE is coming. */
    tags[0] = TAG_DONE;
    CHECK_RC(lunatic_receive(tags, 1, 0, &msg), LUNATIC_ETIMEDOUT);
    CHECK_RC(lunatic_receive(tags, 1, 10 * 1000 * 1000, &msg), LUNATIC_ETIMEDOUT);

    /* The TAG_OTHER message is still there. */
    CHECK_RC(lunatic_receive(NULL, 0, 0, &msg), LUNATIC_OK);
    if (msg) {
        CHECK(lunatic_message_tag(msg) == TAG_OTHER);
        CHECK(lunatic_message_size(msg) == 5);
        lunatic_message_free(msg);
        msg = NULL;
    }

    /* The child has ended (or is about to): a send to it eventually says ENOPROC. */
    {
        int i, rc = LUNATIC_OK;
        for (i = 0; i < 5000 && lunatic_process_alive(child); ++i) lunatic_sleep(1000 * 1000);
        CHECK(lunatic_process_alive(child) == 0);
        rc = lunatic_send_bytes(child, TAG_HELLO, NULL, 0);
        CHECK_RC(rc, LUNATIC_ENOPROC);
        CHECK(ran == 1);
    }

    CHECK(lunatic_tag_new() >= ((lunatic_tag)1 << 62));
    CHECK_RC(lunatic_runtime_destroy(rt), LUNATIC_OK);
    CHECK(lunatic_current_runtime() == NULL);
}

int main(void) {
    test_versions();
    test_strerror();
    test_messages();
    test_runtime();
    if (failures) {
        fprintf(stderr, "test_c11: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_c11: all checks passed\n");
    return 0;
}
