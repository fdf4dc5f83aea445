/*
 * lunatic.h — the C ABI of liblunatic: Erlang-style lightweight processes.
 *
 * A *process* is a function running on its own fiber with its own mailbox.
 * Processes share no memory: everything they exchange is bytes in messages.
 * A runtime runs processes on N worker threads (M:N, work stealing). Any OS
 * thread, the program's main thread included, can attach to a runtime and
 * then act as a process (spawn, send, receive); its blocking calls block
 * that OS thread.
 *
 * Conventions
 *  - Every fallible function returns int: LUNATIC_OK (0) or a negative
 *    LUNATIC_E* code. lunatic_strerror() names a code; lunatic_errmsg() gives
 *    the detail of the calling process's last error.
 *  - Out-parameters come last and are named out*. Every allocating call has a
 *    NULL-safe *_free.
 *  - A send takes ownership of a message only when it succeeds.
 *  - Option structs start with `uint32_t struct_size` and have an *_init()
 *    function that fills in the defaults; fields are only ever appended.
 *  - Calls that act "as the calling process" (send, receive, spawn, self,
 *    yield, sleep, fail) work from a process or an attached thread and return
 *    LUNATIC_ESTATE anywhere else.
 *  - Durations are nanoseconds as int64_t; LUNATIC_INFINITE waits forever.
 *
 * Thread safety: every function may be called from any process or thread.
 */
#ifndef LUNATIC_H
#define LUNATIC_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define LUNATIC_API
#elif defined(LUNATIC_BUILDING_LIBRARY)
#define LUNATIC_API __attribute__((visibility("default")))
#else
#define LUNATIC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- versions */

#define LUNATIC_VERSION_MAJOR 0
#define LUNATIC_VERSION_MINOR 1
#define LUNATIC_VERSION_PATCH 0
#define LUNATIC_VERSION_STRING "0.1.0"
/** Version number as one integer, e.g. 0.1.0 -> 100. */
#define LUNATIC_VERSION_NUMBER \
    (LUNATIC_VERSION_MAJOR * 10000 + LUNATIC_VERSION_MINOR * 100 + LUNATIC_VERSION_PATCH)

/** Version of the library actually loaded ("MAJOR.MINOR.PATCH"). */
LUNATIC_API const char *lunatic_version_string(void);
/** LUNATIC_VERSION_NUMBER of the library actually loaded. */
LUNATIC_API int lunatic_version_number(void);

/* ------------------------------------------------------------ status codes */

#define LUNATIC_OK 0
#define LUNATIC_EINVAL (-1)     /* invalid argument (NULL handle, bad size, …) */
#define LUNATIC_ENOPROC (-2)    /* no such process: unknown, finished or stale */
#define LUNATIC_ETIMEDOUT (-3)  /* the wait timed out */
#define LUNATIC_EKILLED (-4)    /* the calling process was killed (or its runtime stopped) */
#define LUNATIC_EPERM (-5)      /* not permitted */
#define LUNATIC_ENOMEM (-6)     /* out of memory or a resource limit */
#define LUNATIC_EEXIST (-7)     /* already exists / already attached */
#define LUNATIC_ENOTFOUND (-8)  /* no such name */
#define LUNATIC_EDECODE (-9)    /* a payload could not be decoded */
#define LUNATIC_ENONODE (-10)   /* no such node */
#define LUNATIC_ESTATE (-11)    /* wrong state, e.g. the caller is not a process */
#define LUNATIC_ENOTSUP (-12)   /* not supported */
#define LUNATIC_EINTERNAL (-13) /* internal error (a bug: please report) */

/** A static, never-NULL description of a status code. */
LUNATIC_API const char *lunatic_strerror(int code);

/**
 * Detail of the last error returned to the calling process (or thread, if it
 * is not a process), e.g. "send: process <1a2b..>.42 does not exist".
 * The string is valid until the caller's next lunatic_* call; never NULL.
 */
LUNATIC_API const char *lunatic_errmsg(void);

/* ------------------------------------------------------------------ values */

/** A process handle: 16 bytes, freely copyable, meaningful across nodes. */
typedef struct lunatic_pid {
    uint64_t node; /* the runtime's random, non-zero node id */
    uint64_t id;   /* unique in that runtime, never reused while it lives */
} lunatic_pid;

/** A message label; 0 means "no tag". Negative tags are reserved for the runtime. */
typedef int64_t lunatic_tag;

#define LUNATIC_TAG_NONE ((lunatic_tag)0)
#define LUNATIC_INFINITE ((int64_t)-1)

