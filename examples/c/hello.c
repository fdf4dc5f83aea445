/*
 * hello.c — the smallest liblunatic program.
 *
 * The main thread joins a runtime as a process, spawns a greeter process,
 * sends it a name and prints the greeting it gets back.
 */
#include <lunatic/lunatic.h>

#include <stdio.h>
#include <string.h>

/* The greeter: waits for one message (a name) and answers its sender. */
static int greeter(const uint8_t *capture, size_t capture_len, void *user) {
    (void)capture, (void)capture_len, (void)user;

    lunatic_message *request = NULL;
    if (lunatic_receive(NULL, 0, LUNATIC_INFINITE, &request) != LUNATIC_OK) return 1;

    lunatic_pid sender;
    lunatic_message_sender(request, &sender);

    char reply[128];
    int len = snprintf(reply, sizeof reply, "Hello, %.*s!", (int)lunatic_message_size(request),
                       (const char *)lunatic_message_data(request));
    lunatic_message_free(request);

    return lunatic_send_bytes(sender, LUNATIC_TAG_NONE, reply, (size_t)len) == LUNATIC_OK ? 0 : 1;
}

int main(void) {
    lunatic_runtime *runtime = NULL;
    int rc = lunatic_runtime_create(NULL, &runtime);
    if (rc != LUNATIC_OK) {
        fprintf(stderr, "runtime: %s\n", lunatic_strerror(rc));
        return 1;
    }
    lunatic_runtime_attach(runtime, NULL); /* main is a process from now on */

    lunatic_pid child;
    rc = lunatic_spawn(greeter, NULL, 0, NULL, NULL, &child);
    if (rc == LUNATIC_OK)
        rc = lunatic_send_bytes(child, LUNATIC_TAG_NONE, "world", strlen("world"));

    lunatic_message *reply = NULL;
    if (rc == LUNATIC_OK) rc = lunatic_receive(NULL, 0, 5000000000 /* 5 s */, &reply);
    if (rc == LUNATIC_OK)
        printf("%.*s\n", (int)lunatic_message_size(reply),
               (const char *)lunatic_message_data(reply));
    else
        fprintf(stderr, "hello: %s (%s)\n", lunatic_strerror(rc), lunatic_errmsg());
    lunatic_message_free(reply);

    lunatic_runtime_destroy(runtime); /* also detaches the main thread */
    return rc == LUNATIC_OK ? 0 : 1;
}
