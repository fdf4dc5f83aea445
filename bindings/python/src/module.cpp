// lunatic._lunatic: the CPython extension under `import lunatic`.
//
// It calls only the C ABI (<lunatic/lunatic.h>). The pure-Python package
// (bindings/python/lunatic/) wraps these functions into Process, Mailbox,
// spawn and the serializers.
//
// How Python runs on lunatic's fibers (DESIGN.md §5, research/bindings-abi.md §1):
//
//  * One PyThreadState per Python process. python_entry() takes it inside
//    the process's fiber (PyThreadState_New, or a cleared one from a pool of
//    this worker's thread states, + PyEval_RestoreThread) and ends with
//    PyThreadState_Clear + PyEval_SaveThread (back to the pool) or
//    PyThreadState_DeleteCurrent, so no two fibers ever interleave Python
//    frames on one thread state.
//  * No fiber switch while the GIL is held: every call that may switch fibers
//    (receive, sleep, yield, spawn) is a raw CPython function (PyMethodDef,
//    METH_FASTCALL — never pybind11's dispatcher, whose per-OS-thread
//    loader_life_support stack breaks when fibers resume out of order) that
//    releases the GIL around the lunatic_* call with PyEval_SaveThread and
//    takes it back with PyEval_RestoreThread(own thread state).
//  * Python processes are pinned to one worker (the last one), so they never
//    migrate between OS threads (CPython's GILState TLS, thread ids and C
//    extensions' thread-locals stay consistent) and never run on the main
//    thread (where SIGINT would land in a random process).
//  * Python processes get big stacks (8 MiB by default, like a main thread):
//    C-recursive Python code (json, repr, pickle, C callbacks) runs on the
//    fiber's stack. Pooled stacks are committed lazily, so this costs address
//    space, not memory.
//  * PyGILState_Ensure (and pybind11's gil_scoped_acquire) is never used in a
//    fiber: there it would find another process's thread state and deadlock.
//    blocking() runs its function on a helper thread of the runtime
//    (lunatic_blocking), a plain OS thread that is no process, with a thread
//    state of that thread's own (also its GILState one).
//  * The main thread (attached to the runtime at import) waits in slices of
//    50 ms and calls PyErr_CheckSignals between them, so Ctrl-C raises
//    KeyboardInterrupt in a blocked receive or sleep.
//  * The spawned callable and its arguments travel through lunatic_spawn's
//    `user` pointer as new references. The entry takes them over (with the
//    GIL) and drops them before it ends. user_free runs on a worker thread
//    without the GIL: when the entry ran, there is nothing left to drop; when
//    the process was discarded before it started (its runtime stopped), the
//    references are parked in a "graveyard" that a thread holding the GIL
//    empties (the next spawn, or shutdown() once the runtime is gone). No
//    thread ever takes the GIL for bookkeeping on a worker.
//  * shutdown() (registered with atexit by the package, so it runs before the
//    interpreter finalizes) destroys the runtime with the GIL released: the
//    processes still running get LUNATIC_EKILLED at their runtime call, raise
//    lunatic.Killed, unwind (finally blocks run) and end before the
//    interpreter starts tearing down.

#define PY_SSIZE_T_CLEAN
#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "lunatic/lunatic.h"

#ifdef LUNATIC_PY_HAVE_NLOHMANN_JSON
// Only for writing doubles exactly as the C++ lunatic::Json serializer does
// (nlohmann_json's Grisu2 output is not always Python's shortest repr).
#include <nlohmann/json.hpp>
#endif

namespace py = pybind11;

namespace {

// ------------------------------------------------------------------ state
// Touched with the GIL held, except where noted.

lunatic_runtime *g_runtime = nullptr;  // NULL before start() and after shutdown()
bool g_forked = false;                 // this is a child made by os.fork()
PyInterpreterState *g_interp = nullptr;
int32_t g_python_worker = 0;            // the worker every Python process is pinned to
size_t g_stack_size = size_t(8) << 20;  // default stack of a Python process
unsigned long g_main_thread = 0;        // ident of the thread that handles signals
PyObject *g_error_classes = nullptr;    // dict: status code -> exception class
PyObject *g_error_base = nullptr;       // lunatic.Error
PyObject *g_node_bootstrap = nullptr;   // lunatic._node._remote_bootstrap (set_node_bootstrap)

constexpr int64_t kSliceNs = 50'000'000;  // main-thread waits: signal checks this often

// What a Python process runs: target(payload_bytes, arg). Both are owned references.
struct PySpawn {
    PyObject *target;
    PyObject *arg;
};

// Never-started spawns whose references still have to be dropped (see above).
std::mutex g_grave_mutex;
std::vector<PySpawn *> g_grave;
std::atomic<bool> g_grave_nonempty{false};

// ------------------------------------------------------------------ errors

// Raises the lunatic exception for code with message; returns NULL.
PyObject *raise_message(int code, const std::string &message) {
    PyObject *cls = nullptr;
    if (g_error_classes) {
        PyObject *key = PyLong_FromLong(code);
        if (!key) return nullptr;
        cls = PyDict_GetItemWithError(g_error_classes, key);  // borrowed
        Py_DECREF(key);
        if (!cls && PyErr_Occurred()) return nullptr;
    }
    if (!cls) cls = g_error_base ? g_error_base : PyExc_RuntimeError;
    PyObject *exc = PyObject_CallFunction(cls, "si", message.c_str(), code);
    if (!exc) return nullptr;
    PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(exc)), exc);
    Py_DECREF(exc);
    return nullptr;
}

// Raises the exception for a status code a lunatic_* call just returned
// (lunatic_errmsg() must not have been overwritten by another call).
PyObject *raise_status(int code) {
    std::string message = lunatic_errmsg();
    if (message.empty()) message = lunatic_strerror(code);
    if (code == LUNATIC_ESTATE && message.find("not a lunatic process") != std::string::npos)
        message +=
            " — in Python, run the code in a lunatic process, or wrap it in "
            "`with lunatic.attached():` in this thread";
    return raise_message(code, message);
}

// True when the runtime can be used; else raises and returns false.
bool runtime_ready() {
    if (g_forked) {
        raise_message(LUNATIC_ESTATE,
                      "lunatic cannot be used in a child process made by os.fork(): the runtime's "
                      "worker threads exist only in the parent (start a fresh interpreter instead, "
                      "e.g. multiprocessing's 'spawn' or 'forkserver' method)");
        return false;
    }
    if (!g_runtime) {
        raise_message(LUNATIC_ESTATE,
                      "the lunatic runtime is not running (it stops when the interpreter exits)");
        return false;
    }
    return true;
}

bool check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t want) {
    if (nargs == want) return true;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, want, nargs);
    return false;
}

bool to_u64(PyObject *o, uint64_t *out) {
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) return false;
    *out = v;
    return true;
}

bool to_i64(PyObject *o, int64_t *out) {
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) return false;
    *out = v;
    return true;
}

bool on_main_thread() { return PyThread_get_thread_ident() == g_main_thread; }

// ------------------------------------------------------------ graveyard

void drain_graveyard() {
    if (!g_grave_nonempty.load(std::memory_order_acquire)) return;
    std::vector<PySpawn *> dead;
    {
        std::lock_guard lock(g_grave_mutex);
        dead.swap(g_grave);
        g_grave_nonempty.store(false, std::memory_order_release);
    }
    for (PySpawn *s : dead) {
        Py_XDECREF(s->target);
        Py_XDECREF(s->arg);
        delete s;
    }
}

// Runs on a worker thread, without the GIL, once the process has ended.
void python_user_free(void *user) {
    auto *s = static_cast<PySpawn *>(user);
    if (!s->target && !s->arg) {  // the entry ran and dropped its references
        delete s;
        return;
    }
    try {
        std::lock_guard lock(g_grave_mutex);
        g_grave.push_back(s);
        g_grave_nonempty.store(true, std::memory_order_release);
    } catch (...) {
        // Out of memory: leak the two references rather than touch Python without the GIL.
    }
}

// ------------------------------------------------------------ thread states
// Python processes reuse cleared thread states: creating and deleting one per
// process maps and unmaps its 16 KiB frame stack each time, and the munmap
// costs a TLB shootdown across threads. A thread state goes back to the pool
// only after PyThreadState_Clear (no frames, no exception, no contextvars, no
// threading.local dict: nothing of the previous process survives), and is only
// ever used on the Python worker, the OS thread it was created on.

constexpr size_t kThreadStatePoolMax = 256;
std::mutex g_ts_mutex;
std::vector<PyThreadState *> g_ts_pool;

PyThreadState *take_thread_state() {
    {
        std::lock_guard lock(g_ts_mutex);
        if (!g_ts_pool.empty()) {
            PyThreadState *ts = g_ts_pool.back();
            g_ts_pool.pop_back();
            return ts;
        }
    }
    return PyThreadState_New(g_interp);  // needs no GIL
}

// Called with ts current and the GIL held; returns with the GIL released.
void give_back_thread_state(PyThreadState *ts) {
    PyThreadState_Clear(ts);
    bool pooled = false;
    try {
        std::lock_guard lock(g_ts_mutex);
        if (g_ts_pool.size() < kThreadStatePoolMax) {
            g_ts_pool.push_back(ts);
            pooled = true;
        }
    } catch (...) {
    }
    if (pooled)
        PyEval_SaveThread();
    else
        PyThreadState_DeleteCurrent();  // releases the GIL
}