/**
 * A fresh tag, unique in this OS process (>= 2^62, so it never collides with
 * small tags a program chooses itself).
 */
LUNATIC_API lunatic_tag lunatic_tag_new(void);

/* ----------------------------------------------------------------- logging */

#define LUNATIC_LOG_ERROR 0
#define LUNATIC_LOG_WARNING 1
#define LUNATIC_LOG_INFO 2

/** Receives the runtime's log lines (process failures, …); may run on any thread. */
typedef void (*lunatic_log_fn)(void *user, int level, const char *line);

/* ----------------------------------------------------------------- runtime */

typedef struct lunatic_runtime lunatic_runtime;

typedef struct lunatic_runtime_options {
    uint32_t struct_size;
    /** Worker threads; 0 = one per hardware thread. */
    uint32_t workers;
    /** Stack size of a process spawned without one; 0 = 64 KiB. */
    size_t default_stack_size;
    /** Spin rounds of an idle worker before it sleeps; 0 = default (2,048: about 45 µs
     *  on a 2-vCPU EPYC VM, a little more than waking a sleeping vCPU costs there). */
    uint32_t idle_spins;
    /** Log sink; NULL = lines go to stderr. */
    lunatic_log_fn log;
    void *log_user;
    /**
     * Watchdog: a process that holds a worker this long (ms) without a runtime
     * call is named in a warning (C cannot preempt it; the other workers keep
     * running the rest). 0 = 100 ms; LUNATIC_WATCHDOG_OFF disables it.
     */
    uint32_t watchdog_ms;
} lunatic_runtime_options;

#define LUNATIC_WATCHDOG_OFF 0xffffffffu

/** Fills *options with the defaults (and struct_size). */
LUNATIC_API void lunatic_runtime_options_init(lunatic_runtime_options *options);

/**
 * Starts a runtime: worker threads and a random non-zero node id.
 * options may be NULL for the defaults. Several runtimes may live in one OS
 * process; each is independent.
 */
LUNATIC_API int lunatic_runtime_create(const lunatic_runtime_options *options,
                                       lunatic_runtime **out);

/**
 * Stops a runtime: every process still running is killed (the runtime call
 * it is blocked in, and every later one, returns LUNATIC_EKILLED), processes
 * that never started are discarded, then the workers are joined and the
 * memory freed. It waits for each process to return from its entry: a
 * process that loops forever without calling the runtime keeps it waiting.
 * Attached threads get LUNATIC_EKILLED from then on and must still detach.
 * The calling thread, if attached to this runtime, is detached. NULL is a no-op.
 * Must not be called from one of this runtime's processes (returns LUNATIC_ESTATE).
 */
LUNATIC_API int lunatic_runtime_destroy(lunatic_runtime *runtime);

/** The runtime's node id. */
LUNATIC_API uint64_t lunatic_runtime_node_id(const lunatic_runtime *runtime);

/** Number of worker threads. */
LUNATIC_API uint32_t lunatic_runtime_workers(const lunatic_runtime *runtime);

/** Number of processes alive (fibers and attached threads). */
LUNATIC_API uint64_t lunatic_runtime_process_count(const lunatic_runtime *runtime);

/**
 * Attaches the calling OS thread to the runtime as a process; out (may be
 * NULL) receives its pid. A thread is attached to at most one runtime at a
 * time (LUNATIC_EEXIST). Blocking calls then block the thread.
 */
LUNATIC_API int lunatic_runtime_attach(lunatic_runtime *runtime, lunatic_pid *out);

/** Detaches the calling thread; its mailbox is discarded. LUNATIC_ESTATE if not attached. */
LUNATIC_API int lunatic_detach(void);

/** The runtime of the calling process or attached thread, or NULL. */
LUNATIC_API lunatic_runtime *lunatic_current_runtime(void);

/* ---------------------------------------------------------------- messages */

typedef struct lunatic_message lunatic_message;

/** What a received message is. */
typedef enum lunatic_message_kind {
    LUNATIC_MESSAGE_DATA = 0,         /* bytes sent by a process */
    LUNATIC_MESSAGE_LINK_DIED = 1,    /* a linked process failed (links) */
    LUNATIC_MESSAGE_PROCESS_DIED = 2, /* a monitored process ended (monitors) */
} lunatic_message_kind;

/**
 * A new, empty data message with the given tag and room for `reserve`
 * payload bytes.
 */
LUNATIC_API int lunatic_message_new(lunatic_tag tag, size_t reserve, lunatic_message **out);

