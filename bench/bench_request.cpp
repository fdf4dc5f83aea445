// Request/reply round trip between two processes, the workload of
// bench/peers/erlang/request.erl (gen_server:call) and
// bench/peers/caf/request.cpp (CAF request/response):
//
//     bench_request WORKLOAD N RUNS
//
//   request        ProcessRef<T>::request to an AbstractProcess (the gen_server:call analogue:
//                  fresh tag, monitor, envelope, reply, demonitor)
//   request_plain  lunatic::request to a plain process serving lunatic::Request<int64_t, int64_t>
//
// A client process makes N requests in a row (each reply is body + 1, checked)
// and reports ns per round trip. Default runtime: one worker per hardware
// thread. One RESULT line per run, as the other workloads print them.
#include <lunatic/lunatic.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;

struct Echo : lunatic::AbstractProcess<Echo> {
    using Handlers = lunatic::Handlers<lunatic::RequestHandler<int64_t>>;
    int64_t handle(int64_t x) const { return x + 1; }
};

void plain_echo(int, lunatic::Mailbox<lunatic::Request<int64_t, int64_t>> mailbox) {
    for (;;) {
        auto request = mailbox.receive();
        if (request.body < 0) return;
        request.reply(request.body + 1);
    }
}

// What the client reports: ns per round trip, or a negative number on a wrong reply.
using Report = lunatic::Process<double>;

void ap_client(std::pair<int64_t, Report> arg, lunatic::Mailbox<int>) {
    auto [n, report] = arg;
    auto server = Echo::start();
    auto start = Clock::now();
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= server.request(i) == i + 1;
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / double(n);
    server.shutdown();
    report.send(ok ? ns : -1);
}

void plain_client(std::pair<int64_t, Report> arg, lunatic::Mailbox<int>) {
    auto [n, report] = arg;
    auto server = lunatic::spawn(0, plain_echo);
    auto start = Clock::now();
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= lunatic::request(server, i) == i + 1;
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / double(n);
    server.send({-1, {}});
    report.send(ok ? ns : -1);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s request|request_plain N [RUNS]\n", argv[0]);
        return 2;
    }
    std::string workload = argv[1];
    int64_t n = std::atoll(argv[2]);
    int runs = argc > 3 ? std::atoi(argv[3]) : 1;
    if ((workload != "request" && workload != "request_plain") || n <= 0 || runs <= 0) {
        std::fprintf(stderr, "usage: %s request|request_plain N [RUNS]\n", argv[0]);
        return 2;
    }
    lunatic::Runtime runtime;
    lunatic::Mailbox<double> mailbox;
    bool failed = false;
    for (int run = 0; run < runs; ++run) {
        auto arg = std::make_pair(n, mailbox.this_process());
        if (workload == "request")
            lunatic::spawn(arg, ap_client);
        else
            lunatic::spawn(arg, plain_client);
        double ns = mailbox.receive();
        bool ok = ns >= 0;
        failed |= !ok;
        std::printf("RESULT workload=%s n=%lld value=%.1f unit=ns/round-trip check=%s\n",
                    workload.c_str(), static_cast<long long>(n), ok ? ns : 0.0,
                    ok ? "ok" : "wrong-reply");
        std::fflush(stdout);
    }
    return failed ? 1 : 0;
}