// With the GIL, once no process runs any more (the runtime is destroyed).
void free_thread_state_pool() {
    std::vector<PyThreadState *> pool;
    {
        std::lock_guard lock(g_ts_mutex);
        pool.swap(g_ts_pool);
    }
    for (PyThreadState *ts : pool) PyThreadState_Delete(ts);  // cleared already; not current
}

// ------------------------------------------------------------ the entry

// Runs target(payload, arg) with this fiber's thread state; returns the exit code.
int run_python(PyObject *target, PyObject *arg, const uint8_t *capture, size_t len) {
    PyObject *payload = PyBytes_FromStringAndSize(reinterpret_cast<const char *>(capture),
                                                  static_cast<Py_ssize_t>(len));
    PyObject *result =
        payload ? PyObject_CallFunctionObjArgs(target, payload, arg, nullptr) : nullptr;
    Py_XDECREF(payload);
    if (!result) {
        // The bootstrap itself failed (it catches everything the process raises).
        PyErr_WriteUnraisable(target);
        lunatic_fail("lunatic: the Python bootstrap of this process failed");
        return 1;
    }
    int code = 0;
    if (result == Py_None) {
        code = 0;
    } else if (PyUnicode_Check(result)) {  // a failure, described
        const char *message = PyUnicode_AsUTF8(result);
        if (!message) {
            PyErr_Clear();
            message = "uncaught exception";
        }
        lunatic_fail(message);
        code = 1;
    } else {  // killed: the runtime knows already
        code = 1;
    }
    Py_DECREF(result);
    return code;
}

int python_entry(const uint8_t *capture, size_t capture_len, void *user) {
    auto *s = static_cast<PySpawn *>(user);
    PyThreadState *ts = take_thread_state();
    if (!ts) {
        lunatic_fail("lunatic: cannot create a Python thread state");
        return 1;  // s keeps its references: user_free parks them in the graveyard
    }
    PyEval_RestoreThread(ts);
    PyObject *target = s->target;
    PyObject *arg = s->arg;
    s->target = nullptr;  // ours now (user_free runs only after this entry returned)
    s->arg = nullptr;
    int code = run_python(target, arg, capture, capture_len);
    Py_DECREF(target);
    Py_DECREF(arg);
    give_back_thread_state(ts);  // releases the GIL
    return code;
}

// ------------------------------------------------------------ remote spawns
// Another node spawns a Python function here by the entry name "lunatic.python"
// (lunatic_spawn_node). A remote spawn runs on any worker with the spawner's
// stack size, while Python must run pinned to the Python worker: so the named
// entry is a small C process (no Python, no GIL) that spawns the Python
// process pinned there, then ends. The Python process tells the spawner its
// pid itself (lunatic/_node.py). The capture, little-endian:
//   u64 stack size (0 = the default) | u64 spawner node | u64 spawner id |
//   i64 reply tag | the bootstrap's bytes
// The Python process gets everything after the stack size. A starter that
// cannot start it says so to the spawner: 'E', i32 status, the message.

constexpr const char *kNodeEntryName = "lunatic.python";
constexpr size_t kNodeHeader = 32;

uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

int python_node_process(const uint8_t *capture, size_t capture_len, void *) {
    PyThreadState *ts = take_thread_state();
    if (!ts) {
        lunatic_fail("lunatic: cannot create a Python thread state");
        return 1;
    }
    PyEval_RestoreThread(ts);
    int code;
    PyObject *target = g_node_bootstrap;
    if (!target) {
        lunatic_fail("lunatic.python: this interpreter has no node bootstrap");
        code = 1;
    } else {
        Py_INCREF(target);
        code = run_python(target, Py_None, capture, capture_len);
        Py_DECREF(target);
    }
    give_back_thread_state(ts);  // releases the GIL
    return code;
}

int python_node_entry(const uint8_t *capture, size_t capture_len, void *) {
    if (capture_len < kNodeHeader) {
        lunatic_fail("lunatic.python: a malformed capture (shorter than its header)");
        return 1;
    }
    const uint64_t stack = read_le64(capture);
    const lunatic_pid spawner{read_le64(capture + 8), read_le64(capture + 16)};
    const auto tag = static_cast<lunatic_tag>(read_le64(capture + 24));
    int rc;
    const char *why;
    // The entry is registered for the whole OS process: another runtime of it
    // (a C/C++ program embedding Python, say) has no Python worker.
    if (lunatic_current_runtime() != g_runtime || g_runtime == nullptr) {
        rc = LUNATIC_ENOTFOUND;
        why = "this runtime does not run Python";
    } else {
        lunatic_spawn_options o;
        lunatic_spawn_options_init(&o);
        // g_python_worker and g_stack_size are written once, before the entry is registered.
        o.worker = g_python_worker;
        o.stack_size = stack ? static_cast<size_t>(stack) : g_stack_size;
        rc = lunatic_spawn(python_node_process, capture + 8, capture_len - 8, nullptr, &o, nullptr);
        if (rc == LUNATIC_OK) return 0;
        why = lunatic_errmsg();
    }
    try {  // no C++ exception leaves an entry
        std::string message =
            std::string("lunatic.python: cannot start the Python process: ") + why;
        std::string reply(5, '\0');
        reply[0] = 'E';
        const auto code = static_cast<uint32_t>(rc);
        for (int i = 0; i < 4; ++i) reply[1 + i] = static_cast<char>((code >> (8 * i)) & 0xff);
        reply += message;
        lunatic_send_bytes(spawner, tag, reply.data(), reply.size());
        lunatic_fail(message.c_str());
    } catch (...) {
        lunatic_fail("lunatic.python: cannot start the Python process (out of memory)");
    }
    return 1;
}

// ------------------------------------------------------------ raw functions
// Everything that may switch fibers is here, as METH_FASTCALL functions.

// receive(tags: tuple[int, ...] | None, timeout_ns: int, mask: int = RECEIVE_DATA)
//   -> (payload: bytes, tag: int, kind: int, node: int, id: int, reason: int) | None on timeout
// For a data message node/id are the sender and reason is 0; for a signal
// (LINK_DIED, PROCESS_DIED) they are the process that ended and why, and the
// payload is the reason's text. Tags filter data messages only (lunatic_receive_mask), and
// signals too with RECEIVE_SIGNAL_TAGS in mask (a request waits for its reply or its server's
// death, monitored with the reply tag).
PyObject *py_receive(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 && nargs != 3) {
        PyErr_Format(PyExc_TypeError, "receive() takes 2 or 3 arguments (%zd given)", nargs);
        return nullptr;
    }
    if (!runtime_ready()) return nullptr;
    uint32_t mask = LUNATIC_RECEIVE_DATA;
    if (nargs == 3) {
        uint64_t m;
        if (!to_u64(args[2], &m)) return nullptr;
        if ((m & uint64_t(LUNATIC_RECEIVE_ALL)) == 0 ||
            (m & ~uint64_t(LUNATIC_RECEIVE_ALL | LUNATIC_RECEIVE_SIGNAL_TAGS)) != 0) {
            PyErr_SetString(PyExc_ValueError,
                            "receive: mask must be a non-empty set of RECEIVE_* bits");
            return nullptr;
        }
        mask = static_cast<uint32_t>(m);
    }
    lunatic_tag small[8];
    std::vector<lunatic_tag> big;
    lunatic_tag *tags = nullptr;
    size_t ntags = 0;
    if (args[0] != Py_None) {
        PyObject *seq = PySequence_Fast(args[0], "tags must be a sequence of int");
        if (!seq) return nullptr;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        if (n > 8) {
            big.resize(static_cast<size_t>(n));
            tags = big.data();
        } else {
            tags = small;
        }
        for (Py_ssize_t i = 0; i < n; ++i) {
            int64_t t;
            if (!to_i64(PySequence_Fast_GET_ITEM(seq, i), &t)) {
                Py_DECREF(seq);
                return nullptr;
            }
            tags[i] = t;
        }
        ntags = static_cast<size_t>(n);
        Py_DECREF(seq);
        if (ntags == 0) {
            PyErr_SetString(PyExc_ValueError, "tag_receive needs at least one tag");
            return nullptr;
        }
        if (!(mask &
              (LUNATIC_RECEIVE_DATA | LUNATIC_RECEIVE_SIGNAL_TAGS))) {  // tags would be ignored
            PyErr_SetString(PyExc_ValueError, "receive: tags given without RECEIVE_DATA");
            return nullptr;
        }
    }
    int64_t timeout;
    if (!to_i64(args[1], &timeout)) return nullptr;
    if (timeout < 0) timeout = LUNATIC_INFINITE;

    lunatic_message *m = nullptr;
    int rc;
    if (timeout != 0 && on_main_thread()) {
        using clock = std::chrono::steady_clock;
        const auto deadline = clock::now() + std::chrono::nanoseconds(timeout > 0 ? timeout : 0);
        for (;;) {
            int64_t slice = kSliceNs;
            if (timeout > 0) {
                int64_t left =
                    std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - clock::now())
                        .count();
                if (left < 0) left = 0;
                if (left < slice) slice = left;
            }
            PyThreadState *ts = PyEval_SaveThread();
            rc = lunatic_receive_mask(mask, tags, ntags, slice, &m);
            PyEval_RestoreThread(ts);
            if (rc != LUNATIC_ETIMEDOUT) break;
            if (timeout > 0 && clock::now() >= deadline) break;
            if (PyErr_CheckSignals() < 0) return nullptr;  // e.g. KeyboardInterrupt
        }
    } else {
        PyThreadState *ts = PyEval_SaveThread();
        rc = lunatic_receive_mask(mask, tags, ntags, timeout, &m);
        PyEval_RestoreThread(ts);
    }
    if (rc == LUNATIC_ETIMEDOUT) Py_RETURN_NONE;
    if (rc != LUNATIC_OK) return raise_status(rc);

    const lunatic_message_kind kind = lunatic_message_kind_of(m);
    lunatic_pid who{0, 0};
    lunatic_exit_reason reason = LUNATIC_EXIT_NORMAL;
    if (kind == LUNATIC_MESSAGE_DATA)
        lunatic_message_sender(m, &who);
    else
        lunatic_message_signal(m, &who, &reason);
    const uint8_t *data = lunatic_message_data(m);
    PyObject *result =
        Py_BuildValue("(y#LiKKi)", reinterpret_cast<const char *>(data),
                      static_cast<Py_ssize_t>(lunatic_message_size(m)),
                      static_cast<long long>(lunatic_message_tag(m)), static_cast<int>(kind),
                      static_cast<unsigned long long>(who.node),
                      static_cast<unsigned long long>(who.id), static_cast<int>(reason));
    lunatic_message_free(m);
    return result;
}