/** Appends len bytes (data may be NULL only when len is 0). */
LUNATIC_API int lunatic_message_append(lunatic_message *message, const void *data, size_t len);

/**
 * Grows the payload by len bytes and gives a pointer to them in *out, so a
 * serializer writes straight into the buffer that is sent. The pointer is
 * valid until the message is next grown, sent or freed.
 */
LUNATIC_API int lunatic_message_extend(lunatic_message *message, size_t len, uint8_t **out);

/** Shrinks the payload to len bytes (len <= current size). */
LUNATIC_API int lunatic_message_truncate(lunatic_message *message, size_t len);

/** Sets the tag. */
LUNATIC_API int lunatic_message_set_tag(lunatic_message *message, lunatic_tag tag);

/** The kind; LUNATIC_MESSAGE_DATA for NULL. */
LUNATIC_API lunatic_message_kind lunatic_message_kind_of(const lunatic_message *message);
/** The tag; 0 for NULL. */
LUNATIC_API lunatic_tag lunatic_message_tag(const lunatic_message *message);
/** The payload bytes (NULL when empty or for NULL). */
LUNATIC_API const uint8_t *lunatic_message_data(const lunatic_message *message);
/** The payload size (0 for NULL). */
LUNATIC_API size_t lunatic_message_size(const lunatic_message *message);
/** The sending process (zero pid for a message that was never sent). */
LUNATIC_API int lunatic_message_sender(const lunatic_message *message, lunatic_pid *out);

/** Why a process ended, as seen by linked and monitoring processes. */
typedef enum lunatic_exit_reason {
    LUNATIC_EXIT_NORMAL = 0, /* its entry returned 0 */
    LUNATIC_EXIT_FAILED = 1, /* non-zero return, lunatic_fail, uncaught exception, stack overflow */
    LUNATIC_EXIT_KILLED = 2, /* lunatic_kill (or its runtime stopped) */
    LUNATIC_EXIT_NOPROC = 3, /* it did not exist when the link or monitor was made */
    LUNATIC_EXIT_NOCONNECTION = 4,   /* its node became unreachable (nodes) */
    LUNATIC_EXIT_MEMORY_LIMIT = 5,   /* it went over its max_memory (configs) */
    LUNATIC_EXIT_FUEL_EXHAUSTED = 6, /* it spent its max_fuel (configs) */
} lunatic_exit_reason;

/**
 * For a LINK_DIED or PROCESS_DIED message: the process that ended and why.
 * The reason's text ("failed: <message>", "killed", ...) is the payload
 * (lunatic_message_data / lunatic_message_size); for LINK_DIED the tag is the
 * link's tag. LUNATIC_EINVAL for a data message.
 */
LUNATIC_API int lunatic_message_signal(const lunatic_message *message, lunatic_pid *out_pid,
                                       lunatic_exit_reason *out_reason);

/** Frees a message; NULL is a no-op. A message freed twice is detected where possible. */
LUNATIC_API void lunatic_message_free(lunatic_message *message);

/* ---------------------------------------------------------- send / receive */

/**
 * Sends `message` to `to`. On success the message belongs to the runtime
 * (do not touch or free it); on failure it still belongs to the caller.
 * Messages from one sender to one receiver arrive in the order sent.
 * A send to a process that has finished (or never existed in this runtime)
 * returns LUNATIC_ENOPROC — unlike Erlang, which drops it silently.
 */
LUNATIC_API int lunatic_send(lunatic_pid to, lunatic_message *message);

/** Copies len bytes into a new message with `tag` and sends it. */
LUNATIC_API int lunatic_send_bytes(lunatic_pid to, lunatic_tag tag, const void *data, size_t len);

/**
 * Takes the oldest message of the calling process's mailbox whose tag is one
 * of tags[0..ntags) — any message when ntags is 0 — leaving the others queued
 * in order (selective receive). Waits up to timeout_ns: 0 polls,
 * LUNATIC_INFINITE waits forever. LUNATIC_ETIMEDOUT when nothing matched.
 * The message belongs to the caller: free it with lunatic_message_free().
 */
LUNATIC_API int lunatic_receive(const lunatic_tag *tags, size_t ntags, int64_t timeout_ns,
                                lunatic_message **out);

