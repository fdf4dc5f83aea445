// Fairness: lunatic_blocking keeps workers free; the watchdog names a hog.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fixture.hpp"

using namespace capi_test;

namespace {

int sleep_200ms(void *arg) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return *static_cast<int *>(arg) + 1;
}

// Calls a blocking function through lunatic_blocking and reports its result.
int blocking_caller(const uint8_t *capture, size_t len, void *) {
    lunatic_pid parent;
    if (!capture_pid(capture, len, &parent)) return 1;
    int arg = 41, result = 0;
    int rc = lunatic_blocking(sleep_200ms, &arg, &result);
    send_u64(parent, 1, rc == LUNATIC_OK ? uint64_t(result) : ~uint64_t(0));
    return 0;
}

// Counts to the parent every 10 ms: progress while the other worker is busy.
int ticker(const uint8_t *capture, size_t len, void *) {
    lunatic_pid parent;
    if (!capture_pid(capture, len, &parent)) return 1;
    for (uint64_t i = 0; i < 10; ++i) {
        if (lunatic_sleep(10'000'000)) return 0;
        send_u64(parent, 2, i);
    }
    return 0;
}

// Holds its worker for 400 ms without a runtime call.
int hog(const uint8_t *, size_t, void *) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
    volatile uint64_t x = 0;
    while (std::chrono::steady_clock::now() < until) x = x + 1;
    return 0;
}

}  // namespace

TEST_CASE("blocking: the call runs on a helper thread while the worker runs others") {
    Runtime rt(1);  // one worker: if blocking stalled it, the ticker could not tick
    lunatic_pid me = rt.self;
    spawn(blocking_caller, &me, sizeof me);
    spawn(ticker, &me, sizeof me);
    int ticks_before_result = 0;
    uint64_t result = 0;
    for (int i = 0; i < 11; ++i) {
        Received r = recv({1, 2});
        REQUIRE(r.rc == LUNATIC_OK);
        if (lunatic_message_tag(r.msg.get()) == 1) {
            result = msg_u64(r.msg.get());
            break;
        }
        ++ticks_before_result;
    }
    CHECK(result == 42);
    CHECK(ticks_before_result >= 3);  // ~19 ticks fit in 200 ms; a stalled worker gives 0
    int direct = 0, arg = 1;
    CHECK(lunatic_blocking(sleep_200ms, &arg, &direct) ==
          LUNATIC_OK);  // attached thread: runs here
    CHECK(direct == 2);
    CHECK(lunatic_blocking(nullptr, nullptr, nullptr) == LUNATIC_EINVAL);
}

TEST_CASE("watchdog: a process holding a worker is named in a warning; the others keep going") {
    LogCapture log;
    lunatic_runtime_options o = runtime_options(2, &log);
    o.watchdog_ms = 100;
    lunatic_runtime *runtime = nullptr;
    REQUIRE(lunatic_runtime_create(&o, &runtime) == LUNATIC_OK);
    REQUIRE(lunatic_runtime_attach(runtime, nullptr) == LUNATIC_OK);
    lunatic_pid me = self_pid();
    lunatic_pid h = spawn(hog);
    spawn(ticker, &me, sizeof me);
    int ticks = 0;
    for (int i = 0; i < 10; ++i)
        if (recv({2}).rc == LUNATIC_OK) ++ticks;
    CHECK(ticks == 10);
    CHECK(wait_dead(h));
    bool named = false;
    for (const auto &line : log.snapshot())
        if (line.text.find("held worker") != std::string::npos && names_pid(line.text, h))
            named = true;
    CHECK(named);
    CHECK(lunatic_runtime_destroy(runtime) == LUNATIC_OK);
}
