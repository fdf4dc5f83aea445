// Stack overflow detection: a process that recurses past the end of its
// unguarded stack and then calls the runtime (lunatic_yield) at depth is
// reported as failed, with its pid, "stack overflow" and the stack size.
//
// The overflow writes a few KiB past the stack, so the scenario runs in a
// forked child: whatever the runtime does, the test program survives to
// report it. The child sends its log lines back through a pipe.
#include "fixture.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

using namespace capi_test;

namespace {

constexpr size_t kStack = 64 * 1024;

struct Deep {
    const char *top;     // address near the top of the process's stack
    size_t target;       // stack bytes to use before yielding
    size_t reached = 0;  // bytes in use when it yielded
    int yield_rc = 1;
};

__attribute__((noinline)) int recurse(Deep &d, int depth) {
    volatile char pad[512];
    pad[0] = static_cast<char>(depth);
    pad[511] = static_cast<char>(depth);
    size_t used = static_cast<size_t>(d.top - const_cast<const char *>(&pad[0]));
    int r;
    if (used >= d.target || depth >= 1000) {
        d.reached = used;
        d.yield_rc = lunatic_yield();  // the switch where the runtime can see the overflow
        r = d.yield_rc;
    } else {
        r = recurse(d, depth + 1);
    }
    // Uses pad after the call: no tail call, every frame stays on the stack.
    return r + pad[0] + pad[511] - 2 * static_cast<char>(depth);
}

struct DeepArgs {
    lunatic_pid parent;
    size_t target;
};

/** Recurses until `target` bytes of stack are in use, yields, unwinds, reports. */
int deep_entry(const uint8_t *capture, size_t len, void *) {
    DeepArgs a;
    if (len != sizeof a) return 1;
    std::memcpy(&a, capture, sizeof a);
    char top_marker = 0;
    Deep d;
    d.top = &top_marker;
    d.target = a.target;
    recurse(d, 0);
    uint64_t report[2] = {d.reached, static_cast<uint64_t>(static_cast<int64_t>(d.yield_rc))};
    return lunatic_send_bytes(a.parent, 70, report, sizeof report) == LUNATIC_OK ? 0 : 2;
}

lunatic_spawn_options unguarded(size_t stack) {
    lunatic_spawn_options o;
    lunatic_spawn_options_init(&o);
    o.stack_size = stack;
    o.flags = 0;
    return o;
}

bool mentions_stack_overflow(const std::string &line) {
    return lower(line).find("stack overflow") != std::string::npos;
}

bool mentions_size(const std::string &line, size_t bytes) {
    std::string l = lower(line);
    std::string kib = std::to_string(bytes / 1024);
    return has_token(l, std::to_string(bytes)) || l.find(kib + " kib") != std::string::npos ||
           l.find(kib + "kib") != std::string::npos || l.find(kib + " kb") != std::string::npos ||
           l.find(kib + "k ") != std::string::npos;
}

}  // namespace

TEST_CASE("stack: a process within its stack, yielding at depth, is not reported") {
    Runtime rt;
    lunatic_spawn_options o = unguarded(kStack);
    DeepArgs a{rt.self, kStack / 2};
    lunatic_pid child = spawn(deep_entry, &a, sizeof a, nullptr, &o);
    REQUIRE(child.id != 0);
    Received r = recv({70});
    REQUIRE(r.rc == LUNATIC_OK);
    uint64_t report[2];
    REQUIRE(lunatic_message_size(r.msg.get()) == sizeof report);
    std::memcpy(report, lunatic_message_data(r.msg.get()), sizeof report);
    CHECK(report[0] >= kStack / 2);
    CHECK(static_cast<int64_t>(report[1]) == LUNATIC_OK);
    REQUIRE(wait_dead(child));
    REQUIRE(rt.destroy() == LUNATIC_OK);
    INFO("log:\n" << rt.log.dump());
    int overflow_lines = 0, error_lines = 0;
    for (const auto &l : rt.log.snapshot()) {
        overflow_lines += mentions_stack_overflow(l.text);
        error_lines += l.level == LUNATIC_LOG_ERROR;
    }
    CHECK(overflow_lines == 0);
    CHECK(error_lines == 0);
}