/* What lunatic_receive_mask accepts: data messages (filtered by tags) and/or signals. */
#define LUNATIC_RECEIVE_DATA 0x1u
#define LUNATIC_RECEIVE_LINK_DIED 0x2u    /* from links, while trapping (lunatic_trap_links) */
#define LUNATIC_RECEIVE_PROCESS_DIED 0x4u /* from monitors */
#define LUNATIC_RECEIVE_SIGNALS (LUNATIC_RECEIVE_LINK_DIED | LUNATIC_RECEIVE_PROCESS_DIED)
#define LUNATIC_RECEIVE_ALL (LUNATIC_RECEIVE_DATA | LUNATIC_RECEIVE_SIGNALS)
/* With this bit, signals too are filtered by tags (a LINK_DIED carries its link's tag, a
 * PROCESS_DIED its monitor's tag): receive "the reply or the death of the server monitored
 * with the reply's tag" and nothing else. Without it, tags filter data messages only. */
#define LUNATIC_RECEIVE_SIGNAL_TAGS 0x8u

/**
 * lunatic_receive that can also take signals. Signals wait in their own queue,
 * so a signal asked for is found at once even behind thousands of data
 * messages; when both a signal and a data message match, the signal comes
 * first. lunatic_receive is lunatic_receive_mask(LUNATIC_RECEIVE_DATA, ...):
 * it never returns a signal.
 */
LUNATIC_API int lunatic_receive_mask(uint32_t mask, const lunatic_tag *tags, size_t ntags,
                                     int64_t timeout_ns, lunatic_message **out);

/** Number of messages waiting in the calling process's mailbox. */
LUNATIC_API int lunatic_mailbox_size(size_t *out);

/* --------------------------------------------------------------- processes */

/**
 * A process entry. capture/capture_len are the bytes given to the spawn
 * (owned by the runtime, valid while the entry runs); user is the spawn's user
 * pointer. Return 0 for a normal exit; anything else fails the process with
 * the message set by lunatic_fail() (or "exit code N").
 */
typedef int (*lunatic_entry)(const uint8_t *capture, size_t capture_len, void *user);

#define LUNATIC_SPAWN_GUARD_PAGE 0x1u /* stack in its own mapping with a guard page */
#define LUNATIC_SPAWN_LINK 0x2u       /* link to the spawner before the child runs (link_tag) */

#define LUNATIC_WORKER_ANY (-1)     /* may run on, and be stolen by, any worker */
#define LUNATIC_WORKER_CURRENT (-2) /* pinned to the spawner's worker (worker 0 from a thread) */

typedef struct lunatic_spawn_options {
    uint32_t struct_size;
    /** LUNATIC_SPAWN_* flags. */
    uint32_t flags;
    /** Usable stack bytes; 0 = the runtime's default. */
    size_t stack_size;
    /** LUNATIC_WORKER_ANY, LUNATIC_WORKER_CURRENT or a worker index to pin to. */
    int32_t worker;
    /** Called with `user` once the process has ended (only if the spawn succeeded). */
    void (*user_free)(void *user);
    /** LUNATIC_SPAWN_LINK: link the child to the spawner before it runs, with link_tag. */
    lunatic_tag link_tag;
    /** Limits and permissions of the child (copied at spawn); NULL = the spawner's. */
    const struct lunatic_config *config;
} lunatic_spawn_options;

/** Fills *options with the defaults (and struct_size). */
LUNATIC_API void lunatic_spawn_options_init(lunatic_spawn_options *options);

/**
 * Spawns a process in the caller's runtime running entry(capture, len, user).
 * The capture bytes are copied. options may be NULL. out (may be NULL)
 * receives the new pid. The child may run before this returns.
 */
LUNATIC_API int lunatic_spawn(lunatic_entry entry, const void *capture, size_t capture_len,
                              void *user, const lunatic_spawn_options *options, lunatic_pid *out);

/**
 * Registers `entry` under `name` for this OS process (all runtimes), so it can
 * be spawned by name (lunatic_spawn_named, Python, other nodes). Registering
 * the same name again with the same entry is OK; with another entry it is
 * LUNATIC_EEXIST.
 */
LUNATIC_API int lunatic_entry_register(const char *name, lunatic_entry entry);

/** Looks up a registered entry: LUNATIC_ENOTFOUND if none. */
LUNATIC_API int lunatic_entry_lookup(const char *name, lunatic_entry *out);

/** lunatic_spawn of the entry registered under name (user is NULL). */
LUNATIC_API int lunatic_spawn_named(const char *name, const void *capture, size_t capture_len,
                                    const lunatic_spawn_options *options, lunatic_pid *out);

/** The calling process's pid. */
LUNATIC_API int lunatic_self(lunatic_pid *out);

