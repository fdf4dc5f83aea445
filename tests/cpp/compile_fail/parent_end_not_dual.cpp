// Must not compile: taking the spawner's end of a session as the child's own
// protocol (spawn returns Protocol<Dual<P>>, not Protocol<P>).
#include <lunatic/lunatic.hpp>

#include <utility>

using AddProtocol = lunatic::Recv<int, lunatic::Recv<int, lunatic::Send<int, lunatic::End>>>;

void child(int capture, lunatic::Protocol<AddProtocol> protocol) {
    auto [p1, a] = std::move(protocol).receive();
    auto [p2, b] = std::move(p1).receive();
    std::move(p2).send(capture + a + b);
}

int parent() {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    lunatic::Protocol<lunatic::Dual<AddProtocol>> p = lunatic::spawn(1, child);
#else
    lunatic::Protocol<AddProtocol> p = lunatic::spawn(1, child);
#endif
    auto [end, result] = std::move(p).send(2).send(2).receive();
    return result;
}
