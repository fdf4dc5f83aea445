// Must compile: the positive control of the compile-fail suite. It uses every
// protocol operation correctly with the same command line as the misuse files,
// so a broken command (include path, flags) cannot make them "fail" vacuously.
#include <lunatic/lunatic.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <variant>

using namespace lunatic;

using Calc = Rec<
    Offer<Recv<int, Recv<int, Send<int, Loop>>>, Recv<std::string, Send<std::string, Loop>>, End>>;

void server(int, Protocol<Calc> p) {
    for (;;) {
        auto branch = std::move(p).offer();
        if (branch.index() == 0) {
            auto [p1, a] = std::move(std::get<0>(branch)).receive();
            auto [p2, b] = std::move(p1).receive();
            p = std::move(p2).send(a + b);
        } else if (branch.index() == 1) {
            auto [p1, text] = std::move(std::get<1>(branch)).receive();
            p = std::move(p1).send(text + text);
        } else {
            return;
        }
    }
}

int client() {
    Protocol<Dual<Calc>> p = spawn_link(0, server);
    auto [p1, sum] = std::move(p).select<0>().send(1).send(2).receive();
    auto r = std::move(p1).select<1>().send("ab").receive_timeout(std::chrono::seconds(1));
    if (!r) return -1;
    std::move(r->protocol).select<2>();
    auto q = spawn(0, [](int, Protocol<Choose<Send<int, End>, End>> c) {
        std::move(c).select_left().send(1);
    });
    std::move(q).offer(overloaded{[](Protocol<Recv<int, End>> left) {
                                      auto [end, v] = std::move(left).receive();
                                      (void)v;
                                  },
                                  [](Protocol<End>) {}});
    return sum;
}