/**
 * Sets the failure message of the calling process; the entry should then
 * return non-zero. The message is logged and (with links and monitors) shown
 * to linked and monitoring processes. message may be NULL.
 */
LUNATIC_API int lunatic_fail(const char *message);

/** Lets other processes on this worker run. */
LUNATIC_API int lunatic_yield(void);

/** Suspends the calling process for duration_ns (>= 0). */
LUNATIC_API int lunatic_sleep(int64_t duration_ns);

/**
 * Runs fn(arg) on a helper thread of the runtime while the calling process
 * waits, so a blocking call (file or socket I/O, a C library that sleeps)
 * never stalls a worker: the worker runs other processes meanwhile. fn's
 * result goes to *out_result (may be NULL). The wait cannot be cut short: a
 * kill takes effect when fn has returned. From an attached thread, fn simply
 * runs on that thread.
 */
LUNATIC_API int lunatic_blocking(int (*fn)(void *arg), void *arg, int *out_result);

/** 1 if pid names a live process of the caller's runtime, else 0. */
LUNATIC_API int lunatic_process_alive(lunatic_pid pid);

/* ------------------------------------------- links, monitors, kill, registry */

/*
 * Links join two processes' fates. When a process fails (LUNATIC_EXIT_FAILED,
 * KILLED, and the limits) every process linked to it fails too, with the same
 * reason, recursively — unless it traps link failures, in which case it
 * receives a LINK_DIED signal (tag = the link's tag) instead. A normal exit
 * only removes the link. Linking to a process that is already gone acts as if
 * it had just failed with LUNATIC_EXIT_NOPROC.
 */

/** Links the caller and pid (both sides carry `tag`). Linking twice keeps one link. */
LUNATIC_API int lunatic_link(lunatic_pid pid, lunatic_tag tag);
/** Removes the link between the caller and pid, if any. */
LUNATIC_API int lunatic_unlink(lunatic_pid pid);
/** enable != 0: link failures arrive as LINK_DIED signals instead of killing the caller. */
LUNATIC_API int lunatic_trap_links(int enable);

/**
 * The caller receives one PROCESS_DIED signal when pid ends, for any reason —
 * at once (reason NOPROC) if pid is already gone. Monitoring twice is one monitor.
 * Same as lunatic_monitor_tag(pid, LUNATIC_TAG_NONE).
 */
LUNATIC_API int lunatic_monitor(lunatic_pid pid);
/** Stops the untagged monitor of pid (a PROCESS_DIED already queued stays queued). */
LUNATIC_API int lunatic_demonitor(lunatic_pid pid);

/**
 * A monitor of its own, told apart by `tag`: its PROCESS_DIED signal carries
 * the tag, and it lives and ends independently of the caller's other monitors
 * of pid (as Erlang's monitor references do). Monitoring with the same pid and
 * tag twice is one monitor. Request/reply monitors the server this way with
 * the request's reply tag, so a receive can wait for "the reply or the
 * server's death" and nothing else (LUNATIC_RECEIVE_SIGNAL_TAGS).
 */
LUNATIC_API int lunatic_monitor_tag(lunatic_pid pid, lunatic_tag tag);
/**
 * Stops the monitor of pid with `tag`; a PROCESS_DIED of that monitor already
 * queued is freed too (Erlang's demonitor with flush): after it returns, the
 * monitor leaves no trace in the mailbox.
 */
LUNATIC_API int lunatic_demonitor_tag(lunatic_pid pid, lunatic_tag tag);

/**
 * Abandons `tag` in the calling process: every message queued in its mailbox
 * with that tag (data and signals) is freed now, and data messages with that
 * tag that arrive later are freed on arrival instead of being queued. For a
 * request that timed out: its late reply never shows up in the mailbox. The
 * process remembers the last 4,096 abandoned tags; tag 0 is LUNATIC_EINVAL.
 */
LUNATIC_API int lunatic_tag_discard(lunatic_tag tag);

/**
 * Fails pid with LUNATIC_EXIT_KILLED at its next runtime call; a process
 * blocked in receive or sleep wakes and ends at once (its runtime calls return
 * LUNATIC_EKILLED; the C++ layer unwinds). Its links and monitors are told.
 * LUNATIC_ENOPROC if it does not exist.
 */
LUNATIC_API int lunatic_kill(lunatic_pid pid);

