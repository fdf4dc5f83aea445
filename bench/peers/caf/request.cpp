// Request/reply round trip on CAF 0.17 (Debian's libcaf-dev): request/response
// between two event-based actors (the workload of bench/bench_request.cpp).
//
//   g++ -O2 -std=c++17 request.cpp -lcaf_core -pthread -o request_caf
//   ./request_caf request N RUNS
//
// A client actor makes N requests in a row (each answered with x + 1, checked;
// the next request is sent from the response handler) and reports ns per
// round trip. CAF's default configuration. Prints one RESULT line per run.
#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace caf;

namespace {

using done_atom = atom_constant<atom("done")>;

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

behavior echo(event_based_actor *) {
    return {[](std::int64_t x) { return x + 1; }};
}

void next(event_based_actor *self, actor server, std::int64_t i, std::int64_t n, actor report,
          std::int64_t t0, bool ok) {
    if (i == n) {
        double ns = double(now_ns() - t0) / double(n);
        self->send(report, done_atom::value, ns, ok);
        self->send_exit(server, exit_reason::user_shutdown);
        self->quit();
        return;
    }
    self->request(server, infinite, i).then([=](std::int64_t r) {
        next(self, server, i + 1, n, report, t0, ok && r == i + 1);
    });
}

void client(event_based_actor *self, std::int64_t n, actor report) {
    auto server = self->spawn(echo);
    next(self, server, 0, n, report, now_ns(), true);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 3 || std::strcmp(argv[1], "request") != 0) {
        std::fprintf(stderr, "usage: %s request N [RUNS]\n", argv[0]);
        return 2;
    }
    std::int64_t n = std::atoll(argv[2]);
    int runs = argc > 3 ? std::atoi(argv[3]) : 1;
    actor_system_config cfg;
    actor_system system{cfg};
    bool failed = false;
    for (int run = 0; run < runs; ++run) {
        scoped_actor self{system};
        self->spawn(client, n, actor{self});
        self->receive([&](done_atom, double ns, bool ok) {
            failed |= !ok;
            std::printf("RESULT workload=request n=%lld value=%.1f unit=ns/round-trip check=%s\n",
                        static_cast<long long>(n), ns, ok ? "ok" : "wrong-reply");
            std::fflush(stdout);
        });
    }
    return failed ? 1 : 0;
}