// sleep(duration_ns: int) -> None
PyObject *py_sleep(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("sleep", nargs, 1) || !runtime_ready()) return nullptr;
    int64_t ns;
    if (!to_i64(args[0], &ns)) return nullptr;
    if (ns < 0) {
        PyErr_SetString(PyExc_ValueError, "sleep length must be non-negative");
        return nullptr;
    }
    int rc;
    if (ns > 0 && on_main_thread()) {
        using clock = std::chrono::steady_clock;
        const auto deadline = clock::now() + std::chrono::nanoseconds(ns);
        for (;;) {
            int64_t left =
                std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - clock::now())
                    .count();
            if (left <= 0) {
                rc = LUNATIC_OK;
                break;
            }
            PyThreadState *ts = PyEval_SaveThread();
            rc = lunatic_sleep(left < kSliceNs ? left : kSliceNs);
            PyEval_RestoreThread(ts);
            if (rc != LUNATIC_OK) break;
            if (PyErr_CheckSignals() < 0) return nullptr;
        }
    } else {
        PyThreadState *ts = PyEval_SaveThread();
        rc = lunatic_sleep(ns);
        PyEval_RestoreThread(ts);
    }
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// yield_() -> None
PyObject *py_yield(PyObject *, PyObject *const *, Py_ssize_t nargs) {
    if (!check_nargs("yield_", nargs, 0) || !runtime_ready()) return nullptr;
    PyThreadState *ts = PyEval_SaveThread();
    int rc = lunatic_yield();
    PyEval_RestoreThread(ts);
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// ------------------------------------------------------------------ configs
// A lunatic_config lives in a PyCapsule (freed with it). Config calls never
// switch fibers: the GIL stays held.

constexpr const char *kConfigCapsule = "lunatic.config";

void config_capsule_free(PyObject *capsule) {
    lunatic_config_free(
        static_cast<lunatic_config *>(PyCapsule_GetPointer(capsule, kConfigCapsule)));
}

lunatic_config *config_from(PyObject *o) {
    auto *c = static_cast<lunatic_config *>(PyCapsule_GetPointer(o, kConfigCapsule));
    if (!c && !PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "not a lunatic config");
    return c;
}

// The fields of config_get / config_set, in the order of lunatic.h.
enum ConfigField : int {
    kMaxMemory = 0,
    kMaxFuel = 1,
    kCanSpawnProcesses = 2,
    kCanCreateConfigs = 3,
    kStackSize = 4,
    kGuardPage = 5,
};

// config_new() -> capsule (LUNATIC_EPERM without can_create_configs).
PyObject *py_config_new(PyObject *, PyObject *const *, Py_ssize_t nargs) {
    if (!check_nargs("config_new", nargs, 0) || !runtime_ready()) return nullptr;
    lunatic_config *c = nullptr;
    int rc = lunatic_config_new(&c);
    if (rc != LUNATIC_OK) return raise_status(rc);
    PyObject *capsule = PyCapsule_New(c, kConfigCapsule, config_capsule_free);
    if (!capsule) lunatic_config_free(c);
    return capsule;
}

// config_get(config, field) -> int
PyObject *py_config_get(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("config_get", nargs, 2)) return nullptr;
    lunatic_config *c = config_from(args[0]);
    if (!c) return nullptr;
    long field = PyLong_AsLong(args[1]);
    if (field == -1 && PyErr_Occurred()) return nullptr;
    int rc = LUNATIC_EINVAL;
    uint64_t u = 0;
    size_t size = 0;
    int flag = 0;
    switch (field) {
    case kMaxMemory:
        rc = lunatic_config_get_max_memory(c, &u);
        break;
    case kMaxFuel:
        rc = lunatic_config_get_max_fuel(c, &u);
        break;
    case kCanSpawnProcesses:
        rc = lunatic_config_get_can_spawn_processes(c, &flag);
        break;
    case kCanCreateConfigs:
        rc = lunatic_config_get_can_create_configs(c, &flag);
        break;
    case kStackSize:
        rc = lunatic_config_get_stack_size(c, &size);
        u = size;
        break;
    case kGuardPage:
        rc = lunatic_config_get_guard_page(c, &flag);
        break;
    default:
        PyErr_Format(PyExc_ValueError, "config_get: no field %ld", field);
        return nullptr;
    }
    if (rc != LUNATIC_OK) return raise_status(rc);
    if (field == kCanSpawnProcesses || field == kCanCreateConfigs || field == kGuardPage)
        return PyBool_FromLong(flag);
    return PyLong_FromUnsignedLongLong(u);
}

// config_set(config, field, value: int) -> None
PyObject *py_config_set(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("config_set", nargs, 3)) return nullptr;
    lunatic_config *c = config_from(args[0]);
    if (!c) return nullptr;
    long field = PyLong_AsLong(args[1]);
    if (field == -1 && PyErr_Occurred()) return nullptr;
    uint64_t v;
    if (!to_u64(args[2], &v)) return nullptr;
    int rc = LUNATIC_EINVAL;
    switch (field) {
    case kMaxMemory:
        rc = lunatic_config_set_max_memory(c, v);
        break;
    case kMaxFuel:
        rc = lunatic_config_set_max_fuel(c, v);
        break;
    case kCanSpawnProcesses:
        rc = lunatic_config_set_can_spawn_processes(c, v != 0);
        break;
    case kCanCreateConfigs:
        rc = lunatic_config_set_can_create_configs(c, v != 0);
        break;
    case kStackSize:
        if (v > SIZE_MAX) {
            PyErr_SetString(PyExc_OverflowError, "stack_size is too big");
            return nullptr;
        }
        rc = lunatic_config_set_stack_size(c, static_cast<size_t>(v));
        break;
    case kGuardPage:
        rc = lunatic_config_set_guard_page(c, v != 0);
        break;
    default:
        PyErr_Format(PyExc_ValueError, "config_set: no field %ld", field);
        return nullptr;
    }
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// The config argument of the spawns: None = the spawner's (inherited), else a config capsule.
bool parse_config(PyObject *o, lunatic_spawn_options *options) {
    if (o == Py_None) return true;
    lunatic_config *c = config_from(o);
    if (!c) return false;
    options->config = c;  // copied by the spawn; the capsule stays alive in args meanwhile
    return true;
}

// ------------------------------------------------------------------ blocking
// blocking(fn, args: tuple, kwargs: dict | None) runs fn(*args, **kwargs) on a
// helper thread of the runtime (lunatic_blocking) while the calling process
// waits with the GIL released. A helper thread is a plain OS thread that is
// no process: it gets one thread state of its own (made on its first call,
// kept for the next ones, deleted when the helper thread ends with the
// runtime), which is also that thread's GILState thread state, so C code in
// fn that calls PyGILState_Ensure works there. From an attached thread (the
// main thread), lunatic_blocking runs fn in place: it then takes the GIL
// back with the caller's own thread state. The Python worker never runs fn:
// a process waits in lunatic_blocking without the GIL.

struct BlockingCall {
    PyObject *fn;
    PyObject *args;
    PyObject *kwargs;             // may be NULL
    PyThreadState *caller;        // the caller's thread state (released)
    unsigned long caller_thread;  // the caller's OS thread
    PyObject *result = nullptr;
    PyObject *exc_type = nullptr, *exc_value = nullptr, *exc_tb = nullptr;
};

// The thread state of a helper thread; deleted when the thread ends (the runtime
// is destroyed with the GIL released, so the destructor can take it).
struct HelperThreadState {
    PyThreadState *ts = nullptr;
    ~HelperThreadState() {
        if (!ts || g_forked) return;
        PyEval_RestoreThread(ts);
        PyThreadState_Clear(ts);
        PyThreadState_DeleteCurrent();  // releases the GIL
    }
};
thread_local HelperThreadState t_helper;

