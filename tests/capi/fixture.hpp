// Shared helpers for the C ABI tests. Uses include/lunatic/lunatic.h only.
//
// Rules the tests follow:
//  - every receive in the test thread has a finite timeout (kTimeout), so a
//    bug fails a test instead of hanging it;
//  - code running inside lunatic processes never uses doctest macros (a
//    REQUIRE throws, and a process entry must not throw): entries report
//    what they saw through messages or through atomics in a `user` struct,
//    and the test thread checks it;
//  - each test case creates its runtime(s) and destroys them before it ends.
#pragma once

#include <lunatic/lunatic.h>

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// Pid comparison at global scope, so doctest's CHECK(a == b) finds it by ADL.
inline bool operator==(const lunatic_pid &a, const lunatic_pid &b) {
    return a.node == b.node && a.id == b.id;
}
inline bool operator!=(const lunatic_pid &a, const lunatic_pid &b) { return !(a == b); }

namespace capi_test {

constexpr int64_t kMs = 1000 * 1000;
constexpr int64_t kSec = 1000 * kMs;
/** Upper bound for any wait that should succeed: a bug fails, never hangs. */
constexpr int64_t kTimeout = 5 * kSec;

inline std::string pid_str(const lunatic_pid &p) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "<%016llx>.%llu", static_cast<unsigned long long>(p.node),
                  static_cast<unsigned long long>(p.id));
    return buf;
}

}  // namespace capi_test

namespace doctest {
template <>
struct StringMaker<lunatic_pid> {
    static String convert(const lunatic_pid &p) { return capi_test::pid_str(p).c_str(); }
};
}  // namespace doctest

namespace capi_test {

// ------------------------------------------------------------------ messages

struct MessageDeleter {
    void operator()(lunatic_message *m) const { lunatic_message_free(m); }
};
using Msg = std::unique_ptr<lunatic_message, MessageDeleter>;

struct Received {
    int rc = LUNATIC_EINTERNAL;
    Msg msg;
};

/** lunatic_receive with a finite timeout (default kTimeout). */
inline Received recv(std::initializer_list<lunatic_tag> tags = {}, int64_t timeout = kTimeout) {
    std::vector<lunatic_tag> t(tags);
    lunatic_message *m = nullptr;
    Received r;
    r.rc = lunatic_receive(t.empty() ? nullptr : t.data(), t.size(), timeout, &m);
    if (r.rc == LUNATIC_OK) r.msg.reset(m);
    return r;
}

/** Sends one 64-bit value (native byte order; all processes share the address space). */
inline int send_u64(lunatic_pid to, lunatic_tag tag, uint64_t value) {
    return lunatic_send_bytes(to, tag, &value, sizeof value);
}

/** Reads the 64-bit value of a message sent by send_u64; ~0 if the size is wrong. */
inline uint64_t msg_u64(const lunatic_message *m) {
    uint64_t v = ~uint64_t{0};
    if (lunatic_message_size(m) == sizeof v && lunatic_message_data(m) != nullptr)
        std::memcpy(&v, lunatic_message_data(m), sizeof v);
    return v;
}

inline lunatic_pid msg_sender(const lunatic_message *m) {
    lunatic_pid p{~uint64_t{0}, ~uint64_t{0}};
    if (lunatic_message_sender(m, &p) != LUNATIC_OK) return lunatic_pid{~uint64_t{0}, ~uint64_t{0}};
    return p;
}

inline std::string msg_string(const lunatic_message *m) {
    const uint8_t *d = lunatic_message_data(m);
    return d ? std::string(reinterpret_cast<const char *>(d), lunatic_message_size(m))
             : std::string();
}

inline lunatic_pid self_pid() {
    lunatic_pid p{0, 0};
    lunatic_self(&p);
    return p;
}

/** Capture bytes <-> a pid (processes often get their parent's pid as capture). */
inline bool capture_pid(const uint8_t *capture, size_t len, lunatic_pid *out) {
    if (capture == nullptr || len != sizeof(lunatic_pid)) return false;
    std::memcpy(out, capture, sizeof *out);
    return true;
}

// ----------------------------------------------------------------------- log

/** Collects the runtime's log lines (the log callback may run on any thread). */
struct LogCapture {
    struct Line {
        int level;
        std::string text;
    };
    mutable std::mutex mu;
    std::vector<Line> lines;

