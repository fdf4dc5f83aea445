// Helpers for the C ABI tests of links, monitors, kill, registry and timers
// (tests/capi/test_links.cpp, test_monitors.cpp, test_registry.cpp,
// test_timers.cpp). Uses include/lunatic/lunatic.h only, through fixture.hpp.
//
//  - Sig / recv_signal: a received LINK_DIED or PROCESS_DIED, read through
//    lunatic_message_signal and the message accessors.
//  - The agent: a process driven by command messages from the test thread
//    (link, unlink, trap, monitor, kill, fail, exit, receive a signal, sleep,
//    spawn a linked child that fails at once, ...). It answers each command
//    with a Report on the reply tag the command names, and also records the
//    status of its last command in an optional AgentState (a killed agent can
//    no longer send, but the test thread can still read what it saw).
#pragma once

#include <deque>
#include <stdexcept>

#include "fixture.hpp"

namespace capi_test {

// ------------------------------------------------------------------ signals

/** A received message, read as a signal. */
struct Sig {
    int rc = LUNATIC_EINTERNAL;         // of the receive
    int signal_rc = LUNATIC_EINTERNAL;  // of lunatic_message_signal
    lunatic_message_kind kind = LUNATIC_MESSAGE_DATA;
    lunatic_pid pid{0, 0};
    lunatic_exit_reason reason = LUNATIC_EXIT_NORMAL;
    lunatic_tag tag = 0;
    std::string text;
};

inline Sig read_signal(const lunatic_message *m) {
    Sig s;
    s.rc = LUNATIC_OK;
    s.kind = lunatic_message_kind_of(m);
    s.tag = lunatic_message_tag(m);
    s.text = msg_string(m);
    s.signal_rc = lunatic_message_signal(m, &s.pid, &s.reason);
    return s;
}

/** lunatic_receive_mask(mask) of any tag, with a finite timeout. */
inline Sig recv_signal(uint32_t mask = LUNATIC_RECEIVE_SIGNALS, int64_t timeout = kTimeout) {
    lunatic_message *m = nullptr;
    int rc = lunatic_receive_mask(mask, nullptr, 0, timeout, &m);
    if (rc != LUNATIC_OK) {
        Sig s;
        s.rc = rc;
        return s;
    }
    Sig s = read_signal(m);
    lunatic_message_free(m);
    return s;
}

inline const char *reason_name(lunatic_exit_reason r) {
    switch (r) {
    case LUNATIC_EXIT_NORMAL:
        return "NORMAL";
    case LUNATIC_EXIT_FAILED:
        return "FAILED";
    case LUNATIC_EXIT_KILLED:
        return "KILLED";
    case LUNATIC_EXIT_NOPROC:
        return "NOPROC";
    case LUNATIC_EXIT_NOCONNECTION:
        return "NOCONNECTION";
    case LUNATIC_EXIT_MEMORY_LIMIT:
        return "MEMORY_LIMIT";
    case LUNATIC_EXIT_FUEL_EXHAUSTED:
        return "FUEL_EXHAUSTED";
    }
    return "(not a reason)";
}

inline std::string describe(const Sig &s) {
    return "rc=" + std::string(lunatic_strerror(s.rc)) + " kind=" + std::to_string(int(s.kind)) +
           " pid=" + pid_str(s.pid) + " reason=" + reason_name(s.reason) +
           " tag=" + std::to_string(s.tag) + " text='" + s.text + "'";
}

/** A pid on this runtime's node that no process ever had (ids are never reused). */
inline lunatic_pid never_existed(const lunatic_pid &any_local) {
    return lunatic_pid{any_local.node, (uint64_t{1} << 60) + 12345};
}

/** A pid on another node. */
inline lunatic_pid other_node(const lunatic_pid &any_local) {
    return lunatic_pid{any_local.node ^ 0x5a5a5a5a5a5a5a5aull, any_local.id};
}

/** A spawn option set with LUNATIC_SPAWN_LINK and link_tag. */
inline lunatic_spawn_options link_opts(lunatic_tag tag) {
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.flags = LUNATIC_SPAWN_LINK;
    o.link_tag = tag;
    return o;
}

// ------------------------------------------------------------- a slow log

/**
 * A log sink that takes 200 ms over each line with kMarker in it. The runtime
 * logs a failure after the process has finished and before its links and
 * monitors are told: a slow sink holds that gap open, so a test can act in it.
 */
struct SlowLog {
    static constexpr const char *kMarker = "slow-log-marker";
    std::atomic<int> in_callback{0};
    static void fn(void *user, int, const char *line) {
        auto *self = static_cast<SlowLog *>(user);
        if (line && std::strstr(line, kMarker)) {
            self->in_callback++;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }
};

/** A runtime logging to a SlowLog, with the test thread attached. */
struct SlowLogRuntime {
    lunatic_runtime *rt = nullptr;
    lunatic_pid self{0, 0};
    explicit SlowLogRuntime(SlowLog *log) {
        lunatic_runtime_options o = runtime_options(2, nullptr);
        o.log = &SlowLog::fn;
        o.log_user = log;
        REQUIRE(lunatic_runtime_create(&o, &rt) == LUNATIC_OK);
        if (lunatic_runtime_attach(rt, &self) != LUNATIC_OK) {
            lunatic_runtime_destroy(rt);
            rt = nullptr;
            FAIL("attach");
        }
    }
    ~SlowLogRuntime() { lunatic_runtime_destroy(rt); }
};

// -------------------------------------------------------------------- agent

constexpr lunatic_tag kAgentCmd = 500;
/** What a reply carries when none arrived. */
constexpr int64_t kNoReply = 424242;

enum class Op : int64_t {
    ping,
    link,               // pid, arg = tag
    unlink,             // pid
    trap,               // arg = enable
    monitor,            // pid
    demonitor,          // pid
    kill,               // pid
    fail,               // text: lunatic_fail(text), return 1 (no reply)
    exit,               // return 0 (no reply)
    exit_code,          // return arg (no reply)
    throw_,             // throw std::runtime_error(text) (no reply)
    recv_signal,        // arg = mask, timeout = timeout: the signal (or rc) in the reply
    sleep,              // arg = duration
    spawn_link_failer,  // arg = link tag, text = the child's failure: the child's pid in the reply
    register_self,      // text = name: lunatic_register(text, NULL, self)
    send_after,         // pid, arg = delay, timeout = tag of the timer's message
};

struct Cmd {
    Op op;
    lunatic_tag reply_tag;
    lunatic_pid pid;
    int64_t arg;
    int64_t timeout;
    char text[64];
};

struct Report {
    int64_t rc = kNoReply;
    // recv_signal: what lunatic_message_signal and the accessors said
    int64_t signal_rc = kNoReply;
    int64_t kind = -1;
    int64_t reason = -1;
    lunatic_pid pid{0, 0};
    lunatic_tag tag = 0;
    char text[96] = {};
};

/** What an agent saw; declare it before the Runtime, so it outlives the agent. */
struct AgentState {
    std::atomic<int> last_rc{1};  // status of the last command it ran
    std::atomic<int> last_op{-1};
    std::atomic<int> loop_rc{1};  // status of the receive that ended its loop
};

/** A child that fails at once with the message in its capture. */
inline int fail_now_entry(const uint8_t *capture, size_t len, void *) {
    std::string msg(reinterpret_cast<const char *>(capture), len);
    lunatic_fail(msg.c_str());
    return 1;
}

inline int agent_entry(const uint8_t *, size_t, void *user) {
    auto *state = static_cast<AgentState *>(user);
    for (;;) {
        lunatic_tag want = kAgentCmd;
        lunatic_message *m = nullptr;
        int rc = lunatic_receive(&want, 1, 30 * kSec, &m);
        if (rc != LUNATIC_OK) {
            if (state) state->loop_rc = rc;
            return rc == LUNATIC_ETIMEDOUT ? 0 : 1;
        }
        Cmd c;
        std::memset(&c, 0, sizeof c);
        if (lunatic_message_size(m) == sizeof c) std::memcpy(&c, lunatic_message_data(m), sizeof c);
        const lunatic_pid from = msg_sender(m);
        lunatic_message_free(m);
        c.text[sizeof c.text - 1] = '\0';
        if (state) state->last_op = static_cast<int>(c.op);

        Report r;
        switch (c.op) {
        case Op::ping:
            r.rc = LUNATIC_OK;
            break;
        case Op::link:
            r.rc = lunatic_link(c.pid, c.arg);
            break;
        case Op::unlink:
            r.rc = lunatic_unlink(c.pid);
            break;
        case Op::trap:
            r.rc = lunatic_trap_links(static_cast<int>(c.arg));
            break;
        case Op::monitor:
            r.rc = lunatic_monitor(c.pid);
            break;
        case Op::demonitor:
            r.rc = lunatic_demonitor(c.pid);
            break;
        case Op::kill:
            r.rc = lunatic_kill(c.pid);
            break;
        case Op::fail:
            lunatic_fail(c.text);
            return 1;
        case Op::exit:
            return 0;
        case Op::exit_code:
            return static_cast<int>(c.arg);
        case Op::throw_:
            throw std::runtime_error(c.text);
        case Op::recv_signal: {
            lunatic_message *s = nullptr;
            r.rc = lunatic_receive_mask(static_cast<uint32_t>(c.arg), nullptr, 0, c.timeout, &s);
            if (r.rc == LUNATIC_OK) {
                lunatic_exit_reason reason = LUNATIC_EXIT_NORMAL;
                r.signal_rc = lunatic_message_signal(s, &r.pid, &reason);
                r.reason = reason;
                r.kind = lunatic_message_kind_of(s);
                r.tag = lunatic_message_tag(s);
                std::string t = msg_string(s);
                std::snprintf(r.text, sizeof r.text, "%s", t.c_str());
                lunatic_message_free(s);
            }
            break;
        }
        case Op::sleep:
            r.rc = lunatic_sleep(c.arg);
            break;
        case Op::spawn_link_failer: {
            lunatic_spawn_options o = link_opts(c.arg);
            r.rc = lunatic_spawn(fail_now_entry, c.text, std::strlen(c.text), nullptr, &o, &r.pid);
            break;
        }
        case Op::register_self: {
            lunatic_pid me{0, 0};
            lunatic_self(&me);
            r.rc = lunatic_register(c.text, nullptr, me);
            break;
        }
        case Op::send_after: {
            lunatic_message *t = nullptr;
            r.rc = lunatic_message_new(c.timeout, 0, &t);
            if (r.rc == LUNATIC_OK) {
                lunatic_timer timer{0, 0};
                r.rc = lunatic_send_after(c.pid, t, c.arg, &timer);
                if (r.rc != LUNATIC_OK) lunatic_message_free(t);
            }
            break;
        }
        }
        if (state) state->last_rc = static_cast<int>(r.rc);
        lunatic_send_bytes(from, c.reply_tag, &r, sizeof r);
    }
}

/** Spawns an agent (state may be NULL; it must outlive the agent). */
inline lunatic_pid spawn_agent(AgentState *state = nullptr,
                               const lunatic_spawn_options *opts = nullptr) {
    lunatic_pid p{0, 0};
    int rc = lunatic_spawn(agent_entry, nullptr, 0, state, opts, &p);
    REQUIRE_MESSAGE(rc == LUNATIC_OK, "spawn of an agent: " << std::string(lunatic_strerror(rc)));
    return p;
}

inline Cmd make_cmd(Op op, lunatic_pid pid, int64_t arg, const char *text, lunatic_tag reply_tag,
                    int64_t timeout) {
    Cmd c;
    std::memset(&c, 0, sizeof c);
    c.op = op;
    c.reply_tag = reply_tag;
    c.pid = pid;
    c.arg = arg;
    c.timeout = timeout;
    std::snprintf(c.text, sizeof c.text, "%s", text ? text : "");
    return c;
}

/** Sends a command and does not wait (for fail, exit, ...). The status of the send. */
inline int tell(lunatic_pid agent, Op op, const char *text = "", int64_t arg = 0,
                lunatic_pid pid = lunatic_pid{0, 0}) {
    Cmd c = make_cmd(op, pid, arg, text, 0, 0);
    return lunatic_send_bytes(agent, kAgentCmd, &c, sizeof c);
}

/** Sends a command and waits for its report (rc kNoReply if none came within wait). */
inline Report call(lunatic_pid agent, Op op, lunatic_pid pid = lunatic_pid{0, 0}, int64_t arg = 0,
                   const char *text = "", int64_t timeout = 0, int64_t wait = kTimeout) {
    const lunatic_tag reply = lunatic_tag_new();
    Cmd c = make_cmd(op, pid, arg, text, reply, timeout);
    Report r;
    if (lunatic_send_bytes(agent, kAgentCmd, &c, sizeof c) != LUNATIC_OK) return r;
    Received got = recv({reply}, wait + timeout);
    if (got.rc == LUNATIC_OK && lunatic_message_size(got.msg.get()) == sizeof r)
        std::memcpy(&r, lunatic_message_data(got.msg.get()), sizeof r);
    r.text[sizeof r.text - 1] = '\0';
    return r;
}

/** Whether the agent answers a ping. */
inline bool answers(lunatic_pid agent) { return call(agent, Op::ping).rc == LUNATIC_OK; }

/** Asks the agent for one signal (mask) it receives within timeout. */
inline Report agent_signal(lunatic_pid agent, uint32_t mask = LUNATIC_RECEIVE_SIGNALS,
                           int64_t timeout = kTimeout) {
    return call(agent, Op::recv_signal, lunatic_pid{0, 0}, mask, "", timeout);
}

/**
 * Receives PROCESS_DIED signals (only those) until one names pid; the others are
 * kept and put back in `others` so a test can look at them. rc != OK if none came.
 */
inline Sig await_death(const lunatic_pid &pid, int64_t timeout = kTimeout,
                       std::vector<Sig> *others = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        Sig s = recv_signal(LUNATIC_RECEIVE_PROCESS_DIED, left > 0 ? left : 0);
        if (s.rc != LUNATIC_OK || s.pid == pid) return s;
        if (others) others->push_back(s);
    }
}

}  // namespace capi_test
