// Must not compile: an operation on a protocol that is not moved (operations
// consume the protocol: p.send(1) would leave p looking usable).
#include <lunatic/lunatic.hpp>

#include <utility>

void step(lunatic::Protocol<lunatic::Send<int, lunatic::End>> p) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    std::move(p).send(1);
#else
    p.send(1);
#endif
}