    static void fn(void *user, int level, const char *line) {
        auto *self = static_cast<LogCapture *>(user);
        std::lock_guard<std::mutex> lock(self->mu);
        self->lines.push_back(Line{level, line ? std::string(line) : std::string("(null)")});
    }

    std::vector<Line> snapshot() const {
        std::lock_guard<std::mutex> lock(mu);
        return lines;
    }

    /** All lines joined, for failure messages. */
    std::string dump() const {
        std::string out;
        for (const auto &l : snapshot())
            out += "[" + std::to_string(l.level) + "] " + l.text + "\n";
        return out.empty() ? std::string("(no log lines)") : out;
    }
};

inline std::string lower(std::string s) {
    for (auto &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

inline bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

/** Whether `token` occurs in `text` as a whole word (not inside a longer number or hex id). */
inline bool has_token(const std::string &text, const std::string &token) {
    for (size_t pos = text.find(token); pos != std::string::npos; pos = text.find(token, pos + 1)) {
        bool left = pos == 0 || !is_alnum(text[pos - 1]);
        size_t end = pos + token.size();
        bool right = end >= text.size() || !is_alnum(text[end]);
        if (left && right) return true;
    }
    return false;
}

/** Whether a log line names process `pid` (its id in decimal or hex, as a whole word). */
inline bool names_pid(const std::string &line, const lunatic_pid &pid) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(pid.id));
    return has_token(line, std::to_string(pid.id)) || has_token(line, hex) ||
           has_token(line, std::string("0x") + hex);
}

// ------------------------------------------------------------------- runtime

inline lunatic_runtime_options runtime_options(uint32_t workers, LogCapture *log) {
    lunatic_runtime_options o;
    std::memset(&o, 0xAB, sizeof o);  // init must fill every field
    lunatic_runtime_options_init(&o);
    o.workers = workers;
    if (log) {
        o.log = &LogCapture::fn;
        o.log_user = log;
    }
    return o;
}

/**
 * A runtime with `workers` workers, its log captured, and the test thread
 * attached to it. Destroyed (which also detaches the thread) at scope end.
 */
struct Runtime {
    LogCapture log;  // outlives rt: declared first
    lunatic_runtime *rt = nullptr;
    lunatic_pid self{0, 0};

    explicit Runtime(uint32_t workers = 2, bool attach = true, size_t default_stack = 0) {
        lunatic_runtime_options o = runtime_options(workers, &log);
        if (default_stack) o.default_stack_size = default_stack;
        int rc = lunatic_runtime_create(&o, &rt);
        REQUIRE_MESSAGE(rc == LUNATIC_OK,
                        "lunatic_runtime_create: " << std::string(lunatic_strerror(rc)));
        REQUIRE(rt != nullptr);
        if (attach) {
            rc = lunatic_runtime_attach(rt, &self);
            if (rc != LUNATIC_OK) {
                lunatic_runtime_destroy(rt);
                rt = nullptr;
            }
            REQUIRE_MESSAGE(rc == LUNATIC_OK,
                            "lunatic_runtime_attach: " << std::string(lunatic_strerror(rc)));
        }
    }
    Runtime(const Runtime &) = delete;
    Runtime &operator=(const Runtime &) = delete;