/**
 * Names: register(name, type, pid) makes lookup(name, type) find pid until it
 * ends or is unregistered. `type` (may be NULL = "") is part of the key: a
 * lookup with another type finds nothing (the typed layers put the message
 * type and serializer there, e.g. "i32/bincode"). A name that is taken (by a
 * live process) gives LUNATIC_EEXIST: unregister it first. Names are freed
 * when their process ends.
 */
LUNATIC_API int lunatic_register(const char *name, const char *type, lunatic_pid pid);
LUNATIC_API int lunatic_unregister(const char *name, const char *type);
LUNATIC_API int lunatic_lookup(const char *name, const char *type, lunatic_pid *out);

/* ------------------------------------------------------------------ timers */

typedef struct lunatic_timer {
    uint64_t node; /* the node of the target */
    uint64_t id;
} lunatic_timer;

/**
 * Sends message to pid after delay_ns (>= 0). Ownership of message passes on
 * success. Timers due at the same instant fire in the order they were set.
 * A target on another node must be connected (LUNATIC_ENONODE otherwise):
 * the timer runs here and the message is sent when it fires. A target that
 * is gone (or whose node is) when the timer fires: the message is dropped.
 */
LUNATIC_API int lunatic_send_after(lunatic_pid pid, lunatic_message *message, int64_t delay_ns,
                                   lunatic_timer *out);
/** Cancels a timer: *out_cancelled (may be NULL) is 1 if it had not fired yet, else 0. */
LUNATIC_API int lunatic_timer_cancel(lunatic_timer timer, int *out_cancelled);

/* ----------------------------------------------------------------- configs */

/*
 * A config holds the limits and permissions of the processes spawned with it
 * (lunatic_spawn_options.config; the values are copied at spawn). A spawn
 * without a config inherits the spawner's. A new config grants nothing until
 * set (lunatic's rule): no spawning, no configs, no limits. An attached thread
 * has every permission and no limit.
 *
 * Limits:
 *  - max_memory (bytes, 0 = none): what the runtime owns for the process — its
 *    stack and the bytes queued in its mailbox. A spawn whose stack alone is
 *    over it gives LUNATIC_ENOMEM; a send that would take its mailbox over it
 *    fails the process with LUNATIC_EXIT_MEMORY_LIMIT (as Erlang's
 *    max_heap_size does) and the message is dropped.
 *  - max_fuel (0 = none): a CPU budget in microseconds of time spent running on
 *    a worker (lunatic's fuel unit is 100,000 WebAssembly instructions; native
 *    code has no instruction counter, so time is the honest equivalent). The
 *    process fails with LUNATIC_EXIT_FUEL_EXHAUSTED at its first runtime call
 *    after spending it. C cannot preempt: a loop that never calls the runtime
 *    is not stopped.
 */
typedef struct lunatic_config lunatic_config;

/** A new config. LUNATIC_EPERM when the caller's own config lacks can_create_configs. */
LUNATIC_API int lunatic_config_new(lunatic_config **out);
LUNATIC_API void lunatic_config_free(lunatic_config *config);

LUNATIC_API int lunatic_config_set_max_memory(lunatic_config *config, uint64_t bytes);
LUNATIC_API int lunatic_config_get_max_memory(const lunatic_config *config, uint64_t *out);
LUNATIC_API int lunatic_config_set_max_fuel(lunatic_config *config, uint64_t microseconds);
LUNATIC_API int lunatic_config_get_max_fuel(const lunatic_config *config, uint64_t *out);
LUNATIC_API int lunatic_config_set_can_spawn_processes(lunatic_config *config, int allowed);
LUNATIC_API int lunatic_config_get_can_spawn_processes(const lunatic_config *config, int *out);
LUNATIC_API int lunatic_config_set_can_create_configs(lunatic_config *config, int allowed);
LUNATIC_API int lunatic_config_get_can_create_configs(const lunatic_config *config, int *out);
/** Usable stack bytes (0 = the runtime's default) and whether it has a guard page. */
LUNATIC_API int lunatic_config_set_stack_size(lunatic_config *config, size_t bytes);
LUNATIC_API int lunatic_config_get_stack_size(const lunatic_config *config, size_t *out);
LUNATIC_API int lunatic_config_set_guard_page(lunatic_config *config, int enabled);
LUNATIC_API int lunatic_config_get_guard_page(const lunatic_config *config, int *out);

/* ----------------------------------------------------------- process-local */

/*
 * Per-process storage: one value per (process, key). A key is any address the
 * caller owns, e.g. of a static variable. (thread_local is wrong for processes:
 * they move between worker threads.)
 */