TEST_CASE("stack: overflowing an unguarded stack by a few KiB is detected and reported") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    std::fflush(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // ---- child: no doctest here; the exit code says how far it got.
        default_signals_in_child();
        close(fds[0]);
        LogCapture log;
        lunatic_runtime_options o = runtime_options(2, &log);
        lunatic_runtime *rt = nullptr;
        lunatic_pid me{0, 0}, deep{0, 0};
        auto finish = [&](int code) {
            std::string out = pid_str(deep) + "\n";
            for (const auto &l : log.snapshot())
                out += std::to_string(l.level) + " " + l.text + "\n";
            size_t off = 0;
            while (off < out.size()) {
                ssize_t n = write(fds[1], out.data() + off, out.size() - off);
                if (n <= 0) break;
                off += static_cast<size_t>(n);
            }
            close(fds[1]);
            _exit(code);
        };
        if (lunatic_runtime_create(&o, &rt) != LUNATIC_OK) finish(10);
        if (lunatic_runtime_attach(rt, &me) != LUNATIC_OK) finish(11);
        lunatic_spawn_options so = unguarded(kStack);
        DeepArgs a{me, kStack + 4096};  // past the end by 4 KiB (plus the runtime's own frames)
        if (lunatic_spawn(deep_entry, &a, sizeof a, nullptr, &so, &deep) != LUNATIC_OK) finish(12);
        // The overflowing process must end (failed), one way or another.
        if (!wait_dead(deep)) finish(13);
        // The runtime still works afterwards.
        lunatic_pid echo{0, 0};
        if (lunatic_spawn(echo_entry, nullptr, 0, nullptr, nullptr, &echo) != LUNATIC_OK)
            finish(14);
        if (!ping(echo, 3, 12345)) finish(15);
        lunatic_send_bytes(echo, kStopTag, nullptr, 0);
        if (lunatic_runtime_destroy(rt) != LUNATIC_OK) finish(16);
        finish(0);
    }

    // ---- parent
    close(fds[1]);
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    INFO("child output (deep pid, then log lines):\n" << out);
    if (WIFSIGNALED(status))
        FAIL("the child died of signal " << WTERMSIG(status) << " ("
                                         << std::string(strsignal(WTERMSIG(status)))
                                         << "): the overflow was not contained");
    REQUIRE(WIFEXITED(status));
    CHECK_MESSAGE(WEXITSTATUS(status) == 0, "child step failed with code "
                                                << WEXITSTATUS(status)
                                                << " (13: the overflowing process never ended, "
                                                   "15: the runtime stopped working)");

    // Parse: first line is the deep process's pid "<node>.id".
    size_t nl = out.find('\n');
    REQUIRE(nl != std::string::npos);
    std::string pid_line = out.substr(0, nl);
    size_t dot = pid_line.rfind('.');
    REQUIRE(dot != std::string::npos);
    lunatic_pid deep{0, std::stoull(pid_line.substr(dot + 1))};
    REQUIRE(deep.id != 0);

    std::string overflow_line;
    for (size_t pos = nl + 1; pos < out.size();) {
        size_t end = out.find('\n', pos);
        if (end == std::string::npos) end = out.size();
        std::string line = out.substr(pos, end - pos);
        if (mentions_stack_overflow(line) && overflow_line.empty()) overflow_line = line;
        pos = end + 1;
    }
    REQUIRE_MESSAGE(!overflow_line.empty(), "no log line says 'stack overflow'");
    CHECK_MESSAGE(names_pid(overflow_line, deep), "the line does not name process " << deep.id);
    CHECK_MESSAGE(mentions_size(overflow_line, kStack), "the line does not give the stack size");
    CHECK_MESSAGE(overflow_line.rfind(std::to_string(LUNATIC_LOG_ERROR) + " ", 0) == 0,
                  "not logged at LUNATIC_LOG_ERROR");
}