int blocking_trampoline(void *arg) {
    auto *call = static_cast<BlockingCall *>(arg);
    PyThreadState *ts;
    if (PyThread_get_thread_ident() == call->caller_thread) {
        ts = call->caller;  // in place (an attached thread)
    } else {
        if (!t_helper.ts) t_helper.ts = PyThreadState_New(g_interp);  // needs no GIL
        ts = t_helper.ts;
        if (!ts) return -1;  // out of memory: the caller raises
    }
    PyEval_RestoreThread(ts);
    call->result = PyObject_Call(call->fn, call->args, call->kwargs);
    if (!call->result) PyErr_Fetch(&call->exc_type, &call->exc_value, &call->exc_tb);
    PyEval_SaveThread();
    return 0;
}

PyObject *py_blocking(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("blocking", nargs, 3) || !runtime_ready()) return nullptr;
    if (!PyCallable_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "blocking: fn is not callable");
        return nullptr;
    }
    if (!PyTuple_Check(args[1]) || (args[2] != Py_None && !PyDict_Check(args[2]))) {
        PyErr_SetString(PyExc_TypeError, "blocking(fn, args: tuple, kwargs: dict | None)");
        return nullptr;
    }
    // args stays alive (the caller's frame holds it) while the GIL is released.
    BlockingCall call{args[0], args[1], args[2] == Py_None ? nullptr : args[2], PyThreadState_Get(),
                      PyThread_get_thread_ident()};
    PyThreadState *ts = PyEval_SaveThread();
    int fn_rc = 0;
    int rc = lunatic_blocking(blocking_trampoline, &call, &fn_rc);
    PyEval_RestoreThread(ts);
    if (rc == LUNATIC_OK && !g_runtime) {
        // The runtime was stopped (the interpreter exits) while fn ran: every process has
        // been killed; this one unwinds now, as from any other runtime call.
        Py_XDECREF(call.result);
        Py_XDECREF(call.exc_type);
        Py_XDECREF(call.exc_value);
        Py_XDECREF(call.exc_tb);
        return raise_message(LUNATIC_EKILLED, "blocking: the runtime stopped while fn ran");
    }
    if (rc == LUNATIC_OK && fn_rc != 0)
        return raise_message(LUNATIC_ENOMEM, "blocking: cannot create a Python thread state");
    if (rc != LUNATIC_OK) {
        PyObject *result = raise_status(rc);
        Py_XDECREF(call.result);  // not expected: a failed lunatic_blocking runs nothing
        Py_XDECREF(call.exc_type);
        Py_XDECREF(call.exc_value);
        Py_XDECREF(call.exc_tb);
        return result;
    }
    if (!call.result) {
        if (!call.exc_type) {
            PyErr_SetString(PyExc_SystemError, "blocking: fn failed without an exception");
            return nullptr;
        }
        PyErr_Restore(call.exc_type, call.exc_value, call.exc_tb);  // steals the references
        return nullptr;
    }
    return call.result;
}

bool parse_stack(PyObject *o, size_t *out) {
    if (o == Py_None) {
        *out = g_stack_size;
        return true;
    }
    uint64_t v;
    if (!to_u64(o, &v)) return false;
    *out = static_cast<size_t>(v);
    return true;
}

// link_tag argument of the spawns: None = no link, an int = LUNATIC_SPAWN_LINK with that tag.
bool parse_link(PyObject *o, lunatic_spawn_options *options) {
    if (o == Py_None) return true;
    int64_t tag;
    if (!to_i64(o, &tag)) return false;
    options->flags |= LUNATIC_SPAWN_LINK;
    options->link_tag = tag;
    return true;
}

bool check_nargs_range(const char *name, Py_ssize_t nargs, Py_ssize_t low, Py_ssize_t high) {
    if (nargs >= low && nargs <= high) return true;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", name, low, high,
                 nargs);
    return false;
}

// spawn(target, arg, payload: bytes, stack_size: int | None, link_tag: int | None = None,
//       config: capsule | None = None) -> (node, id)
// Starts a Python process running target(payload, arg), pinned to the Python worker;
// with a link_tag, linked to the caller before it runs; with a config, limited by it
// (else it inherits the caller's).
PyObject *py_spawn(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs_range("spawn", nargs, 4, 6) || !runtime_ready()) return nullptr;
    PyObject *target = args[0], *arg = args[1];
    if (!PyCallable_Check(target)) {
        PyErr_SetString(PyExc_TypeError, "spawn: target is not callable");
        return nullptr;
    }
    char *data;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(args[2], &data, &len) < 0) return nullptr;
    size_t stack;
    if (!parse_stack(args[3], &stack)) return nullptr;
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    if (nargs >= 5 && !parse_link(args[4], &o)) return nullptr;
    if (nargs >= 6 && !parse_config(args[5], &o)) return nullptr;

    auto *s = new (std::nothrow) PySpawn{target, arg};
    if (!s) return PyErr_NoMemory();
    Py_INCREF(target);
    Py_INCREF(arg);
    o.stack_size = stack;
    o.worker = g_python_worker;
    o.user_free = python_user_free;
    lunatic_pid pid{0, 0};
    // The payload stays alive (args holds it) while the GIL is released.
    PyThreadState *ts = PyEval_SaveThread();
    int rc = lunatic_spawn(python_entry, data, static_cast<size_t>(len), s, &o, &pid);
    PyEval_RestoreThread(ts);
    // From here on, s may already be gone (the child can run and end on its worker).
    if (rc != LUNATIC_OK) {
        PyObject *result = raise_status(rc);
        Py_DECREF(target);  // a failed spawn never calls user_free
        Py_DECREF(arg);
        delete s;
        return result;
    }
    drain_graveyard();
    return Py_BuildValue("(KK)", static_cast<unsigned long long>(pid.node),
                         static_cast<unsigned long long>(pid.id));
}

// spawn_named(name: str, payload: bytes, worker: int, stack_size: int, link_tag: int | None = None,
//             config: capsule | None = None) -> (node, id)
PyObject *py_spawn_named(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs_range("spawn_named", nargs, 4, 6) || !runtime_ready()) return nullptr;
    const char *name = PyUnicode_AsUTF8(args[0]);
    if (!name) return nullptr;
    char *data;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(args[1], &data, &len) < 0) return nullptr;
    int64_t worker, stack;
    if (!to_i64(args[2], &worker) || !to_i64(args[3], &stack)) return nullptr;
    if (stack < 0) stack = 0;
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.worker = static_cast<int32_t>(worker);
    o.stack_size = static_cast<size_t>(stack);
    if (nargs >= 5 && !parse_link(args[4], &o)) return nullptr;
    if (nargs >= 6 && !parse_config(args[5], &o)) return nullptr;
    lunatic_pid pid{0, 0};
    std::string owned_name = name;  // the str stays alive too, but keep it simple
    PyThreadState *ts = PyEval_SaveThread();
    int rc = lunatic_spawn_named(owned_name.c_str(), data, static_cast<size_t>(len), &o, &pid);
    PyEval_RestoreThread(ts);
    if (rc != LUNATIC_OK) return raise_status(rc);
    return Py_BuildValue("(KK)", static_cast<unsigned long long>(pid.node),
                         static_cast<unsigned long long>(pid.id));
}

// send(node: int, id: int, tag: int, payload: bytes) -> bool (False: no such process)
PyObject *py_send(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("send", nargs, 4) || !runtime_ready()) return nullptr;
    lunatic_pid to;
    int64_t tag;
    if (!to_u64(args[0], &to.node) || !to_u64(args[1], &to.id) || !to_i64(args[2], &tag))
        return nullptr;
    char *data;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(args[3], &data, &len) < 0) return nullptr;
    // Never switches fibers: the GIL stays held.
    int rc = lunatic_send_bytes(to, tag, data, static_cast<size_t>(len));
    if (rc == LUNATIC_OK) Py_RETURN_TRUE;
    if (rc == LUNATIC_ENOPROC) Py_RETURN_FALSE;
    return raise_status(rc);
}

// self_pid() -> (node, id)
PyObject *py_self(PyObject *, PyObject *const *, Py_ssize_t nargs) {
    if (!check_nargs("self_pid", nargs, 0) || !runtime_ready()) return nullptr;
    lunatic_pid pid;
    int rc = lunatic_self(&pid);
    if (rc != LUNATIC_OK) return raise_status(rc);
    return Py_BuildValue("(KK)", static_cast<unsigned long long>(pid.node),
                         static_cast<unsigned long long>(pid.id));
}

// mailbox_size() -> int
PyObject *py_mailbox_size(PyObject *, PyObject *const *, Py_ssize_t nargs) {
    if (!check_nargs("mailbox_size", nargs, 0) || !runtime_ready()) return nullptr;
    size_t n = 0;
    int rc = lunatic_mailbox_size(&n);
    if (rc != LUNATIC_OK) return raise_status(rc);
    return PyLong_FromSize_t(n);
}

// process_alive(node, id) -> bool
PyObject *py_alive(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("process_alive", nargs, 2) || !runtime_ready()) return nullptr;
    lunatic_pid pid;
    if (!to_u64(args[0], &pid.node) || !to_u64(args[1], &pid.id)) return nullptr;
    lunatic_pid self;
    int rc = lunatic_self(&self);
    if (rc != LUNATIC_OK) return raise_status(rc);
    return PyBool_FromLong(lunatic_process_alive(pid));
}