/** The calling process's value for key, or NULL in *out when none was set. */
LUNATIC_API int lunatic_process_local_get(const void *key, void **out);

/**
 * Sets the calling process's value for key (value NULL removes it). The
 * replaced value's destroy, if any, is called at once. Values still set when
 * the process ends are destroyed in it, after its entry returns (for an
 * attached thread: in lunatic_detach), in reverse order of first setting;
 * a destroy function must not block.
 */
LUNATIC_API int lunatic_process_local_set(const void *key, void *value, void (*destroy)(void *));

/* ------------------------------------------------------------------- nodes */

/*
 * A runtime becomes a *node* by listening on a TCP address with a name and a
 * cookie (a shared secret); lunatic_node_connect joins another node, and nodes
 * tell each other their peers, so the cluster becomes a full mesh. Two nodes
 * authenticate each other with a challenge/response HMAC-SHA256 over the
 * cookie; a peer with another cookie, another protocol version or a malformed
 * handshake is refused and logged, and nothing it sent reaches a process.
 * docs/nodes.md describes the wire protocol.
 *
 * Once connected, a pid of another node works with lunatic_send,
 * lunatic_send_bytes, lunatic_send_after, lunatic_link, lunatic_unlink,
 * lunatic_monitor(_tag), lunatic_demonitor(_tag) and lunatic_kill: each acts
 * on the process on its own node. Messages from one sender to one receiver
 * keep their order across the network. Differences from local pids:
 *  - a send to a process of another node that does not exist is dropped
 *    there (as in Erlang): only a missing connection is reported
 *    (LUNATIC_ENONODE); monitor the process to learn that it is gone;
 *  - lunatic_kill of another node's pid returns at once: the kill acts there;
 *  - linking to or monitoring a process that is gone gives the usual
 *    LINK_DIED / PROCESS_DIED with LUNATIC_EXIT_NOPROC, a little later; one on
 *    a node this node is not connected to gives them at once, with
 *    LUNATIC_EXIT_NOCONNECTION (as Erlang does);
 *  - when the connection to a node is lost (its process died, or nothing was
 *    heard from it for peer_timeout_ms), every local process linked to or
 *    monitoring a process there gets LINK_DIED / PROCESS_DIED with reason
 *    LUNATIC_EXIT_NOCONNECTION, once per link or monitor (a link failure kills
 *    a process that does not trap links, as any other);
 *  - a send, kill or send_after to a pid of a node this node is not connected
 *    to is LUNATIC_ENONODE. (In a runtime that is not a node, other nodes'
 *    pids name no process: LUNATIC_ENOPROC and NOPROC signals, except
 *    lunatic_send_after and lunatic_spawn_node, LUNATIC_ENONODE.)
 * A lost node is dialled again with backoff (up to reconnect_max_ms between
 * tries) by the one of the two nodes with the smaller id.
 *
 * Backpressure: a process whose send leaves more than 4 MiB queued for a node
 * (in the connection's shared queue, or in its own queue while a message
 * bigger than one frame of it is under way) is suspended after the send
 * (which returns LUNATIC_OK) until that queue is down to 1 MiB, the
 * connection is lost or the process is killed; a fiber yields its worker, an
 * attached thread blocks. Sends from other threads (send_after timers) never
 * wait. At most 64 incoming connections may be in their handshake at once
 * (more are closed); a handshake must complete within 5 s (or
 * peer_timeout_ms, if shorter).
 */

typedef struct lunatic_node_options {
    uint32_t struct_size;
    /** This node's name, 1..255 bytes (required). */
    const char *name;
    /** The shared secret every node of the cluster has (required, non-empty). */
    const char *cookie;
    /** IP address to listen on; NULL = "127.0.0.1". */
    const char *listen_host;
    /** Port to listen on; 0 = chosen by the system (see out_port). */
    uint16_t listen_port;
    /** Largest frame accepted and sent, in bytes (>= 256); 0 = 1 MiB. Bigger
     *  messages are cut into chunks of at most this size, interleaved with
     *  other processes' frames, so they do not hold up small ones. */
    uint32_t max_frame_bytes;
    /** A heartbeat goes out after this long without writing; 0 = 1,000 ms. */
    uint32_t heartbeat_ms;
    /** A peer heard nothing from for this long is lost (> 2 * heartbeat_ms);
     *  0 = 4,000 ms (a dead peer is noticed within 5 s). */
    uint32_t peer_timeout_ms;
    /** Longest wait between two tries to reach a lost node again; 0 = 5,000 ms. */
    uint32_t reconnect_max_ms;
    /** attribute_count strings "key=value" other nodes see (lunatic_lookup_nodes). */
    const char *const *attributes;
    size_t attribute_count;
} lunatic_node_options;