    /** Destroys now (idempotent); returns the status of lunatic_runtime_destroy. */
    int destroy() {
        int rc = LUNATIC_OK;
        if (rt) rc = lunatic_runtime_destroy(rt);
        rt = nullptr;
        return rc;
    }
    ~Runtime() { destroy(); }
};

/** Spawns with default options; returns the pid (zero pid on failure, rc in *rc_out). */
inline lunatic_pid spawn(lunatic_entry entry, const void *capture = nullptr, size_t len = 0,
                         void *user = nullptr, const lunatic_spawn_options *opts = nullptr,
                         int *rc_out = nullptr) {
    lunatic_pid p{0, 0};
    int rc = lunatic_spawn(entry, capture, len, user, opts, &p);
    if (rc_out) *rc_out = rc;
    return p;
}

/** Spawns `entry` with the caller's pid as capture. */
inline lunatic_pid spawn_with_parent(lunatic_entry entry, void *user = nullptr,
                                     const lunatic_spawn_options *opts = nullptr,
                                     int *rc_out = nullptr) {
    lunatic_pid me = self_pid();
    return spawn(entry, &me, sizeof me, user, opts, rc_out);
}

/** Polls (sleeping 1 ms from the calling process) until pred() or `limit` passes. */
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        if (lunatic_current_runtime() != nullptr)
            lunatic_sleep(1 * kMs);
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

/** Waits until `pid` is no longer alive (bounded). */
inline bool wait_dead(lunatic_pid pid) {
    return wait_until([&] { return lunatic_process_alive(pid) == 0; });
}

/**
 * Turns a hang into a loud failure: if not dismissed within `limit`, prints
 * `what` and aborts the test program (for tests that must block without a
 * timeout, e.g. LUNATIC_INFINITE receives or runtime destroy).
 */
class Watchdog {
public:
    Watchdog(const char *what, std::chrono::seconds limit) : what_(what) {
        thread_ = std::thread([this, limit] {
            std::unique_lock<std::mutex> lock(mu_);
            if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
                std::fprintf(stderr, "WATCHDOG: '%s' did not finish in %llds: aborting\n", what_,
                             static_cast<long long>(limit.count()));
                std::fflush(stderr);
                std::abort();
            }
        });
    }
    ~Watchdog() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    Watchdog(const Watchdog &) = delete;
    Watchdog &operator=(const Watchdog &) = delete;

private:
    const char *what_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

/**
 * For a forked child: puts back the default action of the signals doctest
 * catches, so a crash in the child kills the child (and the parent sees it)
 * instead of running doctest's crash report inside the child.
 */
inline void default_signals_in_child() {
    for (int sig : {SIGINT, SIGILL, SIGFPE, SIGSEGV, SIGTERM, SIGABRT, SIGBUS})
        std::signal(sig, SIG_DFL);
}

/** Lines a forked child sends to the parent as it goes (they survive a crash). */
struct ChildLog {
    int fd;
    void note(const std::string &line) const {
        std::string l = line + "\n";
        size_t off = 0;
        while (off < l.size()) {
            ssize_t n = ::write(fd, l.data() + off, l.size() - off);
            if (n <= 0) return;
            off += static_cast<size_t>(n);
        }
    }
};

struct ChildResult {
    int status = 0;      // as from waitpid
    std::string output;  // what the child noted
};

/**
 * Runs fn(ChildLog&) -> int in a forked child and waits for it. For scenarios
 * that may crash the program (races in the runtime, memory misuse): the test
 * program survives and reports how the child ended. The child must not use
 * doctest; its exit code and notes tell the parent what happened.
 */
template <class Fn>
ChildResult run_in_child(Fn fn) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        default_signals_in_child();
        ChildLog log{fds[1]};
        int code = fn(log);
        ::close(fds[1]);
        std::fflush(nullptr);
        ::_exit(code);
    }
    ::close(fds[1]);
    ChildResult r;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        r.output.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    REQUIRE(::waitpid(pid, &r.status, 0) == pid);
    return r;
}

