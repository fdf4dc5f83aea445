// A counter server under a supervisor: messages, requests, a deferred reply,
// a crash and the restart that follows, and an orderly shutdown.
//
//     counter_server
#include <lunatic/lunatic.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

struct Add {
    int64_t n = 0;
};
LUNATIC_FIELDS(Add, n)
struct Get {};
LUNATIC_NO_FIELDS(Get)
struct GetWhenAtLeast {  // answered once the count reaches `value`
    int64_t value = 0;
};
LUNATIC_FIELDS(GetWhenAtLeast, value)
struct Crash {};
LUNATIC_NO_FIELDS(Crash)

struct Counter : lunatic::AbstractProcess<Counter> {
    using Arg = int64_t;
    using Handlers = lunatic::Handlers<lunatic::MessageHandler<Add>, lunatic::RequestHandler<Get>,
                                       lunatic::DeferredRequestHandler<GetWhenAtLeast, int64_t>,
                                       lunatic::MessageHandler<Crash>>;

    int64_t count = 0;
    std::vector<std::pair<int64_t, lunatic::DeferredResponse<int64_t>>> waiting;

    explicit Counter(int64_t start) : count(start) {}

    void handle(Add add) {
        count += add.n;
        // Answer the deferred requests whose threshold is reached.
        std::erase_if(waiting,
                      [&](auto &w) { return w.first <= count && w.second.send_response(count); });
    }
    int64_t handle(Get) const { return count; }
    void handle(GetWhenAtLeast request, lunatic::DeferredResponse<int64_t> response) {
        if (count >= request.value)
            response.send_response(count);
        else
            waiting.emplace_back(request.value, response);
    }
    void handle(Crash) { throw std::runtime_error("asked to crash"); }
    void terminate() { std::printf("counter: terminate at %lld\n", static_cast<long long>(count)); }
};

int main() {
    return lunatic::main(
        [](lunatic::Mailbox<int>) -> int {
            auto sup = lunatic::Supervisor::start(lunatic::SupervisorSpec().child(
                lunatic::ChildSpec::of<Counter>(100).name("counter")));
            auto counter = *lunatic::ProcessRef<Counter>::lookup("counter");

            // A process waits (deferred request) until another has added enough.
            auto waiter =
                lunatic::spawn(counter, [](lunatic::ProcessRef<Counter> c, lunatic::Mailbox<int>) {
                    std::printf("waiter: count reached %lld\n",
                                static_cast<long long>(c.request(GetWhenAtLeast{110}, 10s)));
                });
            (void)waiter;
            for (int i = 0; i < 10; ++i) counter.send(Add{1});
            std::printf("main: count is %lld\n", static_cast<long long>(counter.request(Get{})));

            // A crash: the supervisor starts a fresh counter under the same name.
            counter.send(Crash{});
            try {
                counter.request(Get{}, 5s);
            } catch (const lunatic::ServerDied &e) {
                std::printf("main: request failed at once: %s\n", e.what());
            }
            std::optional<lunatic::ProcessRef<Counter>> again;
            for (int i = 0; i < 1000 && !(again = lunatic::ProcessRef<Counter>::lookup("counter"));
                 ++i)
                lunatic::sleep(1ms);
            if (!again) return 1;
            std::printf("main: restarted counter (%s process) says %lld\n",
                        *again == counter ? "same" : "new",
                        static_cast<long long>(again->request(Get{})));

            sup.shutdown(5s);  // the children first, in reverse order
            std::printf("main: supervisor stopped\n");
            return again->is_alive() ? 1 : 0;
        },
        {.workers = 2, .log = [](void *, int, const char *) {}});
}
