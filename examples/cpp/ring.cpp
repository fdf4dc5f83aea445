// A ring of typed processes passing a token: each member forwards it to the
// next until it has made all its hops. Prints processes, hops, time and memory.
//
//     ring [processes=10000] [hops=1000000]
#include <lunatic/lunatic.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

struct Token {
    uint64_t hops_left = 0;
    uint64_t hops_done = 0;
};
LUNATIC_FIELDS(Token, hops_left, hops_done)

// Where a member forwards the token, and where the token goes at the end.
struct Neighbours {
    lunatic::Process<Token> next;
    lunatic::Process<Token> done;
};
LUNATIC_FIELDS(Neighbours, next, done)

const lunatic::Tag kSetup(1);  // the one setup message each member gets first

int g_processes = 10000;
uint64_t g_hops = 1000000;

long status_kib(const std::string &field) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
    return -1;
}

void member(int, lunatic::Mailbox<Token> mailbox) {
    // Two typed views of one mailbox: the setup message is told apart by its tag.
    Neighbours n = lunatic::Mailbox<Neighbours>().tag_receive({kSetup});
    for (;;) {
        Token token = mailbox.receive();
        if (token.hops_left == 0) {
            n.done.send(token);
            return;
        }
        n.next.send(Token{token.hops_left - 1, token.hops_done + 1});
    }
}

int root(lunatic::Mailbox<Token> mailbox) {
    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    std::vector<lunatic::Process<Token>> ring;
    ring.reserve(g_processes);
    for (int i = 0; i < g_processes; ++i) ring.push_back(lunatic::spawn(i, member));
    for (int i = 0; i < g_processes; ++i) {
        lunatic::Process<Neighbours> setup(ring[i].raw());
        setup.tag_send(kSetup, Neighbours{ring[(i + 1) % g_processes], mailbox.this_process()});
    }
    long rss_ring = status_kib("VmRSS:");
    auto ready = clock::now();
    ring[0].send(Token{g_hops, 0});
    auto result = mailbox.receive_timeout(std::chrono::minutes(5));
    auto end = clock::now();
    if (!result.is_message() || result->hops_done != g_hops) {
        std::printf("ring: the token was lost\n");
        return 1;
    }
    using ns = std::chrono::duration<double, std::nano>;
    double setup_ns = ns(ready - start).count(), pass_ns = ns(end - ready).count();
    std::printf(
        "ring: %d typed processes; one token passed %llu times (%.0f times round the ring)\n",
        g_processes, static_cast<unsigned long long>(g_hops), double(g_hops) / g_processes);
    std::printf("  spawn and wire up: %8.1f ms   %6.0f ns per process\n", setup_ns / 1e6,
                setup_ns / g_processes);
    std::printf("  pass the token:    %8.1f ms   %6.0f ns per hop (%.1f million hops/s)\n",
                pass_ns / 1e6, pass_ns / double(g_hops), double(g_hops) / pass_ns * 1e3);
    std::printf("  memory:            %8.1f MiB RSS with the ring parked (%.1f KiB per process)\n",
                rss_ring / 1024.0, double(rss_ring) / g_processes);
    return 0;  // the members still waiting are killed as the root ends
}

}  // namespace

int main(int argc, char **argv) {
    if (argc > 1) g_processes = std::max(2, std::stoi(argv[1]));
    if (argc > 2) g_hops = std::stoull(argv[2]);
    return lunatic::main(root);
}