// ------------------------------------------------ links, monitors, kill, registry, timers
// None of these switches fibers (a kill or a failed link only marks a process
// and makes it ready), so the GIL stays held.

bool to_pid(PyObject *node, PyObject *id, lunatic_pid *out) {
    return to_u64(node, &out->node) && to_u64(id, &out->id);
}

// link(node, id, tag) -> None. Linking to a process that is gone kills the caller
// (EKILLED -> Killed) unless it traps links (then a LINK_DIED noproc signal is queued).
PyObject *py_link(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("link", nargs, 3) || !runtime_ready()) return nullptr;
    lunatic_pid pid;
    int64_t tag;
    if (!to_pid(args[0], args[1], &pid) || !to_i64(args[2], &tag)) return nullptr;
    int rc = lunatic_link(pid, tag);
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// The calls taking just a pid and returning nothing.
template <int (*F)(lunatic_pid)>
PyObject *py_pid_call(const char *name, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs(name, nargs, 2) || !runtime_ready()) return nullptr;
    lunatic_pid pid;
    if (!to_pid(args[0], args[1], &pid)) return nullptr;
    int rc = F(pid);
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// unlink(node, id) / monitor(node, id) / demonitor(node, id) -> None
PyObject *py_unlink(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    return py_pid_call<lunatic_unlink>("unlink", args, nargs);
}
PyObject *py_monitor(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    return py_pid_call<lunatic_monitor>("monitor", args, nargs);
}
PyObject *py_demonitor(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    return py_pid_call<lunatic_demonitor>("demonitor", args, nargs);
}

// monitor_tag(node, id, tag) / demonitor_tag(node, id, tag) -> None: a monitor of its own,
// whose ProcessDied carries tag (request/reply watches its server with the reply tag).
template <int (*F)(lunatic_pid, lunatic_tag)>
PyObject *py_pid_tag_call(const char *name, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs(name, nargs, 3) || !runtime_ready()) return nullptr;
    lunatic_pid pid;
    int64_t tag;
    if (!to_pid(args[0], args[1], &pid) || !to_i64(args[2], &tag)) return nullptr;
    int rc = F(pid, tag);
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}
PyObject *py_monitor_tag(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    return py_pid_tag_call<lunatic_monitor_tag>("monitor_tag", args, nargs);
}
PyObject *py_demonitor_tag(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    return py_pid_tag_call<lunatic_demonitor_tag>("demonitor_tag", args, nargs);
}

// tag_discard(tag) -> None: frees what is queued with tag and data messages with it arriving later.
PyObject *py_tag_discard(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("tag_discard", nargs, 1) || !runtime_ready()) return nullptr;
    int64_t tag;
    if (!to_i64(args[0], &tag)) return nullptr;
    int rc = lunatic_tag_discard(tag);
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// trap_links(enable: bool) -> None
PyObject *py_trap_links(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("trap_links", nargs, 1) || !runtime_ready()) return nullptr;
    int enable = PyObject_IsTrue(args[0]);
    if (enable < 0) return nullptr;
    int rc = lunatic_trap_links(enable);
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// kill(node, id) -> bool (False: no such process)
PyObject *py_kill(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("kill", nargs, 2) || !runtime_ready()) return nullptr;
    lunatic_pid pid;
    if (!to_pid(args[0], args[1], &pid)) return nullptr;
    int rc = lunatic_kill(pid);
    if (rc == LUNATIC_OK) Py_RETURN_TRUE;
    if (rc == LUNATIC_ENOPROC) Py_RETURN_FALSE;
    return raise_status(rc);
}

// A str argument as UTF-8 without NUL bytes (names and types are C strings).
const char *c_string(PyObject *o, const char *what) {
    Py_ssize_t len;
    const char *text = PyUnicode_AsUTF8AndSize(o, &len);
    if (!text) return nullptr;
    if (std::strlen(text) != static_cast<size_t>(len)) {
        PyErr_Format(PyExc_ValueError, "%s must not contain NUL characters", what);
        return nullptr;
    }
    return text;
}

// register(name: str, type: str, node, id) -> None (EEXIST when the name is taken)
PyObject *py_register(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("register", nargs, 4) || !runtime_ready()) return nullptr;
    const char *name = c_string(args[0], "a name");
    if (!name) return nullptr;
    const char *type = c_string(args[1], "a type");
    if (!type) return nullptr;
    lunatic_pid pid;
    if (!to_pid(args[2], args[3], &pid)) return nullptr;
    int rc = lunatic_register(name, type, pid);
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// unregister(name: str, type: str) -> bool (False: nothing was registered so)
PyObject *py_unregister(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("unregister", nargs, 2) || !runtime_ready()) return nullptr;
    const char *name = c_string(args[0], "a name");
    if (!name) return nullptr;
    const char *type = c_string(args[1], "a type");
    if (!type) return nullptr;
    int rc = lunatic_unregister(name, type);
    if (rc == LUNATIC_OK) Py_RETURN_TRUE;
    if (rc == LUNATIC_ENOTFOUND) Py_RETURN_FALSE;
    return raise_status(rc);
}

// lookup(name: str, type: str) -> (node, id) | None
PyObject *py_lookup(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("lookup", nargs, 2) || !runtime_ready()) return nullptr;
    const char *name = c_string(args[0], "a name");
    if (!name) return nullptr;
    const char *type = c_string(args[1], "a type");
    if (!type) return nullptr;
    lunatic_pid pid{0, 0};
    int rc = lunatic_lookup(name, type, &pid);
    if (rc == LUNATIC_ENOTFOUND) Py_RETURN_NONE;
    if (rc != LUNATIC_OK) return raise_status(rc);
    return Py_BuildValue("(KK)", static_cast<unsigned long long>(pid.node),
                         static_cast<unsigned long long>(pid.id));
}

// send_after(node, id, tag, payload: bytes, delay_ns) -> (timer_node, timer_id)
PyObject *py_send_after(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("send_after", nargs, 5) || !runtime_ready()) return nullptr;
    lunatic_pid to;
    int64_t tag, delay;
    if (!to_pid(args[0], args[1], &to) || !to_i64(args[2], &tag) || !to_i64(args[4], &delay))
        return nullptr;
    char *data;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(args[3], &data, &len) < 0) return nullptr;
    lunatic_message *m = nullptr;
    int rc = lunatic_message_new(tag, static_cast<size_t>(len), &m);
    if (rc == LUNATIC_OK) rc = lunatic_message_append(m, data, static_cast<size_t>(len));
    if (rc != LUNATIC_OK) {
        lunatic_message_free(m);
        return raise_status(rc);
    }
    lunatic_timer timer{0, 0};
    rc = lunatic_send_after(to, m, delay, &timer);
    if (rc != LUNATIC_OK) {
        PyObject *result = raise_status(rc);  // reads lunatic_errmsg() before the free
        lunatic_message_free(m);              // a failed send_after leaves the message to us
        return result;
    }
    return Py_BuildValue("(KK)", static_cast<unsigned long long>(timer.node),
                         static_cast<unsigned long long>(timer.id));
}

// timer_cancel(node, id) -> bool: True if the timer had not fired yet.
PyObject *py_timer_cancel(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("timer_cancel", nargs, 2) || !runtime_ready()) return nullptr;
    lunatic_timer timer;
    if (!to_u64(args[0], &timer.node) || !to_u64(args[1], &timer.id)) return nullptr;
    int cancelled = 0;
    int rc = lunatic_timer_cancel(timer, &cancelled);
    if (rc != LUNATIC_OK) return raise_status(rc);
    return PyBool_FromLong(cancelled);
}

// attach() -> (node, id): makes the calling (non-process) thread a process.
PyObject *py_attach(PyObject *, PyObject *const *, Py_ssize_t nargs) {
    if (!check_nargs("attach", nargs, 0) || !runtime_ready()) return nullptr;
    lunatic_pid pid;
    int rc = lunatic_runtime_attach(g_runtime, &pid);
    if (rc != LUNATIC_OK) return raise_status(rc);
    return Py_BuildValue("(KK)", static_cast<unsigned long long>(pid.node),
                         static_cast<unsigned long long>(pid.id));
}