/** Whether this program is the fresh copy started by run_fresh(). */
inline bool in_fresh_child() {
    const char *e = std::getenv("LUNATIC_CAPI_FRESH");
    return e != nullptr && e[0] != '\0';
}

/**
 * Runs one test case in a fresh copy of this test program (fork + exec of
 * /proc/self/exe with --test-case=name), for scenarios whose outcome depends
 * on a pristine process: a heap and memory map no earlier test has touched.
 * The test case checks in_fresh_child(): when true it runs the scenario with
 * ordinary doctest assertions; the parent sees the copy's exit status and output.
 */
inline ChildResult run_fresh(const char *test_case) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        ::dup2(fds[1], 1);
        ::dup2(fds[1], 2);
        ::setenv("LUNATIC_CAPI_FRESH", "1", 1);
        std::string filter = std::string("--test-case=") + test_case;
        ::execl("/proc/self/exe", "test_capi", filter.c_str(), "--no-version=true",
                static_cast<char *>(nullptr));
        ::_exit(127);
    }
    ::close(fds[1]);
    ChildResult r;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        r.output.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    REQUIRE(::waitpid(pid, &r.status, 0) == pid);
    return r;
}

/** Fails the test unless the child exited with status 0. */
inline void check_child_ok(const ChildResult &r) {
    INFO("child output:\n" << (r.output.empty() ? std::string("(none)") : r.output));
    if (WIFSIGNALED(r.status)) {
        FAIL_CHECK("the child died of signal " << WTERMSIG(r.status) << " ("
                                               << std::string(strsignal(WTERMSIG(r.status)))
                                               << ")");
        return;
    }
    REQUIRE(WIFEXITED(r.status));
    CHECK_MESSAGE(WEXITSTATUS(r.status) == 0,
                  "the child failed with exit code " << WEXITSTATUS(r.status));
}

// --------------------------------------------------------- common entries

constexpr lunatic_tag kStopTag = 999;

/** Replies to every message with the same tag and bytes, to the sender, until a receive fails
 *  or a message with tag kStopTag arrives. Returns 0. */
inline int echo_entry(const uint8_t *, size_t, void *) {
    for (;;) {
        lunatic_message *m = nullptr;
        int rc = lunatic_receive(nullptr, 0, 30 * kSec, &m);
        if (rc != LUNATIC_OK) return 0;
        if (lunatic_message_tag(m) == kStopTag) {
            lunatic_message_free(m);
            return 0;
        }
        lunatic_pid from{0, 0};
        lunatic_message_sender(m, &from);
        lunatic_send_bytes(from, lunatic_message_tag(m), lunatic_message_data(m),
                           lunatic_message_size(m));
        lunatic_message_free(m);
    }
}

/** Receives one message and replies to its sender with tag+1 and the same bytes. */
inline int answer_once_entry(const uint8_t *, size_t, void *) {
    lunatic_message *m = nullptr;
    int rc = lunatic_receive(nullptr, 0, 30 * kSec, &m);
    if (rc != LUNATIC_OK) return 1;
    lunatic_pid from{0, 0};
    lunatic_message_sender(m, &from);
    rc = lunatic_send_bytes(from, lunatic_message_tag(m) + 1, lunatic_message_data(m),
                            lunatic_message_size(m));
    lunatic_message_free(m);
    return rc == LUNATIC_OK ? 0 : 1;
}

/** Returns 0 immediately. */
inline int noop_entry(const uint8_t *, size_t, void *) { return 0; }

/** Round trip through an echo process: sends `value` with `tag`, expects it back. */
inline bool ping(lunatic_pid echo, lunatic_tag tag, uint64_t value) {
    if (send_u64(echo, tag, value) != LUNATIC_OK) return false;
    Received r = recv({tag});
    return r.rc == LUNATIC_OK && msg_u64(r.msg.get()) == value && msg_sender(r.msg.get()) == echo;
}

}  // namespace capi_test