/** Fills *options with the defaults (and struct_size). */
LUNATIC_API void lunatic_node_options_init(lunatic_node_options *options);

/**
 * Makes the runtime a node: it listens on listen_host:listen_port and starts
 * its network thread (which never runs process code). *out_port (may be NULL)
 * receives the port it listens on. Once per runtime (LUNATIC_EEXIST after);
 * LUNATIC_EEXIST too when the address is taken. The node stops with its
 * runtime. Any thread.
 */
LUNATIC_API int lunatic_node_start(lunatic_runtime *runtime, const lunatic_node_options *options,
                                   uint16_t *out_port);

/**
 * Connects to the node listening at host:port and waits until both have
 * authenticated, at most timeout_ns (LUNATIC_INFINITE: no limit).
 * *out_node_id (may be NULL) receives its node id. Being connected already is
 * not an error; two nodes connecting to each other at the same time both
 * succeed and end up with one connection. LUNATIC_ENONODE when it cannot be reached, LUNATIC_EPERM when
 * the handshake is refused (another cookie, most likely), LUNATIC_ETIMEDOUT.
 * It blocks the calling thread (from a process: its worker; see lunatic_blocking).
 */
LUNATIC_API int lunatic_node_connect(lunatic_runtime *runtime, const char *host, uint16_t port,
                                     int64_t timeout_ns, uint64_t *out_node_id);

/** A connected node, as lunatic_nodes describes it. */
typedef struct lunatic_node_info {
    uint64_t id;
    char name[256];    /* NUL-terminated */
    char address[128]; /* "host:port" it listens on, NUL-terminated ("" if unknown) */
} lunatic_node_info;

/**
 * The nodes this node is connected to, sorted by name: the first `capacity`
 * go to out (may be NULL when capacity is 0); *out_count receives how many
 * there are (which may be more than capacity).
 */
LUNATIC_API int lunatic_nodes(lunatic_runtime *runtime, lunatic_node_info *out, size_t capacity,
                              size_t *out_count);

/**
 * The attributes of a connected node as "key=value" strings, each followed by
 * a NUL, in buf (capacity bytes, may be NULL when 0); *out_len receives the
 * bytes needed. LUNATIC_ENONODE if not connected to it.
 */
LUNATIC_API int lunatic_node_attributes(lunatic_runtime *runtime, uint64_t node, char *buf,
                                        size_t capacity, size_t *out_len);

/**
 * Ids of the connected nodes whose attributes match every comma-separated term
 * of query: "key=value" matches that attribute exactly, "key" any value of
 * key; "" matches every node. Fills out like lunatic_nodes.
 */
LUNATIC_API int lunatic_lookup_nodes(lunatic_runtime *runtime, const char *query, uint64_t *out,
                                     size_t capacity, size_t *out_count);

/**
 * Spawns, on another node, the entry registered there under entry_name
 * (lunatic_entry_register) with a copy of the capture bytes, and waits for
 * its answer (at most 10 s; a node found lost ends the wait at once).
 * options may be NULL. Honoured: LUNATIC_SPAWN_LINK (with link_tag; the link
 * stands before the child runs), stack_size, LUNATIC_SPAWN_GUARD_PAGE and
 * config (sent along; none = the caller's config, as a local spawn
 * inherits it). worker and user_free are not used. A capture bigger than one
 * frame is sent in chunks, like a big message; LUNATIC_EINVAL if the entry
 * name and config alone do not fit in one frame. node may be this node's id (a local
 * lunatic_spawn_named). LUNATIC_ENOTFOUND when the other node has no such
 * entry, LUNATIC_ENONODE when it is not connected or is lost meanwhile,
 * LUNATIC_ETIMEDOUT. From a process or attached thread.
 */
LUNATIC_API int lunatic_spawn_node(uint64_t node, const char *entry_name, const void *capture,
                                   size_t capture_len, const lunatic_spawn_options *options,
                                   lunatic_pid *out);

/**
 * lunatic_lookup on another node's registry (same name and type rule), waiting
 * for the answer at most 10 s. node may be this node's id.
 */
LUNATIC_API int lunatic_lookup_node(uint64_t node, const char *name, const char *type,
                                    lunatic_pid *out);

#ifdef __cplusplus
}
#endif

#endif /* LUNATIC_H */