// detach() -> None
PyObject *py_detach(PyObject *, PyObject *const *, Py_ssize_t nargs) {
    if (!check_nargs("detach", nargs, 0)) return nullptr;
    if (g_forked) Py_RETURN_NONE;
    int rc = lunatic_detach();
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// fail(message: str) -> None: sets the calling process's failure message.
PyObject *py_fail(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("fail", nargs, 1) || !runtime_ready()) return nullptr;
    const char *message = PyUnicode_AsUTF8(args[0]);
    if (!message) return nullptr;
    int rc = lunatic_fail(message);
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// start(workers: int, main_thread_ident: int, stack_size: int) -> (node_id, pid_node, pid_id)
// Creates the runtime and attaches the calling thread.
PyObject *py_start(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("start", nargs, 3)) return nullptr;
    if (g_runtime) return raise_message(LUNATIC_EEXIST, "the lunatic runtime is already running");
    if (g_forked) return raise_message(LUNATIC_ESTATE, "lunatic cannot start in a forked child");
    uint64_t workers, main_ident, stack;
    if (!to_u64(args[0], &workers) || !to_u64(args[1], &main_ident) || !to_u64(args[2], &stack))
        return nullptr;
    lunatic_runtime_options o;
    lunatic_runtime_options_init(&o);
    o.workers = static_cast<uint32_t>(workers);
    lunatic_runtime *rt = nullptr;
    int rc = lunatic_runtime_create(&o, &rt);
    if (rc != LUNATIC_OK) return raise_status(rc);
    lunatic_pid pid;
    rc = lunatic_runtime_attach(rt, &pid);
    if (rc != LUNATIC_OK) {
        PyObject *result = raise_status(rc);
        Py_BEGIN_ALLOW_THREADS lunatic_runtime_destroy(rt);
        Py_END_ALLOW_THREADS return result;
    }
    g_runtime = rt;
    g_interp = PyThreadState_GetInterpreter(PyThreadState_Get());
    g_python_worker = static_cast<int32_t>(lunatic_runtime_workers(rt)) - 1;
    g_main_thread = static_cast<unsigned long>(main_ident);
    if (stack) g_stack_size = static_cast<size_t>(stack);
    return Py_BuildValue("(KKK)", static_cast<unsigned long long>(lunatic_runtime_node_id(rt)),
                         static_cast<unsigned long long>(pid.node),
                         static_cast<unsigned long long>(pid.id));
}

// shutdown() -> None: kills every process, waits for them, stops the runtime.
PyObject *py_shutdown(PyObject *, PyObject *const *, Py_ssize_t nargs) {
    if (!check_nargs("shutdown", nargs, 0)) return nullptr;
    if (g_forked || !g_runtime) Py_RETURN_NONE;
    lunatic_runtime *rt = g_runtime;
    g_runtime = nullptr;  // from now on every call raises a clear error
    int rc;
    // Python processes need the GIL to unwind: release it while they do.
    Py_BEGIN_ALLOW_THREADS rc = lunatic_runtime_destroy(rt);
    Py_END_ALLOW_THREADS drain_graveyard();
    if (rc == LUNATIC_OK) free_thread_state_pool();  // no process can run any more
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

// after_fork_child() -> None: the runtime's threads do not exist in a forked child.
PyObject *py_after_fork_child(PyObject *, PyObject *const *, Py_ssize_t) {
    if (g_runtime) g_forked = true;
    // Never destroyed here: its workers live only in the parent, and a lock one
    // of them held at the fork stays locked in this copy. The graveyard (its
    // mutex included) is left alone for the same reason: a few references leak.
    g_runtime = nullptr;
    Py_RETURN_NONE;
}

// set_errors(classes: dict[int, type], base: type) -> None
PyObject *py_set_errors(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("set_errors", nargs, 2)) return nullptr;
    if (!PyDict_Check(args[0]) || !PyType_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "set_errors(dict, type)");
        return nullptr;
    }
    Py_INCREF(args[0]);
    Py_INCREF(args[1]);
    Py_XSETREF(g_error_classes, args[0]);
    Py_XSETREF(g_error_base, args[1]);
    Py_RETURN_NONE;
}

PyObject *py_runtime_info(PyObject *, PyObject *const *, Py_ssize_t nargs) {
    if (!check_nargs("runtime_info", nargs, 0)) return nullptr;
    if (!g_runtime) return PyDict_New();
    return Py_BuildValue(
        "{s:K,s:I,s:K,s:i,s:n}", "node_id",
        static_cast<unsigned long long>(lunatic_runtime_node_id(g_runtime)), "workers",
        static_cast<unsigned>(lunatic_runtime_workers(g_runtime)), "process_count",
        static_cast<unsigned long long>(lunatic_runtime_process_count(g_runtime)), "python_worker",
        static_cast<int>(g_python_worker), "stack_size", static_cast<Py_ssize_t>(g_stack_size));
}

// json_double(x: float) -> str | None: x as lunatic::Json (nlohmann_json) writes it;
// None when the module was built without nlohmann_json.
PyObject *py_json_double(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("json_double", nargs, 1)) return nullptr;
    double v = PyFloat_AsDouble(args[0]);
    if (v == -1.0 && PyErr_Occurred()) return nullptr;
#ifdef LUNATIC_PY_HAVE_NLOHMANN_JSON
    std::string text = nlohmann::json(v).dump();
    return PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
#else
    Py_RETURN_NONE;
#endif
}

// ------------------------------------------------------------------ nodes

// A u32 argument (milliseconds, bytes): OverflowError above 2**32-1.
bool to_u32(PyObject *o, uint32_t *out, const char *what) {
    uint64_t v;
    if (!to_u64(o, &v)) return false;
    if (v > UINT32_MAX) {
        PyErr_Format(PyExc_OverflowError, "%s is too big (at most 2**32-1)", what);
        return false;
    }
    *out = static_cast<uint32_t>(v);
    return true;
}

// node_start(name, cookie, host, port, max_frame_bytes, heartbeat_ms, peer_timeout_ms,
//            reconnect_max_ms, attributes: list[str]) -> port
PyObject *py_node_start(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("node_start", nargs, 9) || !runtime_ready()) return nullptr;
    const char *name = c_string(args[0], "a node name");
    if (!name) return nullptr;
    const char *cookie = c_string(args[1], "a cookie");
    if (!cookie) return nullptr;
    const char *host = c_string(args[2], "a host");
    if (!host) return nullptr;
    uint64_t port;
    if (!to_u64(args[3], &port)) return nullptr;
    if (port > 65535) {
        PyErr_SetString(PyExc_ValueError, "a port is between 0 and 65535");
        return nullptr;
    }
    lunatic_node_options o;
    lunatic_node_options_init(&o);
    if (!to_u32(args[4], &o.max_frame_bytes, "max_frame_bytes") ||
        !to_u32(args[5], &o.heartbeat_ms, "heartbeat") ||
        !to_u32(args[6], &o.peer_timeout_ms, "peer_timeout") ||
        !to_u32(args[7], &o.reconnect_max_ms, "reconnect_max"))
        return nullptr;
    PyObject *seq = PySequence_Fast(args[8], "attributes must be a sequence of str");
    if (!seq) return nullptr;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    std::vector<std::string> owned;  // the C strings outlive the str objects' UTF-8 caches
    std::vector<const char *> attributes;
    owned.reserve(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
        const char *a = c_string(PySequence_Fast_GET_ITEM(seq, i), "an attribute");
        if (!a) {
            Py_DECREF(seq);
            return nullptr;
        }
        owned.emplace_back(a);
    }
    Py_DECREF(seq);
    for (const std::string &a : owned) attributes.push_back(a.c_str());
    std::string owned_name = name, owned_cookie = cookie, owned_host = host;
    o.name = owned_name.c_str();
    o.cookie = owned_cookie.c_str();
    o.listen_host = owned_host.c_str();
    o.listen_port = static_cast<uint16_t>(port);
    o.attributes = attributes.empty() ? nullptr : attributes.data();
    o.attribute_count = attributes.size();
    uint16_t out_port = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = lunatic_node_start(g_runtime, &o, &out_port);
    Py_END_ALLOW_THREADS if (rc != LUNATIC_OK) return raise_status(rc);
    return PyLong_FromLong(out_port);
}

// node_connect(host, port, timeout_ns) -> node id. Blocks the calling OS thread
// (with the GIL released); the package calls it through blocking() from a process.
PyObject *py_node_connect(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("node_connect", nargs, 3) || !runtime_ready()) return nullptr;
    const char *host = c_string(args[0], "a host");
    if (!host) return nullptr;
    uint64_t port;
    int64_t timeout;
    if (!to_u64(args[1], &port) || !to_i64(args[2], &timeout)) return nullptr;
    if (port == 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "a port is between 1 and 65535");
        return nullptr;
    }
    if (timeout < 0) timeout = LUNATIC_INFINITE;
    std::string owned_host = host;
    lunatic_runtime *rt = g_runtime;
    uint64_t id = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc =
        lunatic_node_connect(rt, owned_host.c_str(), static_cast<uint16_t>(port), timeout, &id);
    Py_END_ALLOW_THREADS if (rc != LUNATIC_OK) return raise_status(rc);
    return PyLong_FromUnsignedLongLong(id);
}

// The attributes of a connected node as a list of "key=value" str; NULL with an
// exception set on error; *gone is set (and no exception) when the node was lost meanwhile.
PyObject *node_attributes(uint64_t node, bool *gone) {
    std::vector<char> buf(256);
    size_t need = 0;
    *gone = false;
    for (;;) {
        int rc = lunatic_node_attributes(g_runtime, node, buf.data(), buf.size(), &need);
        if (rc == LUNATIC_ENONODE) {
            *gone = true;
            return nullptr;
        }
        if (rc != LUNATIC_OK) return raise_status(rc);
        if (need <= buf.size()) break;
        buf.resize(need);
    }
    PyObject *list = PyList_New(0);
    if (!list) return nullptr;
    size_t at = 0;
    while (at < need) {
        size_t len = strnlen(buf.data() + at, need - at);
        PyObject *item =
            PyUnicode_DecodeUTF8(buf.data() + at, static_cast<Py_ssize_t>(len), "replace");
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return nullptr;
        }
        Py_DECREF(item);
        at += len + 1;
    }
    return list;
}

