// The cost of the typed layer: one-way send/receive of an int between two
// processes on one worker, through the typed C++ API and through the C ABI,
// side by side (median of 5 runs each).
//
//     bench_typed [--quick]
#include <lunatic/lunatic.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

long g_round_trips = 1000000;
using Clock = std::chrono::steady_clock;

// ---- C ABI: the int travels as 4 bytes; the ping learns its partner from the capture.
int c_pong(const uint8_t *, size_t, void *) {
    for (;;) {
        lunatic_message *m;
        if (lunatic_receive(nullptr, 0, LUNATIC_INFINITE, &m)) return 0;
        int value;
        std::memcpy(&value, lunatic_message_data(m), sizeof value);
        lunatic_pid from;
        lunatic_message_sender(m, &from);
        lunatic_message_free(m);
        if (value < 0) return 0;
        ++value;
        lunatic_send_bytes(from, 0, &value, sizeof value);
    }
}

int c_ping(const uint8_t *capture, size_t, void *) {
    lunatic_pid pong, report;
    std::memcpy(&pong, capture, sizeof pong);
    std::memcpy(&report, capture + sizeof pong, sizeof report);
    auto start = Clock::now();
    int value = 0;
    for (long i = 0; i < g_round_trips; ++i) {
        lunatic_send_bytes(pong, 0, &value, sizeof value);
        lunatic_message *m;
        if (lunatic_receive(nullptr, 0, LUNATIC_INFINITE, &m)) return 1;
        std::memcpy(&value, lunatic_message_data(m), sizeof value);
        lunatic_message_free(m);
    }
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    int stop = -1;
    lunatic_send_bytes(pong, 0, &stop, sizeof stop);
    lunatic_send_bytes(report, 0, &ns, sizeof ns);
    return value == g_round_trips ? 0 : 1;
}

double c_abi_one_way(lunatic::Mailbox<double> &results) {
    lunatic_pid pong;
    lunatic_spawn(c_pong, nullptr, 0, nullptr, nullptr, &pong);
    lunatic_pid capture[2] = {pong, results.this_process().raw()};
    lunatic_spawn(c_ping, capture, sizeof capture, nullptr, nullptr, nullptr);
    return results.receive() / double(g_round_trips) / 2;
}

// ---- Typed: Process<int> / Mailbox<int>; the reply-to handle travels with each ping.
struct Ping {
    int value;
    lunatic::Process<int> reply_to;
};
LUNATIC_FIELDS(Ping, value, reply_to)

void typed_pong(int, lunatic::Mailbox<Ping> mailbox) {
    for (;;) {
        Ping ping = mailbox.receive();
        if (ping.value < 0) return;
        ping.reply_to.send(ping.value + 1);
    }
}

void typed_ping(std::pair<lunatic::Process<Ping>, lunatic::Process<double>> peers,
                lunatic::Mailbox<int> mailbox) {
    auto self = mailbox.this_process();
    auto start = Clock::now();
    int value = 0;
    for (long i = 0; i < g_round_trips; ++i) {
        peers.first.send(Ping{value, self});
        value = mailbox.receive();
    }
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    peers.first.send(Ping{-1, self});
    peers.second.send(ns);
}

double typed_one_way(lunatic::Mailbox<double> &results) {
    auto pong = lunatic::spawn(0, typed_pong);
    lunatic::spawn(std::make_pair(pong, results.this_process()), typed_ping);
    return results.receive() / double(g_round_trips) / 2;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char **argv) {
    if (argc > 1 && std::strcmp(argv[1], "--quick") == 0) g_round_trips /= 10;
    // One worker: both processes share it, as the figure asks.
    lunatic::Runtime runtime({.workers = 1});
    lunatic::Mailbox<double> results;
    std::vector<double> c_runs, typed_runs;
    for (int run = 0; run < 5; ++run) {
        c_runs.push_back(c_abi_one_way(results));
        typed_runs.push_back(typed_one_way(results));
    }
    double c = median(c_runs), typed = median(typed_runs);
    std::printf(
        "| workload (one worker, %ld round trips, median of 5) | C ABI | typed C++ | ratio |\n",
        g_round_trips);
    std::printf("| --- | --- | --- | --- |\n");
    std::printf("| one-way int message (send + receive) | %.0f ns | %.0f ns | %.2fx |\n", c, typed,
                typed / c);
    return 0;
}
