/*
 * A user program of an installed liblunatic: built once through CMake
 * (find_package(lunatic) + lunatic::lunatic) and once through pkg-config, by
 * check_install.sh, against a staged `meson install --destdir`.
 */
#include <lunatic/lunatic.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#ifndef CONSUMER_NAME
#define CONSUMER_NAME "consumer"
#endif

int main(void) {
    const char *version = lunatic_version_string();
    if (version == NULL || strcmp(version, LUNATIC_VERSION_STRING) != 0) {
        fprintf(stderr, "%s: header is %s but the library says %s\n", CONSUMER_NAME,
                LUNATIC_VERSION_STRING, version ? version : "(null)");
        return 1;
    }
    if (lunatic_version_number() != LUNATIC_VERSION_NUMBER) {
        fprintf(stderr, "%s: version number %d, expected %d\n", CONSUMER_NAME,
                lunatic_version_number(), LUNATIC_VERSION_NUMBER);
        return 1;
    }

    lunatic_runtime_options options;
    lunatic_runtime_options_init(&options);
    options.workers = 1;

    lunatic_runtime *runtime = NULL;
    int rc = lunatic_runtime_create(&options, &runtime);
    if (rc != LUNATIC_OK || runtime == NULL) {
        fprintf(stderr, "%s: lunatic_runtime_create: %s (%s)\n", CONSUMER_NAME,
                lunatic_strerror(rc), lunatic_errmsg());
        return 1;
    }
    uint64_t node = lunatic_runtime_node_id(runtime);
    rc = lunatic_runtime_destroy(runtime);
    if (rc != LUNATIC_OK) {
        fprintf(stderr, "%s: lunatic_runtime_destroy: %s (%s)\n", CONSUMER_NAME,
                lunatic_strerror(rc), lunatic_errmsg());
        return 1;
    }
    if (node == 0) {
        fprintf(stderr, "%s: the runtime's node id is 0\n", CONSUMER_NAME);
        return 1;
    }

    printf("%s: liblunatic %s, runtime (node %016" PRIx64 ") created and destroyed\n",
           CONSUMER_NAME, version, node);
    return 0;
}