// nodes() -> list of (id, name, address, attributes: list[str]), sorted by name.
PyObject *py_nodes(PyObject *, PyObject *const *, Py_ssize_t nargs) {
    if (!check_nargs("nodes", nargs, 0) || !runtime_ready()) return nullptr;
    std::vector<lunatic_node_info> infos(8);
    size_t count = 0;
    for (;;) {
        int rc = lunatic_nodes(g_runtime, infos.data(), infos.size(), &count);
        if (rc == LUNATIC_ESTATE) return PyList_New(0);  // not a node: connected to none
        if (rc != LUNATIC_OK) return raise_status(rc);
        if (count <= infos.size()) break;
        infos.resize(count);
    }
    PyObject *list = PyList_New(0);
    if (!list) return nullptr;
    for (size_t i = 0; i < count; ++i) {
        const lunatic_node_info &info = infos[i];
        bool gone = false;
        PyObject *attributes = node_attributes(info.id, &gone);
        if (gone) continue;  // lost since lunatic_nodes: no longer connected, leave it out
        if (!attributes) {
            Py_DECREF(list);
            return nullptr;
        }
        PyObject *item =
            Py_BuildValue("(Ks#s#N)", static_cast<unsigned long long>(info.id), info.name,
                          static_cast<Py_ssize_t>(strnlen(info.name, 256)), info.address,
                          static_cast<Py_ssize_t>(strnlen(info.address, 128)), attributes);
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return nullptr;
        }
        Py_DECREF(item);
    }
    return list;
}

// lookup_nodes(query: str) -> list[int] (node ids)
PyObject *py_lookup_nodes(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("lookup_nodes", nargs, 1) || !runtime_ready()) return nullptr;
    const char *query = c_string(args[0], "a query");
    if (!query) return nullptr;
    std::vector<uint64_t> ids(8);
    size_t count = 0;
    for (;;) {
        int rc = lunatic_lookup_nodes(g_runtime, query, ids.data(), ids.size(), &count);
        if (rc == LUNATIC_ESTATE) return PyList_New(0);  // not a node: connected to none
        if (rc != LUNATIC_OK) return raise_status(rc);
        if (count <= ids.size()) break;
        ids.resize(count);
    }
    PyObject *list = PyList_New(static_cast<Py_ssize_t>(count));
    if (!list) return nullptr;
    for (size_t i = 0; i < count; ++i) {
        PyObject *id = PyLong_FromUnsignedLongLong(ids[i]);
        if (!id) {
            Py_DECREF(list);
            return nullptr;
        }
        PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), id);
    }
    return list;
}

// spawn_node(node, entry_name, capture: bytes, config: capsule | None) -> (node, id)
// lunatic_spawn_node without a link (the package links itself, see lunatic/_node.py).
// Waits for the other node's answer, switching fibers: the GIL is released.
PyObject *py_spawn_node(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("spawn_node", nargs, 4) || !runtime_ready()) return nullptr;
    uint64_t node;
    if (!to_u64(args[0], &node)) return nullptr;
    const char *entry = c_string(args[1], "an entry name");
    if (!entry) return nullptr;
    char *data;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(args[2], &data, &len) < 0) return nullptr;
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    if (!parse_config(args[3], &o)) return nullptr;
    std::string owned_entry = entry;
    lunatic_pid pid{0, 0};
    // args (payload, config capsule) stay alive in the caller's frame meanwhile.
    PyThreadState *ts = PyEval_SaveThread();
    int rc =
        lunatic_spawn_node(node, owned_entry.c_str(), data, static_cast<size_t>(len), &o, &pid);
    PyEval_RestoreThread(ts);
    if (rc != LUNATIC_OK) return raise_status(rc);
    return Py_BuildValue("(KK)", static_cast<unsigned long long>(pid.node),
                         static_cast<unsigned long long>(pid.id));
}

// lookup_node(node, name, type) -> (node, id) | None. Waits for the other node's answer.
PyObject *py_lookup_node(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("lookup_node", nargs, 3) || !runtime_ready()) return nullptr;
    uint64_t node;
    if (!to_u64(args[0], &node)) return nullptr;
    const char *name = c_string(args[1], "a name");
    if (!name) return nullptr;
    const char *type = c_string(args[2], "a type");
    if (!type) return nullptr;
    std::string owned_name = name, owned_type = type;
    lunatic_pid pid{0, 0};
    PyThreadState *ts = PyEval_SaveThread();
    int rc = lunatic_lookup_node(node, owned_name.c_str(), owned_type.c_str(), &pid);
    PyEval_RestoreThread(ts);
    if (rc == LUNATIC_ENOTFOUND) Py_RETURN_NONE;
    if (rc != LUNATIC_OK) return raise_status(rc);
    return Py_BuildValue("(KK)", static_cast<unsigned long long>(pid.node),
                         static_cast<unsigned long long>(pid.id));
}

// set_node_bootstrap(fn) -> None: fn(payload, None) runs Python functions other nodes
// spawn here; registers the C entry "lunatic.python" (once per OS process).
PyObject *py_set_node_bootstrap(PyObject *, PyObject *const *args, Py_ssize_t nargs) {
    if (!check_nargs("set_node_bootstrap", nargs, 1) || !runtime_ready()) return nullptr;
    if (!PyCallable_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "set_node_bootstrap: fn is not callable");
        return nullptr;
    }
    Py_INCREF(args[0]);
    Py_XSETREF(g_node_bootstrap, args[0]);
    int rc = lunatic_entry_register(kNodeEntryName, python_node_entry);
    if (rc != LUNATIC_OK) return raise_status(rc);
    Py_RETURN_NONE;
}

#define LUNATIC_FASTCALL(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f))

