// Must not compile: sending a value that only converts to the protocol's type
// by narrowing (a double where the protocol says Send<int, ...>).
#include <lunatic/lunatic.hpp>

#include <utility>

void step(lunatic::Protocol<lunatic::Send<int, lunatic::End>> p) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    std::move(p).send(2);
#else
    std::move(p).send(2.5);
#endif
}
