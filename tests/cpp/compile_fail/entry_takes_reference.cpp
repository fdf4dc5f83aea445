// Must not compile: a protocol entry that takes its protocol by lvalue
// reference (the child's protocol is handed over by value).
#include <lunatic/lunatic.hpp>

#include <utility>

using Ping = lunatic::Recv<int, lunatic::End>;

#ifdef LUNATIC_COMPILE_FAIL_CONTROL
void child(int, lunatic::Protocol<Ping> p) {
#else
void child(int, lunatic::Protocol<Ping> &p) {
#endif
    auto [end, value] = std::move(p).receive();
    (void)value;
}

void parent() { std::move(lunatic::spawn(0, child)).send(1); }