PyMethodDef g_methods[] = {
    {"receive", LUNATIC_FASTCALL(py_receive), METH_FASTCALL,
     "receive(tags, timeout_ns, mask=RECEIVE_DATA) -> (payload, tag, kind, node, id, reason) | "
     "None\n\n"
     "Takes the oldest message (whose tag is in tags, unless tags is None) or signal (as mask "
     "asks; signals first); waits up to timeout_ns (-1 forever, 0 polls). Releases the GIL "
     "while it waits."},
    {"sleep", LUNATIC_FASTCALL(py_sleep), METH_FASTCALL,
     "sleep(duration_ns) -> None\n\nSuspends the calling process. Releases the GIL."},
    {"yield_", LUNATIC_FASTCALL(py_yield), METH_FASTCALL,
     "yield_() -> None\n\nLets the other processes of this worker run. Releases the GIL."},
    {"spawn", LUNATIC_FASTCALL(py_spawn), METH_FASTCALL,
     "spawn(target, arg, payload, stack_size, link_tag=None, config=None) -> (node, id)\n\n"
     "Starts a Python process running target(payload, arg) on the Python worker; with a "
     "link_tag, linked to the caller before it runs; with a config, limited by it."},
    {"spawn_named", LUNATIC_FASTCALL(py_spawn_named), METH_FASTCALL,
     "spawn_named(name, payload, worker, stack_size, link_tag=None, config=None) -> (node, id)\n\n"
     "Starts the entry registered under name (lunatic_entry_register) with payload as capture."},
    {"config_new", LUNATIC_FASTCALL(py_config_new), METH_FASTCALL,
     "config_new() -> config\n\nA new lunatic_config (granting nothing) in a capsule."},
    {"config_get", LUNATIC_FASTCALL(py_config_get), METH_FASTCALL,
     "config_get(config, field) -> int | bool\n\nfield: CONFIG_* constant."},
    {"config_set", LUNATIC_FASTCALL(py_config_set), METH_FASTCALL,
     "config_set(config, field, value) -> None\n\nfield: CONFIG_* constant."},
    {"blocking", LUNATIC_FASTCALL(py_blocking), METH_FASTCALL,
     "blocking(fn, args, kwargs) -> fn(*args, **kwargs)\n\n"
     "Runs fn on a helper thread of the runtime (lunatic_blocking) while the calling process "
     "waits with the GIL released; returns its result or raises its exception."},
    {"link", LUNATIC_FASTCALL(py_link), METH_FASTCALL, "link(node, id, tag) -> None"},
    {"unlink", LUNATIC_FASTCALL(py_unlink), METH_FASTCALL, "unlink(node, id) -> None"},
    {"trap_links", LUNATIC_FASTCALL(py_trap_links), METH_FASTCALL, "trap_links(enable) -> None"},
    {"monitor", LUNATIC_FASTCALL(py_monitor), METH_FASTCALL, "monitor(node, id) -> None"},
    {"demonitor", LUNATIC_FASTCALL(py_demonitor), METH_FASTCALL, "demonitor(node, id) -> None"},
    {"monitor_tag", LUNATIC_FASTCALL(py_monitor_tag), METH_FASTCALL,
     "monitor_tag(node, id, tag) -> None\n\nA monitor of its own whose ProcessDied carries tag."},
    {"demonitor_tag", LUNATIC_FASTCALL(py_demonitor_tag), METH_FASTCALL,
     "demonitor_tag(node, id, tag) -> None"},
    {"tag_discard", LUNATIC_FASTCALL(py_tag_discard), METH_FASTCALL,
     "tag_discard(tag) -> None\n\nFrees the queued messages and signals with tag, and data "
     "messages with tag that arrive later."},
    {"kill", LUNATIC_FASTCALL(py_kill), METH_FASTCALL,
     "kill(node, id) -> bool\n\nFalse when the process does not exist."},
    {"register", LUNATIC_FASTCALL(py_register), METH_FASTCALL,
     "register(name, type, node, id) -> None\n\nLUNATIC_EEXIST when the name is taken."},
    {"unregister", LUNATIC_FASTCALL(py_unregister), METH_FASTCALL,
     "unregister(name, type) -> bool\n\nFalse when nothing was registered as name with type."},
    {"lookup", LUNATIC_FASTCALL(py_lookup), METH_FASTCALL,
     "lookup(name, type) -> (node, id) | None"},
    {"send_after", LUNATIC_FASTCALL(py_send_after), METH_FASTCALL,
     "send_after(node, id, tag, payload, delay_ns) -> (timer_node, timer_id)"},
    {"timer_cancel", LUNATIC_FASTCALL(py_timer_cancel), METH_FASTCALL,
     "timer_cancel(node, id) -> bool\n\nTrue when the timer had not fired yet."},
    {"send", LUNATIC_FASTCALL(py_send), METH_FASTCALL,
     "send(node, id, tag, payload) -> bool\n\nFalse when the process does not exist."},
    {"self_pid", LUNATIC_FASTCALL(py_self), METH_FASTCALL, "self_pid() -> (node, id)"},
    {"mailbox_size", LUNATIC_FASTCALL(py_mailbox_size), METH_FASTCALL,
     "mailbox_size() -> int: messages waiting in the calling process's mailbox."},
    {"process_alive", LUNATIC_FASTCALL(py_alive), METH_FASTCALL, "process_alive(node, id) -> bool"},
    {"attach", LUNATIC_FASTCALL(py_attach), METH_FASTCALL,
     "attach() -> (node, id): makes the calling thread a process."},
    {"detach", LUNATIC_FASTCALL(py_detach), METH_FASTCALL, "detach() -> None"},
    {"fail", LUNATIC_FASTCALL(py_fail), METH_FASTCALL,
     "fail(message) -> None: the failure message of the calling process."},
    {"start", LUNATIC_FASTCALL(py_start), METH_FASTCALL,
     "start(workers, main_thread_ident, stack_size) -> (node_id, pid_node, pid_id)"},
    {"shutdown", LUNATIC_FASTCALL(py_shutdown), METH_FASTCALL,
     "shutdown() -> None: kills every process and stops the runtime (GIL released)."},
    {"after_fork_child", LUNATIC_FASTCALL(py_after_fork_child), METH_FASTCALL,
     "after_fork_child() -> None: marks the runtime unusable in a forked child."},
    {"set_errors", LUNATIC_FASTCALL(py_set_errors), METH_FASTCALL,
     "set_errors(classes, base) -> None: exception classes by status code."},
    {"runtime_info", LUNATIC_FASTCALL(py_runtime_info), METH_FASTCALL,
     "runtime_info() -> dict: node_id, workers, process_count, python_worker, stack_size."},
    {"json_double", LUNATIC_FASTCALL(py_json_double), METH_FASTCALL,
     "json_double(x) -> str | None: x written as the C++ Json serializer writes doubles."},
    {"node_start", LUNATIC_FASTCALL(py_node_start), METH_FASTCALL,
     "node_start(name, cookie, host, port, max_frame_bytes, heartbeat_ms, peer_timeout_ms, "
     "reconnect_max_ms, attributes) -> port\n\nMakes the runtime a node (lunatic_node_start)."},
    {"node_connect", LUNATIC_FASTCALL(py_node_connect), METH_FASTCALL,
     "node_connect(host, port, timeout_ns) -> node id\n\nBlocks the calling OS thread with the "
     "GIL released (lunatic_node_connect)."},
    {"nodes", LUNATIC_FASTCALL(py_nodes), METH_FASTCALL,
     "nodes() -> [(id, name, address, attributes)]: the connected nodes, sorted by name."},
    {"lookup_nodes", LUNATIC_FASTCALL(py_lookup_nodes), METH_FASTCALL,
     "lookup_nodes(query) -> [id]: connected nodes whose attributes match query."},
    {"spawn_node", LUNATIC_FASTCALL(py_spawn_node), METH_FASTCALL,
     "spawn_node(node, entry_name, capture, config) -> (node, id)\n\nlunatic_spawn_node "
     "(no link); waits for the other node's answer with the GIL released."},
    {"lookup_node", LUNATIC_FASTCALL(py_lookup_node), METH_FASTCALL,
     "lookup_node(node, name, type) -> (node, id) | None\n\nlunatic_lookup_node."},
    {"set_node_bootstrap", LUNATIC_FASTCALL(py_set_node_bootstrap), METH_FASTCALL,
     "set_node_bootstrap(fn) -> None: registers the entry 'lunatic.python' running fn(payload, "
     "None) in a Python process for spawns from other nodes."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

PYBIND11_MODULE(_lunatic, m) {
    m.doc() = "Low-level binding of liblunatic's C ABI; use the `lunatic` package instead.";
    if (PyModule_AddFunctions(m.ptr(), g_methods) < 0) throw py::error_already_set();

    // Calls that never switch fibers can go through pybind11.
    m.def(
        "tag_new", [] { return static_cast<int64_t>(lunatic_tag_new()); },
        "A fresh tag, unique in this OS process.");
    m.def(
        "version", [] { return std::string(lunatic_version_string()); },
        "Version of the loaded liblunatic.");
    m.def(
        "strerror", [](int code) { return std::string(lunatic_strerror(code)); },
        "The description of a status code.");

    m.attr("OK") = LUNATIC_OK;
    m.attr("EINVAL") = LUNATIC_EINVAL;
    m.attr("ENOPROC") = LUNATIC_ENOPROC;
    m.attr("ETIMEDOUT") = LUNATIC_ETIMEDOUT;
    m.attr("EKILLED") = LUNATIC_EKILLED;
    m.attr("EPERM") = LUNATIC_EPERM;
    m.attr("ENOMEM") = LUNATIC_ENOMEM;
    m.attr("EEXIST") = LUNATIC_EEXIST;
    m.attr("ENOTFOUND") = LUNATIC_ENOTFOUND;
    m.attr("EDECODE") = LUNATIC_EDECODE;
    m.attr("ENONODE") = LUNATIC_ENONODE;
    m.attr("ESTATE") = LUNATIC_ESTATE;
    m.attr("ENOTSUP") = LUNATIC_ENOTSUP;
    m.attr("EINTERNAL") = LUNATIC_EINTERNAL;
    m.attr("WORKER_ANY") = LUNATIC_WORKER_ANY;
    m.attr("NODE_ENTRY") = kNodeEntryName;
    m.attr("MESSAGE_DATA") = static_cast<int>(LUNATIC_MESSAGE_DATA);
    m.attr("MESSAGE_LINK_DIED") = static_cast<int>(LUNATIC_MESSAGE_LINK_DIED);
    m.attr("MESSAGE_PROCESS_DIED") = static_cast<int>(LUNATIC_MESSAGE_PROCESS_DIED);
    m.attr("INFINITE") = static_cast<int64_t>(LUNATIC_INFINITE);
    m.attr("RECEIVE_DATA") = LUNATIC_RECEIVE_DATA;
    m.attr("RECEIVE_LINK_DIED") = LUNATIC_RECEIVE_LINK_DIED;
    m.attr("RECEIVE_PROCESS_DIED") = LUNATIC_RECEIVE_PROCESS_DIED;
    m.attr("RECEIVE_SIGNALS") = LUNATIC_RECEIVE_SIGNALS;
    m.attr("RECEIVE_ALL") = LUNATIC_RECEIVE_ALL;
    m.attr("RECEIVE_SIGNAL_TAGS") = LUNATIC_RECEIVE_SIGNAL_TAGS;
    m.attr("EXIT_NORMAL") = static_cast<int>(LUNATIC_EXIT_NORMAL);
    m.attr("EXIT_FAILED") = static_cast<int>(LUNATIC_EXIT_FAILED);
    m.attr("EXIT_KILLED") = static_cast<int>(LUNATIC_EXIT_KILLED);
    m.attr("EXIT_NOPROC") = static_cast<int>(LUNATIC_EXIT_NOPROC);
    m.attr("EXIT_NOCONNECTION") = static_cast<int>(LUNATIC_EXIT_NOCONNECTION);
    m.attr("EXIT_MEMORY_LIMIT") = static_cast<int>(LUNATIC_EXIT_MEMORY_LIMIT);
    m.attr("EXIT_FUEL_EXHAUSTED") = static_cast<int>(LUNATIC_EXIT_FUEL_EXHAUSTED);
    m.attr("DEFAULT_STACK_SIZE") = g_stack_size;
    m.attr("CONFIG_MAX_MEMORY") = static_cast<int>(kMaxMemory);
    m.attr("CONFIG_MAX_FUEL") = static_cast<int>(kMaxFuel);
    m.attr("CONFIG_CAN_SPAWN_PROCESSES") = static_cast<int>(kCanSpawnProcesses);
    m.attr("CONFIG_CAN_CREATE_CONFIGS") = static_cast<int>(kCanCreateConfigs);
    m.attr("CONFIG_STACK_SIZE") = static_cast<int>(kStackSize);
    m.attr("CONFIG_GUARD_PAGE") = static_cast<int>(kGuardPage);
}
